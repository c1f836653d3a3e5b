// Typed errors (src/errors.ts) and the Windows checking helpers
// (src/windows/check.ts). Codes and names are written literally from
// shared/reference/windows-api.md (§1.4, §2.3, §2.6, §2.7) and the Linux errno
// table; the last-error symbols are hand-written stand-ins that count reads.

import assert from "node:assert/strict";
import {
  BusyError,
  checkInteger,
  DisposedError,
  ErrnoError,
  hex32,
  HResultError,
  RegioError,
  UnsupportedError,
  Win32Error,
  WinsockError,
} from "../src/errors.ts";
import {
  checkBool,
  checkBufferId,
  checkHandle,
  checkHResult,
  checkRioBool,
  checkRioHandle,
  checkSocket,
  checkWinsock,
  checkWinsockCode,
} from "../src/windows/check.ts";
import type { Kernelbase } from "../ffi/windows/kernelbase.ts";
import type { Ws2 } from "../ffi/windows/ws2_32.ts";

// ---------------------------------------------------------------------------
// Error classes

Deno.test("HResultError: every IORING_E_* code gets its SDK name (§1.4)", () => {
  const table: [number, string, string][] = [
    [-2142896127, "IORING_E_REQUIRED_FLAG_NOT_SUPPORTED", "0x80460001"],
    [-2142896126, "IORING_E_SUBMISSION_QUEUE_FULL", "0x80460002"],
    [-2142896125, "IORING_E_VERSION_NOT_SUPPORTED", "0x80460003"],
    [-2142896124, "IORING_E_SUBMISSION_QUEUE_TOO_BIG", "0x80460004"],
    [-2142896123, "IORING_E_COMPLETION_QUEUE_TOO_BIG", "0x80460005"],
    [-2142896122, "IORING_E_SUBMIT_IN_PROGRESS", "0x80460006"],
    [-2142896121, "IORING_E_CORRUPT", "0x80460007"],
    [-2142896120, "IORING_E_COMPLETION_QUEUE_TOO_FULL", "0x80460008"],
    [-2147467260, "E_ABORT", "0x80004004"],
    [-2147024890, "E_HANDLE", "0x80070006"],
    [-2147024809, "E_INVALIDARG", "0x80070057"],
  ];
  for (const [code, name, hex] of table) {
    const e = new HResultError(code, "SubmitIoRing");
    assert.equal(e.code, code);
    assert.equal(e.codeName, name);
    assert.equal(e.call, "SubmitIoRing");
    assert.equal(e.message, `SubmitIoRing failed: ${name} (${hex})`);
  }
});

Deno.test("HResultError: class shape, unsigned input normalised, unknown code as hex", () => {
  const e = new HResultError(0x80460002, "BuildIoRingReadFile"); // unsigned form
  assert.ok(e instanceof HResultError && e instanceof RegioError && e instanceof Error);
  assert.equal(e.name, "HResultError");
  assert.equal(e.code, -2142896126);
  assert.equal(e.codeName, "IORING_E_SUBMISSION_QUEUE_FULL");
  assert.equal(
    e.message,
    "BuildIoRingReadFile failed: IORING_E_SUBMISSION_QUEUE_FULL (0x80460002)",
  );
  const eof = new HResultError(-2147024858, "PopIoRingCompletion");
  assert.equal(eof.codeName, "HRESULT_FROM_WIN32_ERROR_HANDLE_EOF"); // 0x80070026
  const u = new HResultError(0x80041234, "CreateIoRing");
  assert.equal(u.code, -2147216844);
  assert.equal(u.codeName, "0x80041234");
  assert.equal(u.message, "CreateIoRing failed: 0x80041234 (0x80041234)");
});

Deno.test("hex32: unsigned, upper case, 8 digits", () => {
  assert.equal(hex32(0), "0x00000000");
  assert.equal(hex32(1), "0x00000001");
  assert.equal(hex32(-1), "0xFFFFFFFF");
  assert.equal(hex32(-2142896126), "0x80460002");
  assert.equal(hex32(0x800701fd), "0x800701FD");
});

