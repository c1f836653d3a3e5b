// The UdpSocket test cases, shared by tests/udp_test.ts (io_uring, real
// kernel) and tests/udp_windows_fake_test.ts (RIO through the Windows fake).
// Each case takes a harness that binds sockets on its platform and checks
// that nothing was left behind.

import assert from "node:assert/strict";
import { DisposedError, RegioError } from "../src/errors.ts";
import type { UdpSocket } from "../src/udp/socket.ts";
import type { UdpSocketOptions } from "../src/udp/options.ts";
import type { UdpDatagram } from "../src/udp/views.ts";
import type { SocketAddress } from "../ffi/inet.ts";
import { pattern, within } from "./linux_util.ts";

/** What a platform supplies to the shared cases. */
export interface Harness {
  /** Binds a socket on the platform's engine. */
  bind(options: UdpSocketOptions): UdpSocket;
  /** Datagrams in the bulk test, and the window it keeps in flight. */
  bulk: { count: number; window: number };
  /** True for the error a port in use gives (EADDRINUSE / WSAEADDRINUSE). */
  isAddressInUse(e: unknown): boolean;
  /** Makes the kernel keep requests in flight (the fake completes them synchronously otherwise). */
  hold?(on: boolean): void;
  /** A destination the platform rejects at send time (without leaving the machine), if any. */
  rejectedSend?: { to: SocketAddress; is(e: unknown): boolean };
}

/** A received datagram, copied out of its slot. */
export interface Got {
  data: Uint8Array;
  remote: SocketAddress;
  offset: number;
  ecn: number;
  truncated: boolean;
}

/** `count` payloads of `size` bytes (the last `last` bytes), each its own pattern. */
export function train(count: number, size: number, last: number, seed: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => pattern(i === count - 1 ? last : size, seed + i));
}

/** The datagrams received are exactly the payloads sent, in order. */
export function assertSame(got: Got[], sent: Uint8Array[]): void {
  assert.equal(got.length, sent.length, "datagram count");
  for (let i = 0; i < sent.length; i++) assert.deepEqual(got[i].data, sent[i], `datagram ${i}`);
}

/** Echoes everything (truncated datagrams too) until the socket closes. */
export function echo(server: UdpSocket): Promise<void> {
  return (async () => {
    for await (const batch of server) for (const d of batch) server.reply(d);
  })();
}

/** Receives until `n` datagrams arrived (copied, in arrival order), failing after `ms`. */
export async function collect(socket: UdpSocket, n: number, ms = 5000): Promise<Got[]> {
  const got: Got[] = [];
  try {
    await within(
      ms,
      (async () => {
        while (got.length < n) {
          for (const d of await socket.receive({ timeoutMs: 50 })) {
            const { remote, offset, ecn, truncated } = d;
            got.push({ data: d.data.slice(), remote, offset, ecn, truncated });
          }
        }
      })(),
      `receiving ${n} datagrams`,
    );
  } catch (e) {
    // The count as it was when the wait failed, not when it began.
    throw new Error(`receiving ${n} datagrams (got ${got.length})`, { cause: e });
  }
  return got;
}

/** Every slot is back where it started: receive slots with the kernel, send slots free. */
export async function assertPoolFull(socket: UdpSocket, serving = false): Promise<void> {
  // Completions of the last sends may still be on their way.
  await within(
    5000,
    (async () => {
      while (socket.pool.replying + socket.pool.sending > 0) {
        await new Promise((r) => setTimeout(r, 1));
      }
    })(),
    "sends completing",
  );
  // Release whatever the last batch still holds (an echo loop releases its own).
  // Anything still arriving is taken and released by the next call, until none is left.
  if (!serving) { while ((await socket.receive({ timeoutMs: 0 })).length > 0); }
  const p = socket.pool;
  assert.deepEqual(
    { receiving: p.receiving, held: p.held, ready: p.ready, sendFree: p.sendFree },
    { receiving: p.receiveSlots, held: 0, ready: 0, sendFree: p.sendSlots },
    "slot accounting",
  );
  assert.equal(socket.kernelReceiveSlots, p.receiveSlots, "the kernel holds every receive slot");
}

