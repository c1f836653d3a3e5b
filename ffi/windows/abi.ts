/**
 * The Windows x64 ABI as regio uses it: every struct layout (size, alignment,
 * field offsets, with the SDK's names) and every constant, plus the
 * encode/decode helpers the wrappers use. The single source of truth for the
 * Windows layer; facts from `shared/reference/windows-api.md`.
 *
 * Nested fields are named with a dot (`Flags.Required`, `Buffer.IndexAndOffset`),
 * as `offsetof` spells them, so the mingw check can compile them verbatim.
 *
 * @module
 */

import { formatIpv6, parseIpv4, parseIpv6, type SocketAddress } from "../inet.ts";

export type { SocketAddress };

/** A struct layout: size and alignment in bytes, and each field's byte offset. */
export interface StructLayout {
  /** `sizeof` on x64. */
  readonly size: number;
  /** `_Alignof` on x64. */
  readonly align: number;
  /** Field name (SDK spelling, dotted for nested members) to byte offset. */
  readonly fields: Readonly<Record<string, number>>;
}

/** Every struct the bindings touch, x64 layouts. */
export const STRUCTS = {
  IORING_CREATE_FLAGS: { size: 8, align: 4, fields: { Required: 0, Advisory: 4 } },
  IORING_INFO: {
    size: 20,
    align: 4,
    fields: {
      IoRingVersion: 0,
      Flags: 4,
      "Flags.Required": 4,
      "Flags.Advisory": 8,
      SubmissionQueueSize: 12,
      CompletionQueueSize: 16,
    },
  },
  IORING_CAPABILITIES: {
    size: 16,
    align: 4,
    fields: {
      MaxVersion: 0,
      MaxSubmissionQueueSize: 4,
      MaxCompletionQueueSize: 8,
      FeatureFlags: 12,
    },
  },
  IORING_HANDLE_REF: {
    size: 16,
    align: 8,
    fields: { Kind: 0, Handle: 8, "Handle.Handle": 8, "Handle.Index": 8 },
  },
  IORING_REGISTERED_BUFFER: { size: 8, align: 4, fields: { BufferIndex: 0, Offset: 4 } },
  IORING_BUFFER_REF: {
    size: 16,
    align: 8,
    fields: {
      Kind: 0,
      Buffer: 8,
      "Buffer.Address": 8,
      "Buffer.IndexAndOffset": 8,
      "Buffer.IndexAndOffset.BufferIndex": 8,
      "Buffer.IndexAndOffset.Offset": 12,
    },
  },
  IORING_BUFFER_INFO: { size: 16, align: 8, fields: { Address: 0, Length: 8 } },
  IORING_CQE: { size: 24, align: 8, fields: { UserData: 0, ResultCode: 8, Information: 16 } },
  FILE_SEGMENT_ELEMENT: { size: 8, align: 8, fields: { Buffer: 0, Alignment: 0 } },
  RIO_BUF: { size: 16, align: 8, fields: { BufferId: 0, Offset: 8, Length: 12 } },
  RIORESULT: {
    size: 24,
    align: 8,
    fields: { Status: 0, BytesTransferred: 4, SocketContext: 8, RequestContext: 16 },
  },
  RIO_NOTIFICATION_COMPLETION: {
    size: 32,
    align: 8,
    fields: {
      Type: 0,
      Event: 8,
      "Event.EventHandle": 8,
      "Event.NotifyReset": 16,
      Iocp: 8,
      "Iocp.IocpHandle": 8,
      "Iocp.CompletionKey": 16,
      "Iocp.Overlapped": 24,
    },
  },
  RIO_EXTENSION_FUNCTION_TABLE: {
    size: 112,
    align: 8,
    fields: {
      cbSize: 0,
      RIOReceive: 8,
      RIOReceiveEx: 16,
      RIOSend: 24,
      RIOSendEx: 32,
      RIOCloseCompletionQueue: 40,
      RIOCreateCompletionQueue: 48,
      RIOCreateRequestQueue: 56,
      RIODequeueCompletion: 64,
      RIODeregisterBuffer: 72,
      RIONotify: 80,
      RIORegisterBuffer: 88,
      RIOResizeCompletionQueue: 96,
      RIOResizeRequestQueue: 104,
    },
  },
  WSADATA: {
    size: 408,
    align: 8,
    fields: {
      wVersion: 0,
      wHighVersion: 2,
      iMaxSockets: 4,
      iMaxUdpDg: 6,
      lpVendorInfo: 8,
      szDescription: 16,
      szSystemStatus: 273,
    },
  },
  SOCKADDR_IN: {
    size: 16,
    align: 4,
    fields: { sin_family: 0, sin_port: 2, sin_addr: 4, sin_zero: 8 },
  },
  SOCKADDR_IN6: {
    size: 28,
    align: 4,
    fields: { sin6_family: 0, sin6_port: 2, sin6_flowinfo: 4, sin6_addr: 8, sin6_scope_id: 24 },
  },
  SOCKADDR_INET: { size: 28, align: 4, fields: { Ipv4: 0, Ipv6: 0, si_family: 0 } },
  GUID: { size: 16, align: 4, fields: { Data1: 0, Data2: 4, Data3: 6, Data4: 8 } },
} as const satisfies Record<string, StructLayout>;

