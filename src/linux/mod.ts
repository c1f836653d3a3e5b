/**
 * regio's Linux layer: io_uring through libc, with registered (fixed) files
 * and buffers, provided-buffer rings and multishot UDP receive, and `using`
 * disposal that unregisters exactly once and never under the kernel.
 *
 * Waiting never blocks the event loop: each ring polls a registered eventfd
 * on Deno's blocking pool and reaps completions on the JS thread. SQEs made in
 * the same tick are submitted in one `io_uring_enter`.
 *
 * Needs Linux 6.1+ and `--allow-ffi` (which in practice grants everything).
 *
 * @example
 * ```ts ignore
 * import { NativeRegion, SocketFd, Uring } from "@regio/regio/linux";
 *
 * await using ring = Uring.create();
 * using sock = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 9000 });
 * await using files = ring.registerFiles([sock.fd]);
 * using region = NativeRegion.allocate(1024 * 2048);
 * await using buffers = ring.registerBufferRing({ region, count: 1024, bufferSize: 2048 });
 * await using echo = ring.openDatagramEndpoint({
 *   files,
 *   index: 0,
 *   buffers,
 *   onMessage: (m) => m.truncated ? echo.release(m.bufferId) : echo.reply(m.bufferId, m.length),
 * });
 * echo.start();
 * ```
 *
 * @module
 */

export { type FsyncOptions, Uring, type UringCapabilities, type UringOptions } from "./uring.ts";
export { FileTable } from "./files.ts";
export { BufferTable } from "./buffers.ts";
export { type BufferRingOptions, ProvidedBufferRing } from "./buf_ring.ts";
export { DatagramEndpoint } from "./datagram.ts";
export { type DatagramEndpointOptions } from "./datagram_options.ts";
export { ReceivedDatagram } from "./received.ts";
export { type BindUdpOptions, SocketFd } from "./socket.ts";
export { FileFd, type FileOpenOptions } from "./file_fd.ts";
export { OwnedFd } from "./owned_fd.ts";
export { decodeSockaddr, encodeSockaddr } from "./sockaddr.ts";
export { NativeRegion, RegionSlice } from "../memory.ts";
export type { SocketAddress } from "../../ffi/inet.ts";
export { BusyError, DisposedError, ErrnoError, RegioError, UnsupportedError } from "../errors.ts";
export { Registration } from "./registration.ts";
