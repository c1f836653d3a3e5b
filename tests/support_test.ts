import assert from "node:assert/strict";
import { probeOffloads } from "../src/support_offloads.ts";
import { support } from "../mod.ts";
import { probeWindows } from "../src/support.ts";
import { Uring } from "../src/linux/mod.ts";
import { installFakeWindows } from "./fakes/windows.ts";
import "./linux_util.ts"; // opens libc before any test, so the sanitizer does not count it

Deno.test({
  name: "support() on Linux agrees with a real ring setup",
  ignore: Deno.build.os !== "linux",
  fn(): void {
    const s = support();
    assert.equal(s.os, "linux");
    assert.equal(s.files.backend, "io_uring");
    let works = true;
    try {
      Uring.create({ entries: 2 }).close();
    } catch {
      works = false;
    }
    assert.equal(s.files.available, works);
    if (works) assert.match(s.files.detail, /setup flags 0x[0-9a-f]+/);
  },
});

Deno.test("support() reports the Windows I/O ring version and what it allows", () => {
  using fake = installFakeWindows({ ioring: { maxVersion: 1 } });
  const old = probeWindows();
  assert.equal(old.files.available, true);
  assert.match(old.files.detail, /max version 1 .*read only.*IORING_VERSION_3/);
  assert.equal(old.sockets.available, true);
  // A RIO socket takes every option: all available, URO off by default (quinn#2092).
  const udp = probeOffloads("windows");
  assert.deepEqual(
    [udp.gro, udp.gso, udp.ecn, udp.localAddress].map((o) => [o.available, o.on]),
    [[true, false], [true, true], [true, true], [true, true]],
  );
  assert.match(udp.gro.detail, /quinn#2092/);
  assert.match(udp.gso.detail, /UNCONFIRMED/);
  // Loopback only: a wildcard bind could raise a firewall prompt.
  assert.deepEqual(fake.winsock.binds, ["127.0.0.1"]);
});

Deno.test("support() on a Windows without URO or ECN reception says so", () => {
  using fake = installFakeWindows({ winsock: { uro: "absent", noRecvEcn: true } });
  const udp = probeOffloads("windows");
  assert.deepEqual([udp.gro.available, udp.ecn.available], [false, false]);
  assert.match(udp.gro.detail, /refused/);
  assert.equal(fake.winsock.openSockets, 0, "the probe socket is closed");
  assert.equal(fake.winsock.startups, 0);
});

Deno.test("support() says why when the I/O ring and RIO are missing", () => {
  using _ = installFakeWindows({
    ioring: { available: false },
    winsock: { rioIoctlError: 10022 },
  });
  const s = probeWindows();
  assert.equal(s.files.available, false);
  assert.match(s.files.detail, /22000/);
  assert.equal(s.sockets.available, false);
  assert.match(s.sockets.detail, /RIO/);
  assert.match(s.sockets.detail, /WSAEINVAL/);
});

Deno.test({
  name: "support() without FFI permission explains instead of throwing",
  ignore: Deno.build.os !== "linux",
  permissions: { ffi: false },
  fn(): void {
    const s = support();
    assert.equal(s.files.available, false);
    assert.match(s.files.detail, /allow-ffi/);
  },
});