/** IORING_VERSION. Not contiguous: 3 is 300 and 4 is 400; treat versions as open integers. */
export const IORING_VERSION = {
  IORING_VERSION_INVALID: 0,
  IORING_VERSION_1: 1,
  IORING_VERSION_2: 2,
  IORING_VERSION_3: 300,
  IORING_VERSION_4: 400,
} as const;

/** IORING_OP_CODE (values are never reused). */
export const IORING_OP = {
  IORING_OP_NOP: 0,
  IORING_OP_READ: 1,
  IORING_OP_REGISTER_FILES: 2,
  IORING_OP_REGISTER_BUFFERS: 3,
  IORING_OP_CANCEL: 4,
  IORING_OP_WRITE: 5,
  IORING_OP_FLUSH: 6,
  IORING_OP_READ_SCATTER: 7,
  IORING_OP_WRITE_GATHER: 8,
} as const;

/** I/O ring flag enums: SQE flags, create flags, feature flags, ref kinds, write and flush modes. */
export const IORING_FLAGS = {
  IOSQE_FLAGS_NONE: 0,
  IOSQE_FLAGS_DRAIN_PRECEDING_OPS: 0x1,
  IORING_CREATE_REQUIRED_FLAGS_NONE: 0,
  IORING_CREATE_ADVISORY_FLAGS_NONE: 0,
  IORING_CREATE_SKIP_BUILDER_PARAM_CHECKS: 0x1,
  IORING_FEATURE_FLAGS_NONE: 0,
  IORING_FEATURE_UM_EMULATION: 0x1,
  IORING_FEATURE_SET_COMPLETION_EVENT: 0x2,
  IORING_REF_RAW: 0,
  IORING_REF_REGISTERED: 1,
  FILE_WRITE_FLAGS_NONE: 0,
  FILE_WRITE_FLAGS_WRITE_THROUGH: 0x1,
  FILE_FLUSH_DEFAULT: 0,
  FILE_FLUSH_DATA: 1,
  FILE_FLUSH_MIN_METADATA: 2,
  FILE_FLUSH_NO_SYNC: 3,
  IORING_SUBMIT_WAIT_ALL: 0xffffffff,
} as const;

/** HRESULTs, as signed 32-bit integers (what an `i32` FFI result holds). */
export const HRESULT = {
  S_OK: 0,
  S_FALSE: 1,
  IORING_E_REQUIRED_FLAG_NOT_SUPPORTED: 0x80460001 | 0,
  IORING_E_SUBMISSION_QUEUE_FULL: 0x80460002 | 0,
  IORING_E_VERSION_NOT_SUPPORTED: 0x80460003 | 0,
  IORING_E_SUBMISSION_QUEUE_TOO_BIG: 0x80460004 | 0,
  IORING_E_COMPLETION_QUEUE_TOO_BIG: 0x80460005 | 0,
  IORING_E_SUBMIT_IN_PROGRESS: 0x80460006 | 0,
  IORING_E_CORRUPT: 0x80460007 | 0,
  IORING_E_COMPLETION_QUEUE_TOO_FULL: 0x80460008 | 0,
  E_ABORT: 0x80004004 | 0,
  E_HANDLE: 0x80070006 | 0,
  E_INVALIDARG: 0x80070057 | 0,
  E_OUTOFMEMORY: 0x8007000e | 0,
  E_NOTIMPL: 0x80004001 | 0,
  E_FAIL: 0x80004005 | 0,
  /** HRESULT_FROM_WIN32(ERROR_HANDLE_EOF): a read at or after end of file. */
  HRESULT_FROM_WIN32_ERROR_HANDLE_EOF: 0x80070026 | 0,
  /** HRESULT_FROM_WIN32(ERROR_OPERATION_ABORTED). */
  HRESULT_FROM_WIN32_ERROR_OPERATION_ABORTED: 0x800703e3 | 0,
  /** HRESULT_FROM_WIN32(ERROR_NOT_FOUND): a cancel that found no target. */
  HRESULT_FROM_WIN32_ERROR_NOT_FOUND: 0x80070490 | 0,
  /** HRESULT_FROM_WIN32(WAIT_TIMEOUT). */
  HRESULT_FROM_WIN32_WAIT_TIMEOUT: 0x80070102 | 0,
  /** HRESULT_FROM_WIN32(ERROR_TIMEOUT). */
  HRESULT_FROM_WIN32_ERROR_TIMEOUT: 0x800705b4 | 0,
} as const;

