/**
 * The Winsock/RIO fake against the documented facts it encodes
 * (shared/reference/windows-api.md §2.1–2.6, §3.2), through raw calls with
 * structs written at literal offsets: if the fake drifts from the documents,
 * the wrapper tests would test the wrong contract.
 */

import assert from "node:assert/strict";
import { installFakeWindows } from "./fakes/windows.ts";
import { openFakeHost } from "./fakes/fake_base.ts";
import { openRioFunctions } from "../src/windows/rio_functions.ts";
import type { RioFunctions } from "../ffi/windows/rio_table.ts";

openFakeHost(); // the fake's host memory, opened before any test (resource sanitizer)

const WSAEFAULT = 10014;
const WSAEINVAL = 10022;
const WSAEALREADY = 10037;
const WSAENOBUFS = 10055;
const WSANOTINITIALISED = 10093;
const RIO_CORRUPT_CQ = 0xffff_ffff;
const RIO_INVALID_BUFFERID = 0xffff_ffffn;
const INVALID_SOCKET = 0xffff_ffff_ffff_ffffn;

type Fake = ReturnType<typeof installFakeWindows>;

/** The RIO table of the current Winsock session, fetched the way the wrappers fetch it. */
function rioTable(fake: Fake): RioFunctions {
  return openRioFunctions(fake.api.kernel, fake.api.ws2);
}

function mem(fake: Fake, size: number): { p: Deno.PointerObject; v: DataView; u8: Uint8Array } {
  const p = fake.api.kernel.VirtualAlloc(null, BigInt(size), 0x3000, 0x04)!;
  const ab = Deno.UnsafePointerView.getArrayBuffer(p, size);
  return { p, v: new DataView(ab), u8: new Uint8Array(ab) };
}

function at(p: Deno.PointerObject, offset: number): Deno.PointerObject {
  return Deno.UnsafePointer.offset(p, offset)!;
}

function startup(fake: Fake): void {
  assert.equal(fake.api.ws2.WSAStartup(0x0202, new Uint8Array(408)), 0);
}

/** A bound RIO UDP socket on 127.0.0.1 (port picked), via raw calls. */
function rioSocket(fake: Fake, scratch: DataView, scratchPtr: Deno.PointerObject): bigint {
  const ws2 = fake.api.ws2;
  const s = ws2.WSASocketW(2, 2, 17, null, 0, 0x101);
  scratch.setUint16(0, 2, true);
  scratch.setUint16(2, 0, false);
  scratch.setUint32(4, 0x7f00_0001, false);
  assert.equal(ws2.bind(s, scratchPtr, 16), 0);
  return s;
}

Deno.test("fake WSAStartup/WSACleanup: x64 WSADATA, reference counting, WSANOTINITIALISED", () => {
  using fake = installFakeWindows();
  const ws2 = fake.api.ws2;
  assert.equal(ws2.WSACleanup(), -1);
  assert.equal(ws2.WSAGetLastError(), WSANOTINITIALISED);
  assert.equal(ws2.WSASocketW(2, 2, 17, null, 0, 0x101), INVALID_SOCKET);
  assert.equal(ws2.WSAGetLastError(), WSANOTINITIALISED);
  const data = new Uint8Array(408);
  assert.equal(ws2.WSAStartup(0x0202, data), 0);
  const v = new DataView(data.buffer);
  assert.equal(v.getUint16(0, true), 0x0202); // wVersion
  assert.equal(v.getUint16(2, true), 0x0202); // wHighVersion
  assert.equal(String.fromCharCode(...data.subarray(16, 23)), "WinSock"); // szDescription at 16 (x64)
  assert.equal(String.fromCharCode(...data.subarray(273, 280)), "Running"); // szSystemStatus at 273
  startup(fake);
  assert.equal(ws2.WSACleanup(), 0);
  assert.equal(fake.winsock.startups, 1);
  assert.equal(ws2.WSACleanup(), 0);
  assert.deepEqual(fake.winsock.violations, []);
});