Deno.test("WinsockError: names from §2.6, detail, unknown codes", () => {
  const table: [number, string][] = [
    [10014, "WSAEFAULT"],
    [10022, "WSAEINVAL"],
    [10037, "WSAEALREADY"],
    [10038, "WSAENOTSOCK"],
    [10045, "WSAEOPNOTSUPP"],
    [10054, "WSAECONNRESET"],
    [10055, "WSAENOBUFS"],
    [10059, "WSAETOOMANYREFS"],
    [10093, "WSANOTINITIALISED"],
    [995, "WSA_OPERATION_ABORTED"],
    [997, "WSA_IO_PENDING"],
  ];
  for (const [code, name] of table) {
    const e = new WinsockError(code, "RIOReceiveEx");
    assert.equal(e.code, code);
    assert.equal(e.codeName, name);
    assert.equal(e.call, "RIOReceiveEx");
    assert.equal(e.message, `RIOReceiveEx failed: ${name} (${code})`);
  }
  const d = new WinsockError(10055, "RIOSendEx", "the completion queue is full");
  assert.equal(d.message, "RIOSendEx failed: WSAENOBUFS (10055): the completion queue is full");
  assert.equal(d.name, "WinsockError");
  assert.ok(d instanceof RegioError);
  const u = new WinsockError(11001, "bind");
  assert.equal(u.codeName, "WSA error 11001");
  assert.equal(u.message, "bind failed: WSA error 11001 (11001)");
});

Deno.test("Win32Error: names from §2.7, unknown codes", () => {
  const table: [number, string][] = [
    [6, "ERROR_INVALID_HANDLE"],
    [38, "ERROR_HANDLE_EOF"],
    [995, "ERROR_OPERATION_ABORTED"],
    [1168, "ERROR_NOT_FOUND"],
    [1460, "ERROR_TIMEOUT"],
  ];
  for (const [code, name] of table) {
    const e = new Win32Error(code, "CloseHandle");
    assert.equal(e.code, code);
    assert.equal(e.codeName, name);
    assert.equal(e.call, "CloseHandle");
    assert.equal(e.message, `CloseHandle failed: ${name} (${code})`);
  }
  const u = new Win32Error(1450, "VirtualAlloc");
  assert.equal(u.codeName, "Win32 error 1450");
  assert.equal(u.name, "Win32Error");
  assert.ok(u instanceof RegioError);
});

Deno.test("ErrnoError: names, hint, unknown errnos", () => {
  const e = new ErrnoError(16, "io_uring_register");
  assert.equal(e.code, 16);
  assert.equal(e.codeName, "EBUSY");
  assert.equal(e.call, "io_uring_register");
  assert.equal(e.message, "io_uring_register failed: EBUSY (16)");
  const h = new ErrnoError(12, "mmap", "raise RLIMIT_MEMLOCK");
  assert.equal(h.message, "mmap failed: ENOMEM (12). raise RLIMIT_MEMLOCK");
  const u = new ErrnoError(4095, "syscall");
  assert.equal(u.codeName, "errno 4095");
  assert.equal(u.name, "ErrnoError");
  assert.ok(u instanceof RegioError);
});

Deno.test("UnsupportedError, BusyError, DisposedError: fields and messages", () => {
  const cause = new Error("dlopen failed");
  const u = new UnsupportedError("kernelbase.dll", "it needs Windows; this is linux", { cause });
  assert.equal(u.name, "UnsupportedError");
  assert.equal(u.feature, "kernelbase.dll");
  assert.equal(u.message, "kernelbase.dll is not available: it needs Windows; this is linux");
  assert.equal(u.cause, cause);
  assert.ok(u instanceof RegioError);

  const b = new BusyError("RioBufferPool", 3);
  assert.equal(b.name, "BusyError");
  assert.equal(b.resource, "RioBufferPool");
  assert.equal(b.inFlight, 3);
  assert.match(
    b.message,
    /^RioBufferPool is busy: 3 operation\(s\) in flight; nothing was released/,
  );
  const b2 = new BusyError("NativeRegion", 1, "registration(s) still hold it");
  assert.match(b2.message, /^NativeRegion is busy: 1 registration\(s\) still hold it;/);

  const d = new DisposedError("IoRing");
  assert.equal(d.name, "DisposedError");
  assert.equal(d.message, "IoRing has been disposed");
  assert.ok(d instanceof RegioError);
});

