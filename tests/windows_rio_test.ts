/**
 * The RIO wrappers through the Windows fake (tests/fakes/fake_winsock.ts),
 * which encodes the documented contract: every path and error path, a
 * loopback round trip with bytes checked, disposal under in-flight requests,
 * and the documented teardown order read from the fake's call log.
 */

import assert from "node:assert/strict";
import { installFakeWindows } from "./fakes/windows.ts";
import { assertRioClean } from "./rio_fake_util.ts";
import { windowsAllocator } from "../src/windows/api.ts";
import { openFakeHost } from "./fakes/fake_base.ts";
import { openRioFunctions } from "../src/windows/rio_functions.ts";
import type { RioFunctions } from "../ffi/windows/rio_table.ts";
import { INTERNAL } from "../src/windows/rio_context.ts";
import {
  BusyError,
  DisposedError,
  NativeRegion,
  Rio,
  RioCorruptQueueError,
  type RioSlot,
  type RioUdpSocket,
  type SocketAddress,
  UnsupportedError,
  WinsockError,
} from "../src/windows/mod.ts";

const WSAEFAULT = 10014;
const WSAEINVAL = 10022;
const WSAEMSGSIZE = 10040;
const WSAEADDRINUSE = 10048;
const WSAENOBUFS = 10055;
const WSA_OPERATION_ABORTED = 995;
const RIO_INVALID_BUFFERID = 0xffff_ffffn;

openFakeHost(); // the fake's host memory, opened before any test (resource sanitizer)

/** Runs `fn`, asserts it throws a `type`, and returns the error. */
function caught<T extends Error>(fn: () => unknown, type: new (...args: never[]) => T): T {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof type, `expected ${type.name}, got ${e}`);
    return e;
  }
  assert.fail(`expected ${type.name}, nothing was thrown`);
}

function region(bytes: number): NativeRegion {
  return NativeRegion.allocate(bytes, { allocator: windowsAllocator() });
}

type Fake = ReturnType<typeof installFakeWindows>;

/** The RIO table of the current Winsock session, fetched the way the wrappers fetch it. */
function rioTable(fake: Fake): RioFunctions {
  return openRioFunctions(fake.api.kernel, fake.api.ws2);
}

/** Writes `text` into `slot`'s data and sends it to `to` from the slot itself. */
function sendText(socket: RioUdpSocket, slot: RioSlot, text: string, to: SocketAddress): number {
  const bytes = new TextEncoder().encode(text);
  slot.data.bytes.set(bytes);
  slot.address.write(to);
  socket.sendEx(slot.data, slot.address, `send:${text}`, { length: bytes.length });
  return bytes.length;
}

Deno.test("Rio.open: WSAStartup 2.2 and the RIO table; close pairs WSACleanup once", () => {
  using fake = installFakeWindows();
  const rio = Rio.open();
  assert.equal(rio.version, 0x0202);
  assert.match(rio.description, /WinSock 2\.0/);
  assert.equal(fake.winsock.startups, 1);
  // The table came through WSAIoctl on a throwaway socket.
  assert.deepEqual(fake.base.log.only("WSAStartup", "WSASocketW", "WSAIoctl", "closesocket"), [
    "WSAStartup",
    "WSASocketW",
    "WSAIoctl",
    "closesocket",
  ]);
  rio.close();
  rio.close();
  assert.equal(fake.base.log.count("WSACleanup"), 1);
  {
    using r = region(64);
    assert.throws(() => rio.registerBuffer(r), DisposedError);
  }
  assertRioClean(fake);
});

Deno.test("Rio.open: a failed RIO ioctl is one UnsupportedError naming RIO, and WSACleanup runs", () => {
  using fake = installFakeWindows({ winsock: { rioIoctlError: WSAEINVAL } });
  const e = caught(() => Rio.open(), UnsupportedError);
  assert.match(e.message, /Registered I\/O \(RIO\)/);
  assert.ok(e.cause instanceof WinsockError);
  assert.equal((e.cause as WinsockError).codeName, "WSAEINVAL");
  assert.equal(fake.base.log.count("WSACleanup"), 1);
  assertRioClean(fake);
});

Deno.test({
  name: "Rio.open off Windows without a fake: UnsupportedError",
  ignore: Deno.build.os === "windows",
  fn(): void {
    assert.throws(() => Rio.open(), UnsupportedError);
  },
});

Deno.test("Rio.close refuses while something it created is open, and changes nothing", () => {
  using fake = installFakeWindows();
  const rio = Rio.open();
  using r = region(4096);
  const buffer = rio.registerBuffer(r);
  assert.throws(() => rio.close(), BusyError);
  assert.equal(fake.winsock.startups, 1);
  assert.equal(fake.winsock.liveRegistrations, 1);
  buffer.close();
  rio.close();
  r.free();
  assertRioClean(fake);
});

