// Connected UDP, reusePort, multicast and broadcast on the RIO engine,
// through the Windows fake: the Windows option numbers and structs
// (ws2ipdef.h) reach setsockopt, a connected socket sends with a NULL
// remote address and hears its peer only, an ICMP port unreachable
// (WSAECONNRESET) rejects the next receive when RIO reports it (UNCONFIRMED:
// both outcomes), reusePort is an UnsupportedError that says what is
// missing, and everything is closed clean afterwards.

import assert from "node:assert/strict";
import { type FakeWindows, installFakeWindows } from "./fakes/windows.ts";
import { UnsupportedError, WinsockError } from "../src/errors.ts";
import { bindUdpWith, connectUdpWith } from "../src/udp/socket.ts";
import { openWindowsBackend } from "../src/udp/windows.ts";
import type { UdpSocketOptions } from "../src/udp/options.ts";
import type { SocketAddress } from "../ffi/inet.ts";
import { within } from "./linux_util.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const small = { slots: 4, sendSlots: 4, slotSize: 64 };
const bind = (o: UdpSocketOptions = {}) => bindUdpWith(openWindowsBackend, { ...small, ...o });
const connect = (peer: SocketAddress, o: UdpSocketOptions = {}) =>
  connectUdpWith(openWindowsBackend, peer, { ...small, ...o });

/** Waits until `socket` has counted a refused send (its completion came back). */
function refused(socket: { readonly stats: { sendErrors: number } }): Promise<void> {
  return within(
    2000,
    (async () => {
      while (socket.stats.sendErrors === 0) await new Promise((r) => setTimeout(r, 1));
    })(),
    "the refused send",
  );
}

function assertClean(fake: FakeWindows): void {
  assert.deepEqual(fake.winsock.violations, [], "no RIO contract violation");
  assert.equal(fake.winsock.openSockets, 0, "sockets closed");
  assert.equal(fake.winsock.liveRegistrations, 0, "buffers deregistered");
  assert.equal(fake.winsock.startups, 0, "WSACleanup for every WSAStartup");
  assert.equal(fake.base.liveAllocations, 0, "memory freed");
}

function test(
  name: string,
  fn: (fake: FakeWindows) => void | Promise<void>,
  options: Parameters<typeof installFakeWindows>[0] = {},
): void {
  Deno.test(`udp shapes (RIO fake): ${name}`, async () => {
    using fake = installFakeWindows(options);
    await fn(fake);
    assertClean(fake);
  });
}

test("connected: RIOSendEx without an address, the peer's datagrams only", async (fake) => {
  await using server = bind();
  await using third = bind();
  await using client = connect(server.addr, { hostname: "127.0.0.1" });
  assert.deepEqual(client.peer, server.addr);
  await client.send(enc.encode("hello"));
  const [got] = await within(2000, server.receive(), "server");
  assert.equal(dec.decode(got.data), "hello");
  await third.send(enc.encode("noise"), client.addr);
  server.reply(got);
  const batch = await within(2000, client.receive(), "client");
  assert.deepEqual(batch.map((d) => dec.decode(d.data)), ["hello"]);
  assert.deepEqual(await client.receive({ timeoutMs: 30 }), []);
  assert.throws(() => client.send(enc.encode("x"), third.addr), TypeError);
  const calls = fake.base.log.calls;
  assert.ok(calls.includes("connect"), "ws2_32 connect was called");
});

for (const connReset of ["reported", "silent"] as const) {
  test(`connected: a closed peer port (RIO ${connReset} the ICMP error)`, async () => {
    const gone = bind();
    const port = gone.addr.port;
    await gone.close();
    await using client = connect({ hostname: "127.0.0.1", port });
    await client.send(enc.encode("anyone?"));
    if (connReset === "reported") {
      await assert.rejects(
        within(2000, client.receive(), "receive"),
        (e: unknown) => e instanceof WinsockError && e.codeName === "WSAECONNRESET",
      );
    }
    // Either way the socket goes on receiving.
    assert.deepEqual(await client.receive({ timeoutMs: 30 }), []);
    assert.equal(client.stats.receiveErrors, connReset === "reported" ? 1 : 0);
  }, { winsock: { icmp: connReset === "reported" } });
}