Deno.test("checkInteger: returns the value inside [min, max], RangeError naming the argument otherwise", () => {
  assert.equal(checkInteger("n", 0, 0, 10), 0);
  assert.equal(checkInteger("n", 10, 0, 10), 10);
  assert.equal(checkInteger("n", -5, -5, 5), -5);
  assert.equal(checkInteger("n", 2 ** 53 - 1, 0, 2 ** 53 - 1), 2 ** 53 - 1);
  for (const bad of [-1, 11, 1.5, NaN, Infinity, -Infinity, 2 ** 53]) {
    assert.throws(() => checkInteger("offset", bad, 0, 10), (e: unknown) => {
      assert.ok(e instanceof RangeError);
      assert.equal(e.message, `offset must be an integer in [0, 10], got ${String(bad)}`);
      return true;
    });
  }
  for (const bad of ["1", 1n, null, undefined, {}]) {
    assert.throws(() => checkInteger("len", bad as unknown as number, 0, 10), RangeError);
  }
});

Deno.test("checkInteger: -0 comes back as +0 (Deno's i32 rejects -0)", () => {
  assert.ok(Object.is(checkInteger("n", -0, 0, 10), 0));
});

// ---------------------------------------------------------------------------
// Checking helpers, with stand-ins for the last-error symbols

function fakeKernel(code: number): { kernel: Kernelbase; reads: () => number } {
  let reads = 0;
  const kernel = {
    GetLastError(): number {
      reads++;
      return code;
    },
  } as unknown as Kernelbase;
  return { kernel, reads: () => reads };
}

function fakeWs2(code: number): { ws2: Ws2; reads: () => number } {
  let reads = 0;
  const ws2 = {
    WSAGetLastError(): number {
      reads++;
      return code;
    },
  } as unknown as Ws2;
  return { ws2, reads: () => reads };
}

function throwsWith<E extends Error & { code: number; call: string }>(
  fn: () => unknown,
  cls: new (...args: never[]) => E,
  code: number,
  call: string,
): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.equal(e.call, call);
    return true;
  });
}

Deno.test("checkHResult: S_OK and S_FALSE pass through, negative throws HResultError", () => {
  assert.equal(checkHResult(0, "PopIoRingCompletion"), 0);
  assert.equal(checkHResult(1, "PopIoRingCompletion"), 1);
  throwsWith(
    () => checkHResult(-2142896126, "SubmitIoRing"),
    HResultError,
    -2142896126,
    "SubmitIoRing",
  );
  throwsWith(
    () => checkHResult(-2147024809, "CreateIoRing"),
    HResultError,
    -2147024809,
    "CreateIoRing",
  );
});

Deno.test("checkBool: TRUE reads nothing; FALSE reads GetLastError once → Win32Error", () => {
  const ok = fakeKernel(6);
  checkBool(1, "SetEvent", ok.kernel);
  checkBool(-1, "SetEvent", ok.kernel); // any non-zero BOOL is TRUE
  assert.equal(ok.reads(), 0);
  const bad = fakeKernel(6);
  throwsWith(() => checkBool(0, "CloseHandle", bad.kernel), Win32Error, 6, "CloseHandle");
  assert.equal(bad.reads(), 1);
});

Deno.test("checkHandle: a handle passes; NULL and INVALID_HANDLE_VALUE read GetLastError", () => {
  const good = Deno.UnsafePointer.create(0x1234n)!;
  const ok = fakeKernel(5);
  assert.equal(checkHandle(good, "CreateEventW", ok.kernel), good);
  // 0xFFFFFFFF (a 32-bit -1 zero-extended) is a valid-looking pointer, not INVALID_HANDLE_VALUE.
  const low = Deno.UnsafePointer.create(0xffffffffn)!;
  assert.equal(checkHandle(low, "CreateFileW", ok.kernel), low);
  assert.equal(ok.reads(), 0);

  const nul = fakeKernel(8);
  throwsWith(() => checkHandle(null, "CreateEventW", nul.kernel), Win32Error, 8, "CreateEventW");
  assert.equal(nul.reads(), 1);

  const inv = fakeKernel(2);
  const invalid = Deno.UnsafePointer.create(0xffffffffffffffffn);
  throwsWith(() => checkHandle(invalid, "CreateFileW", inv.kernel), Win32Error, 2, "CreateFileW");
  assert.equal(inv.reads(), 1);
});

