/**
 * errno checking for libc calls: a `-1` result becomes an {@link ErrnoError}
 * naming the call, with errno read immediately (before any other FFI call or
 * allocation can clobber it).
 *
 * @module
 */

import { ErrnoError } from "../errors.ts";
import { errno } from "../../ffi/linux/libc.ts";

/**
 * Returns `result` unless it is `-1` (or `-1n`), in which case it throws an
 * {@link ErrnoError} for `call` with this thread's errno. Call it directly on
 * the FFI call's result: `check(c.close(fd), "close")`.
 */
export function check(result: number, call: string, hint?: string): number {
  if (result === -1) throw new ErrnoError(errno(), call, hint);
  return result;
}

/** {@link check} for 64-bit results (`i64`/`isize`), returned as a number. */
export function checkBig(result: bigint, call: string, hint?: string): number {
  if (result === -1n) throw new ErrnoError(errno(), call, hint);
  return Number(result);
}

/**
 * Like {@link checkBig} but returns `-errno` instead of throwing, for the
 * callers that retry on some errnos (EINTR, EAGAIN, …).
 */
export function resultOrErrno(result: bigint): number {
  return result === -1n ? -errno() : Number(result);
}
