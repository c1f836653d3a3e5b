// The body of tests/udp_multicast_test.ts, run inside a fresh network
// namespace that test sets up: its own loopback, and a veth pair v0/v1 with
// 10.9.0.1, 10.9.0.2, fd00:9::1 and fd00:9::2 on v0 (multicast sent out v0 comes back
// to this host's members as the kernel's looped copy, which
// multicastLoopback turns off; lo would echo everything it sends anyway).
// Checks multicast join/drop for IPv4 and IPv6, source-specific membership
// (both families), loopback, TTL, the outgoing interface, SO_BROADCAST, and
// the same options changed after bind (setOptions). Prints one line
// per check; exits 1 on a failure.

import assert from "node:assert/strict";
import { ErrnoError, UdpSocket } from "../mod.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
// /sys is the host's; the test passes the namespace's index of v0.
const v0 = Number(Deno.env.get("REGIO_V0_INDEX"));
const A = "10.9.0.1", B = "10.9.0.2", A6 = "fd00:9::1", B6 = "fd00:9::2";

async function got(socket: UdpSocket, ms = 300): Promise<string[]> {
  const out: string[] = [];
  const end = performance.now() + ms;
  for (;;) {
    const left = Math.max(0, Math.round(end - performance.now()));
    const batch = await socket.receive({ timeoutMs: left });
    for (const d of batch) out.push(dec.decode(d.data));
    if (batch.length === 0 || left === 0) return out;
  }
}

