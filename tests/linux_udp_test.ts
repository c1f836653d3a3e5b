// UDP at the ring level on the real kernel: fixed-file sockets, multishot
// RECVMSG into a provided-buffer ring carved from a registered region, SEND
// with addr2 from the same memory, buffers recycled on send completion,
// truncation, a dry buffer ring and re-arming, disposal while receiving.

import assert from "node:assert/strict";
import {
  BusyError,
  decodeSockaddr,
  DisposedError,
  encodeSockaddr,
  ErrnoError,
  NativeRegion,
  type ReceivedDatagram,
  SocketFd,
  Uring,
} from "../src/linux/mod.ts";
import { fdCount, ignore, pattern, within } from "./linux_util.ts";
import type { Libc } from "../ffi/linux/libc.ts";
import { libc } from "../src/linux/libc.ts";
import { ERRNO, SOCK } from "../ffi/linux/abi.ts";

const BUFFERS = 16;
const BUFFER_SIZE = 256;
const ROOM = BUFFER_SIZE - 16 - 28; // header + sockaddr_in6 reservation
const SEND_AREA = BUFFERS * BUFFER_SIZE; // the region past the provided buffers

interface Got {
  bufferId: number;
  data: Uint8Array;
  datagramLength: number;
  truncated: boolean;
  peer: { hostname: string; port: number };
}

function copy(m: ReceivedDatagram): Got {
  return {
    bufferId: m.bufferId,
    data: m.payload.slice(),
    datagramLength: m.datagramLength,
    truncated: m.truncated,
    peer: m.peer(),
  };
}

/** Waits until `list` has `n` entries. */
async function collect<T>(list: T[], n: number, what: string): Promise<T[]> {
  await within(
    5000,
    (async () => {
      while (list.length < n) await new Promise((r) => setTimeout(r, 1));
    })(),
    what,
  );
  return list;
}

async function roundTrip(hostname: string): Promise<void> {
  const fds = fdCount();
  {
    await using ring = Uring.create();
    using server = SocketFd.bindUdp({ hostname, port: 0 });
    using client = SocketFd.bindUdp({ hostname, port: 0 });
    using region = NativeRegion.allocate(SEND_AREA + 64 * 1024);
    // The region is a registered (fixed) buffer and holds the provided buffers too.
    await using fixed = ring.registerBuffers([region]);
    await using files = ring.registerFiles([server.fd, client.fd]);
    await using buffers = ring.registerBufferRing({
      region,
      count: BUFFERS,
      bufferSize: BUFFER_SIZE,
    });
    assert.equal(fixed.region(0), region);

    // Server: echo every datagram from its own buffer; the buffer is recycled on the send CQE.
    const replies: [number, number][] = [];
    const serverGot: Got[] = [];
    await using echo = ring.openDatagramEndpoint({
      files,
      index: 0,
      buffers,
      onMessage(m): void {
        serverGot.push(copy(m));
        if (m.truncated) echo.release(m.bufferId);
        else echo.reply(m.bufferId, m.length);
      },
      onSent: (token, result, isReply) => {
        assert.ok(isReply);
        replies.push([token, result]);
      },
    });
    const clientGot: Got[] = [];
    const sent: [number, number][] = [];
    await using peer = ring.openDatagramEndpoint({
      files,
      index: 1,
      buffers,
      onMessage(m): void {
        clientGot.push(copy(m));
        peer.release(m.bufferId);
      },
      onSent: (token, result) => sent.push([token, result]),
    });
    echo.start();
    peer.start();
    assert.equal(echo.receiving, true);

    const addrAt = SEND_AREA;
    const addrLength = encodeSockaddr(server.localAddress, region.view, addrAt);
    assert.equal(addrLength, hostname.includes(":") ? 28 : 16);
    assert.deepEqual(decodeSockaddr(region.view, addrAt, addrLength), server.localAddress);
    const sizes = [1, 7, 100, ROOM]; // ROOM fills a buffer exactly
    let at = SEND_AREA + 64;
    for (const [i, size] of sizes.entries()) {
      region.bytes.set(pattern(size, 40 + i), at);
      peer.sendTo(at, size, addrAt, addrLength, i);
      at += size;
    }
    await collect(clientGot, sizes.length, "echoes");
    sent.sort((a, b) => a[0] - b[0]);
    assert.deepEqual(sent, sizes.map((s, i) => [i, s]));
    const bySize = [...clientGot].sort((a, b) => a.data.length - b.data.length);
    for (const [i, size] of sizes.entries()) {
      assert.deepEqual(bySize[i].data, pattern(size, 40 + i), `echo of ${size} bytes`);
      assert.equal(bySize[i].truncated, false);
      assert.equal(bySize[i].datagramLength, size);
      assert.deepEqual(bySize[i].peer, server.localAddress, "the echo came from the server");
    }
    for (const g of serverGot) assert.deepEqual(g.peer, client.localAddress);
    await collect(replies, sizes.length, "reply completions");
    for (const [, result] of replies) assert.ok(result > 0);
    // Every buffer went back to the kernel: replies recycle on their send CQE.
    assert.equal(buffers.available, BUFFERS);

    // Truncation: a datagram larger than a buffer is detected, with its real length.
    const big = pattern(1000, 99);
    region.bytes.set(big, SEND_AREA + 1024);
    peer.sendTo(SEND_AREA + 1024, big.length, addrAt, addrLength, 77);
    await collect(serverGot, sizes.length + 1, "truncated datagram");
    const cut = serverGot[sizes.length];
    assert.equal(cut.truncated, true);
    assert.equal(cut.datagramLength, 1000);
    assert.equal(cut.data.length, ROOM);
    assert.deepEqual(cut.data, big.subarray(0, ROOM));
    assert.equal(buffers.available, BUFFERS);
  }
  assert.equal(fdCount(), fds, "sockets and ring fds closed");
}