Deno.test("registerBuffer: ID, region hold, deregister exactly once, use after dispose", () => {
  using fake = installFakeWindows();
  using rio = Rio.open();
  using r = region(8192);
  const buffer = rio.registerBuffer(r, 4096, 1024);
  assert.equal(typeof buffer.id, "bigint");
  assert.ok(buffer.id > 0xffff_ffffn, "64-bit IDs survive (no 32-bit truncation)");
  assert.equal(buffer.length, 1024);
  assert.equal(r.holds, 1);
  assert.throws(() => r.free(), BusyError, "registered memory cannot be freed");
  const id = buffer.id;
  buffer[Symbol.dispose]();
  buffer[Symbol.dispose]();
  buffer.close();
  assert.deepEqual(fake.winsock.deregistered, [id]);
  assert.equal(r.holds, 0);
  assert.throws(() => buffer.id, DisposedError);
  assert.throws(() => buffer.slice(0, 1), DisposedError);
  assert.deepEqual(fake.winsock.violations, []);
});

Deno.test("registerBuffer: zero length is WSAEINVAL before any call; bad ranges are RangeErrors", () => {
  using fake = installFakeWindows();
  using rio = Rio.open();
  using r = region(4096);
  const e = caught(
    () => rio.registerBuffer(r, 0, 0),
    WinsockError,
  );
  assert.equal(e.code, WSAEINVAL);
  assert.equal(e.call, "RIORegisterBuffer");
  assert.throws(
    () => rio.registerBuffer(r, 4096),
    WinsockError,
    "offset at the end leaves 0 bytes",
  );
  assert.throws(() => rio.registerBuffer(r, 0, 4097), RangeError);
  assert.throws(() => rio.registerBuffer(r, -1, 10), RangeError);
  assert.throws(() => rio.registerBuffer(r, 1.5, 10), RangeError);
  assert.equal(fake.base.log.count("RIORegisterBuffer"), 0);
  assert.equal(r.holds, 0);
});

Deno.test("registerBuffer: RIO_INVALID_BUFFERID (0xFFFFFFFF zero-extended) from the call is an error", () => {
  using fake = installFakeWindows();
  using rio = Rio.open();
  // Memory the fake's VirtualAlloc did not hand out: the fake answers like
  // Windows for a bad pointer, RIO_INVALID_BUFFERID + WSAEFAULT.
  using foreign = NativeRegion.allocate(4096, { allocator: openFakeHost() });
  const e = caught(
    () => rio.registerBuffer(foreign),
    WinsockError,
  );
  assert.equal(e.code, WSAEFAULT);
  assert.equal(fake.base.log.count("RIORegisterBuffer"), 1);
  assert.equal(foreign.holds, 0);
  assert.equal(fake.winsock.liveRegistrations, 0);
  // What the wrapper compared against: the raw sentinel.
  const raw = rioTable(fake).RIORegisterBuffer(foreign.pointer, 16);
  assert.equal(raw, RIO_INVALID_BUFFERID);
});

Deno.test("slices are bounds-checked against the registration; bytes view registered memory", () => {
  using _fake = installFakeWindows();
  using rio = Rio.open();
  using r = region(4096);
  using buffer = rio.registerBuffer(r, 1024, 512);
  assert.throws(() => buffer.slice(0, 513), RangeError);
  assert.throws(() => buffer.slice(500, 13), RangeError);
  assert.throws(() => buffer.slice(512, 1), RangeError);
  assert.throws(() => buffer.slice(0, 0), RangeError);
  assert.throws(() => buffer.slice(-1, 4), RangeError);
  assert.throws(() => buffer.addressSlice(0, 27), RangeError, "SOCKADDR_INET needs 28 bytes");
  assert.throws(() => buffer.addressSlice(500), RangeError, "28 bytes do not fit at 500");
  const s = buffer.slice(16, 4);
  s.bytes.set([1, 2, 3, 4]);
  assert.deepEqual([...r.bytes.subarray(1024 + 16, 1024 + 20)], [1, 2, 3, 4]);
  const a = buffer.addressSlice(100);
  a.write({ hostname: "::1", port: 9 });
  assert.deepEqual(a.read(), { hostname: "::1", port: 9 });
  assert.throws(() => a.write({ hostname: "localhost", port: 1 }), TypeError);
  assert.throws(() => a.write({ hostname: "127.0.0.1", port: 65536 }), RangeError);
});

Deno.test("createCompletionQueue: size limits are RangeErrors and create nothing", () => {
  using fake = installFakeWindows();
  using rio = Rio.open();
  const before = fake.base.liveAllocations;
  assert.throws(() => rio.createCompletionQueue({ size: 0 }), RangeError);
  assert.throws(() => rio.createCompletionQueue({ size: 0x800_0001 }), RangeError);
  assert.throws(() => rio.createCompletionQueue({ size: 8, batch: 9 }), RangeError);
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => rio.createCompletionQueue({ size: 8, notify: "iocp" as any }),
    TypeError,
  );
  assert.equal(fake.base.log.count("RIOCreateCompletionQueue"), 0);
  assert.equal(fake.base.log.count("CreateEventW"), 0);
  assert.equal(fake.base.liveAllocations, before);
});

Deno.test("createCompletionQueue: a failing RIOCreateCompletionQueue leaves nothing behind", () => {
  // Pitfall 22: WSAEFAULT seen on a host with a valid table.
  using fake = installFakeWindows({ winsock: { createCqError: WSAEFAULT } });
  using rio = Rio.open();
  const before = fake.base.liveAllocations;
  const e = caught(
    () => rio.createCompletionQueue({ size: 8 }),
    WinsockError,
  );
  assert.equal(e.code, WSAEFAULT);
  assert.equal(e.call, "RIOCreateCompletionQueue");
  assert.equal(fake.base.log.count("CloseHandle"), 1, "the event is closed again");
  assert.equal(fake.base.liveAllocations, before);
});

