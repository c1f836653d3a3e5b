/**
 * regio's Windows layer: typed wrappers over the I/O ring (kernelbase.dll)
 * and Winsock Registered I/O (ws2_32.dll), with `using` disposal that
 * deregisters exactly once and never under the kernel.
 *
 * @module
 */

export { HResultError, UnsupportedError, Win32Error, WinsockError } from "../errors.ts";