export async function roundTrip(h: Harness, hostname: string): Promise<void> {
  await using server = h.bind({ hostname, port: 0, slots: 16, slotSize: 512 });
  await using client = h.bind({ hostname, port: 0, slots: 16, slotSize: 512, sendSlots: 4 });
  assert.equal(server.addr.hostname, hostname);
  assert.notEqual(server.addr.port, 0, "port 0 picks a port");
  const done = echo(server);
  const sizes = [1, 7, 100, 512]; // 512 fills a slot exactly
  for (const [i, size] of sizes.entries()) await client.send(pattern(size, 10 + i), server.addr);
  const got = await collect(client, sizes.length);
  got.sort((a, b) => a.data.length - b.data.length);
  for (const [i, size] of sizes.entries()) {
    assert.deepEqual(got[i].data, pattern(size, 10 + i), `echo of ${size} bytes`);
    assert.equal(got[i].truncated, false);
    assert.deepEqual(got[i].remote, server.addr, "the echo came from the server");
  }
  const total = sizes.reduce((a, b) => a + b, 0);
  await assertPoolFull(server, true);
  await assertPoolFull(client);
  assert.deepEqual(server.stats, {
    datagramsIn: 4,
    bytesIn: total,
    datagramsOut: 4,
    bytesOut: total,
    truncated: 0,
    poolEmpty: 0,
    sendErrors: 0,
    receiveErrors: 0,
    // Plain datagrams: one kernel receive and one send each, no trains.
    receives: 4,
    sends: 4,
    trains: 0,
    segmentationFallbacks: 0,
    segmentation: server.offloads.gso,
    kernelDrops: server.engine === "rio" ? null : 0, // Winsock has no per-socket count
  });
  assert.equal(client.stats.datagramsOut, 4);
  assert.equal(client.stats.datagramsIn, 4);
  await server.close();
  await done;
}

export async function truncationAndEmpty(h: Harness): Promise<void> {
  await using server = h.bind({ port: 0, slots: 4, slotSize: 64 });
  await using client = h.bind({ port: 0, slots: 4, slotSize: 256, sendSlots: 2 });
  // A datagram longer than a slot arrives cut to the slot, flagged and counted.
  const big = pattern(200, 5);
  await client.send(big, server.addr);
  let [d] = await server.receive({ timeoutMs: 5000 });
  assert.ok(d, "the long datagram arrived");
  assert.equal(d.truncated, true);
  assert.equal(d.length, 64);
  assert.deepEqual(d.data, big.subarray(0, 64));
  assert.equal(server.stats.truncated, 1);
  server.reply(d); // replying sends the truncated bytes
  let [back] = await collect(client, 1);
  assert.deepEqual(back.data, big.subarray(0, 64));
  // Zero-length datagrams are delivered and echoed.
  await client.send(new Uint8Array(0), server.addr);
  [d] = await server.receive({ timeoutMs: 5000 });
  assert.ok(d, "the empty datagram arrived");
  assert.equal(d.length, 0);
  assert.equal(d.truncated, false);
  assert.deepEqual(d.remote, client.addr);
  server.reply(d);
  [back] = await collect(client, 1);
  assert.equal(back.data.length, 0);
  // A reply may be shorter than what came in, never longer: past the
  // datagram the slot still holds an earlier one (here the 200-byte one).
  await client.send(new Uint8Array([1, 2, 3]), server.addr);
  [d] = await server.receive({ timeoutMs: 5000 });
  assert.throws(() => server.reply(d, 4), RangeError, "longer than the datagram");
  assert.throws(() => server.reply(d, 64), RangeError, "longer than the datagram");
  assert.ok(d.valid, "a refused reply changes nothing");
  server.reply(d, 2);
  [back] = await collect(client, 1);
  assert.deepEqual(back.data, new Uint8Array([1, 2]));
  await assertPoolFull(server);
  await assertPoolFull(client);
}