Deno.test("UDP round trip over the fake loopback: bytes, sender address, echo from the slot", async () => {
  using fake = installFakeWindows();
  {
    await using rio = Rio.open();
    await using pool = rio.createBufferPool({ slots: 4, slotSize: 2048 });
    await using cq = rio.createCompletionQueue({ size: 64 });
    await using a = rio.udpSocket({ hostname: "127.0.0.1", port: 0, cq });
    await using b = rio.udpSocket({ hostname: "127.0.0.1", port: 0, cq });
    assert.equal(a.addr.hostname, "127.0.0.1");
    assert.notEqual(a.addr.port, b.addr.port);

    const bSlot = pool.acquire()!;
    b.receiveEx(bSlot.data, bSlot.address, "b-receive");
    const aSlot = pool.acquire()!;
    const n = sendText(a, aSlot, "hello rio", b.addr);

    assert.equal(await cq.wait({ timeoutMs: 1000 }), true);
    const got = cq.dequeue();
    assert.equal(got.length, 2);
    const send = got.find((c) => c.kind === "send")!;
    const recv = got.find((c) => c.kind === "receive")!;
    assert.equal(send.socket, a);
    assert.equal(send.status, 0);
    assert.equal(send.bytes, n);
    assert.equal(send.context, "send:hello rio");
    assert.equal(recv.socket, b);
    assert.equal(recv.context, "b-receive");
    assert.equal(recv.status, 0);
    assert.equal(recv.error, null);
    assert.equal(recv.bytes, n);
    assert.equal(new TextDecoder().decode(recv.data.bytes.subarray(0, recv.bytes)), "hello rio");
    assert.deepEqual(recv.remote!.read(), { hostname: "127.0.0.1", port: a.addr.port });

    // Echo from the receive slot's own memory: its data and sender address.
    a.receiveEx(aSlot.data, aSlot.address, "a-receive");
    b.sendEx(recv.data, recv.remote!, "echo", { length: recv.bytes });
    assert.equal(await cq.wait({ timeoutMs: 1000 }), true);
    const back = cq.dequeue();
    const echo = back.find((c) => c.kind === "receive")!;
    assert.equal(echo.socket, a);
    assert.equal(new TextDecoder().decode(aSlot.data.bytes.subarray(0, echo.bytes)), "hello rio");
    assert.deepEqual(aSlot.address.read(), { hostname: "127.0.0.1", port: b.addr.port });
    pool.release(aSlot);
    pool.release(bSlot);
  }
  assertRioClean(fake);
});

Deno.test("IPv6: bind ::1, round trip, SOCKADDR_IN6 sender address", async () => {
  using fake = installFakeWindows();
  {
    await using rio = Rio.open();
    await using pool = rio.createBufferPool({ slots: 2, slotSize: 256 });
    await using cq = rio.createCompletionQueue({ size: 16, notify: "poll" });
    await using a = rio.udpSocket({
      hostname: "::1",
      port: 0,
      cq,
      maxOutstandingReceive: 4,
      maxOutstandingSend: 4,
    });
    await using b = rio.udpSocket({
      hostname: "::1",
      port: 0,
      cq,
      maxOutstandingReceive: 4,
      maxOutstandingSend: 4,
    });
    assert.equal(a.addr.hostname, "::1");
    const [rs, ss] = [pool.acquire()!, pool.acquire()!];
    b.receiveEx(rs.data, rs.address, 1);
    sendText(a, ss, "v6", b.addr);
    const got = cq.dequeue();
    const recv = got.find((c) => c.kind === "receive")!;
    assert.equal(new TextDecoder().decode(rs.data.bytes.subarray(0, recv.bytes)), "v6");
    assert.deepEqual(recv.remote!.read(), { hostname: "::1", port: a.addr.port });
    assert.throws(() => cq.wait({ timeoutMs: 1 }), TypeError, "a poll queue has no event");
  }
  assertRioClean(fake);
});

Deno.test("udpSocket: port 0 picks one, explicit ports, address in use, bad hostnames leave nothing", async () => {
  using fake = installFakeWindows();
  await using rio = Rio.open();
  await using cq = rio.createCompletionQueue({ size: 64 });
  await using a = rio.udpSocket({
    hostname: "0.0.0.0",
    port: 0,
    cq,
    maxOutstandingReceive: 1,
    maxOutstandingSend: 1,
  });
  assert.ok(a.addr.port >= 49152);
  assert.equal(a.addr.hostname, "0.0.0.0");
  await using b = rio.udpSocket({
    hostname: "127.0.0.1",
    port: 4242,
    cq,
    maxOutstandingReceive: 1,
    maxOutstandingSend: 1,
  });
  assert.equal(b.addr.port, 4242);
  const allocations = fake.base.liveAllocations;
  const open = fake.winsock.openSockets;
  const e = caught(
    () => rio.udpSocket({ hostname: "127.0.0.1", port: a.addr.port, cq }),
    WinsockError,
  );
  assert.equal(e.code, WSAEADDRINUSE);
  assert.equal(e.call, "bind");
  assert.equal(fake.winsock.openSockets, open, "the socket was closed again");
  assert.equal(fake.base.liveAllocations, allocations);
  assert.equal(cq.available, 64 - 4, "nothing charged to the CQ");

  const sockets = fake.base.log.count("WSASocketW");
  assert.throws(() => rio.udpSocket({ hostname: "localhost", port: 1, cq }), TypeError);
  assert.throws(() => rio.udpSocket({ hostname: "127.0.0.1", port: 70000, cq }), RangeError);
  assert.throws(
    () => rio.udpSocket({ hostname: "10.0.0.1", port: 0, cq }),
    WinsockError,
    "not a local address",
  );
  assert.equal(
    fake.base.log.count("WSASocketW"),
    sockets + 1,
    "bad hostnames fail before WSASocketW",
  );
  assert.equal(fake.base.liveAllocations, allocations);
  // RIO sockets are made with WSA_FLAG_REGISTERED_IO (0x100) | WSA_FLAG_OVERLAPPED (0x01).
  assert.deepEqual(fake.winsock.socketFlags().slice(1), [0x101, 0x101, 0x101, 0x101]);
});

