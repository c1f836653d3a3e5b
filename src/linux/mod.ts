/**
 * regio's Linux layer: io_uring through libc, with registered (fixed) files
 * and buffers and `using` disposal that unregisters exactly once and never
 * under the kernel.
 *
 * @module
 */

export { ErrnoError, UnsupportedError } from "../errors.ts";