Deno.test({
  name:
    "linux udp: IPv4 loopback round trip via multishot recvmsg + send addr2, truncation detected",
  ignore,
  fn: () => roundTrip("127.0.0.1"),
});

Deno.test({
  name:
    "linux udp: IPv6 loopback round trip via multishot recvmsg + send addr2, truncation detected",
  ignore,
  fn: () => roundTrip("::1"),
});

Deno.test({
  name: "linux udp: a dry buffer ring ends the multishot (ENOBUFS); recycling re-arms it",
  ignore,
  async fn(): Promise<void> {
    await using ring = Uring.create();
    using server = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    using client = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    using region = NativeRegion.allocate(64 * 1024);
    await using files = ring.registerFiles([server.fd, client.fd]);
    await using serverBuffers = ring.registerBufferRing({ region, count: 2, bufferSize: 512 });
    using clientRegion = NativeRegion.allocate(4096);
    await using clientBuffers = ring.registerBufferRing({
      region: clientRegion,
      count: 1,
      bufferSize: 512,
    });
    const got: number[] = [];
    const errors: Error[] = [];
    await using receiver = ring.openDatagramEndpoint({
      files,
      index: 0,
      buffers: serverBuffers,
      onMessage: (m) => got.push(m.bufferId), // kept: the ring runs dry
      onError: (e) => errors.push(e),
    });
    await using sender = ring.openDatagramEndpoint({
      files,
      index: 1,
      buffers: clientBuffers,
      onMessage(): void {},
    });
    receiver.start();
    // sendTo offsets are in the sender's buffer-ring region, past its one buffer.
    const addrLength = encodeSockaddr(server.localAddress, clientRegion.view, 1024);
    for (let i = 0; i < 5; i++) {
      clientRegion.bytes[2000 + i] = i;
      sender.sendTo(2000 + i, 1, 1024, addrLength, i);
    }
    await collect(got, 2, "first two datagrams");
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(got.length, 2, "no buffer left, nothing more delivered");
    assert.equal(serverBuffers.available, 0);
    assert.equal(receiver.receiving, false, "the kernel ended the multishot");
    assert.throws(() => receiver.release(7), RangeError);
    for (const bid of [...got]) receiver.release(bid);
    assert.throws(() => receiver.release(got[0]), /already the kernel's/);
    await collect(got, 4, "datagrams after re-arm");
    for (const bid of got.slice(2)) receiver.release(bid);
    await collect(got, 5, "the last datagram");
    receiver.release(got[4]);
    assert.deepEqual(errors, [], "ENOBUFS is not reported as an error");
  },
});

Deno.test({
  name: "linux udp: disposal while receiving — sync refuses and changes nothing; async cancels",
  ignore,
  async fn(): Promise<void> {
    await using ring = Uring.create();
    using sock = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    using region = NativeRegion.allocate(16 * 1024);
    const files = ring.registerFiles([sock.fd]);
    const buffers = ring.registerBufferRing({ region, count: 4, bufferSize: 1024 });
    const endpoint = ring.openDatagramEndpoint({ files, index: 0, buffers, onMessage(): void {} });
    endpoint.start();
    ring.submit();
    assert.equal(endpoint.inFlight, 1);
    assert.throws(() => endpoint[Symbol.dispose](), BusyError);
    assert.throws(() => buffers[Symbol.dispose](), BusyError);
    assert.throws(() => files[Symbol.dispose](), BusyError);
    assert.throws(() => region.free(), BusyError);
    assert.equal(endpoint.receiving, true);
    assert.equal(buffers.disposed, false);
    assert.equal(files.disposed, false);

    // Draining the buffer ring cancels the receive that selects from it.
    await within(5000, buffers[Symbol.asyncDispose](), "buffer ring drain");
    assert.equal(endpoint.receiving, false);
    assert.equal(region.holds, 0);
    assert.throws(() => buffers.recycle(0), DisposedError);
    await endpoint[Symbol.asyncDispose]();
    await endpoint[Symbol.asyncDispose](); // idempotent
    endpoint.close();
    assert.throws(() => endpoint.start(), DisposedError);
    await files[Symbol.asyncDispose]();
  },
});

Deno.test({
  name: "linux udp: bad endpoint and send input is a typed error before any SQE",
  ignore,
  async fn(): Promise<void> {
    await using ring = Uring.create();
    using sock = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    using region = NativeRegion.allocate(8192);
    await using files = ring.registerFiles([sock.fd, -1]);
    assert.throws(() => ring.registerBufferRing({ region, count: 3, bufferSize: 64 }), RangeError);
    assert.throws(
      () => ring.registerBufferRing({ region, count: 4, bufferSize: 4096 }),
      RangeError,
    );
    assert.throws(
      () => ring.registerBufferRing({ region, count: 2, bufferSize: 64, offset: -1 }),
      RangeError,
    );
    await using buffers = ring.registerBufferRing({ region, count: 4, bufferSize: 1024 });
    const onMessage = (): void => {};
    assert.throws(
      () => ring.openDatagramEndpoint({ files, index: 1, buffers, onMessage }),
      RangeError,
    );
    assert.throws(
      () => ring.openDatagramEndpoint({ files, index: 2, buffers, onMessage }),
      RangeError,
    );
    assert.throws(
      () => ring.openDatagramEndpoint({ files, index: 0, buffers, onMessage, nameLength: 1024 }),
      RangeError,
    );
    await using endpoint = ring.openDatagramEndpoint({ files, index: 0, buffers, onMessage });
    const addrLength = encodeSockaddr({ hostname: "127.0.0.1", port: 9 }, region.view, 4096);
    assert.throws(() => endpoint.sendTo(8000, 500, 4096, addrLength), RangeError);
    assert.throws(() => endpoint.sendTo(4200, 10, 8190, addrLength), RangeError);
    assert.throws(() => endpoint.sendTo(4200, -1, 4096, addrLength), RangeError);
    assert.throws(() => endpoint.sendTo(4200, 1.5, 4096, addrLength), RangeError);
    assert.throws(() => endpoint.sendTo(4200, 10, 4096, addrLength, -1), RangeError);
    assert.throws(() => endpoint.reply(0, 10), RangeError, "buffer 0 was never received");
    assert.equal(ring.inFlight, 0);
    assert.throws(
      () => encodeSockaddr({ hostname: "localhost", port: 1 }, region.view, 0),
      TypeError,
    );
    assert.throws(
      () => encodeSockaddr({ hostname: "::1", port: 70000 }, region.view, 0),
      RangeError,
    );
    assert.throws(() => SocketFd.bindUdp({ hostname: "example.com", port: 0 }), TypeError);
  },
});

Deno.test({
  name:
    "linux udp: a burst larger than the CQ loses nothing (overflow flushed, multishot re-armed)",
  ignore,
  async fn(): Promise<void> {
    const BURST = 200;
    await using ring = Uring.create({ entries: 8, cqEntries: 8 }); // tiny CQ on purpose
    await using sendRing = Uring.create();
    using server = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    using client = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    using region = NativeRegion.allocate(256 * 128);
    using sendRegion = NativeRegion.allocate(64 * 1024);
    await using files = ring.registerFiles([server.fd]);
    await using sendFiles = sendRing.registerFiles([client.fd]);
    await using buffers = ring.registerBufferRing({ region, count: 256, bufferSize: 128 });
    await using sendBuffers = sendRing.registerBufferRing({
      region: sendRegion,
      count: 1,
      bufferSize: 128,
    });
    const seen = new Set<number>();
    let sends = 0;
    await using receiver = ring.openDatagramEndpoint({
      files,
      index: 0,
      buffers,
      onMessage(m): void {
        seen.add(m.payload[0] | (m.payload[1] << 8));
        receiver.release(m.bufferId);
      },
    });
    await using sender = sendRing.openDatagramEndpoint({
      files: sendFiles,
      index: 0,
      buffers: sendBuffers,
      onMessage(): void {},
      onSent: (_token, result) => {
        assert.equal(result, 2);
        sends++;
      },
    });
    receiver.start();
    ring.submit();
    const addrLength = encodeSockaddr(server.localAddress, sendRegion.view, 1024);
    for (let i = 0; i < BURST; i++) {
      sendRegion.view.setUint16(2048 + 2 * i, i, true);
      sender.sendTo(2048 + 2 * i, 2, 1024, addrLength, i);
    }
    // All sends go in one batch while the receiving ring is not reaped.
    sendRing.submit();
    await within(
      5000,
      (async () => {
        while (seen.size < BURST || sends < BURST) await new Promise((r) => setTimeout(r, 1));
      })(),
      `burst (got ${seen.size})`,
    );
    assert.equal(seen.size, BURST);
    assert.equal(receiver.receiving, true, "the receive is armed again after the burst");
    assert.equal(ring.droppedCompletions, 0);
  },
});

Deno.test({
  name:
    "linux udp: sends hold the buffer ring (their memory) and the file table; disposed ones refuse sends",
  ignore,
  async fn(): Promise<void> {
    await using ring = Uring.create();
    using server = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    using client = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    using region = NativeRegion.allocate(8192);
    const files = ring.registerFiles([client.fd]);
    const buffers = ring.registerBufferRing({ region, count: 2, bufferSize: 1024 });
    const sent: number[] = [];
    await using sender = ring.openDatagramEndpoint({
      files,
      index: 0,
      buffers,
      onMessage(): void {},
      onSent: (_token, result) => sent.push(result),
    });
    const addrLength = encodeSockaddr(server.localAddress, region.view, 4096);
    region.bytes.set([1, 2, 3], 5000);
    // Queued, not yet submitted: the SEND reads [5000, 5003) of the region when it runs.
    sender.sendTo(5000, 3, 4096, addrLength);
    assert.equal(sender.receiving, false, "a send-only endpoint: no receive holds the ring");
    assert.throws(() => buffers[Symbol.dispose](), BusyError, "the ring holds the send's memory");
    assert.throws(() => files[Symbol.dispose](), BusyError);
    assert.throws(() => region.free(), BusyError);
    assert.equal(buffers.inFlight, 1);
    await within(5000, buffers[Symbol.asyncDispose](), "buffer ring drain waits for the send");
    assert.deepEqual(sent, [3]);
    assert.equal(region.holds, 0);
    // The region is no longer held, so the endpoint must not hand it to the kernel again.
    assert.throws(() => sender.sendTo(5000, 3, 4096, addrLength), DisposedError);
    assert.equal(ring.inFlight, 0, "nothing was queued");
    await files[Symbol.asyncDispose]();
  },
});

Deno.test({
  name: "linux udp: a send through a disposed file table is refused, not sent via a newer table",
  ignore,
  async fn(): Promise<void> {
    await using ring = Uring.create();
    using server = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    using client = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    using region = NativeRegion.allocate(8192);
    const files = ring.registerFiles([client.fd]);
    await using buffers = ring.registerBufferRing({ region, count: 2, bufferSize: 1024 });
    await using sender = ring.openDatagramEndpoint({
      files,
      index: 0,
      buffers,
      onMessage(): void {},
    });
    files.close();
    // Slot 0 of a new table is another socket: a stale index must not reach it.
    await using other = ring.registerFiles([server.fd]);
    assert.equal(other.length, 1);
    const addrLength = encodeSockaddr(server.localAddress, region.view, 4096);
    assert.throws(() => sender.sendTo(5000, 3, 4096, addrLength), DisposedError);
    assert.throws(() => sender.start(), DisposedError);
    assert.equal(ring.inFlight, 0, "nothing was queued");
  },
});

Deno.test({
  name: "linux udp: a buffer being replied from is neither released nor replied from again",
  ignore,
  async fn(): Promise<void> {
    await using ring = Uring.create();
    using server = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    using client = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    using region = NativeRegion.allocate(8192);
    await using files = ring.registerFiles([server.fd, client.fd]);
    await using buffers = ring.registerBufferRing({ region, count: 4, bufferSize: 1024 });
    const received: number[] = [];
    const replies: [number, number][] = [];
    await using echo = ring.openDatagramEndpoint({
      files,
      index: 0,
      buffers,
      onMessage: (m) => received.push(m.bufferId),
      onSent: (token, result, isReply) => isReply && replies.push([token, result]),
    });
    await using sender = ring.openDatagramEndpoint({
      files,
      index: 1,
      buffers,
      onMessage(): void {},
    });
    echo.start();
    const addrLength = encodeSockaddr(server.localAddress, region.view, 6000);
    sender.sendTo(7000, 5, 6000, addrLength);
    await collect(received, 1, "datagram");
    const bid = received[0];
    assert.equal(buffers.owned(bid), true);
    echo.reply(bid, 5);
    // The SEND reads this buffer until its completion: the kernel must not get it back before.
    assert.equal(buffers.owned(bid), false);
    assert.throws(() => echo.release(bid), /reply/);
    assert.throws(() => buffers.recycle(bid), /reply/);
    assert.throws(() => echo.reply(bid, 5), RangeError);
    await collect(replies, 1, "reply completion");
    assert.deepEqual(replies, [[bid, 5]]);
    assert.equal(buffers.available, 4, "recycled once, by the reply's completion");
    assert.throws(() => echo.release(bid), /already the kernel's/);
  },
});

Deno.test({
  name: "linux udp: endpoints sharing a buffer ring each re-arm after it ran dry",
  ignore,
  async fn(): Promise<void> {
    await using ring = Uring.create();
    using a = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    using b = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    using client = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    using region = NativeRegion.allocate(8192);
    await using files = ring.registerFiles([a.fd, b.fd, client.fd]);
    await using shared = ring.registerBufferRing({ region, count: 2, bufferSize: 1024 });
    const got: number[] = [];
    await using first = ring.openDatagramEndpoint({
      files,
      index: 0,
      buffers: shared,
      onMessage: (m) => got.push(m.bufferId), // kept: the shared ring runs dry
    });
    await using second = ring.openDatagramEndpoint({
      files,
      index: 1,
      buffers: shared,
      onMessage: (m) => second.release(m.bufferId),
    });
    using sendRegion = NativeRegion.allocate(4096);
    await using sendBuffers = ring.registerBufferRing({
      region: sendRegion,
      count: 1,
      bufferSize: 1024,
    });
    await using sender = ring.openDatagramEndpoint({
      files,
      index: 2,
      buffers: sendBuffers,
      onMessage(): void {},
    });
    first.start();
    second.start();
    const addrLength = encodeSockaddr(a.localAddress, sendRegion.view, 2048);
    for (let i = 0; i < 3; i++) sender.sendTo(3000, 1, 2048, addrLength, i);
    await collect(got, 2, "two datagrams");
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(first.receiving, false, "the dry ring ended the first endpoint's receive");
    assert.equal(second.receiving, true);
    for (const bid of [...got]) first.release(bid);
    await collect(got, 3, "the third datagram, after the first endpoint re-armed");
    first.release(got[2]);
  },
});

Deno.test({
  name: "linux udp: a one-buffer ring recycled inside onMessage keeps receiving a burst",
  ignore,
  async fn(): Promise<void> {
    // The release in onMessage comes before the reap sees the final ENOBUFS
    // completion, so no later recycle will re-arm: the final CQE must.
    await using ring = Uring.create();
    using server = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    using client = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    using region = NativeRegion.allocate(8192);
    await using files = ring.registerFiles([server.fd, client.fd]);
    await using one = ring.registerBufferRing({ region, count: 1, bufferSize: 1024 });
    const got: number[] = [];
    await using receiver = ring.openDatagramEndpoint({
      files,
      index: 0,
      buffers: one,
      onMessage(m): void {
        got.push(m.payload[0]);
        receiver.release(m.bufferId);
      },
    });
    using sendRegion = NativeRegion.allocate(4096);
    await using sendBuffers = ring.registerBufferRing({
      region: sendRegion,
      count: 1,
      bufferSize: 1024,
    });
    await using sender = ring.openDatagramEndpoint({
      files,
      index: 1,
      buffers: sendBuffers,
      onMessage(): void {},
    });
    receiver.start();
    ring.submit();
    const addrLength = encodeSockaddr(server.localAddress, sendRegion.view, 2048);
    for (let i = 0; i < 20; i++) {
      sendRegion.bytes[3000 + i] = i;
      sender.sendTo(3000 + i, 1, 2048, addrLength, i);
    }
    await collect(got, 20, "the whole burst through one buffer");
    assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => i));
  },
});

