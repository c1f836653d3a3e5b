/**
 * regio: registered I/O for Deno. Binds the kernels' "register once, then
 * refer by index" APIs (Windows I/O ring and Registered I/O, Linux io_uring)
 * straight from TypeScript through `Deno.dlopen`, with no native code.
 *
 * Requires `--allow-ffi`, which amounts to full access to the machine.
 *
 * @example
 * ```ts ignore
 * import { NativeRegion } from "@regio/regio";
 * using region = NativeRegion.allocate(64 * 1024);
 * region.bytes.fill(1);
 * ```
 *
 * @module
 */

export {
  BusyError,
  DisposedError,
  ErrnoError,
  HResultError,
  RegioError,
  UnsupportedError,
  Win32Error,
  WinsockError,
} from "./src/errors.ts";
export {
  type AllocateOptions,
  type Allocator,
  defaultAllocator,
  NativeRegion,
  RegionSlice,
} from "./src/memory.ts";
export { type BackendSupport, type Support, support } from "./src/support.ts";
export type { SocketAddress } from "./ffi/inet.ts";
export {
  UdpDatagram,
  type UdpPoolState,
  type UdpReceiveOptions,
  UdpSendSlot,
  UdpSocket,
  type UdpSocketOptions,
  type UdpStats,
} from "./src/udp.ts";
export {
  BufferPool,
  type BufferPoolOptions,
  FileRing,
  type FileRingBackend,
  type FileRingCapabilities,
  type FileRingOptions,
  FileSet,
  type IoRequest,
  type OpenFilesOptions,
} from "./src/files.ts";