test("reusePort: UnsupportedError that names what Windows lacks, nothing opened", (fake) => {
  assert.throws(
    () => bind({ reusePort: true }),
    (e: unknown) =>
      e instanceof UnsupportedError && /SO_REUSEPORT/.test(e.message) &&
      /SO_REUSEADDR/.test(e.message) && /SIO_SET_PORT_SHARING_PER_PROC_SOCKET/.test(e.message),
  );
  assert.equal(fake.base.log.calls.filter((c: string) => c === "WSASocketW").length, 0);
});

test("multicast: Windows option numbers and structs; join, receive, drop", async (fake) => {
  await using rx = bind({ hostname: "0.0.0.0" });
  await using tx = bind({ multicastTTL: 3, multicastInterface: "127.0.0.1" });
  rx.addMembership("239.1.2.3", { interface: "127.0.0.1" });
  assert.throws(
    () => rx.addMembership("239.1.2.3", { interface: "127.0.0.1" }),
    (e: unknown) => e instanceof WinsockError && e.codeName === "WSAEADDRINUSE",
  );
  const opts = (): ReturnType<typeof fake.winsock.socketOptions> => fake.winsock.socketOptions();
  const txOpts = opts().find((o) => o.multicastTtl !== undefined)!;
  assert.equal(txOpts.multicastTtl, 3);
  assert.equal(txOpts.multicastIf, 0x0100007f, "127.0.0.1 in network order, as a DWORD");
  const group = { hostname: "239.1.2.3", port: rx.addr.port };
  await tx.send(enc.encode("m"), group);
  assert.deepEqual((await within(2000, rx.receive(), "group")).map((d) => dec.decode(d.data)), [
    "m",
  ]);
  rx.dropMembership("239.1.2.3", { interface: "127.0.0.1" });
  await tx.send(enc.encode("after"), group);
  assert.deepEqual(await rx.receive({ timeoutMs: 30 }), []);
  assert.throws(
    () => rx.dropMembership("239.1.2.3", { interface: "127.0.0.1" }),
    (e: unknown) => e instanceof WinsockError && e.codeName === "WSAEADDRNOTAVAIL",
  );
  // By index: 0.0.0.index; source-specific: IP_MREQ_SOURCE's source before the interface.
  rx.addMembership("239.1.2.4", { interface: 1 });
  rx.addMembership("232.1.2.3", { interface: "127.0.0.1", source: "127.0.0.1" });
  const rxOpts = opts().find((o) => (o.memberships?.length ?? 0) > 0)!;
  assert.deepEqual(rxOpts.memberships, [
    "ef010204@0.0.0.1",
    "e8010203 from 7f000001@127.0.0.1",
  ]);
});

test("multicast: IPv6 (IPV6_MREQ) and loopback off on the receiver", async (fake) => {
  await using rx = bind({ hostname: "::", multicastLoopback: false });
  await using tx = bind({ hostname: "::1", multicastInterface: 1 });
  rx.addMembership("ff12::1", { interface: 1 });
  assert.deepEqual(
    fake.winsock.socketOptions().find((o) => (o.memberships?.length ?? 0) > 0)!.memberships,
    ["ff120000000000000000000000000001@1"],
  );
  // Windows applies IP(V6)_MULTICAST_LOOP to the receiving socket.
  await tx.send(enc.encode("six"), { hostname: "ff12::1", port: rx.addr.port });
  assert.deepEqual(await rx.receive({ timeoutMs: 30 }), []);
  // Control: a member with loopback on (the default) hears the group, so the silence above
  // is the option's doing.
  await using heard = bind({ hostname: "::" });
  heard.addMembership("ff12::1", { interface: 1 });
  await tx.send(enc.encode("six"), { hostname: "ff12::1", port: heard.addr.port });
  assert.deepEqual(
    (await within(2000, heard.receive(), "group")).map((d) => dec.decode(d.data)),
    ["six"],
  );
});