export async function bulk(h: Harness): Promise<void> {
  const { count, window } = h.bulk;
  const SIZE = 48;
  await using server = h.bind({ port: 0, slots: 256, slotSize: 128 });
  await using client = h.bind({ port: 0, slots: 256, slotSize: 128, sendSlots: window });
  const done = echo(server);
  const seen = new Uint8Array(count);
  let sent = 0, received = 0;
  const fill = (bytes: Uint8Array, seq: number): void => {
    new DataView(bytes.buffer, bytes.byteOffset, 4).setUint32(0, seq, true);
    for (let i = 4; i < SIZE; i++) bytes[i] = (seq * 31 + i) & 0xff;
  };
  const sendNext = (): void => {
    const slot = client.tryAcquire();
    assert.ok(slot, "a send slot is free for every datagram in the window");
    fill(slot.bytes, sent++);
    client.send(slot, server.addr, SIZE);
  };
  const started = performance.now();
  for (let i = 0; i < window; i++) sendNext();
  await within(
    60_000,
    (async () => {
      while (received < count) {
        const batch = await client.receive({ timeoutMs: 2000 });
        assert.ok(batch.length > 0, `stalled after ${received} echoes: a datagram was lost`);
        for (const d of batch) {
          assert.equal(d.length, SIZE);
          const data = d.data;
          const seq = new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true);
          assert.ok(seq < count && seen[seq] === 0, `echo ${seq} is new`);
          for (let i = 4; i < SIZE; i++) {
            if (data[i] !== ((seq * 31 + i) & 0xff)) assert.fail(`echo ${seq}: byte ${i} differs`);
          }
          seen[seq] = 1;
          received++;
          if (sent < count) sendNext();
        }
      }
    })(),
    `${count} datagrams`,
  );
  const seconds = (performance.now() - started) / 1000;
  assert.equal(received, count);
  assert.equal(server.stats.datagramsIn, count, "zero loss");
  await assertPoolFull(server, true);
  await assertPoolFull(client);
  await server.close();
  await done;
  console.log(`    ${count} echoes at window ${window} in ${seconds.toFixed(2)} s`);
}

export async function teardownUnderLoad(h: Harness): Promise<void> {
  const server = h.bind({ port: 0, slots: 64, slotSize: 256 });
  const client = h.bind({ port: 0, slots: 64, slotSize: 256, sendSlots: 64 });
  try {
    const done = echo(server);
    // Keep both directions busy, then dispose the server in the middle of it.
    const payload = pattern(200, 3);
    for (let i = 0; i < 64; i++) void client.send(payload, server.addr);
    let pending: Promise<void>[] = [];
    for (let i = 0; i < 256; i++) pending.push(client.send(payload, server.addr)); // wait for slots
    await client.receive({ timeoutMs: 5000 }); // traffic is flowing
    h.hold?.(true); // (the fake completes synchronously unless told to hold requests)
    for (let i = 0; i < 8; i++) pending.push(client.send(payload, server.addr));
    await new Promise((r) => setTimeout(r, 5));
    assert.ok(server.inFlight > 0, "the server has requests at the kernel");
    const closing = server.close();
    assert.equal(server.close(), closing, "close is idempotent (same promise)");
    await within(5000, closing, "server close under load");
    await within(5000, done, "the server's loop ends");
    assert.equal(server.inFlight, 0);
    await assert.rejects(server.receive(), DisposedError);
    assert.throws(() => server.send(payload, client.addr), DisposedError);
    // The client closes with sends still queued for slots: they reject, nothing leaks.
    pending = pending.map((p) => p.catch((e) => assert.ok(e instanceof DisposedError)));
    await within(5000, client.close(), "client close");
    await Promise.all(pending);
    assert.equal(client.inFlight, 0);
  } finally {
    h.hold?.(false);
    await server.close(); // idempotent; also when an assertion failed above
    await client.close();
  }
}

export async function backpressure(h: Harness): Promise<void> {
  await using server = h.bind({ port: 0, slots: 4, slotSize: 64 });
  await using client = h.bind({ port: 0, slots: 4, slotSize: 64, sendSlots: 2 });
  // Two send slots, twenty sends: the rest wait for slots; none is lost or reordered.
  const sends = [];
  for (let i = 0; i < 20; i++) sends.push(client.send(new Uint8Array([i]), server.addr));
  assert.equal(client.sendSlotsFree, 0);
  await within(5000, Promise.all(sends), "queued sends");
  // Four receive slots, and nobody receiving: the pool runs dry and receiving pauses.
  await within(
    5000,
    (async () => {
      while (server.pool.ready < 4) await new Promise((r) => setTimeout(r, 1));
    })(),
    "the pool filling",
  );
  assert.equal(server.pool.receiving, 0);
  assert.equal(server.stats.poolEmpty, 1);
  // Receiving again releases the slots and the waiting datagrams come in.
  const got: number[] = [];
  await within(
    5000,
    (async () => {
      while (got.length < 20) {
        for (const d of await server.receive({ timeoutMs: 100 })) got.push(d.data[0]);
      }
    })(),
    `the rest of the datagrams (got ${got.length})`,
  );
  assert.deepEqual(got.sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i));
  await assertPoolFull(server);
  await assertPoolFull(client);
}