/** Win32 error codes (GetLastError). */
export const WIN32_ERROR = {
  ERROR_SUCCESS: 0,
  ERROR_INVALID_HANDLE: 6,
  ERROR_NOT_ENOUGH_MEMORY: 8,
  ERROR_HANDLE_EOF: 38,
  ERROR_INVALID_PARAMETER: 87,
  ERROR_OPERATION_ABORTED: 995,
  ERROR_IO_PENDING: 997,
  ERROR_NOT_FOUND: 1168,
  ERROR_TIMEOUT: 1460,
  ERROR_FILE_NOT_FOUND: 2,
  ERROR_PATH_NOT_FOUND: 3,
  ERROR_ACCESS_DENIED: 5,
} as const;

/** Winsock error codes. */
export const WSA_ERROR = {
  WSA_INVALID_HANDLE: 6,
  WSA_NOT_ENOUGH_MEMORY: 8,
  WSA_INVALID_PARAMETER: 87,
  WSA_OPERATION_ABORTED: 995,
  WSA_IO_INCOMPLETE: 996,
  WSA_IO_PENDING: 997,
  WSAEACCES: 10013,
  WSAEFAULT: 10014,
  WSAEINVAL: 10022,
  WSAEWOULDBLOCK: 10035,
  WSAEALREADY: 10037,
  WSAENOTSOCK: 10038,
  WSAEMSGSIZE: 10040,
  WSAEOPNOTSUPP: 10045,
  WSAEAFNOSUPPORT: 10047,
  WSAEADDRINUSE: 10048,
  WSAEADDRNOTAVAIL: 10049,
  WSAENETUNREACH: 10051,
  WSAECONNRESET: 10054,
  WSAENOBUFS: 10055,
  WSAETOOMANYREFS: 10059,
  WSAEHOSTUNREACH: 10065,
  WSANOTINITIALISED: 10093,
} as const;

/** Registered I/O constants (mswsockdef.h / mswsock.h / winsock2.h). */
export const RIO = {
  RIO_MSG_DONT_NOTIFY: 0x1,
  RIO_MSG_DEFER: 0x2,
  RIO_MSG_WAITALL: 0x4,
  RIO_MSG_COMMIT_ONLY: 0x8,
  /** `(RIO_BUFFERID)(ULONG_PTR)0xFFFFFFFF`: zero-extended, not -1. */
  RIO_INVALID_BUFFERID: 0xffffffff,
  RIO_INVALID_CQ: 0,
  RIO_INVALID_RQ: 0,
  RIO_MAX_CQ_SIZE: 0x8000000,
  /** Returned by RIODequeueCompletion for an invalid or corrupt CQ. */
  RIO_CORRUPT_CQ: 0xffffffff,
  RIO_EVENT_COMPLETION: 1,
  RIO_IOCP_COMPLETION: 2,
  WSA_FLAG_OVERLAPPED: 0x01,
  WSA_FLAG_NO_HANDLE_INHERIT: 0x80,
  WSA_FLAG_REGISTERED_IO: 0x100,
  SIO_GET_EXTENSION_FUNCTION_POINTER: 0xc8000006,
  SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER: 0xc8000024,
} as const;

/** Socket constants (Windows values: note AF_INET6 is 23 here, 10 on Linux). */
export const SOCKET = {
  AF_INET: 2,
  AF_INET6: 23,
  SOCK_DGRAM: 2,
  IPPROTO_UDP: 17,
  IPPROTO_IPV6: 41,
  IPV6_V6ONLY: 27,
  SOL_SOCKET: 0xffff,
  SO_REUSEADDR: 4,
  SO_EXCLUSIVEADDRUSE: -5,
  SO_SNDBUF: 0x1001,
  SO_RCVBUF: 0x1002,
  SIO_UDP_CONNRESET: 0x9800000c,
  INADDR_ANY: 0,
  INADDR_LOOPBACK: 0x7f000001,
  SOCKET_ERROR: -1,
  /** MAKEWORD(2, 2). */
  WINSOCK_VERSION_2_2: 0x0202,
} as const;