Deno.test("udpSocket: CQ capacity (sum of outstanding limits) is checked before any call", async () => {
  using fake = installFakeWindows();
  await using rio = Rio.open();
  await using cq = rio.createCompletionQueue({ size: 8 });
  const a = rio.udpSocket({
    hostname: "127.0.0.1",
    port: 0,
    cq,
    maxOutstandingReceive: 4,
    maxOutstandingSend: 4,
  });
  assert.equal(cq.available, 0);
  const calls = fake.base.log.calls.length;
  const e = caught(
    () =>
      rio.udpSocket({
        hostname: "127.0.0.1",
        port: 0,
        cq,
        maxOutstandingReceive: 1,
        maxOutstandingSend: 0,
      }),
    WinsockError,
  );
  assert.equal(e.code, WSAENOBUFS);
  assert.match(e.message, /0 of 8 entries free/);
  assert.equal(fake.base.log.calls.length, calls, "no call at all");
  assert.throws(
    () =>
      rio.udpSocket({
        hostname: "127.0.0.1",
        port: 0,
        cq,
        maxOutstandingReceive: 0,
        maxOutstandingSend: 0,
      }),
    RangeError,
  );
  a.close();
  assert.equal(cq.available, 8, "closing gives the charge back");
  await using b = rio.udpSocket({
    hostname: "127.0.0.1",
    port: 0,
    cq,
    maxOutstandingReceive: 8,
    maxOutstandingSend: 0,
  });
  assert.equal(b.sendsAvailable, 0);
});

Deno.test("outstanding limits are enforced before the call; nothing is posted", async () => {
  using fake = installFakeWindows();
  await using rio = Rio.open();
  await using pool = rio.createBufferPool({ slots: 4, slotSize: 64 });
  await using cq = rio.createCompletionQueue({ size: 8 });
  await using s = rio.udpSocket({
    hostname: "127.0.0.1",
    port: 0,
    cq,
    maxOutstandingReceive: 2,
    maxOutstandingSend: 1,
  });
  s.receiveEx(pool.slots[0].data, pool.slots[0].address);
  s.receiveEx(pool.slots[1].data, pool.slots[1].address);
  assert.equal(s.receivesAvailable, 0);
  const e = caught(
    () => s.receiveEx(pool.slots[2].data, null),
    WinsockError,
  );
  assert.equal(e.code, WSAENOBUFS);
  assert.equal(fake.base.log.count("RIOReceiveEx"), 2);
  assert.equal(pool.slots[2].buffer.inFlight, 0);
  fake.winsock.hold = true; // keep the send in flight
  pool.slots[3].address.write(s.addr);
  s.sendEx(pool.slots[3].data, pool.slots[3].address);
  assert.throws(() => s.sendEx(pool.slots[2].data, pool.slots[2].address), WinsockError);
  assert.equal(fake.base.log.count("RIOSendEx"), 1);
  assert.throws(
    () => s.sendEx(pool.slots[2].data, pool.slots[2].address, 0, { length: 65 }),
    WinsockError,
  );
  fake.winsock.hold = false;
});

Deno.test("bad slices never reach RIO: disposed buffers, lengths beyond the slice", async () => {
  using fake = installFakeWindows();
  await using rio = Rio.open();
  await using cq = rio.createCompletionQueue({ size: 8 });
  await using s = rio.udpSocket({
    hostname: "127.0.0.1",
    port: 0,
    cq,
    maxOutstandingReceive: 2,
    maxOutstandingSend: 2,
  });
  using r = region(4096);
  const buffer = rio.registerBuffer(r);
  const data = buffer.slice(0, 100);
  const address = buffer.addressSlice(128);
  address.write(s.addr);
  assert.throws(() => s.sendEx(data, address, 0, { length: 101 }), RangeError);
  assert.throws(() => s.sendEx(data, address, 0, { length: -1 }), RangeError);
  buffer.close();
  assert.throws(() => s.receiveEx(data, address), DisposedError);
  assert.throws(() => s.sendEx(data, address), DisposedError);
  assert.equal(fake.base.log.count("RIOReceiveEx") + fake.base.log.count("RIOSendEx"), 0);
});