Deno.test("fake WSAIoctl: 0xC8000024 + WSAID_MULTIPLE_RIO + 112 bytes, nothing else", () => {
  using fake = installFakeWindows();
  startup(fake);
  const ws2 = fake.api.ws2;
  const m = mem(fake, 4096);
  m.u8.set([
    0x81,
    0xe0,
    0x09,
    0x85,
    0xdd,
    0x96,
    0x05,
    0x40,
    0xb1,
    0x65,
    0x9e,
    0x2e,
    0xe8,
    0xc7,
    0x9e,
    0x3f,
  ]);
  const s = ws2.WSASocketW(2, 2, 17, null, 0, 1);
  const ioctl = (code: number, outLen: number): number =>
    ws2.WSAIoctl(s, code, m.p, 16, at(m.p, 16), outLen, at(m.p, 256), null, null);
  assert.equal(ioctl(0xc800_0006, 112), -1, "SIO_GET_EXTENSION_FUNCTION_POINTER is the wrong code");
  assert.equal(ws2.WSAGetLastError(), WSAEINVAL);
  assert.equal(ioctl(0xc800_0024, 104), -1, "a 12-entry table is too small");
  assert.equal(ws2.WSAGetLastError(), WSAEFAULT);
  m.u8[15] ^= 1;
  assert.equal(ioctl(0xc800_0024, 112), -1, "wrong GUID");
  m.u8[15] ^= 1;
  assert.equal(ioctl(0xc800_0024, 112), 0);
  assert.equal(m.v.getUint32(16, true), 112); // cbSize
  const entries = Array.from({ length: 13 }, (_, i) => m.v.getBigUint64(16 + 8 + 8 * i, true));
  assert.equal(new Set(entries).size, 13);
  assert.ok(entries.every((e) => e !== 0n));
  assert.equal(m.v.getUint32(256, true), 112); // bytesReturned
  ws2.closesocket(s);
  ws2.WSACleanup();
});

Deno.test("fake setsockopt: SOL_SOCKET 0xFFFF, SO_RCVBUF 0x1002 / SO_SNDBUF 0x1001 as an int; short optlen is WSAEFAULT", () => {
  using fake = installFakeWindows();
  startup(fake);
  const ws2 = fake.api.ws2;
  const m = mem(fake, 4096);
  const s = ws2.WSASocketW(2, 2, 17, null, 0, 0x101);
  m.v.setInt32(0, 1 << 20, true);
  assert.equal(ws2.setsockopt(s, 0xffff, 0x1002, m.p, 4), 0);
  m.v.setInt32(0, 65536, true);
  assert.equal(ws2.setsockopt(s, 0xffff, 0x1001, m.p, 4), 0);
  m.v.setInt32(0, 7, true);
  assert.equal(ws2.setsockopt(s, 0xffff, 0x1002, m.p, 3), -1, "optlen too small");
  assert.equal(ws2.WSAGetLastError(), WSAEFAULT);
  assert.equal(ws2.setsockopt(s, 0xffff, 0x1002, null, 4), -1, "no optval");
  assert.equal(ws2.WSAGetLastError(), WSAEFAULT);
  assert.equal(
    ws2.setsockopt(s, 1, 8, m.p, 4),
    -1,
    "Linux's SOL_SOCKET/SO_RCVBUF mean nothing here",
  );
  assert.equal(ws2.WSAGetLastError(), 10042); // WSAENOPROTOOPT
  assert.equal(ws2.setsockopt(0x1234n, 0xffff, 0x1002, m.p, 4), -1);
  assert.equal(ws2.WSAGetLastError(), 10038); // WSAENOTSOCK
  assert.deepEqual(fake.winsock.socketOptions(), [{
    rcvbuf: 1 << 20,
    sndbuf: 65536,
    afterBind: [],
  }]);
  ws2.closesocket(s);
  ws2.WSACleanup();
});