/** kernel32/kernelbase constants: memory, events, waits and files. */
export const KERNEL = {
  MEM_COMMIT: 0x1000,
  MEM_RESERVE: 0x2000,
  MEM_RELEASE: 0x8000,
  PAGE_READWRITE: 0x04,
  WAIT_OBJECT_0: 0,
  WAIT_ABANDONED: 0x80,
  WAIT_TIMEOUT: 0x102,
  WAIT_FAILED: 0xffffffff,
  INFINITE: 0xffffffff,
  GENERIC_READ: 0x80000000,
  GENERIC_WRITE: 0x40000000,
  FILE_SHARE_READ: 1,
  FILE_SHARE_WRITE: 2,
  FILE_SHARE_DELETE: 4,
  CREATE_NEW: 1,
  CREATE_ALWAYS: 2,
  OPEN_EXISTING: 3,
  OPEN_ALWAYS: 4,
  TRUNCATE_EXISTING: 5,
  FILE_ATTRIBUTE_NORMAL: 0x80,
  FILE_FLAG_OVERLAPPED: 0x40000000,
  FILE_FLAG_NO_BUFFERING: 0x20000000,
  FILE_FLAG_WRITE_THROUGH: 0x80000000,
} as const;

/** `INVALID_HANDLE_VALUE` = `(HANDLE)-1`, as an unsigned 64-bit value. */
export const INVALID_HANDLE_VALUE = 0xffff_ffff_ffff_ffffn;
/** `INVALID_SOCKET` = `~0` (SOCKET is UINT_PTR). */
export const INVALID_SOCKET = 0xffff_ffff_ffff_ffffn;

/** WSAID_MULTIPLE_RIO {8509e081-96dd-4005-b165-9e2ee8c79e3f} as in-memory GUID bytes. */
export const WSAID_MULTIPLE_RIO: readonly number[] = [
  0x81,
  0xe0,
  0x09,
  0x85,
  0xdd,
  0x96,
  0x05,
  0x40,
  0xb1,
  0x65,
  0x9e,
  0x2e,
  0xe8,
  0xc7,
  0x9e,
  0x3f,
];

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
  ...KERNEL,
};

// ---------------------------------------------------------------------------
// Encoders and decoders. All little-endian; `view` is a DataView over native
// memory and `at` the struct's byte offset in it.

const S = STRUCTS;

/**
 * IORING_CREATE_FLAGS is 8 bytes, so the x64 ABI passes it by value in one
 * 64-bit register: Required in the low half, Advisory in the high half.
 */
export function encodeCreateFlags(required: number, advisory: number): bigint {
  return BigInt(required >>> 0) | (BigInt(advisory >>> 0) << 32n);
}

/** Writes an IORING_HANDLE_REF: a raw HANDLE, or a registered-table index (unused bytes zeroed). */
export function writeHandleRef(
  view: DataView,
  at: number,
  ref: { kind: "raw"; handle: bigint } | { kind: "registered"; index: number },
): void {
  const f = S.IORING_HANDLE_REF.fields;
  view.setBigUint64(at, 0n, true);
  if (ref.kind === "raw") {
    view.setUint32(at + f.Kind, IORING_FLAGS.IORING_REF_RAW, true);
    view.setBigUint64(at + f["Handle.Handle"], ref.handle, true);
  } else {
    view.setUint32(at + f.Kind, IORING_FLAGS.IORING_REF_REGISTERED, true);
    view.setBigUint64(at + f.Handle, 0n, true);
    view.setUint32(at + f["Handle.Index"], ref.index, true);
  }
}

/** Writes an IORING_BUFFER_REF: a raw address, or (registered index, offset) (unused bytes zeroed). */
export function writeBufferRef(
  view: DataView,
  at: number,
  ref: { kind: "raw"; address: bigint } | { kind: "registered"; index: number; offset: number },
): void {
  const f = S.IORING_BUFFER_REF.fields;
  view.setBigUint64(at, 0n, true);
  if (ref.kind === "raw") {
    view.setUint32(at + f.Kind, IORING_FLAGS.IORING_REF_RAW, true);
    view.setBigUint64(at + f["Buffer.Address"], ref.address, true);
  } else {
    view.setUint32(at + f.Kind, IORING_FLAGS.IORING_REF_REGISTERED, true);
    view.setUint32(at + f["Buffer.IndexAndOffset.BufferIndex"], ref.index, true);
    view.setUint32(at + f["Buffer.IndexAndOffset.Offset"], ref.offset, true);
  }
}

