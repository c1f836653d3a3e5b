/**
 * errno checking for libc calls: a `-1` result becomes an {@link ErrnoError}
 * naming the call, with errno read immediately (before any other FFI call or
 * allocation can clobber it).
 *
 * @module
 */

import { ErrnoError } from "../errors.ts";
import { errno } from "./libc.ts";

/**
 * Returns `result` unless it is `-1`, in which case it throws an
 * {@link ErrnoError} for `call` with this thread's errno. Call it directly on
 * the FFI call's result: `check(c.close(fd), "close")`.
 */
export function check(result: number, call: string, hint?: string): number {
  if (result === -1) throw new ErrnoError(errno(), call, hint);
  return result;
}