Deno.test("fake RIORegisterBuffer / RIODeregisterBuffer: sentinel, WSAEINVAL, WSAEFAULT, invalid IDs ignored", () => {
  using fake = installFakeWindows();
  startup(fake);
  const rio = rioTable(fake);
  const m = mem(fake, 4096);
  assert.equal(
    rio.RIORegisterBuffer(m.p, 0),
    RIO_INVALID_BUFFERID,
    "0xFFFFFFFF zero-extended, not -1",
  );
  assert.equal(fake.api.ws2.WSAGetLastError(), WSAEINVAL);
  assert.equal(rio.RIORegisterBuffer(null, 16), RIO_INVALID_BUFFERID);
  assert.equal(fake.api.ws2.WSAGetLastError(), WSAEFAULT);
  assert.equal(rio.RIORegisterBuffer(m.p, 4097), RIO_INVALID_BUFFERID, "beyond the allocation");
  const id = rio.RIORegisterBuffer(m.p, 4096);
  assert.notEqual(id, RIO_INVALID_BUFFERID);
  rio.RIODeregisterBuffer(12345n);
  rio.RIODeregisterBuffer(id);
  rio.RIODeregisterBuffer(id);
  assert.equal(fake.winsock.liveRegistrations, 0);
  assert.deepEqual(fake.winsock.violations, []);
  fake.api.kernel.VirtualFree(m.p, 0n, 0x8000);
  fake.api.ws2.WSACleanup();
});

Deno.test("fake RIOCreateCompletionQueue / RIOCreateRequestQueue: documented limits", () => {
  using fake = installFakeWindows();
  startup(fake);
  const { ws2 } = fake.api;
  const rio = rioTable(fake);
  assert.equal(rio.RIOCreateCompletionQueue(0, null), null);
  assert.equal(ws2.WSAGetLastError(), WSAEINVAL);
  assert.equal(rio.RIOCreateCompletionQueue(0x800_0001, null), null);
  assert.equal(ws2.WSAGetLastError(), WSAEINVAL);
  const cq = rio.RIOCreateCompletionQueue(4, null)!;
  const m = mem(fake, 4096);
  const s = rioSocket(fake, m.v, m.p);
  assert.equal(
    rio.RIOCreateRequestQueue(s, 2, 2, 2, 1, cq, cq, 1n),
    null,
    "MaxReceiveDataBuffers must be 1",
  );
  assert.equal(ws2.WSAGetLastError(), WSAEINVAL);
  assert.equal(rio.RIOCreateRequestQueue(s, 3, 1, 2, 1, cq, cq, 1n), null, "3 + 2 > 4 entries");
  assert.equal(ws2.WSAGetLastError(), WSAENOBUFS);
  const plain = ws2.WSASocketW(2, 2, 17, null, 0, 1);
  assert.equal(
    rio.RIOCreateRequestQueue(plain, 1, 1, 1, 1, cq, cq, 2n),
    null,
    "no WSA_FLAG_REGISTERED_IO",
  );
  assert.ok(rio.RIOCreateRequestQueue(s, 2, 1, 2, 1, cq, cq, 1n));
  ws2.closesocket(s);
  ws2.closesocket(plain);
  rio.RIOCloseCompletionQueue(cq);
  rio.RIOCloseCompletionQueue(cq); // an invalid CQ is ignored
  assert.deepEqual(fake.winsock.violations, []);
  fake.api.kernel.VirtualFree(m.p, 0n, 0x8000);
  ws2.WSACleanup();
});