export async function ownership(h: Harness): Promise<void> {
  await using server = h.bind({ port: 0, slots: 4, slotSize: 64 });
  await using other = h.bind({ port: 0, slots: 4, slotSize: 64 });
  await using client = h.bind({ port: 0, slots: 4, slotSize: 64 });
  for (let i = 0; i < 3; i++) await client.send(new Uint8Array([i]), server.addr);
  const batch = await collectBatch(server, 3);
  const [a, b, c] = batch;
  server.reply(a);
  assert.throws(() => server.reply(a), RangeError, "replied already");
  assert.throws(() => a.data, RangeError, "data is invalid once replied");
  server.release(b);
  assert.throws(() => server.release(b), RangeError);
  assert.throws(() => other.reply(c), TypeError, "another socket's datagram");
  assert.throws(() => server.reply(c, 65), RangeError, "longer than a slot");
  assert.throws(() => server.reply(c, -1), RangeError);
  assert.ok(c.valid);
  // A concurrent receive is refused; asking for the next batch auto-releases c.
  const next = server.receive({ timeoutMs: 20 });
  await assert.rejects(server.receive(), RegioError);
  assert.deepEqual(await next, []);
  assert.equal(c.valid, false, "auto-released by the next receive");
  assert.throws(() => c.remote, RangeError);
  // Leaving a for-await loop releases the batch it was on.
  await client.send(new Uint8Array([9]), server.addr);
  for await (const got of server) {
    assert.equal(got.length, 1);
    assert.equal(server.pool.held, 1);
    break;
  }
  assert.equal(server.pool.held, 0);
  // Acquired send slots: send or release, once.
  const slot = client.tryAcquire()!;
  slot.bytes[0] = 42;
  client.release(slot);
  assert.throws(() => slot.bytes, RangeError);
  assert.throws(() => client.send(slot, server.addr, 1), RangeError);
  const s2 = await client.acquire();
  s2.bytes[0] = 43;
  await client.send(s2, server.addr, 1);
  const [echoed] = await server.receive({ timeoutMs: 5000 });
  assert.equal(echoed.data[0], 43);
  await assertPoolFull(server);
  await assertPoolFull(client);
}

export async function staleDatagram(h: Harness): Promise<void> {
  // One receive slot: the next datagram lands in the slot the first one held.
  await using server = h.bind({ port: 0, slots: 1, slotSize: 64 });
  await using client = h.bind({ port: 0, slots: 4, slotSize: 64 });
  await client.send(new Uint8Array([1]), server.addr);
  const [first] = await server.receive({ timeoutMs: 5000 });
  server.release(first);
  await client.send(new Uint8Array([2]), server.addr);
  const [second] = await server.receive({ timeoutMs: 5000 });
  assert.equal(second.slot, first.slot, "the same slot, held again");
  assert.equal(first.valid, false, "the old datagram does not become valid again");
  assert.throws(() => first.data, RangeError, "no view of the new datagram's bytes");
  assert.throws(() => server.reply(first), RangeError, "no reply on the old datagram's behalf");
  assert.deepEqual(second.data, new Uint8Array([2]));
  server.release(second);
}

async function collectBatch(socket: UdpSocket, n: number): Promise<UdpDatagram[]> {
  // Wait until n are ready, so one receive returns them together.
  await within(
    5000,
    (async () => {
      while (socket.pool.ready < n) await new Promise((r) => setTimeout(r, 1));
    })(),
    "datagrams arriving",
  );
  const batch = await socket.receive();
  assert.equal(batch.length, n);
  return batch;
}

