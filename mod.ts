/**
 * regio: registered I/O for Deno. Binds the kernels' "register once, then
 * refer by index" APIs (Windows I/O ring and Registered I/O, Linux io_uring)
 * straight from TypeScript through `Deno.dlopen`, with no native code.
 *
 * - {@link UdpSocket}: datagrams received into registered memory and echoed
 *   from it, never copied in JS (io_uring on Linux 6.1+, RIO on Windows 8+).
 * - {@link FileRing}: registered files and buffers, reads and writes by index
 *   (io_uring on Linux, the I/O ring on Windows 11).
 * - {@link support}: which backend this machine has, and why not when not.
 *
 * Every registration is disposed with `using` / `await using`: exactly once,
 * and never while the kernel may still use the memory. Platform wrappers are
 * in `@regio/regio/windows` and `@regio/regio/linux`.
 *
 * Requires `--allow-ffi`, which amounts to full access to the machine.
 *
 * @example UDP echo server
 * ```ts ignore
 * import { UdpSocket } from "@regio/regio";
 *
 * await using socket = UdpSocket.bind({ hostname: "127.0.0.1", port: 9000 });
 * for await (const batch of socket) {
 *   for (const datagram of batch) socket.reply(datagram); // from its own slot, no copy
 * }
 * ```
 *
 * @example Registered file reads
 * ```ts ignore
 * import { FileRing } from "@regio/regio";
 *
 * await using ring = FileRing.open({ depth: 64 });
 * using files = await ring.openFiles(["data.bin"]);
 * using pool = await ring.registerBuffers({ count: 64, size: 4096 });
 * const n = await ring.read({ file: 0, buffer: 0, length: 4096, position: 0 });
 * console.log(pool.bytes(0).subarray(0, n));
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
export type { OffloadSupport, UdpOffloadSupport } from "./src/support_offloads.ts";
export type { SocketAddress } from "./ffi/inet.ts";
export { type UdpOffloads, UdpSocket } from "./src/udp/socket.ts";
export { UdpDatagram, UdpSendSlot } from "./src/udp/views.ts";
export type { UdpSocketOptions, UdpSocketSettings } from "./src/udp/options.ts";
export type { UdpInterface, UdpMembershipOptions } from "./src/udp/multicast.ts";
export type { UdpReceiveOptions, UdpReplyOptions } from "./src/udp/receive.ts";
export type { UdpSendManyOptions, UdpSendOptions } from "./src/udp/send.ts";
export type { UdpPoolState, UdpStats } from "./src/udp/slots.ts";
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
} from "./src/files/ring.ts";