Deno.test("fake RIONotify / RIODequeueCompletion / closesocket / RIOCloseCompletionQueue semantics", () => {
  using fake = installFakeWindows();
  startup(fake);
  const { ws2, kernel } = fake.api;
  const rio = rioTable(fake);
  const m = mem(fake, 4096);
  // RIO_NOTIFICATION_COMPLETION at 512: Type 1 (event), EventHandle at +8, NotifyReset at +16.
  const event = kernel.CreateEventW(null, 1, 0, null)!;
  m.v.setUint32(512, 1, true);
  m.v.setBigUint64(520, Deno.UnsafePointer.value(event), true);
  m.v.setInt32(528, 1, true);
  const cq = rio.RIOCreateCompletionQueue(8, at(m.p, 512))!;
  assert.equal(rio.RIONotify(cq), 0);
  assert.equal(rio.RIONotify(cq), WSAEALREADY, "one-shot, and the code comes back directly");
  assert.deepEqual(fake.winsock.violations, ["RIONotify armed twice (WSAEALREADY)"]);

  const s = rioSocket(fake, m.v, m.p);
  const rq = rio.RIOCreateRequestQueue(s, 2, 1, 2, 1, cq, cq, 77n)!;
  const id = rio.RIORegisterBuffer(at(m.p, 1024), 1024);
  // RIO_BUF at 64: BufferId, Offset 0, Length 100.
  m.v.setBigUint64(64, id, true);
  m.v.setUint32(72, 0, true);
  m.v.setUint32(76, 100, true);
  assert.equal(
    rio.RIOReceiveEx(rq, at(m.p, 64), 1, null, null, null, null, 0x10, 5n),
    0,
    "unknown flag",
  );
  assert.equal(ws2.WSAGetLastError(), WSAEINVAL);
  assert.equal(fake.winsock.queued(cq), 0, "FALSE queues no completion");
  assert.equal(rio.RIOReceiveEx(rq, at(m.p, 64), 1, null, null, null, null, 0, 5n), 1);
  rio.RIODeregisterBuffer(id); // still referenced by the receive
  assert.match(fake.winsock.violations.at(-1)!, /deregistered while 1 request/);
  assert.equal(kernel.WaitForSingleObject(event, 0), 0x102, "armed, nothing completed yet");
  ws2.closesocket(s); // the pending receive completes, aborted; the armed notify fires
  assert.equal(kernel.WaitForSingleObject(event, 0), 0);
  // RIORESULT array at 2048: Status, BytesTransferred, SocketContext, RequestContext.
  assert.equal(rio.RIODequeueCompletion(cq, at(m.p, 2048), 8), 1);
  assert.equal(m.v.getInt32(2048, true), 995);
  assert.equal(m.v.getUint32(2052, true), 0);
  assert.equal(m.v.getBigUint64(2056, true), 77n);
  assert.equal(m.v.getBigUint64(2064, true), 5n);
  assert.equal(rio.RIODequeueCompletion(cq, at(m.p, 2048), 8), 0);
  rio.RIOCloseCompletionQueue(cq);
  assert.equal(rio.RIODequeueCompletion(cq, at(m.p, 2048), 8), RIO_CORRUPT_CQ, "an invalid CQ");
  kernel.CloseHandle(event);
  kernel.VirtualFree(m.p, 0n, 0x8000);
  ws2.WSACleanup();
});

Deno.test("fake: sharing is per RIO_BUF (§5.7), not per registration; freed registered memory is a violation", () => {
  using fake = installFakeWindows();
  startup(fake);
  const { ws2, kernel } = fake.api;
  const rio = rioTable(fake);
  const m = mem(fake, 4096);
  const cq = rio.RIOCreateCompletionQueue(8, null)!;
  const s = rioSocket(fake, m.v, m.p);
  const rq = rio.RIOCreateRequestQueue(s, 2, 1, 2, 1, cq, cq, 1n)!;
  const data = mem(fake, 4096);
  const id = rio.RIORegisterBuffer(data.p, 4096);
  data.v.setUint16(0, 2, true); // SOCKADDR_IN to 127.0.0.1:9 at offset 0 of the registration
  data.v.setUint16(2, 9, false);
  data.v.setUint32(4, 0x7f00_0001, false);
  const buf = (off: number, offset: number, length: number): Deno.PointerObject => {
    m.v.setBigUint64(off, id, true);
    m.v.setUint32(off + 8, offset, true);
    m.v.setUint32(off + 12, length, true);
    return at(m.p, off);
  };
  fake.winsock.hold = true;
  assert.equal(rio.RIOSendEx(rq, buf(64, 64, 10), 1, null, buf(80, 0, 28), null, null, 0, 1n), 1);
  assert.equal(
    rio.RIOSendEx(rq, buf(96, 4090, 10), 1, null, buf(112, 0, 28), null, null, 0, 1n),
    0,
  );
  assert.equal(ws2.WSAGetLastError(), WSAEINVAL, "a slice may not extend beyond the registration");
  assert.equal(rio.RIOSendEx(rq, buf(96, 0, 10), 1, null, buf(112, 0, 27), null, null, 0, 1n), 0);
  assert.equal(ws2.WSAGetLastError(), WSAEINVAL, "the address slice needs 28 bytes");
  assert.deepEqual(fake.winsock.violations, []);
  // Other bytes of the same registration are not restricted while the send is pending.
  assert.equal(rio.RIOReceiveEx(rq, buf(128, 2048, 100), 1, null, null, null, null, 0, 2n), 1);
  assert.deepEqual(fake.winsock.violations, [], "a receive elsewhere in the registration is fine");
  // The send's own bytes are: a receive into them is the violation.
  assert.equal(rio.RIOReceiveEx(rq, buf(144, 70, 8), 1, null, null, null, null, 0, 3n), 1);
  assert.equal(fake.winsock.violations.length, 1);
  assert.match(fake.winsock.violations[0], /names bytes of a send still in flight/);
  fake.winsock.hold = false;
  ws2.closesocket(s);
  assert.equal(rio.RIODequeueCompletion(cq, at(m.p, 2048), 8), 3);
  kernel.VirtualFree(data.p, 0n, 0x8000); // still registered
  assert.match(fake.winsock.violations.at(-1)!, /freed while still registered/);
  rio.RIODeregisterBuffer(id);
  rio.RIOCloseCompletionQueue(cq);
  kernel.VirtualFree(m.p, 0n, 0x8000);
  ws2.WSACleanup();
});