Deno.test("checkWinsock: 0 and counts pass; SOCKET_ERROR reads WSAGetLastError once", () => {
  const ok = fakeWs2(10022);
  assert.equal(checkWinsock(0, "bind", ok.ws2), 0);
  assert.equal(checkWinsock(28, "sendto", ok.ws2), 28);
  assert.equal(ok.reads(), 0);
  const bad = fakeWs2(10048);
  throwsWith(() => checkWinsock(-1, "bind", bad.ws2), WinsockError, 10048, "bind");
  assert.equal(bad.reads(), 1);
});

Deno.test("checkWinsockCode: the return value is the code itself (WSAStartup, RIONotify)", () => {
  checkWinsockCode(0, "RIONotify");
  throwsWith(() => checkWinsockCode(10037, "RIONotify"), WinsockError, 10037, "RIONotify");
  assert.throws(() => checkWinsockCode(10037, "RIONotify"), /WSAEALREADY/);
  throwsWith(() => checkWinsockCode(10093, "WSAStartup"), WinsockError, 10093, "WSAStartup");
});

Deno.test("checkSocket: only INVALID_SOCKET (~0 as u64) fails", () => {
  const ok = fakeWs2(10047);
  assert.equal(checkSocket(0x1a4n, "WSASocketW", ok.ws2), 0x1a4n);
  assert.equal(checkSocket(0xffffffffn, "WSASocketW", ok.ws2), 0xffffffffn);
  assert.equal(ok.reads(), 0);
  const bad = fakeWs2(10047);
  throwsWith(
    () => checkSocket(0xffffffffffffffffn, "WSASocketW", bad.ws2),
    WinsockError,
    10047,
    "WSASocketW",
  );
  assert.equal(bad.reads(), 1);
});

Deno.test("checkRioBool: TRUE passes; FALSE reads WSAGetLastError once", () => {
  const ok = fakeWs2(10055);
  checkRioBool(1, "RIOSendEx", ok.ws2);
  assert.equal(ok.reads(), 0);
  const bad = fakeWs2(10055);
  throwsWith(() => checkRioBool(0, "RIOSendEx", bad.ws2), WinsockError, 10055, "RIOSendEx");
  assert.equal(bad.reads(), 1);
});

Deno.test("checkBufferId: RIO_INVALID_BUFFERID is 0xFFFFFFFF zero-extended, not -1 (pitfall 15)", () => {
  const ok = fakeWs2(10022);
  assert.equal(checkBufferId(0x1n, "RIORegisterBuffer", ok.ws2), 0x1n);
  assert.equal(checkBufferId(0x00000234_5678_9abcn, "RIORegisterBuffer", ok.ws2), 0x2345_6789_abcn);
  // ~0 as u64 is NOT the sentinel.
  assert.equal(
    checkBufferId(0xffffffffffffffffn, "RIORegisterBuffer", ok.ws2),
    0xffffffffffffffffn,
  );
  assert.equal(ok.reads(), 0);
  const bad = fakeWs2(10022);
  throwsWith(
    () => checkBufferId(0x00000000ffffffffn, "RIORegisterBuffer", bad.ws2),
    WinsockError,
    10022,
    "RIORegisterBuffer",
  );
  assert.equal(bad.reads(), 1);
});

Deno.test("checkRioHandle: NULL (RIO_INVALID_CQ / RIO_INVALID_RQ) reads WSAGetLastError once", () => {
  const p = Deno.UnsafePointer.create(0x5000n)!;
  const ok = fakeWs2(10055);
  assert.equal(checkRioHandle(p, "RIOCreateCompletionQueue", ok.ws2), p);
  assert.equal(ok.reads(), 0);
  const bad = fakeWs2(10055);
  throwsWith(
    () => checkRioHandle(null, "RIOCreateRequestQueue", bad.ws2),
    WinsockError,
    10055,
    "RIOCreateRequestQueue",
  );
  assert.equal(bad.reads(), 1);
});