Deno.test({
  name: "linux udp: a send length past the SQE's 32-bit len is a RangeError, not a wrapped length",
  ignore,
  async fn(): Promise<void> {
    let region: NativeRegion;
    try {
      region = NativeRegion.allocate(2 ** 32 + 8192); // address space only; pages stay untouched
    } catch {
      return; // no room for a 4 GiB mapping here: nothing to check
    }
    try {
      await using ring = Uring.create();
      using sock = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
      await using files = ring.registerFiles([sock.fd]);
      await using buffers = ring.registerBufferRing({ region, count: 1, bufferSize: 1024 });
      const sent: number[] = [];
      await using endpoint = ring.openDatagramEndpoint({
        files,
        index: 0,
        buffers,
        onMessage(): void {},
        onSent: (_token, result) => sent.push(result),
      });
      const addrLength = encodeSockaddr(sock.localAddress, region.view, 2048);
      // In bounds of the region, but 2^32 + 3 would reach the kernel as 3.
      assert.throws(() => endpoint.sendTo(4096, 2 ** 32 + 3, 2048, addrLength), RangeError);
      assert.equal(ring.inFlight, 0, "nothing was queued");
    } finally {
      region.free();
    }
  },
});

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

function netCore(name: string): number {
  return Number(Deno.readTextFileSync(`/proc/sys/net/core/${name}`));
}