/** Writes one IORING_BUFFER_INFO (Address = 0 and Length = 0 is a sparse entry). */
export function writeBufferInfo(view: DataView, at: number, address: bigint, length: number): void {
  const f = S.IORING_BUFFER_INFO.fields;
  view.setBigUint64(at + f.Address, address, true);
  view.setUint32(at + f.Length, length, true);
  view.setUint32(at + 12, 0, true); // padding
}

/** A decoded IORING_CQE. */
export interface IoRingCqe {
  /** The userData the operation was built with. */
  userData: bigint;
  /** The operation's HRESULT. */
  resultCode: number;
  /** Operation-specific information (bytes transferred for reads and writes). */
  information: bigint;
}

/** Reads an IORING_CQE. */
export function readCqe(view: DataView, at: number): IoRingCqe {
  const f = S.IORING_CQE.fields;
  return {
    userData: view.getBigUint64(at + f.UserData, true),
    resultCode: view.getInt32(at + f.ResultCode, true),
    information: view.getBigUint64(at + f.Information, true),
  };
}

/** A decoded IORING_CAPABILITIES. */
export interface IoRingCapabilities {
  /** Highest IORING_VERSION the OS supports (1, 2, 300, 400, or newer). */
  maxVersion: number;
  /** Largest submission queue the OS allows. */
  maxSubmissionQueueSize: number;
  /** Largest completion queue the OS allows. */
  maxCompletionQueueSize: number;
  /** IORING_FEATURE_FLAGS bits. */
  featureFlags: number;
}

/** Reads an IORING_CAPABILITIES. */
export function readCapabilities(view: DataView, at: number): IoRingCapabilities {
  const f = S.IORING_CAPABILITIES.fields;
  return {
    maxVersion: view.getUint32(at + f.MaxVersion, true),
    maxSubmissionQueueSize: view.getUint32(at + f.MaxSubmissionQueueSize, true),
    maxCompletionQueueSize: view.getUint32(at + f.MaxCompletionQueueSize, true),
    featureFlags: view.getUint32(at + f.FeatureFlags, true),
  };
}

/** A decoded IORING_INFO. */
export interface IoRingInfo {
  /** The version the ring was created with. */
  version: number;
  /** IORING_CREATE_REQUIRED_FLAGS. */
  required: number;
  /** IORING_CREATE_ADVISORY_FLAGS. */
  advisory: number;
  /** Actual submission queue size. */
  submissionQueueSize: number;
  /** Actual completion queue size. */
  completionQueueSize: number;
}

/** Reads an IORING_INFO. */
export function readInfo(view: DataView, at: number): IoRingInfo {
  const f = S.IORING_INFO.fields;
  return {
    version: view.getUint32(at + f.IoRingVersion, true),
    required: view.getUint32(at + f["Flags.Required"], true),
    advisory: view.getUint32(at + f["Flags.Advisory"], true),
    submissionQueueSize: view.getUint32(at + f.SubmissionQueueSize, true),
    completionQueueSize: view.getUint32(at + f.CompletionQueueSize, true),
  };
}

/** Writes a RIO_BUF descriptor. */
export function writeRioBuf(
  view: DataView,
  at: number,
  bufferId: bigint,
  offset: number,
  length: number,
): void {
  const f = S.RIO_BUF.fields;
  view.setBigUint64(at + f.BufferId, bufferId, true);
  view.setUint32(at + f.Offset, offset, true);
  view.setUint32(at + f.Length, length, true);
}

/** A decoded RIORESULT. */
export interface RioResult {
  /** Winsock status (0 = success). */
  status: number;
  /** Bytes sent or received. */
  bytesTransferred: number;
  /** The SocketContext given to RIOCreateRequestQueue. */
  socketContext: bigint;
  /** The RequestContext given to the send or receive. */
  requestContext: bigint;
}

/** Reads a RIORESULT. */
export function readRioResult(view: DataView, at: number): RioResult {
  const f = S.RIORESULT.fields;
  return {
    status: view.getInt32(at + f.Status, true),
    bytesTransferred: view.getUint32(at + f.BytesTransferred, true),
    socketContext: view.getBigUint64(at + f.SocketContext, true),
    requestContext: view.getBigUint64(at + f.RequestContext, true),
  };
}