const checks: [string, () => Promise<void>][] = [
  ["ipv4 join, receive, drop", async () => {
    await using rx = UdpSocket.bind({ hostname: "0.0.0.0", slots: 16 });
    await using tx = UdpSocket.bind({
      hostname: A,
      multicastInterface: A,
      multicastTTL: 1,
      multicastLoopback: true,
    });
    const group = { hostname: "239.1.2.3", port: rx.addr.port };
    await tx.send(enc.encode("before"), group);
    assert.deepEqual(await got(rx, 100), [], "not a member yet");
    rx.addMembership("239.1.2.3", { interface: A });
    assert.throws(
      () => rx.addMembership("239.1.2.3", { interface: A }),
      (e: unknown) => e instanceof ErrnoError && e.codeName === "EADDRINUSE",
    );
    await tx.send(enc.encode("member"), group);
    assert.deepEqual(await got(rx), ["member"]);
    rx.dropMembership("239.1.2.3", { interface: A });
    await tx.send(enc.encode("after"), group);
    assert.deepEqual(await got(rx, 100), [], "dropped");
    assert.throws(
      () => rx.dropMembership("239.1.2.3", { interface: A }),
      (e: unknown) => e instanceof ErrnoError && e.codeName === "EADDRNOTAVAIL",
    );
  }],
  ["ipv4 join by interface index", async () => {
    await using rx = UdpSocket.bind({ hostname: "0.0.0.0", slots: 16 });
    await using tx = UdpSocket.bind({ hostname: A, multicastInterface: v0 });
    rx.addMembership("239.1.2.5", { interface: v0 });
    await tx.send(enc.encode("by index"), { hostname: "239.1.2.5", port: rx.addr.port });
    assert.deepEqual(await got(rx), ["by index"]);
  }],
  ["ipv4 source-specific membership", async () => {
    await using rx = UdpSocket.bind({ hostname: "0.0.0.0", slots: 16 });
    await using good = UdpSocket.bind({ hostname: A, multicastInterface: A });
    await using other = UdpSocket.bind({ hostname: B, multicastInterface: A });
    rx.addMembership("232.1.2.3", { interface: A, source: A });
    const group = { hostname: "232.1.2.3", port: rx.addr.port };
    await other.send(enc.encode("other"), group);
    await good.send(enc.encode("good"), group);
    assert.deepEqual(await got(rx), ["good"]);
  }],
  ["ipv4 multicastLoopback false keeps this host's members out", async () => {
    await using rx = UdpSocket.bind({ hostname: "0.0.0.0", slots: 16 });
    await using tx = UdpSocket.bind({
      hostname: A,
      multicastInterface: A,
      multicastLoopback: false,
    });
    rx.addMembership("239.1.2.6", { interface: A });
    await tx.send(enc.encode("quiet"), { hostname: "239.1.2.6", port: rx.addr.port });
    assert.deepEqual(await got(rx, 150), []);
  }],
  ["ipv6 join, receive, drop", async () => {
    await using rx = UdpSocket.bind({ hostname: "::", slots: 16 });
    await using tx = UdpSocket.bind({ hostname: A6, multicastInterface: v0, multicastTTL: 1 });
    const group = { hostname: "ff12::1234", port: rx.addr.port };
    rx.addMembership("ff12::1234", { interface: v0 });
    await tx.send(enc.encode("six"), group);
    assert.deepEqual(await got(rx), ["six"]);
    rx.dropMembership("ff12::1234", { interface: v0 });
    await tx.send(enc.encode("gone"), group);
    assert.deepEqual(await got(rx, 100), []);
  }],
  ["ipv6 source-specific membership (MCAST_JOIN_SOURCE_GROUP)", async () => {
    await using rx = UdpSocket.bind({ hostname: "::", slots: 16 });
    await using good = UdpSocket.bind({ hostname: A6, multicastInterface: v0 });
    await using other = UdpSocket.bind({ hostname: B6, multicastInterface: v0 });
    rx.addMembership("ff32::8000:1", { interface: v0, source: A6 });
    const group = { hostname: "ff32::8000:1", port: rx.addr.port };
    await other.send(enc.encode("other"), group);
    await good.send(enc.encode("good"), group);
    assert.deepEqual(await got(rx), ["good"]);
    rx.dropMembership("ff32::8000:1", { interface: v0, source: A6 });
    await good.send(enc.encode("left"), group);
    assert.deepEqual(await got(rx, 100), [], "left the source-specific membership");
    assert.throws(
      () => rx.dropMembership("ff32::8000:1", { interface: v0, source: A6 }),
      // Linux 6.x answers a source leave with no such membership with EINVAL.
      (e: unknown) =>
        e instanceof ErrnoError && ["EINVAL", "EADDRNOTAVAIL"].includes(e.codeName) &&
        e.message.includes("MCAST_LEAVE_SOURCE_GROUP"),
    );
  }],
  ["setOptions after bind: interface, loopback, broadcast", async () => {
    await using rx = UdpSocket.bind({ hostname: "0.0.0.0", slots: 16 });
    await using tx = UdpSocket.bind({ hostname: A });
    rx.addMembership("239.1.2.7", { interface: A });
    const group = { hostname: "239.1.2.7", port: rx.addr.port };
    tx.setOptions({ multicastInterface: A, multicastLoopback: false });
    await tx.send(enc.encode("quiet"), group);
    assert.deepEqual(await got(rx, 150), [], "loopback off after bind");
    tx.setOptions({ multicastLoopback: true });
    await tx.send(enc.encode("loud"), group);
    assert.deepEqual(await got(rx), ["loud"]);
    const to = { hostname: "10.9.0.255", port: rx.addr.port };
    tx.setOptions({ broadcast: true });
    await tx.send(enc.encode("cast"), to);
    assert.deepEqual(await got(rx), ["cast"]);
  }],
  ["broadcast needs SO_BROADCAST", async () => {
    await using rx = UdpSocket.bind({ hostname: "0.0.0.0", slots: 16 });
    await using plain = UdpSocket.bind({ hostname: "127.0.0.1" });
    await using caster = UdpSocket.bind({ hostname: "127.0.0.1", broadcast: true });
    const to = { hostname: "127.255.255.255", port: rx.addr.port };
    await plain.send(enc.encode("no"), to);
    await caster.send(enc.encode("yes"), to);
    assert.deepEqual(await got(rx), ["yes"]);
    assert.equal(plain.stats.sendErrors, 1);
    assert.equal((plain.lastSendError as ErrnoError).codeName, "EACCES");
  }],
];

let failed = 0;
for (const [name, check] of checks) {
  try {
    await check();
    console.log(`ok ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAILED ${name}: ${(e as Error).stack}`);
  }
}
Deno.exit(failed ? 1 : 0);