Deno.test({
  name:
    "linux udp: SocketFd.bindUdp sets SO_RCVBUF / SO_SNDBUF before bind; bad sizes open nothing",
  ignore,
  fn(): void {
    const fds = fdCount();
    {
      using s = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 }, {
        receiveBufferSize: 300_000,
        sendBufferSize: 70_000,
      });
      // The kernel caps at rmem_max / wmem_max, then doubles (its bookkeeping).
      assert.equal(sockopt(s.fd, SOCK.SO_RCVBUF), 2 * Math.min(300_000, netCore("rmem_max")));
      assert.equal(sockopt(s.fd, SOCK.SO_SNDBUF), 2 * Math.min(70_000, netCore("wmem_max")));
    }
    {
      using s = SocketFd.bindUdp({ hostname: "::1", port: 0 }, { sendBufferSize: 65_536 });
      assert.equal(sockopt(s.fd, SOCK.SO_RCVBUF), netCore("rmem_default"), "not asked: left alone");
      assert.equal(sockopt(s.fd, SOCK.SO_SNDBUF), 2 * Math.min(65_536, netCore("wmem_max")));
    }
    for (const bad of [0, -1, 1.5, 2 ** 31, NaN]) {
      assert.throws(
        () => SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 }, { receiveBufferSize: bad }),
        (e: unknown) => e instanceof RangeError && /receiveBufferSize/.test(e.message),
      );
      assert.throws(
        () => SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 }, { sendBufferSize: bad }),
        (e: unknown) => e instanceof RangeError && /sendBufferSize/.test(e.message),
      );
    }
    assert.throws(
      () => SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 }, null as unknown as object),
      TypeError,
    );
    assert.equal(fdCount(), fds, "nothing left open");
  },
});

