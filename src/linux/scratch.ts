/**
 * Native memory for the arguments of synchronous calls (`io_uring_params`,
 * `io_uring_rsrc_register`, fd and iovec arrays, sockaddrs…). The kernel reads
 * them during the call only, so one zeroed page is reused; larger argument
 * blocks get a temporary region freed right after the call.
 *
 * @module
 */

import { NativeRegion } from "../memory.ts";

const PAGE = 4096;
let shared: NativeRegion | undefined;

/**
 * Runs `fn` with `size` zeroed bytes of native memory that stay valid until
 * it returns. Not re-entrant: `fn` must not call `withArgs` itself.
 */
export function withArgs<T>(size: number, fn: (args: NativeRegion) => T): T {
  if (size <= PAGE) {
    shared ??= NativeRegion.allocate(PAGE);
    shared.bytes.fill(0, 0, size);
    return fn(shared);
  }
  using temp = NativeRegion.allocate(size);
  return fn(temp);
}
