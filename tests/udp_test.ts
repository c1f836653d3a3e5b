// UdpSocket on the real kernel (Linux, io_uring): the shared cases of
// tests/udp_cases.ts, each checked for leaked fds afterwards.

import assert from "node:assert/strict";
import { DisposedError, ErrnoError, UdpSocket } from "../mod.ts";
import { fdCount, ignore } from "./linux_util.ts";
import * as cases from "./udp_cases.ts";
import { libc } from "../src/linux/libc.ts";
import { SOCK } from "../ffi/linux/abi.ts";

const linux: cases.Harness = {
  bind: (options) => UdpSocket.bind(options),
  bulk: { count: 100_000, window: 64 },
  isAddressInUse: (e) => e instanceof ErrnoError && e.codeName === "EADDRINUSE",
  // Broadcast without SO_BROADCAST: refused by the kernel (EACCES), no packet leaves.
  rejectedSend: {
    to: { hostname: "255.255.255.255", port: 9 },
    is: (e) => e instanceof ErrnoError && e.codeName === "EACCES",
  },
};

/** A test that also checks no fd (socket, ring, eventfd) is left open. */
function test(name: string, fn: () => void | Promise<void>): void {
  Deno.test({
    name: `udp (io_uring): ${name}`,
    ignore,
    async fn(): Promise<void> {
      const fds = fdCount();
      await fn();
      assert.equal(fdCount(), fds, "every fd closed");
    },
  });
}

test("IPv4 loopback round trip; echoes from the server's slots; accounting back to full", () =>
  cases.roundTrip(linux, "127.0.0.1"));
test("IPv6 loopback round trip", () => cases.roundTrip(linux, "::1"));
test("truncation is flagged and counted; zero-length datagrams are echoed", () =>
  cases.truncationAndEmpty(linux));
test("100,000 datagrams at window 64: zero loss, every byte checked", () => cases.bulk(linux));
test("dispose under load: receives and sends in flight drain, waiters reject", () =>
  cases.teardownUnderLoad(linux));
test("backpressure: send slots and receive slots run out without loss", () =>
  cases.backpressure(linux));
test("slot ownership: reply/release once, auto-release on the next batch", () =>
  cases.ownership(linux));
test("a released datagram stays invalid when its slot is held again", () =>
  cases.staleDatagram(linux));
test("send errors: bad destinations throw first, kernel refusals are counted", () =>
  cases.sendErrors(linux));
test("a peer that vanished before its replies does not disturb the server", () =>
  cases.peerVanishes(linux));
test("port in use: EADDRINUSE, nothing left open", () => cases.portInUse(linux));
test("bad options: TypeError/RangeError before anything is opened", () => cases.badOptions(linux));

/** The fd of this process's socket bound to `port` (found through /proc/self/fd and getsockname). */
function socketFd(port: number): number {
  const c = libc();
  const buf = new Uint8Array(32), len = new Uint32Array(1);
  for (const e of Deno.readDirSync("/proc/self/fd")) {
    const fd = Number(e.name);
    let link: string;
    try {
      link = Deno.readLinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue;
    }
    if (!link.startsWith("socket:")) continue;
    len[0] = 28;
    if (c.getsockname(fd, Deno.UnsafePointer.of(buf), Deno.UnsafePointer.of(len)) !== 0) continue;
    if (((buf[2] << 8) | buf[3]) === port) return fd; // sin_port / sin6_port, big-endian
  }
  throw new Error(`no socket bound to port ${port}`);
}

/** getsockopt(fd, SOL_SOCKET, name) as an int. */
function sockopt(fd: number, name: number): number {
  const value = new Int32Array(1), len = new Uint32Array([4]);
  const rc = libc().getsockopt(
    fd,
    SOCK.SOL_SOCKET,
    name,
    Deno.UnsafePointer.of(value),
    Deno.UnsafePointer.of(len),
  );
  assert.equal(rc, 0, "getsockopt");
  return value[0];
}

function sysctl(name: string): number {
  return Number(Deno.readTextFileSync(`/proc/sys/net/core/${name}`));
}

test("receiveBufferSize / sendBufferSize: SO_RCVBUF / SO_SNDBUF, read back with getsockopt", async () => {
  const rmemMax = sysctl("rmem_max"), wmemMax = sysctl("wmem_max");
  {
    await using s = UdpSocket.bind({ receiveBufferSize: 300_000, sendBufferSize: 70_000 });
    const fd = socketFd(s.addr.port);
    // The kernel caps at rmem_max / wmem_max, then doubles (its bookkeeping overhead).
    assert.equal(sockopt(fd, SOCK.SO_RCVBUF), 2 * Math.min(300_000, rmemMax));
    assert.equal(sockopt(fd, SOCK.SO_SNDBUF), 2 * Math.min(70_000, wmemMax));
  }
  {
    // Past the cap: no error, capped, for root too (only SO_RCVBUFFORCE goes past it).
    await using s = UdpSocket.bind({ hostname: "::1", receiveBufferSize: 2 ** 30 });
    const fd = socketFd(s.addr.port);
    assert.equal(sockopt(fd, SOCK.SO_RCVBUF), 2 * rmemMax);
    assert.equal(sockopt(fd, SOCK.SO_SNDBUF), sysctl("wmem_default"), "not asked: left alone");
  }
  {
    await using s = UdpSocket.bind({});
    assert.equal(sockopt(socketFd(s.addr.port), SOCK.SO_RCVBUF), sysctl("rmem_default"));
  }
});

/** getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY) as an int. */
function v6only(fd: number): number {
  const value = new Int32Array(1), len = new Uint32Array([4]);
  const rc = libc().getsockopt(
    fd,
    SOCK.IPPROTO_IPV6,
    SOCK.IPV6_V6ONLY,
    Deno.UnsafePointer.of(value),
    Deno.UnsafePointer.of(len),
  );
  assert.equal(rc, 0, "getsockopt(IPV6_V6ONLY)");
  return value[0];
}

test("dual-stack (ipv6Only false, the default): a socket on :: echoes an IPv4 client, seen as ::ffff:127.0.0.1", async () => {
  await using server = UdpSocket.bind({ hostname: "::", port: 0, slots: 4, slotSize: 64 });
  assert.equal(v6only(socketFd(server.addr.port)), 0, "IPV6_V6ONLY set to 0 explicitly");
  await using client = UdpSocket.bind({ hostname: "127.0.0.1", port: 0, slots: 4, slotSize: 64 });
  await client.send(new Uint8Array([4, 6]), { hostname: "127.0.0.1", port: server.addr.port });
  const [d] = await server.receive({ timeoutMs: 5000 });
  assert.ok(d, "the IPv4 datagram arrived on the IPv6 socket");
  assert.deepEqual(d.remote, { hostname: "::ffff:127.0.0.1", port: client.addr.port });
  server.reply(d);
  const [echo] = await client.receive({ timeoutMs: 5000 });
  assert.deepEqual(echo.data, new Uint8Array([4, 6]));
  assert.deepEqual(echo.remote, { hostname: "127.0.0.1", port: server.addr.port });
  // A fresh send to the mapped address reaches the IPv4 client too.
  await server.send(new Uint8Array([7]), { hostname: "::ffff:127.0.0.1", port: client.addr.port });
  const [sent] = await client.receive({ timeoutMs: 5000 });
  assert.deepEqual(sent.data, new Uint8Array([7]));
  assert.equal(server.stats.sendErrors, 0);
});

test("ipv6Only true: IPV6_V6ONLY = 1, an IPv4 client is not received, and the IPv4 port stays free", async () => {
  await using server = UdpSocket.bind({
    hostname: "::",
    port: 0,
    slots: 4,
    slotSize: 64,
    ipv6Only: true,
  });
  assert.equal(v6only(socketFd(server.addr.port)), 1);
  await using client = UdpSocket.bind({ hostname: "127.0.0.1", port: 0, slots: 4, slotSize: 64 });
  await client.send(new Uint8Array([1]), { hostname: "127.0.0.1", port: server.addr.port });
  assert.deepEqual(await server.receive({ timeoutMs: 200 }), [], "nothing arrives over IPv4");
  // Nobody holds 127.0.0.1 on that port: an IPv4 socket can take it.
  await using v4 = UdpSocket.bind({ hostname: "127.0.0.1", port: server.addr.port, slots: 4 });
  assert.equal(v4.addr.port, server.addr.port);
});

/** getsockopt(fd, level, name) as an int (level and name as the caller writes them). */
function intOption(fd: number, level: number, name: number): number {
  const value = new Int32Array(1), len = new Uint32Array([4]);
  const rc = libc().getsockopt(
    fd,
    level,
    name,
    Deno.UnsafePointer.of(value),
    Deno.UnsafePointer.of(len),
  );
  assert.equal(rc, 0, `getsockopt(${level}, ${name})`);
  assert.equal(len[0], 4, "an int came back");
  return value[0];
}

// From ip(7) / ipv6(7) / socket(7) and <linux/in.h>, <linux/in6.h>, <asm-generic/socket.h>,
// written here rather than taken from the ABI module, so a wrong constant there fails too.
const SOL_SOCKET = 1, SO_BROADCAST = 6;
const IPPROTO_IP = 0, IP_MULTICAST_IF = 32, IP_MULTICAST_TTL = 33, IP_MULTICAST_LOOP = 34;
const IPPROTO_IPV6 = 41, IPV6_MULTICAST_IF = 17, IPV6_MULTICAST_HOPS = 18, IPV6_MULTICAST_LOOP = 19;