Deno.test({
  name:
    "linux udp: a failing setsockopt is an ErrnoError naming the option, before bind, fd closed",
  ignore,
  fn(): void {
    using taken = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    // A writable copy of the one symbol (the symbol table's properties are writable at run time).
    const c = libc() as { setsockopt: (...args: Parameters<Libc["setsockopt"]>) => number };
    const setsockopt = c.setsockopt;
    const errnoCell = new Int32Array(
      Deno.UnsafePointerView.getArrayBuffer(libc().__errno_location()!, 4),
    );
    const fds = fdCount();
    const asked: number[] = [];
    c.setsockopt = (fd, level, name, value, length) => {
      asked.push(name);
      if (name !== SOCK.SO_SNDBUF) return setsockopt(fd, level, name, value, length);
      errnoCell[0] = ERRNO.ENOBUFS;
      return -1;
    };
    try {
      // The port is taken: reaching bind would be EADDRINUSE instead.
      assert.throws(
        () =>
          SocketFd.bindUdp(taken.localAddress, { receiveBufferSize: 4096, sendBufferSize: 4096 }),
        (e: unknown) =>
          e instanceof ErrnoError && e.call === "setsockopt(SO_SNDBUF)" && e.codeName === "ENOBUFS",
      );
    } finally {
      c.setsockopt = setsockopt;
    }
    assert.deepEqual(asked, [SOCK.SO_RCVBUF, SOCK.SO_SNDBUF]);
    assert.equal(fdCount(), fds, "the socket was closed");
    assert.throws(
      () => SocketFd.bindUdp(taken.localAddress, { receiveBufferSize: 4096 }),
      (e: unknown) => e instanceof ErrnoError && e.codeName === "EADDRINUSE",
    );
  },
});