Deno.test("regio's sharing rule (stricter than RIO's per-RIO_BUF one): a send holds its whole registration until dequeued", async () => {
  using fake = installFakeWindows();
  await using rio = Rio.open();
  // Declared before the socket, so `await using` closes the socket first.
  using r = region(8192);
  await using shared = rio.registerBuffer(r);
  await using cq = rio.createCompletionQueue({ size: 16 });
  await using s = rio.udpSocket({
    hostname: "127.0.0.1",
    port: 0,
    cq,
    maxOutstandingReceive: 4,
    maxOutstandingSend: 4,
  });
  const addrA = shared.addressSlice(0);
  addrA.write({ hostname: "127.0.0.1", port: 9 }); // nobody: dropped, but the send completes
  fake.winsock.hold = true;
  s.sendEx(shared.slice(64, 100), addrA, "send");
  // Any other use of the registration while the send is in flight is refused.
  assert.throws(() => s.receiveEx(shared.slice(4096, 100), null), BusyError);
  assert.throws(() => s.sendEx(shared.slice(2048, 10), addrA), BusyError);
  assert.throws(() => addrA.write({ hostname: "127.0.0.1", port: 10 }), BusyError);
  assert.equal(fake.base.log.count("RIOSendEx"), 1);
  assert.equal(fake.base.log.count("RIOReceiveEx"), 0);
  fake.winsock.run();
  assert.equal(cq.dequeue().length, 1);
  // Dequeued: the registration is free again. A pending receive now blocks a send.
  s.receiveEx(shared.slice(4096, 100), null, "receive");
  assert.throws(() => s.sendEx(shared.slice(64, 10), addrA), BusyError);
  fake.winsock.hold = false;
  await s[Symbol.asyncDispose]();
  assert.deepEqual(fake.winsock.violations, []);
});

Deno.test("RIO_MSG_DEFER + one commit posts a batch; one dequeue reaps it", async () => {
  for (const commitScope of ["direction", "queue"] as const) {
    using fake = installFakeWindows({ winsock: { commitScope } });
    {
      await using rio = Rio.open();
      await using pool = rio.createBufferPool({ slots: 6, slotSize: 64 });
      await using cq = rio.createCompletionQueue({ size: 32 });
      await using rx = rio.udpSocket({
        hostname: "127.0.0.1",
        port: 0,
        cq,
        maxOutstandingReceive: 3,
        maxOutstandingSend: 3,
      });
      await using tx = rio.udpSocket({
        hostname: "127.0.0.1",
        port: 0,
        cq,
        maxOutstandingReceive: 3,
        maxOutstandingSend: 3,
      });
      for (let i = 0; i < 3; i++) {
        rx.receiveEx(pool.slots[i].data, pool.slots[i].address, i, { defer: true });
      }
      for (let i = 3; i < 6; i++) {
        pool.slots[i].data.bytes.set([i]);
        pool.slots[i].address.write(rx.addr);
        tx.sendEx(pool.slots[i].data, pool.slots[i].address, i, { defer: true, length: 1 });
      }
      assert.equal(
        fake.winsock.queued(cq[INTERNAL].handle),
        0,
        "nothing runs before the commit",
      );
      tx.commit();
      rx.commit();
      assert.equal(fake.base.log.count("RIOReceiveEx"), 4, "3 deferred + 1 COMMIT_ONLY");
      assert.equal(fake.base.log.count("RIOSendEx"), 4);
      const dequeues = fake.base.log.count("RIODequeueCompletion");
      const got = cq.dequeue();
      assert.equal(fake.base.log.count("RIODequeueCompletion"), dequeues + 1);
      assert.equal(got.length, 6);
      const received = got.filter((c) => c.kind === "receive").map((c) => c.data.bytes[0]).sort();
      assert.deepEqual(received, [3, 4, 5]);
    }
    assertRioClean(fake);
  }
});

Deno.test("dequeue: batches, bounds, and WSAEMSGSIZE as a typed status", async () => {
  using _fake = installFakeWindows();
  await using rio = Rio.open();
  await using pool = rio.createBufferPool({ slots: 6, slotSize: 4 });
  await using cq = rio.createCompletionQueue({ size: 32, batch: 8 });
  await using rx = rio.udpSocket({
    hostname: "127.0.0.1",
    port: 0,
    cq,
    maxOutstandingReceive: 5,
    maxOutstandingSend: 1,
  });
  await using tx = rio.udpSocket({
    hostname: "127.0.0.1",
    port: 0,
    cq,
    maxOutstandingReceive: 1,
    maxOutstandingSend: 5,
  });
  assert.throws(() => cq.dequeue(0), RangeError);
  assert.throws(() => cq.dequeue(9), RangeError);
  for (let i = 0; i < 5; i++) rx.receiveEx(pool.slots[i].data, null, i);
  const s = pool.slots[5];
  s.data.bytes.set([1, 2, 3, 4]);
  s.address.write(rx.addr);
  tx.sendEx(s.data, s.address, "4 bytes");
  assert.equal(cq.dequeue(1).length, 1);
  assert.equal(cq.dequeue(1).length, 1);
  assert.deepEqual(cq.dequeue(), []);
  // A datagram bigger than the slice: truncated, status WSAEMSGSIZE.
  using big = region(4096);
  await using bigBuffer = rio.registerBuffer(big);
  bigBuffer.slice(0, 10).bytes.set([9, 9, 9, 9, 9, 9, 9, 9, 9, 9]);
  bigBuffer.addressSlice(64).write(rx.addr);
  tx.sendEx(bigBuffer.slice(0, 10), bigBuffer.addressSlice(64), "10 bytes");
  const got = cq.dequeue();
  const recv = got.find((c) => c.kind === "receive")!;
  assert.equal(recv.status, WSAEMSGSIZE);
  assert.equal(recv.error?.codeName, "WSAEMSGSIZE");
  assert.equal(recv.bytes, 4);
});

