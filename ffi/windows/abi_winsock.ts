/**
 * The Winsock and Registered I/O ABI (ws2_32.dll, winsock2.h / mswsock.h /
 * mswsockdef.h / ws2ipdef.h): the RIO, WSADATA, SOCKADDR_* and GUID struct
 * layouts, Winsock error codes, RIO and socket constants, INVALID_SOCKET, the
 * RIO function-table GUID, and the encoders/decoders of RIO_BUF, RIORESULT,
 * RIO notifications, WSADATA and SOCKADDR_INET. Re-exported by
 * ffi/windows/abi.ts.
 *
 * @module
 */

import { formatIpv6, parseIpv4, parseIpv6, type SocketAddress } from "../inet.ts";
import type { StructLayout } from "./abi_common.ts";

/** The Winsock and RIO structs, x64 layouts (part of `STRUCTS`). */
export const WINSOCK_STRUCTS = {
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
  // ws2ipdef.h. IP_MREQ_SOURCE puts the source before the interface (Linux: the other way round).
  IP_MREQ: { size: 8, align: 4, fields: { imr_multiaddr: 0, imr_interface: 4 } },
  IP_MREQ_SOURCE: {
    size: 12,
    align: 4,
    fields: { imr_multiaddr: 0, imr_sourceaddr: 4, imr_interface: 8 },
  },
  IPV6_MREQ: { size: 20, align: 4, fields: { ipv6mr_multiaddr: 0, ipv6mr_interface: 16 } },
  // SOCKADDR_STORAGE is 128 bytes, 8-aligned (ws2def.h), so the group starts at 8.
  GROUP_SOURCE_REQ: {
    size: 264,
    align: 8,
    fields: { gsr_interface: 0, gsr_group: 8, gsr_source: 136 },
  },
} as const satisfies Record<string, StructLayout>;

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

/**
 * Broadcast and multicast socket options (winsock2.h, ws2ipdef.h; not in
 * the reference, asserted against mingw-w64 by `deno task abi:mingw`). The
 * IP-level numbers (at IPPROTO_IP, in `UDP_OFFLOAD`) differ from Linux's
 * (IP_ADD_MEMBERSHIP is 12 here, 35 there). An IPv4 interface is an address in network order, or an index
 * written as the address 0.0.0.index; an IPv6 interface is an index.
 * IP_MULTICAST_LOOP applies to the receiving socket on Windows (to the
 * sending one on Linux).
 */
export const SOCKOPT = {
  SO_BROADCAST: 0x20,
  IP_MULTICAST_IF: 9,
  IP_MULTICAST_TTL: 10,
  IP_MULTICAST_LOOP: 11,
  IP_ADD_MEMBERSHIP: 12,
  IP_DROP_MEMBERSHIP: 13,
  IP_ADD_SOURCE_MEMBERSHIP: 15,
  IP_DROP_SOURCE_MEMBERSHIP: 16,
  IPV6_MULTICAST_IF: 9,
  IPV6_MULTICAST_HOPS: 10,
  IPV6_MULTICAST_LOOP: 11,
  IPV6_ADD_MEMBERSHIP: 12,
  IPV6_DROP_MEMBERSHIP: 13,
  MCAST_JOIN_SOURCE_GROUP: 45,
  MCAST_LEAVE_SOURCE_GROUP: 46,
} as const;

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

// Encoders and decoders. All little-endian; `view` is a DataView over native
// memory and `at` the struct's byte offset in it.

const S = WINSOCK_STRUCTS;

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
