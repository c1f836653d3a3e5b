/**
 * The Windows x64 ABI as regio uses it: every struct layout (size, alignment,
 * field offsets, with the SDK's names) and every constant, plus the
 * encode/decode helpers the wrappers use. The single source of truth for the
 * Windows layer; facts from `shared/reference/windows-api.md`.
 *
 * Nested fields are named with a dot (`Flags.Required`, `Buffer.IndexAndOffset`),
 * as `offsetof` spells them, so the mingw check can compile them verbatim.
 *
 * This module is the entry; the parts live by concern in abi_common.ts
 * (StructLayout, HRESULTs, Win32 errors, kernel32 constants), abi_ioring.ts
 * (the I/O ring), abi_winsock.ts (Winsock and RIO) and abi_udp.ts (UDP
 * offloads and control messages through RIO). It adds the two flat
 * views, {@link STRUCTS} and {@link CONSTANTS}.
 *
 * @module
 */

import { HRESULT, KERNEL, WIN32_ERROR } from "./abi_common.ts";
import { IORING_FLAGS, IORING_OP, IORING_STRUCTS, IORING_VERSION } from "./abi_ioring.ts";
import { RIO, SOCKET, SOCKOPT, WINSOCK_STRUCTS, WSA_ERROR } from "./abi_winsock.ts";
import { UDP_OFFLOAD, UDP_STRUCTS } from "./abi_udp.ts";

export type { SocketAddress } from "../inet.ts";

// The parts, by concern; this module is the one entry the rest of the code imports.
export {
  HRESULT,
  INVALID_HANDLE_VALUE,
  KERNEL,
  type StructLayout,
  WIN32_ERROR,
} from "./abi_common.ts";
export {
  encodeCreateFlags,
  IORING_FLAGS,
  IORING_OP,
  IORING_VERSION,
  type IoRingCapabilities,
  type IoRingCqe,
  type IoRingInfo,
  readCapabilities,
  readCqe,
  readInfo,
  writeBufferInfo,
  writeBufferRef,
  writeHandleRef,
} from "./abi_ioring.ts";
export {
  INVALID_SOCKET,
  readRioResult,
  readSockaddrInet,
  readWsaData,
  RIO,
  type RioResult,
  SOCKET,
  SOCKOPT,
  writeEventNotification,
  writeRioBuf,
  writeSockaddrInet,
  WSA_ERROR,
  type WsaData,
  WSAID_MULTIPLE_RIO,
} from "./abi_winsock.ts";
export { UDP_OFFLOAD, USO_LIMITS, WSA_CMSG, wsaCmsgLen, wsaCmsgSpace } from "./abi_udp.ts";

/** Every struct the bindings touch, x64 layouts. */
export const STRUCTS: typeof IORING_STRUCTS & typeof WINSOCK_STRUCTS & typeof UDP_STRUCTS = {
  ...IORING_STRUCTS,
  ...WINSOCK_STRUCTS,
  ...UDP_STRUCTS,
};

/** Every numeric constant, flat, by its SDK name (what `deno task abi` prints). */
export const CONSTANTS: Readonly<Record<string, number>> = {
  ...IORING_VERSION,
  ...IORING_OP,
  ...IORING_FLAGS,
  ...HRESULT,
  ...WIN32_ERROR,
  ...WSA_ERROR,
  ...RIO,
  ...SOCKET,
  ...SOCKOPT,
  ...KERNEL,
  ...UDP_OFFLOAD,
};