Deno.test("RIO_CORRUPT_CQ is a typed error; teardown then frees nothing until the queue recovers", async () => {
  using fake = installFakeWindows();
  {
    await using rio = Rio.open();
    await using pool = rio.createBufferPool({ slots: 1, slotSize: 64 });
    await using cq = rio.createCompletionQueue({ size: 8 });
    const s = rio.udpSocket({
      hostname: "127.0.0.1",
      port: 0,
      cq,
      maxOutstandingReceive: 1,
      maxOutstandingSend: 1,
    });
    fake.winsock.corruptNextDequeue = true;
    assert.throws(() => cq.dequeue(), RioCorruptQueueError);
    assert.deepEqual(cq.dequeue(), [], "one-shot: the next call works");
    s.receiveEx(pool.slots[0].data, pool.slots[0].address);
    fake.winsock.corrupt = true;
    await assert.rejects(() => s[Symbol.asyncDispose](), RioCorruptQueueError);
    assert.throws(() => pool.close(), BusyError, "the receive was never dequeued");
    assert.deepEqual(fake.winsock.deregistered, []);
    fake.winsock.corrupt = false;
    await s[Symbol.asyncDispose](); // resumes draining; closesocket is not repeated
    assert.equal(fake.base.log.count("closesocket"), 2, "one for the table query, one here");
  }
  assertRioClean(fake);
});

Deno.test("wait: RIONotify is armed once (WSAEALREADY never reached), timeouts keep it armed", async () => {
  using fake = installFakeWindows();
  await using rio = Rio.open();
  await using pool = rio.createBufferPool({ slots: 2, slotSize: 64 });
  await using cq = rio.createCompletionQueue({ size: 8 });
  await using s = rio.udpSocket({
    hostname: "127.0.0.1",
    port: 0,
    cq,
    maxOutstandingReceive: 2,
    maxOutstandingSend: 2,
  });
  assert.throws(() => cq.wait({ timeoutMs: 0xffff_ffff }), RangeError, "INFINITE is refused");
  assert.equal(await cq.wait({ timeoutMs: -0 }), false, "-0 is 0 (a u32 FFI argument)");
  assert.equal(await cq.wait({ timeoutMs: 5 }), false);
  assert.equal(cq.notifyArmed, true);
  assert.equal(await cq.wait({ timeoutMs: 5 }), false);
  const [w1, w2] = [cq.wait({ timeoutMs: 5 }), cq.wait({ timeoutMs: 5 })];
  assert.equal(w1, w2, "concurrent waits share one");
  await w1;
  assert.equal(fake.base.log.count("RIONotify"), 1);
  s.receiveEx(pool.slots[0].data, pool.slots[0].address);
  sendText(s, pool.slots[1], "x", s.addr);
  assert.equal(await cq.wait({ timeoutMs: 1000 }), true, "the armed notification fired");
  assert.equal(cq.notifyArmed, false);
  assert.equal(cq.dequeue().length, 2);
  assert.equal(await cq.wait({ timeoutMs: 5 }), false);
  assert.equal(fake.base.log.count("RIONotify"), 2, "re-armed only after it fired");
  assert.deepEqual(fake.winsock.violations, []);
  // Never waits on the kernel when completions are already pulled in.
  assert.equal(fake.base.log.count("WaitForSingleObject"), 0);
});

Deno.test("closing a completion queue wakes its waiter; the event is closed after the wait ends", async () => {
  using fake = installFakeWindows();
  using rio = Rio.open();
  const cq = rio.createCompletionQueue({ size: 4 });
  const started = Date.now();
  const waiting = cq.wait({ timeoutMs: 10_000 });
  cq.close();
  assert.equal(await waiting, false);
  assert.ok(Date.now() - started < 5000);
  await Promise.resolve();
  assert.equal(fake.base.log.count("CloseHandle"), 1);
  assert.equal(await cq.wait({ timeoutMs: 1 }), false, "a closed queue does not wait");
  assert.throws(() => cq.dequeue(), DisposedError);
  cq.close();
  assert.equal(fake.base.log.count("RIOCloseCompletionQueue"), 1);
});

Deno.test("async dispose of a queue wakes a pending wait, then closes", async () => {
  using fake = installFakeWindows();
  using rio = Rio.open();
  const cq = rio.createCompletionQueue({ size: 4 });
  const waiting = cq.wait({ timeoutMs: 10_000 });
  await cq[Symbol.asyncDispose]();
  assert.equal(await waiting, true);
  assert.equal(fake.base.log.count("CloseHandle"), 1);
  assert.equal(fake.base.log.count("RIOCloseCompletionQueue"), 1);
});

