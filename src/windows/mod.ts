/**
 * regio's Windows layer: typed wrappers over the I/O ring (kernelbase.dll)
 * and Winsock Registered I/O (ws2_32.dll), with `using` disposal that
 * deregisters exactly once and never under the kernel.
 *
 * @module
 */

export { HResultError, UnsupportedError, Win32Error, WinsockError } from "../errors.ts";

// --- Winsock Registered I/O (RIO) ---------------------------------------
export { BusyError, DisposedError, RegioError } from "../errors.ts";
export { NativeRegion, RegionSlice } from "../memory.ts";
export type { SocketAddress } from "../../ffi/inet.ts";
export { Rio } from "./rio.ts";
export {
  RIO_ADDRESS_SIZE,
  RioAddressSlice,
  RioBuffer,
  RioBufferPool,
  type RioBufferPoolOptions,
  RioSlice,
  RioSlot,
} from "./rio_buffer.ts";
export {
  RioCompletionQueue,
  type RioCompletionQueueOptions,
  RioCorruptQueueError,
} from "./rio_queue.ts";
export {
  type RioCompletion,
  type RioReceiveOptions,
  type RioSendOptions,
  RioUdpSocket,
} from "./rio_socket.ts";
export {
  type RioSocketMetadata,
  type RioSocketQueue,
  type RioUdpSocketOptions,
} from "./rio_socket_open.ts";

// --- I/O ring (IoRing) --------------------------------------------------
export { IoRing } from "./ioring.ts";
export { type IoRingCapabilities, type IoRingOpName } from "./ioring_kernel.ts";
export {
  type BuildOptions,
  type FlushMode,
  type FlushOptions,
  type IoRingOptions,
  type SubmitResult,
  type SubmitWaitOptions,
  type WriteOptions,
} from "./ioring_options.ts";
export {
  type IoRingCompletion,
  IoRingOperation,
  type IoRingOpKind,
  type IoRingOpState,
} from "./ioring_op.ts";
export { BufferRef, BufferTable, FileHandleTable, FileRef } from "./ioring_tables.ts";