test("multicast: IPv6 source-specific (MCAST_JOIN_SOURCE_GROUP with a GROUP_SOURCE_REQ)", async (fake) => {
  await using rx = bind({ hostname: "::" });
  await using tx = bind({ hostname: "::1", multicastInterface: 1 });
  const to = { hostname: "ff32::8000:1", port: rx.addr.port };
  const heard = async (): Promise<string[]> =>
    (await rx.receive({ timeoutMs: 30 })).map((d) => dec.decode(d.data));
  rx.addMembership("ff32::8000:1", { interface: 1, source: "fd00::9" });
  await tx.send(enc.encode("from ::1"), to);
  assert.deepEqual(await heard(), [], "another source is filtered out");
  rx.dropMembership("ff32::8000:1", { interface: 1, source: "fd00::9" });
  rx.addMembership("ff32::8000:1", { interface: 1, source: "::1" });
  assert.deepEqual(
    fake.winsock.socketOptions().find((o) => (o.memberships?.length ?? 0) > 0)!.memberships,
    ["ff320000000000000000000080000001 from 00000000000000000000000000000001@1"],
  );
  await tx.send(enc.encode("from ::1"), to);
  assert.deepEqual(await heard(), ["from ::1"]);
  assert.throws(
    () => rx.dropMembership("ff32::8000:1", { interface: 1, source: "fd00::9" }),
    (e: unknown) => e instanceof WinsockError && e.codeName === "WSAEADDRNOTAVAIL",
  );
  assert.throws(
    () => rx.addMembership("ff32::8000:1", { source: "127.0.0.1" }),
    /source must be a numeric IPv6 address/,
  );
});

test("setOptions after bind: SO_BROADCAST and the multicast DWORDs, checked first", async (fake) => {
  await using rx = bind({ hostname: "0.0.0.0" });
  await using tx = bind();
  const txOpts = fake.winsock.socketOptions().at(-1)!;
  // The bad value comes last in both orders (fields, application): nothing may be applied.
  assert.throws(() => tx.setOptions({ broadcast: true, multicastTTL: 256 }), RangeError);
  assert.deepEqual([txOpts.broadcast, txOpts.multicastTtl], [undefined, undefined]);
  assert.throws(
    () => tx.setOptions({ slots: 8 } as never),
    /setOptions cannot change slots \(only broadcast, multicastTTL/,
  );
  tx.setOptions({
    broadcast: true,
    multicastTTL: 7,
    multicastLoopback: false,
    multicastInterface: "127.0.0.1",
  });
  assert.deepEqual(
    [txOpts.broadcast, txOpts.multicastTtl, txOpts.multicastLoop, txOpts.multicastIf],
    [true, 7, 0, 0x0100007f],
  );
  const to = { hostname: "255.255.255.255", port: rx.addr.port };
  await tx.send(enc.encode("yes"), to);
  assert.deepEqual((await within(2000, rx.receive(), "broadcast")).map((d) => dec.decode(d.data)), [
    "yes",
  ]);
  tx.setOptions({ broadcast: false });
  assert.equal(txOpts.broadcast, false);
  await tx.send(enc.encode("no"), to);
  await refused(tx);
  assert.equal((tx.lastSendError as WinsockError).codeName, "WSAEACCES");
});

test("broadcast: WSAEACCES without SO_BROADCAST, delivered with it", async (fake) => {
  await using rx = bind({ hostname: "0.0.0.0" });
  await using plain = bind();
  await using caster = bind({ broadcast: true });
  const to = { hostname: "255.255.255.255", port: rx.addr.port };
  await plain.send(enc.encode("no"), to);
  await caster.send(enc.encode("yes"), to);
  assert.deepEqual((await within(2000, rx.receive(), "broadcast")).map((d) => dec.decode(d.data)), [
    "yes",
  ]);
  await refused(plain);
  assert.equal((plain.lastSendError as WinsockError).codeName, "WSAEACCES");
  assert.ok(fake.winsock.socketOptions().some((o) => o.broadcast === true));
});