Deno.test("disposal under in-flight requests: sync refuses and changes nothing, async drains", async () => {
  using fake = installFakeWindows();
  {
    await using rio = Rio.open();
    using r = region(4096);
    const buffer = rio.registerBuffer(r);
    await using cq = rio.createCompletionQueue({ size: 8 });
    const rx = rio.udpSocket({
      hostname: "127.0.0.1",
      port: 0,
      cq,
      maxOutstandingReceive: 2,
      maxOutstandingSend: 2,
    });
    rx.receiveEx(buffer.slice(0, 512), buffer.addressSlice(1024), "pending");

    assert.throws(() => buffer[Symbol.dispose](), BusyError);
    assert.throws(() => rx[Symbol.dispose](), BusyError);
    assert.throws(() => cq.close(), BusyError);
    assert.throws(() => rio.close(), BusyError);
    assert.equal(fake.base.log.count("RIODeregisterBuffer"), 0);
    assert.equal(fake.base.log.count("closesocket"), 1, "only the table query's");
    assert.equal(buffer.inFlight, 1);
    rx.receiveEx(buffer.slice(512, 512), null, "still usable");
    assert.equal(buffer.inFlight, 2);

    // The buffer's async dispose cancels the receive the only way RIO can
    // (closesocket: WSA_OPERATION_ABORTED), drains it, then deregisters.
    fake.base.log.clear();
    await buffer[Symbol.asyncDispose]();
    assert.equal(rx.closed, true);
    assert.deepEqual(
      fake.base.log.only("closesocket", "RIODequeueCompletion", "RIODeregisterBuffer"),
      [
        "closesocket",
        "RIODequeueCompletion",
        "RIODeregisterBuffer",
      ],
    );
    const [c, c2] = cq.dequeue();
    assert.equal(c2.status, WSA_OPERATION_ABORTED);
    assert.equal(c.status, WSA_OPERATION_ABORTED);
    assert.equal(c.error?.codeName, "WSA_OPERATION_ABORTED");
    assert.equal(c.context, "pending");
    assert.equal(fake.winsock.deregistered.length, 1, "deregistered exactly once");
    buffer.close();
    await buffer[Symbol.asyncDispose]();
    assert.equal(fake.winsock.deregistered.length, 1);
    assert.throws(() => rx.receiveEx(buffer.slice(0, 1), null), DisposedError);
  }
  assertRioClean(fake);
});

Deno.test("async socket dispose commits deferred requests before closesocket (UNCONFIRMED: they may never complete otherwise)", async () => {
  using fake = installFakeWindows({ winsock: { deferredOnClose: "lost" } });
  {
    await using rio = Rio.open();
    await using pool = rio.createBufferPool({ slots: 2, slotSize: 64 });
    await using cq = rio.createCompletionQueue({ size: 8 });
    await using s = rio.udpSocket({
      hostname: "127.0.0.1",
      port: 0,
      cq,
      maxOutstandingReceive: 2,
      maxOutstandingSend: 2,
    });
    s.receiveEx(pool.slots[0].data, pool.slots[0].address, 0, { defer: true });
    s.receiveEx(pool.slots[1].data, pool.slots[1].address, 1, { defer: true });
    fake.base.log.clear();
  }
  assert.deepEqual(fake.base.log.only("RIOReceiveEx", "closesocket").slice(0, 2), [
    "RIOReceiveEx",
    "closesocket",
  ]);
  assertRioClean(fake);
});

Deno.test("teardown order with await using: closesocket → drain → close CQ → deregister → free → WSACleanup", async () => {
  using fake = installFakeWindows();
  {
    await using rio = Rio.open();
    using r = region(4096);
    await using buffer = rio.registerBuffer(r);
    await using cq = rio.createCompletionQueue({ size: 16 });
    await using s = rio.udpSocket({
      hostname: "127.0.0.1",
      port: 0,
      cq,
      maxOutstandingReceive: 4,
      maxOutstandingSend: 4,
    });
    s.receiveEx(buffer.slice(0, 1024), buffer.addressSlice(1024), "pending");
    fake.base.log.clear();
  }
  assert.deepEqual(
    fake.base.log.only(
      "closesocket",
      "RIODequeueCompletion",
      "RIOCloseCompletionQueue",
      "RIODeregisterBuffer",
      "VirtualFree",
      "WSACleanup",
    ),
    [
      "closesocket",
      "RIODequeueCompletion", // the aborted receive
      "VirtualFree", // the socket's RIO_BUF descriptors, no request left
      "RIOCloseCompletionQueue",
      "VirtualFree", // the RIORESULT array
      "RIODeregisterBuffer",
      "VirtualFree", // the registered region
      "WSACleanup",
    ],
  );
  assertRioClean(fake);
});

Deno.test("Rio's own async dispose tears down what is left, in the documented order", async () => {
  using fake = installFakeWindows();
  const r = region(4096);
  {
    await using rio = Rio.open();
    const pool = rio.createBufferPool({ slots: 2, slotSize: 128 });
    const buffer = rio.registerBuffer(r);
    const cq = rio.createCompletionQueue({ size: 16 });
    const s = rio.udpSocket({
      hostname: "127.0.0.1",
      port: 0,
      cq,
      maxOutstandingReceive: 4,
      maxOutstandingSend: 4,
    });
    s.receiveEx(pool.slots[0].data, pool.slots[0].address);
    s.receiveEx(buffer.slice(0, 64), null);
    fake.base.log.clear();
  }
  assert.deepEqual(
    fake.base.log.only(
      "closesocket",
      "RIODequeueCompletion",
      "RIOCloseCompletionQueue",
      "RIODeregisterBuffer",
      "WSACleanup",
    ),
    [
      "closesocket",
      "RIODequeueCompletion",
      "RIOCloseCompletionQueue",
      "RIODeregisterBuffer", // pool slot 0
      "RIODeregisterBuffer", // pool slot 1
      "RIODeregisterBuffer", // the user's buffer
      "WSACleanup",
    ],
  );
  assert.equal(r.holds, 0);
  r.free(); // the caller's region is the caller's to free
  assertRioClean(fake);
});