export async function sendErrors(h: Harness): Promise<void> {
  await using client = h.bind({ port: 0, slots: 4, slotSize: 64, sendSlots: 2 });
  const bytes = new Uint8Array(8);
  assert.throws(() => client.send(bytes, { hostname: "::1", port: 9 }), TypeError, "IPv6 on IPv4");
  assert.throws(() => client.send(bytes, { hostname: "localhost", port: 9 }), TypeError);
  assert.throws(() => client.send(bytes, { hostname: "127.0.0.1", port: 0 }), RangeError);
  assert.throws(() => client.send(bytes, { hostname: "127.0.0.1", port: 65536 }), RangeError);
  assert.throws(
    () => client.send(new Uint8Array(65), { hostname: "127.0.0.1", port: 9 }),
    RangeError,
  );
  assert.throws(() => client.send("x" as unknown as Uint8Array, client.addr), TypeError);
  assert.throws(() => client.send(bytes, null as unknown as SocketAddress), TypeError);
  assert.equal(client.pool.sendFree, 2, "rejected sends took no slot");
  if (!h.rejectedSend) return;
  // A destination the kernel refuses: counted, the slot comes back, nothing throws later.
  await client.send(bytes, h.rejectedSend.to);
  await within(
    5000,
    (async () => {
      while (client.stats.sendErrors === 0) await new Promise((r) => setTimeout(r, 1));
    })(),
    "the rejected send's completion",
  );
  assert.ok(h.rejectedSend.is(client.lastSendError), `got ${client.lastSendError}`);
  assert.equal(client.stats.datagramsOut, 0);
  await assertPoolFull(client);
}

export async function peerVanishes(h: Harness): Promise<void> {
  await using server = h.bind({ port: 0, slots: 8, slotSize: 64 });
  const client = h.bind({ port: 0, slots: 8, slotSize: 64 });
  for (let i = 0; i < 4; i++) await client.send(new Uint8Array([i]), server.addr);
  const batch = await collectBatch(server, 4);
  await client.close(); // the peer is gone before the replies
  for (const d of batch) server.reply(d);
  await assertPoolFull(server);
  assert.equal(server.stats.datagramsOut + server.stats.sendErrors, 4);
  // The server still works for the next client.
  await using next = h.bind({ port: 0, slots: 8, slotSize: 64 });
  const done = echo(server);
  await next.send(new Uint8Array([7]), server.addr);
  const [back] = await collect(next, 1);
  assert.deepEqual(back.data, new Uint8Array([7]));
  await server.close();
  await done;
}

export async function portInUse(h: Harness): Promise<void> {
  await using first = h.bind({ port: 0, slots: 4, slotSize: 64 });
  let error: unknown;
  try {
    await h.bind({ port: first.addr.port, slots: 4, slotSize: 64 }).close();
  } catch (e) {
    error = e;
  }
  assert.ok(h.isAddressInUse(error), `expected "address in use", got ${error}`);
}

export function badOptions(h: Harness): void {
  const bad: [unknown, ErrorConstructor | RangeErrorConstructor | TypeErrorConstructor][] = [
    [null, TypeError],
    [{ hostname: "localhost" }, TypeError],
    [{ hostname: 127 }, TypeError],
    [{ hostname: "127.0.0.1", port: 70000 }, RangeError],
    [{ port: -1 }, RangeError],
    [{ port: 1.5 }, RangeError],
    [{ slots: 0 }, RangeError],
    [{ slots: 40000 }, RangeError],
    [{ slotSize: 0 }, RangeError],
    [{ slotSize: 70000 }, RangeError],
    [{ sendSlots: 0 }, RangeError],
    [{ sendSlots: "4" }, RangeError],
    [{ receiveBufferSize: 0 }, RangeError],
    [{ receiveBufferSize: 2 ** 31 }, RangeError],
    [{ receiveBufferSize: 1.5 }, RangeError],
    [{ sendBufferSize: -1 }, RangeError],
    [{ sendBufferSize: "65536" }, RangeError],
    [{ hostname: "::1", ipv6Only: 1 }, TypeError],
    [{ hostname: "::", ipv6Only: "true" }, TypeError],
  ];
  for (const [options, type] of bad) {
    assert.throws(
      () => h.bind(options as UdpSocketOptions),
      type,
      `bind(${JSON.stringify(options)})`,
    );
  }
}