Deno.test("fake: RQ outstanding limit (code UNCONFIRMED, configurable); completions after RIOCloseCompletionQueue are dropped", () => {
  for (const rqLimitError of [undefined, WSAEINVAL]) {
    using fake = installFakeWindows({ winsock: { rqLimitError } });
    startup(fake);
    const { ws2, kernel } = fake.api;
    const rio = rioTable(fake);
    const m = mem(fake, 4096);
    const cq = rio.RIOCreateCompletionQueue(8, null)!;
    const s = rioSocket(fake, m.v, m.p);
    const rq = rio.RIOCreateRequestQueue(s, 1, 1, 1, 1, cq, cq, 1n)!;
    const id = rio.RIORegisterBuffer(at(m.p, 1024), 1024);
    m.v.setBigUint64(64, id, true);
    m.v.setUint32(72, 0, true);
    m.v.setUint32(76, 100, true);
    assert.equal(rio.RIOReceiveEx(rq, at(m.p, 64), 1, null, null, null, null, 0, 1n), 1);
    assert.equal(rio.RIOReceiveEx(rq, at(m.p, 64), 1, null, null, null, null, 0, 2n), 0);
    assert.equal(ws2.WSAGetLastError(), rqLimitError ?? WSAENOBUFS);
    rio.RIOCloseCompletionQueue(cq); // while the RQ still uses it: a violation
    ws2.closesocket(s); // the aborted receive's completion is silently dropped
    assert.equal(fake.winsock.queued(cq), 0);
    assert.equal(rio.RIODequeueCompletion(cq, at(m.p, 2048), 8), RIO_CORRUPT_CQ);
    rio.RIODeregisterBuffer(id);
    assert.equal(fake.winsock.violations.length, 1);
    assert.match(fake.winsock.violations[0], /closed while request queues still use it/);
    kernel.VirtualFree(m.p, 0n, 0x8000);
    ws2.WSACleanup();
  }
});

Deno.test("fake setsockopt IPPROTO_IPV6 (41) IPV6_V6ONLY (27): IPv6 sockets only; dual-stack only when 0", () => {
  using fake = installFakeWindows();
  startup(fake);
  const ws2 = fake.api.ws2;
  const m = mem(fake, 4096);
  const v4 = ws2.WSASocketW(2, 2, 17, null, 0, 0x101);
  m.v.setInt32(64, 0, true);
  assert.equal(ws2.setsockopt(v4, 41, 27, at(m.p, 64), 4), -1, "not on an IPv4 socket");
  assert.equal(ws2.WSAGetLastError(), WSAEINVAL);
  assert.equal(ws2.setsockopt(v4, 41, 26, at(m.p, 64), 4), -1, "Linux's 26 means nothing here");
  const v6 = ws2.WSASocketW(23, 2, 17, null, 0, 0x101);
  assert.equal(ws2.setsockopt(v6, 41, 26, at(m.p, 64), 4), -1);
  assert.equal(ws2.WSAGetLastError(), 10042); // WSAENOPROTOOPT
  assert.equal(ws2.setsockopt(v6, 41, 27, at(m.p, 64), 4), 0);
  assert.deepEqual(fake.winsock.socketOptions().map((o) => o.v6only), [undefined, 0]);
  ws2.closesocket(v4);
  ws2.closesocket(v6);
  fake.api.kernel.VirtualFree(m.p, 0n, 0x8000);
  ws2.WSACleanup();
  assert.deepEqual(fake.winsock.violations, []);
});