Deno.test("double dispose and use after dispose for every class", async () => {
  using fake = installFakeWindows();
  const rio = Rio.open();
  const pool = rio.createBufferPool({ slots: 2, slotSize: 64 });
  const cq = rio.createCompletionQueue({ size: 8 });
  const s = rio.udpSocket({
    hostname: "127.0.0.1",
    port: 0,
    cq,
    maxOutstandingReceive: 1,
    maxOutstandingSend: 1,
  });
  for (let i = 0; i < 2; i++) {
    s[Symbol.dispose]();
    await s[Symbol.asyncDispose]();
    cq.close();
    await cq[Symbol.asyncDispose]();
    pool[Symbol.dispose]();
    await pool[Symbol.asyncDispose]();
  }
  assert.throws(() => s.receiveEx(pool.slots[0].data, null), DisposedError);
  assert.throws(() => s.commit(), DisposedError);
  assert.throws(() => cq.dequeue(), DisposedError);
  assert.throws(() => pool.acquire(), DisposedError);
  assert.throws(() => pool.slots[0].buffer.id, DisposedError);
  assert.throws(
    () => rio.udpSocket({ hostname: "127.0.0.1", port: 0, cq }),
    TypeError,
    "closed CQ",
  );
  await rio[Symbol.asyncDispose]();
  rio.close();
  assert.throws(() => rio.createCompletionQueue({ size: 1 }), DisposedError);
  assert.equal(fake.base.log.count("closesocket"), 2);
  assert.equal(fake.base.log.count("RIOCloseCompletionQueue"), 1);
  assert.equal(fake.winsock.deregistered.length, 2);
  assert.equal(new Set(fake.winsock.deregistered).size, 2);
  assert.equal(fake.base.log.count("WSACleanup"), 1);
  assertRioClean(fake);
});

Deno.test("buffer pool: one registration per slot, acquire/release, address area in registered memory", async () => {
  using fake = installFakeWindows();
  await using rio = Rio.open();
  await using pool = rio.createBufferPool({ slots: 3, slotSize: 100 });
  assert.throws(() => rio.createBufferPool({ slots: 0, slotSize: 1 }), RangeError);
  assert.throws(() => rio.createBufferPool({ slots: 1, slotSize: 0 }), RangeError);
  const ids = new Set(pool.slots.map((s) => s.buffer.id));
  assert.equal(ids.size, 3, "a registration per slot");
  for (const s of pool.slots) {
    assert.equal(s.address.length, 28);
    assert.equal(s.data.length, 100);
    assert.equal(s.address.buffer, s.buffer);
    assert.equal(s.data.buffer, s.buffer);
    // Data and address lie inside the slot's own registration, not overlapping.
    assert.ok(s.address.offset + s.address.length <= s.data.offset);
    assert.ok(s.data.offset + s.data.length <= s.buffer.length);
  }
  const a = pool.acquire()!, b = pool.acquire()!, c = pool.acquire()!;
  assert.deepEqual([a.index, b.index, c.index], [0, 1, 2]);
  assert.equal(pool.acquire(), null);
  pool.release(b);
  assert.throws(() => pool.release(b), TypeError, "double release");
  assert.equal(pool.acquire(), b);
  await using other = rio.createBufferPool({ slots: 1, slotSize: 8 });
  assert.throws(() => pool.release(other.slots[0]), TypeError);
  assert.throws(() => pool.region.free(), BusyError, "registered slots hold the region");
  assert.equal(fake.base.log.count("RIORegisterBuffer"), 4);
});

Deno.test("the sharing rule's comments cite Microsoft's per-RIO_BUF rule, and call regio's stricter one a choice", async () => {
  const files = [
    "../src/windows/rio_buffer.ts",
    "../src/windows/rio_socket.ts",
    "../src/windows/rio_requests.ts",
    "../src/windows/rio_context.ts",
    "../src/udp/windows.ts",
    "../src/udp/windows_send.ts",
    "../README.md",
  ];
  for (const f of files) {
    const text = await Deno.readTextFile(new URL(f, import.meta.url));
    // §5.7: the remarks restrict a RIO_BUF, never the entire registration.
    for (const line of text.split("\n")) {
      if (/remarks/i.test(line)) assert.doesNotMatch(line, /whole|entire/i, `${f}: ${line}`);
    }
    assert.doesNotMatch(text, /pitfall 21/, `${f} cites the superseded reading`);
  }
  const buffer = await Deno.readTextFile(new URL("../src/windows/rio_buffer.ts", import.meta.url));
  assert.match(buffer, /per\s+\* RIO_BUF|per RIO_BUF/);
  assert.match(buffer, /stricter than RIO's/);
});