Deno.test({
  name:
    "linux udp: SocketFd.bindUdp sets IPV6_V6ONLY (IPPROTO_IPV6 41, 26) explicitly on IPv6 sockets, before bind",
  ignore,
  fn(): void {
    const c = libc() as {
      setsockopt: (...args: Parameters<Libc["setsockopt"]>) => number;
      bind: (...args: Parameters<Libc["bind"]>) => number;
    };
    const { setsockopt, bind } = c;
    const calls: string[] = [];
    c.setsockopt = (fd, level, name, value, length) => {
      const v = value ? new DataView(Deno.UnsafePointerView.getArrayBuffer(value, 4)) : null;
      calls.push(`setsockopt(${level}, ${name}, ${v?.getInt32(0, true)})`);
      return setsockopt(fd, level, name, value, length);
    };
    c.bind = (fd, addr, len) => {
      calls.push("bind");
      return bind(fd, addr, len);
    };
    try {
      for (const [ipv6Only, value] of [[undefined, 0], [false, 0], [true, 1]] as const) {
        calls.length = 0;
        using s = SocketFd.bindUdp({ hostname: "::1", port: 0 }, { ipv6Only });
        assert.deepEqual(calls, [`setsockopt(41, 26, ${value})`, "bind"], `ipv6Only ${ipv6Only}`);
        assert.equal(s.family, SOCK.AF_INET6);
      }
      calls.length = 0;
      using _v4 = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 }, { ipv6Only: true });
      assert.deepEqual(calls, ["bind"], "an IPv4 socket has no IPV6_V6ONLY");
    } finally {
      c.setsockopt = setsockopt;
      c.bind = bind;
    }
    assert.equal(SOCK.IPPROTO_IPV6, 41);
    assert.equal(SOCK.IPV6_V6ONLY, 26);
  },
});