test("multicastTTL, multicastLoopback and broadcast reach the kernel: read back with getsockopt", async () => {
  {
    await using s = UdpSocket.bind({ hostname: "127.0.0.1" });
    const fd = socketFd(s.addr.port);
    assert.equal(intOption(fd, IPPROTO_IP, IP_MULTICAST_TTL), 1, "kernel default TTL 1");
    assert.equal(intOption(fd, IPPROTO_IP, IP_MULTICAST_LOOP), 1, "kernel default: looped");
    assert.equal(intOption(fd, SOL_SOCKET, SO_BROADCAST), 0, "kernel default: no broadcast");
  }
  {
    await using s = UdpSocket.bind({
      hostname: "127.0.0.1",
      multicastTTL: 200,
      multicastLoopback: false,
      broadcast: true,
    });
    const fd = socketFd(s.addr.port);
    assert.equal(intOption(fd, IPPROTO_IP, IP_MULTICAST_TTL), 200);
    assert.equal(intOption(fd, IPPROTO_IP, IP_MULTICAST_LOOP), 0);
    assert.equal(intOption(fd, SOL_SOCKET, SO_BROADCAST), 1);
  }
  {
    // 0 is a TTL (this host only), not "unset".
    await using s = UdpSocket.bind({ hostname: "127.0.0.1", multicastTTL: 0 });
    assert.equal(intOption(socketFd(s.addr.port), IPPROTO_IP, IP_MULTICAST_TTL), 0);
  }
  {
    await using s = UdpSocket.bind({ hostname: "::1", multicastTTL: 9, multicastLoopback: false });
    const fd = socketFd(s.addr.port);
    assert.equal(intOption(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS), 9);
    assert.equal(intOption(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP), 0);
  }
  {
    await using s = UdpSocket.bind({ hostname: "::1" });
    const fd = socketFd(s.addr.port);
    assert.equal(intOption(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS), 1, "kernel default hops 1");
    assert.equal(intOption(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP), 1, "kernel default: looped");
  }
});

test("setOptions changes them after bind, checks every option first, and refuses the rest", async () => {
  {
    await using s = UdpSocket.bind({ hostname: "127.0.0.1", broadcast: true });
    const fd = socketFd(s.addr.port);
    s.setOptions({ multicastTTL: 64, multicastLoopback: false, broadcast: false });
    assert.equal(intOption(fd, IPPROTO_IP, IP_MULTICAST_TTL), 64);
    assert.equal(intOption(fd, IPPROTO_IP, IP_MULTICAST_LOOP), 0);
    assert.equal(intOption(fd, SOL_SOCKET, SO_BROADCAST), 0, "false turns SO_BROADCAST off");
    s.setOptions({ multicastLoopback: true });
    assert.equal(intOption(fd, IPPROTO_IP, IP_MULTICAST_LOOP), 1);
    assert.equal(intOption(fd, IPPROTO_IP, IP_MULTICAST_TTL), 64, "left out: unchanged");
    // One bad value: nothing is applied.
    assert.throws(() => s.setOptions({ broadcast: true, multicastTTL: 256 }), RangeError);
    assert.equal(intOption(fd, SOL_SOCKET, SO_BROADCAST), 0);
    assert.throws(
      () => s.setOptions({ port: 1 } as never),
      /setOptions cannot change port \(only broadcast, multicastTTL/,
    );
    assert.throws(() => s.setOptions(null as never), /takes an options object/);
    assert.throws(() => s.setOptions({ multicastInterface: "eth0" }), /not a numeric IPv4/);
    // IP_MULTICAST_IF reads back as the interface's address (an in_addr).
    s.setOptions({ multicastInterface: "127.0.0.1" });
    assert.equal(intOption(fd, IPPROTO_IP, IP_MULTICAST_IF), 0x0100007f);
    // An interface the kernel refuses is applied first: the others stay unchanged.
    assert.throws(
      () => s.setOptions({ broadcast: true, multicastTTL: 9, multicastInterface: "10.99.99.99" }),
      (e: unknown) => e instanceof ErrnoError && e.codeName === "EADDRNOTAVAIL",
    );
    assert.equal(intOption(fd, SOL_SOCKET, SO_BROADCAST), 0);
    assert.equal(intOption(fd, IPPROTO_IP, IP_MULTICAST_TTL), 64);
  }
  {
    await using s = UdpSocket.bind({ hostname: "::1" });
    s.setOptions({ multicastTTL: 5, multicastLoopback: false });
    const fd = socketFd(s.addr.port);
    assert.equal(intOption(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS), 5);
    assert.equal(intOption(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP), 0);
    assert.throws(() => s.setOptions({ multicastInterface: "::1" }), /by index/);
    s.setOptions({ multicastInterface: 1 }); // lo is index 1 in every network namespace
    assert.equal(intOption(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF), 1);
    assert.throws(
      () => s.setOptions({ multicastTTL: 9, multicastLoopback: true, multicastInterface: 99999 }),
      (e: unknown) => e instanceof ErrnoError && e.codeName === "ENODEV",
    );
    assert.equal(intOption(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS), 5);
    assert.equal(intOption(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP), 0);
  }
  const closed = UdpSocket.bind({ hostname: "127.0.0.1" });
  await closed.close();
  assert.throws(() => closed.setOptions({ multicastTTL: 2 }), DisposedError);
});
