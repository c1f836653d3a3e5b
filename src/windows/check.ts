/**
 * One checking helper per Windows calling convention. Each turns a failed
 * result into a typed error naming the call; the ones that need a last-error
 * read it as the very next FFI call. Deno captures no last error after a
 * foreign call, so that code is best effort (reference §5.2, pitfall 24): it
 * may be lost (0) or belong to something else. It is reported, never
 * branched on: whether a call failed is decided by its own result alone.
 *
 * @module
 */

import { HResultError, Win32Error, WinsockError } from "../errors.ts";
import { INVALID_HANDLE_VALUE, INVALID_SOCKET, RIO, SOCKET } from "../../ffi/windows/abi.ts";
import type { Kernelbase } from "../../ffi/windows/kernelbase.ts";
import type { Ws2 } from "../../ffi/windows/ws2_32.ts";

/**
 * HRESULT convention (I/O ring): negative is failure. Returns the code, so
 * callers can tell S_OK from S_FALSE.
 */
export function checkHResult(hr: number, call: string): number {
  if (hr < 0) throw new HResultError(hr, call);
  return hr;
}

/** BOOL + GetLastError convention (kernelbase): FALSE is failure. */
export function checkBool(ok: number, call: string, kernel: Kernelbase): void {
  if (ok === 0) throw new Win32Error(kernel.GetLastError(), call);
}

/**
 * Handle convention (kernelbase): NULL (CreateEventW, VirtualAlloc) or
 * INVALID_HANDLE_VALUE (CreateFileW) is failure, with GetLastError.
 */
export function checkHandle(
  handle: Deno.PointerValue,
  call: string,
  kernel: Kernelbase,
): Deno.PointerObject {
  if (handle === null || Deno.UnsafePointer.value(handle) === INVALID_HANDLE_VALUE) {
    throw new Win32Error(kernel.GetLastError(), call);
  }
  return handle;
}

/**
 * The WinsockError for a call that just failed, with WSAGetLastError read
 * now (call it first thing after the failed call). A 0 says so: the code
 * was lost, not "success".
 */
export function lastWinsockError(ws2: Ws2, call: string): WinsockError {
  const code = ws2.WSAGetLastError();
  return new WinsockError(
    code,
    call,
    code === 0
      ? "WSAGetLastError returned 0, so the code was lost (last-error codes are best effort from Deno)"
      : undefined,
  );
}

/** Winsock int convention: SOCKET_ERROR (-1) is failure, with WSAGetLastError. */
export function checkWinsock(rc: number, call: string, ws2: Ws2): number {
  if (rc === SOCKET.SOCKET_ERROR) throw lastWinsockError(ws2, call);
  return rc;
}

/** Winsock direct-code convention (WSAStartup, RIONotify): non-zero is the error code itself. */
export function checkWinsockCode(code: number, call: string): void {
  if (code !== 0) throw new WinsockError(code, call);
}

/** SOCKET convention: INVALID_SOCKET (~0) is failure, with WSAGetLastError. */
export function checkSocket(socket: bigint, call: string, ws2: Ws2): bigint {
  if (socket === INVALID_SOCKET) throw lastWinsockError(ws2, call);
  return socket;
}

/** RIO BOOL convention (RIOSend/RIOReceive…): FALSE is failure, with WSAGetLastError. */
export function checkRioBool(ok: number, call: string, ws2: Ws2): void {
  if (ok === 0) throw lastWinsockError(ws2, call);
}

/**
 * RIO_BUFFERID sentinel: RIO_INVALID_BUFFERID is 0xFFFFFFFF zero-extended
 * (not -1), with WSAGetLastError.
 */
export function checkBufferId(id: bigint, call: string, ws2: Ws2): bigint {
  if (id === BigInt(RIO.RIO_INVALID_BUFFERID)) throw lastWinsockError(ws2, call);
  return id;
}

/** RIO_CQ / RIO_RQ sentinel: NULL is failure, with WSAGetLastError. */
export function checkRioHandle(
  handle: Deno.PointerValue,
  call: string,
  ws2: Ws2,
): Deno.PointerObject {
  if (handle === null) throw lastWinsockError(ws2, call);
  return handle;
}