/** Writes an event-type RIO_NOTIFICATION_COMPLETION (unused bytes zeroed). */
export function writeEventNotification(
  view: DataView,
  at: number,
  eventHandle: bigint,
  notifyReset: boolean,
): void {
  const f = S.RIO_NOTIFICATION_COMPLETION.fields;
  for (let i = 0; i < S.RIO_NOTIFICATION_COMPLETION.size; i += 8) {
    view.setBigUint64(at + i, 0n, true);
  }
  view.setUint32(at + f.Type, RIO.RIO_EVENT_COMPLETION, true);
  view.setBigUint64(at + f["Event.EventHandle"], eventHandle, true);
  view.setInt32(at + f["Event.NotifyReset"], notifyReset ? 1 : 0, true);
}

/** A decoded WSADATA (x64 field order). */
export interface WsaData {
  /** Negotiated version (low byte major). */
  version: number;
  /** Highest supported version. */
  highVersion: number;
  /** Implementation description. */
  description: string;
  /** Implementation status. */
  systemStatus: string;
}

function cString(view: DataView, at: number, max: number): string {
  let s = "";
  for (let i = 0; i < max; i++) {
    const c = view.getUint8(at + i);
    if (c === 0) break;
    s += String.fromCharCode(c);
  }
  return s;
}

/** Reads a WSADATA. */
export function readWsaData(view: DataView, at: number): WsaData {
  const f = S.WSADATA.fields;
  return {
    version: view.getUint16(at + f.wVersion, true),
    highVersion: view.getUint16(at + f.wHighVersion, true),
    description: cString(view, at + f.szDescription, 257),
    systemStatus: cString(view, at + f.szSystemStatus, 129),
  };
}

/**
 * Writes a Windows SOCKADDR_INET (28 bytes: SOCKADDR_IN or SOCKADDR_IN6)
 * and returns the length to pass as `namelen`. Throws a `TypeError` for a
 * hostname that is not a numeric IPv4 or IPv6 address, `RangeError` for a bad port.
 */
export function writeSockaddrInet(view: DataView, at: number, addr: SocketAddress): number {
  if (!Number.isInteger(addr.port) || addr.port < 0 || addr.port > 65535) {
    throw new RangeError(`port must be an integer in [0, 65535], got ${String(addr.port)}`);
  }
  for (let i = 0; i < S.SOCKADDR_INET.size; i++) view.setUint8(at + i, 0);
  const v4 = parseIpv4(addr.hostname);
  if (v4) {
    const f = S.SOCKADDR_IN.fields;
    view.setUint16(at + f.sin_family, SOCKET.AF_INET, true);
    view.setUint16(at + f.sin_port, addr.port, false);
    for (let i = 0; i < 4; i++) view.setUint8(at + f.sin_addr + i, v4[i]);
    return S.SOCKADDR_IN.size;
  }
  const v6 = parseIpv6(addr.hostname);
  if (v6) {
    const f = S.SOCKADDR_IN6.fields;
    view.setUint16(at + f.sin6_family, SOCKET.AF_INET6, true);
    view.setUint16(at + f.sin6_port, addr.port, false);
    for (let i = 0; i < 16; i++) view.setUint8(at + f.sin6_addr + i, v6[i]);
    return S.SOCKADDR_IN6.size;
  }
  throw new TypeError(`not a numeric IPv4 or IPv6 address: ${JSON.stringify(addr.hostname)}`);
}

/** Reads a Windows SOCKADDR_INET, or returns null for an unknown family. */
export function readSockaddrInet(view: DataView, at: number): SocketAddress | null {
  const family = view.getUint16(at, true);
  if (family === SOCKET.AF_INET) {
    const f = S.SOCKADDR_IN.fields;
    const b = [0, 1, 2, 3].map((i) => view.getUint8(at + f.sin_addr + i));
    return { hostname: b.join("."), port: view.getUint16(at + f.sin_port, false) };
  }
  if (family === SOCKET.AF_INET6) {
    const f = S.SOCKADDR_IN6.fields;
    const bytes = new Uint8Array(16);
    for (let i = 0; i < 16; i++) bytes[i] = view.getUint8(at + f.sin6_addr + i);
    return { hostname: formatIpv6(bytes), port: view.getUint16(at + f.sin6_port, false) };
  }
  return null;
}
