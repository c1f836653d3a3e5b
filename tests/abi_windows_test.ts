// ABI conformance of the Windows layer against shared/reference/windows-api.md.
// Every expected value below is written literally from the reference (section
// noted); nothing is read back from ffi/windows/abi.ts to build an expectation.
// Values the reference does not list (a few standard winerror.h / winnt.h
// codes) are marked "not in the reference": tools/abi_mingw.ts checks those
// against the mingw-w64 headers.

import assert from "node:assert/strict";
import * as abi from "../ffi/windows/abi.ts";
import { kernelbaseSymbols } from "../ffi/windows/kernelbase.ts";
import { ws2Symbols } from "../ffi/windows/ws2_32.ts";
import { rioDefinitions } from "../ffi/windows/rio_table.ts";

type Layout = { size: number; align: number; fields: Record<string, number> };

/** §1.5, §2.2, §2.4, §2.6 (x64). */
const EXPECTED_STRUCTS: Record<string, Layout> = {
  // §1.5
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
  // §2.4
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
  // §2.2
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
  // §2.6
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
  // §2.6: sizes and offsets are in the reference; the alignment (4) is the
  // largest member (u32 sin_addr / sin6_flowinfo), checked by abi_mingw.
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
  // §2.4 (16 / 4); fields: Data1 u32, Data2 u16, Data3 u16, Data4[8] (guiddef.h).
  GUID: { size: 16, align: 4, fields: { Data1: 0, Data2: 4, Data3: 6, Data4: 8 } },
  // udp-offloads.md §3: WSACMSGHDR {SIZE_T cmsg_len; INT cmsg_level; INT cmsg_type;} (x64),
  // IN_PKTINFO {IN_ADDR ipi_addr; ULONG ipi_ifindex;}, IN6_PKTINFO {IN6_ADDR; ULONG} (field
  // order differs from Linux), RIO_CMSG_BUFFER {ULONG TotalLength;} (§3 "through RIO").
  WSACMSGHDR: { size: 16, align: 8, fields: { cmsg_len: 0, cmsg_level: 8, cmsg_type: 12 } },
  IN_PKTINFO: { size: 8, align: 4, fields: { ipi_addr: 0, ipi_ifindex: 4 } },
  IN6_PKTINFO: { size: 20, align: 4, fields: { ipi6_addr: 0, ipi6_ifindex: 16 } },
  RIO_CMSG_BUFFER: { size: 4, align: 4, fields: { TotalLength: 0 } },
  // Not in the reference: ws2ipdef.h / psdk_inc/_ip_mreq1.h (the mingw check compiles them).
  IP_MREQ: { size: 8, align: 4, fields: { imr_multiaddr: 0, imr_interface: 4 } },
  IP_MREQ_SOURCE: {
    size: 12,
    align: 4,
    fields: { imr_multiaddr: 0, imr_sourceaddr: 4, imr_interface: 8 },
  },
  IPV6_MREQ: { size: 20, align: 4, fields: { ipv6mr_multiaddr: 0, ipv6mr_interface: 16 } },
  // learn.microsoft.com ns-ws2ipdef-group_source_req: {ULONG gsr_interface; SOCKADDR_STORAGE
  // gsr_group; SOCKADDR_STORAGE gsr_source;}, SOCKADDR_STORAGE 128 bytes with an __int64 member.
  GROUP_SOURCE_REQ: {
    size: 264,
    align: 8,
    fields: { gsr_interface: 0, gsr_group: 8, gsr_source: 136 },
  },
};

/** Constant groups as the module spells them; values from the sections noted. */
const EXPECTED_GROUPS: Record<string, Record<string, number>> = {
  // §1.3
  IORING_VERSION: {
    IORING_VERSION_INVALID: 0,
    IORING_VERSION_1: 1,
    IORING_VERSION_2: 2,
    IORING_VERSION_3: 300,
    IORING_VERSION_4: 400,
  },
  IORING_OP: {
    IORING_OP_NOP: 0,
    IORING_OP_READ: 1,
    IORING_OP_REGISTER_FILES: 2,
    IORING_OP_REGISTER_BUFFERS: 3,
    IORING_OP_CANCEL: 4,
    IORING_OP_WRITE: 5,
    IORING_OP_FLUSH: 6,
    IORING_OP_READ_SCATTER: 7,
    IORING_OP_WRITE_GATHER: 8,
  },
  IORING_FLAGS: {
    IOSQE_FLAGS_NONE: 0,
    IOSQE_FLAGS_DRAIN_PRECEDING_OPS: 1,
    IORING_CREATE_REQUIRED_FLAGS_NONE: 0,
    IORING_CREATE_ADVISORY_FLAGS_NONE: 0,
    IORING_CREATE_SKIP_BUILDER_PARAM_CHECKS: 1,
    IORING_FEATURE_FLAGS_NONE: 0,
    IORING_FEATURE_UM_EMULATION: 1,
    IORING_FEATURE_SET_COMPLETION_EVENT: 2,
    IORING_REF_RAW: 0,
    IORING_REF_REGISTERED: 1,
    FILE_WRITE_FLAGS_NONE: 0,
    FILE_WRITE_FLAGS_WRITE_THROUGH: 1,
    FILE_FLUSH_DEFAULT: 0,
    FILE_FLUSH_DATA: 1,
    FILE_FLUSH_MIN_METADATA: 2,
    FILE_FLUSH_NO_SYNC: 3,
    IORING_SUBMIT_WAIT_ALL: 4294967295,
  },
  // §1.4: the "as i32" column, and S_OK / S_FALSE / the [3P] table.
  HRESULT: {
    S_OK: 0,
    S_FALSE: 1,
    IORING_E_REQUIRED_FLAG_NOT_SUPPORTED: -2142896127,
    IORING_E_SUBMISSION_QUEUE_FULL: -2142896126,
    IORING_E_VERSION_NOT_SUPPORTED: -2142896125,
    IORING_E_SUBMISSION_QUEUE_TOO_BIG: -2142896124,
    IORING_E_COMPLETION_QUEUE_TOO_BIG: -2142896123,
    IORING_E_SUBMIT_IN_PROGRESS: -2142896122,
    IORING_E_CORRUPT: -2142896121,
    IORING_E_COMPLETION_QUEUE_TOO_FULL: -2142896120,
    E_ABORT: -2147467260, // 0x80004004
    E_HANDLE: -2147024890, // 0x80070006
    E_INVALIDARG: -2147024809, // 0x80070057
    E_OUTOFMEMORY: -2147024882, // 0x8007000E, not in the reference (winerror.h)
    E_NOTIMPL: -2147467263, // 0x80004001, not in the reference (winerror.h)
    E_FAIL: -2147467259, // 0x80004005, not in the reference (winerror.h)
    HRESULT_FROM_WIN32_ERROR_HANDLE_EOF: -2147024858, // 0x80070026
    HRESULT_FROM_WIN32_ERROR_OPERATION_ABORTED: -2147023901, // 0x800703E3
    HRESULT_FROM_WIN32_ERROR_NOT_FOUND: -2147023728, // 0x80070490
    HRESULT_FROM_WIN32_WAIT_TIMEOUT: -2147024638, // 0x80070102
    HRESULT_FROM_WIN32_ERROR_TIMEOUT: -2147023436, // 0x800705B4
  },
  // §2.8 table, §2.7; ERROR_SUCCESS / FILE_NOT_FOUND / PATH_NOT_FOUND /
  // ACCESS_DENIED are not in the reference (winerror.h); 8, 87, 997 are the
  // values of WSA_NOT_ENOUGH_MEMORY, WSA_INVALID_PARAMETER, WSA_IO_PENDING (§2.6).
  WIN32_ERROR: {
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
    // §5.3 (winerror.h): the Win32 spellings of truncation and of the ICMP family.
    ERROR_MORE_DATA: 234,
    ERROR_NETWORK_UNREACHABLE: 1231,
    ERROR_HOST_UNREACHABLE: 1232,
    ERROR_PROTOCOL_UNREACHABLE: 1233,
    ERROR_PORT_UNREACHABLE: 1234,
  },
  // §2.6 "WSA error codes"
  WSA_ERROR: {
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
  },
  // §2.3, §2.1
  RIO: {
    RIO_MSG_DONT_NOTIFY: 1,
    RIO_MSG_DEFER: 2,
    RIO_MSG_WAITALL: 4,
    RIO_MSG_COMMIT_ONLY: 8,
    RIO_INVALID_BUFFERID: 4294967295,
    RIO_INVALID_CQ: 0,
    RIO_INVALID_RQ: 0,
    RIO_MAX_CQ_SIZE: 134217728,
    RIO_CORRUPT_CQ: 4294967295,
    RIO_EVENT_COMPLETION: 1,
    RIO_IOCP_COMPLETION: 2,
    WSA_FLAG_OVERLAPPED: 1,
    WSA_FLAG_NO_HANDLE_INHERIT: 128,
    WSA_FLAG_REGISTERED_IO: 256,
    SIO_GET_EXTENSION_FUNCTION_POINTER: 3355443206, // 0xC8000006
    SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER: 3355443236, // 0xC8000024
  },
  // §2.6 "Constants"
  SOCKET: {
    AF_INET: 2,
    AF_INET6: 23,
    SOCK_DGRAM: 2,
    IPPROTO_UDP: 17,
    IPPROTO_IPV6: 41,
    IPV6_V6ONLY: 27,
    SOL_SOCKET: 65535,
    SO_REUSEADDR: 4,
    SO_EXCLUSIVEADDRUSE: -5,
    SO_SNDBUF: 4097,
    SO_RCVBUF: 4098,
    SIO_UDP_CONNRESET: 2550136844, // 0x9800000C
    INADDR_ANY: 0,
    INADDR_LOOPBACK: 2130706433, // 0x7F000001
    SOCKET_ERROR: -1,
    WINSOCK_VERSION_2_2: 514, // MAKEWORD(2,2) = 0x0202 (§2.6 WSAStartup)
  },
  // Not in the reference: winsock2.h (SO_BROADCAST 0x0020) and ws2ipdef.h lines 28–35, 74–80.
  SOCKOPT: {
    SO_BROADCAST: 32,
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
    // windows-docs-rs Win32::Networking::WinSock (win32metadata) and ws2ipdef.h line 187.
    MCAST_JOIN_SOURCE_GROUP: 45,
    MCAST_LEAVE_SOURCE_GROUP: 46,
  },
  // udp-offloads.md §3 names these but writes no values: IP_TOS, IP_PKTINFO, IPV6_PKTINFO,
  // IP_ECN, IPV6_ECN are from mingw-w64 ws2ipdef.h (checked again by abi:mingw); the rest
  // are not in the reference nor in mingw-w64: windows-sys (win32metadata) Win32::Networking::WinSock.
  UDP_OFFLOAD: {
    IPPROTO_IP: 0,
    IP_TOS: 3,
    IP_PKTINFO: 19,
    IPV6_PKTINFO: 19,
    IP_ECN: 50,
    IPV6_ECN: 50,
    IP_RECVECN: 50,
    IPV6_RECVECN: 50,
    UDP_SEND_MSG_SIZE: 2,
    UDP_RECV_MAX_COALESCED_SIZE: 3,
    UDP_COALESCED_INFO: 3,
  },
  // §2.7; MEM_* / PAGE_READWRITE are not in the reference (winnt.h).
  KERNEL: {
    MEM_COMMIT: 4096,
    MEM_RESERVE: 8192,
    MEM_RELEASE: 32768,
    PAGE_READWRITE: 4,
    WAIT_OBJECT_0: 0,
    WAIT_ABANDONED: 128,
    WAIT_TIMEOUT: 258,
    WAIT_FAILED: 4294967295,
    INFINITE: 4294967295,
    GENERIC_READ: 2147483648,
    GENERIC_WRITE: 1073741824,
    FILE_SHARE_READ: 1,
    FILE_SHARE_WRITE: 2,
    FILE_SHARE_DELETE: 4,
    CREATE_NEW: 1,
    CREATE_ALWAYS: 2,
    OPEN_EXISTING: 3,
    OPEN_ALWAYS: 4,
    TRUNCATE_EXISTING: 5,
    FILE_ATTRIBUTE_NORMAL: 128,
    FILE_FLAG_OVERLAPPED: 1073741824,
    FILE_FLAG_NO_BUFFERING: 536870912,
    FILE_FLAG_WRITE_THROUGH: 2147483648,
  },
};

/** The module's exports that are constants or constant groups (anything else must be a function/type). */
const KNOWN_VALUE_EXPORTS = new Set([
  "STRUCTS",
  "CONSTANTS",
  "INVALID_HANDLE_VALUE",
  "INVALID_SOCKET",
  "WSAID_MULTIPLE_RIO",
  "WSA_CMSG",
  "USO_LIMITS",
  ...Object.keys(EXPECTED_GROUPS),
]);

const structs = abi.STRUCTS as unknown as Record<string, Layout>;

Deno.test("abi: the module has exactly the structs the reference describes", () => {
  assert.deepEqual(Object.keys(structs).sort(), Object.keys(EXPECTED_STRUCTS).sort());
});

for (const [name, want] of Object.entries(EXPECTED_STRUCTS)) {
  Deno.test(`abi: ${name} is ${want.size} bytes, align ${want.align}, with the reference's offsets`, () => {
    const got = structs[name];
    assert.ok(got, `${name} missing from STRUCTS`);
    assert.equal(got.size, want.size, `${name} size`);
    assert.equal(got.align, want.align, `${name} align`);
    // Same field set (no unverified additions, none missing) and offsets.
    assert.deepEqual(
      Object.keys(got.fields).sort(),
      Object.keys(want.fields).sort(),
      `${name} fields`,
    );
    for (const [field, off] of Object.entries(want.fields)) {
      assert.equal(got.fields[field], off, `${name}.${field}`);
    }
  });
}

Deno.test("abi: struct sizes are multiples of their alignment and every offset is inside", () => {
  for (const [name, s] of Object.entries(structs)) {
    assert.equal(s.size % s.align, 0, name);
    for (const [field, off] of Object.entries(s.fields)) {
      assert.ok(Number.isInteger(off) && off >= 0 && off < s.size, `${name}.${field} = ${off}`);
    }
  }
});

Deno.test("abi: dotted field names name an existing parent at the same or a lower offset", () => {
  for (const [name, s] of Object.entries(structs)) {
    for (const [field, off] of Object.entries(s.fields)) {
      if (!field.includes(".")) continue;
      const parent = field.slice(0, field.lastIndexOf("."));
      assert.ok(parent in s.fields, `${name}.${field} has no parent ${parent}`);
      assert.ok(s.fields[parent] <= off, `${name}.${field}`);
    }
  }
});

Deno.test("abi: the module exports no constant group or value the test does not know", () => {
  const values = Object.entries(abi).filter(([, v]) => typeof v !== "function");
  for (const [name] of values) {
    assert.ok(KNOWN_VALUE_EXPORTS.has(name), `unverified export ${name}: add it to this test`);
  }
  for (const name of KNOWN_VALUE_EXPORTS) assert.ok(name in abi, `${name} no longer exported`);
});

for (const [group, want] of Object.entries(EXPECTED_GROUPS)) {
  Deno.test(`abi: ${group} constants match the reference`, () => {
    const got = (abi as unknown as Record<string, Record<string, number>>)[group];
    assert.ok(got, `${group} missing`);
    assert.deepEqual({ ...got }, want);
  });
}

Deno.test("abi: CONSTANTS is exactly the union of the groups (no unknown, no name clash)", () => {
  const union: Record<string, number> = {};
  for (const [group, values] of Object.entries(EXPECTED_GROUPS)) {
    for (const [name, value] of Object.entries(values)) {
      assert.ok(!(name in union), `${name} in two groups (${group})`);
      union[name] = value;
    }
  }
  assert.deepEqual({ ...abi.CONSTANTS }, union);
});

Deno.test("abi: HRESULT values equal the reference's hex column read as i32", () => {
  // §1.4 hex column, converted here independently of the module.
  const hex: Record<string, number> = {
    IORING_E_REQUIRED_FLAG_NOT_SUPPORTED: 0x80460001,
    IORING_E_SUBMISSION_QUEUE_FULL: 0x80460002,
    IORING_E_VERSION_NOT_SUPPORTED: 0x80460003,
    IORING_E_SUBMISSION_QUEUE_TOO_BIG: 0x80460004,
    IORING_E_COMPLETION_QUEUE_TOO_BIG: 0x80460005,
    IORING_E_SUBMIT_IN_PROGRESS: 0x80460006,
    IORING_E_CORRUPT: 0x80460007,
    IORING_E_COMPLETION_QUEUE_TOO_FULL: 0x80460008,
    E_ABORT: 0x80004004,
    E_HANDLE: 0x80070006,
    E_INVALIDARG: 0x80070057,
    HRESULT_FROM_WIN32_ERROR_HANDLE_EOF: 0x80070026,
    HRESULT_FROM_WIN32_ERROR_OPERATION_ABORTED: 0x800703e3,
    HRESULT_FROM_WIN32_ERROR_NOT_FOUND: 0x80070490,
    HRESULT_FROM_WIN32_WAIT_TIMEOUT: 0x80070102,
    HRESULT_FROM_WIN32_ERROR_TIMEOUT: 0x800705b4,
  };
  const i32 = new Int32Array(1);
  for (const [name, h] of Object.entries(hex)) {
    i32[0] = h;
    assert.equal((abi.HRESULT as Record<string, number>)[name], i32[0], name);
  }
  // HRESULT_FROM_WIN32(x) = 0x80070000 | x for the Win32 codes of §2.7.
  const fromWin32 = (code: number): number => (0x80070000 | code) | 0;
  assert.equal(abi.HRESULT.HRESULT_FROM_WIN32_ERROR_HANDLE_EOF, fromWin32(38));
  assert.equal(abi.HRESULT.HRESULT_FROM_WIN32_ERROR_OPERATION_ABORTED, fromWin32(995));
  assert.equal(abi.HRESULT.HRESULT_FROM_WIN32_ERROR_NOT_FOUND, fromWin32(1168));
  assert.equal(abi.HRESULT.HRESULT_FROM_WIN32_WAIT_TIMEOUT, fromWin32(0x102));
  assert.equal(abi.HRESULT.HRESULT_FROM_WIN32_ERROR_TIMEOUT, fromWin32(1460));
});

Deno.test("abi: SIO codes are built as the headers build them", () => {
  // §2.1: _WSAIORW(IOC_WS2, n) = IOC_INOUT 0xC0000000 | IOC_WS2 0x08000000 | n.
  const wsaiorw = (n: number): number => (0xc0000000 | 0x08000000 | n) >>> 0;
  assert.equal(abi.RIO.SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER, wsaiorw(36));
  assert.equal(abi.RIO.SIO_GET_EXTENSION_FUNCTION_POINTER, wsaiorw(6));
  // Pitfall 14: never the single-function code for RIO.
  assert.notEqual(abi.RIO.SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER, 0xc8000006);
});

Deno.test("abi: 64-bit sentinels INVALID_HANDLE_VALUE and INVALID_SOCKET are ~0 as u64", () => {
  assert.equal(typeof abi.INVALID_HANDLE_VALUE, "bigint");
  assert.equal(abi.INVALID_HANDLE_VALUE, 18446744073709551615n);
  assert.equal(typeof abi.INVALID_SOCKET, "bigint");
  assert.equal(abi.INVALID_SOCKET, 18446744073709551615n);
  // RIO_INVALID_BUFFERID is the zero-extended 32-bit value, a different sentinel.
  assert.notEqual(BigInt(abi.RIO.RIO_INVALID_BUFFERID), abi.INVALID_HANDLE_VALUE);
  assert.equal(BigInt(abi.RIO.RIO_INVALID_BUFFERID), 4294967295n);
});

Deno.test("abi: WSAID_MULTIPLE_RIO has the reference's in-memory bytes", () => {
  // §2.1, written literally.
  assert.deepEqual(
    [...abi.WSAID_MULTIPLE_RIO],
    [
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
    ],
  );
  // And independently from the GUID string: Data1..3 little-endian, Data4 as is.
  const text = "8509e081-96dd-4005-b165-9e2ee8c79e3f";
  const [d1, d2, d3, d4a, d4b] = text.split("-");
  const bytes = new Uint8Array(16);
  const dv = new DataView(bytes.buffer);
  dv.setUint32(0, parseInt(d1, 16), true);
  dv.setUint16(4, parseInt(d2, 16), true);
  dv.setUint16(6, parseInt(d3, 16), true);
  (d4a + d4b).match(/../g)!.forEach((h, i) => (bytes[8 + i] = parseInt(h, 16)));
  assert.deepEqual([...abi.WSAID_MULTIPLE_RIO], [...bytes]);
});

// ---------------------------------------------------------------------------
// RIO_EXTENSION_FUNCTION_TABLE and the RIO signatures (§2.2).

const RIO_ORDER = [
  "RIOReceive",
  "RIOReceiveEx",
  "RIOSend",
  "RIOSendEx",
  "RIOCloseCompletionQueue",
  "RIOCreateCompletionQueue",
  "RIOCreateRequestQueue",
  "RIODequeueCompletion",
  "RIODeregisterBuffer",
  "RIONotify",
  "RIORegisterBuffer",
  "RIOResizeCompletionQueue",
  "RIOResizeRequestQueue",
];

type Sig = { parameters: readonly unknown[]; result: unknown };

// C → Deno: pointers/RIO_RQ/RIO_CQ/PRIO_BUF `pointer`; SOCKET, RIO_BUFFERID and
// the PVOID contexts `usize` (same x64 register class, travels as BigInt);
// ULONG/DWORD `u32`; BOOL/int/INT `i32`; VOID `void`.
const RIO_SIGNATURES: Record<string, Sig> = {
  // BOOL RIOReceive(RIO_RQ, PRIO_BUF, ULONG, DWORD, PVOID)
  RIOReceive: { parameters: ["pointer", "pointer", "u32", "u32", "usize"], result: "i32" },
  // int RIOReceiveEx(RIO_RQ, PRIO_BUF, ULONG, PRIO_BUF ×4, DWORD, PVOID): 9 parameters
  RIOReceiveEx: {
    parameters: [
      "pointer",
      "pointer",
      "u32",
      "pointer",
      "pointer",
      "pointer",
      "pointer",
      "u32",
      "usize",
    ],
    result: "i32",
  },
  // BOOL RIOSend(RIO_RQ, PRIO_BUF, ULONG, DWORD, PVOID)
  RIOSend: { parameters: ["pointer", "pointer", "u32", "u32", "usize"], result: "i32" },
  // BOOL RIOSendEx(RIO_RQ, PRIO_BUF, ULONG, PRIO_BUF ×4, DWORD, PVOID): 9 parameters
  RIOSendEx: {
    parameters: [
      "pointer",
      "pointer",
      "u32",
      "pointer",
      "pointer",
      "pointer",
      "pointer",
      "u32",
      "usize",
    ],
    result: "i32",
  },
  // VOID RIOCloseCompletionQueue(RIO_CQ)
  RIOCloseCompletionQueue: { parameters: ["pointer"], result: "void" },
  // RIO_CQ RIOCreateCompletionQueue(DWORD, PRIO_NOTIFICATION_COMPLETION)
  RIOCreateCompletionQueue: { parameters: ["u32", "pointer"], result: "pointer" },
  // RIO_RQ RIOCreateRequestQueue(SOCKET, ULONG ×4, RIO_CQ, RIO_CQ, PVOID)
  RIOCreateRequestQueue: {
    parameters: ["usize", "u32", "u32", "u32", "u32", "pointer", "pointer", "usize"],
    result: "pointer",
  },
  // ULONG RIODequeueCompletion(RIO_CQ, PRIORESULT, ULONG)
  RIODequeueCompletion: { parameters: ["pointer", "pointer", "u32"], result: "u32" },
  // VOID RIODeregisterBuffer(RIO_BUFFERID)
  RIODeregisterBuffer: { parameters: ["usize"], result: "void" },
  // INT RIONotify(RIO_CQ)
  RIONotify: { parameters: ["pointer"], result: "i32" },
  // RIO_BUFFERID RIORegisterBuffer(PCHAR, DWORD)
  RIORegisterBuffer: { parameters: ["pointer", "u32"], result: "usize" },
  // BOOL RIOResizeCompletionQueue(RIO_CQ, DWORD)
  RIOResizeCompletionQueue: { parameters: ["pointer", "u32"], result: "i32" },
  // BOOL RIOResizeRequestQueue(RIO_RQ, DWORD, DWORD)
  RIOResizeRequestQueue: { parameters: ["pointer", "u32", "u32"], result: "i32" },
};

Deno.test("abi: RIO_EXTENSION_FUNCTION_TABLE lists 13 functions in header order, 8 bytes apart", () => {
  const fields = abi.STRUCTS.RIO_EXTENSION_FUNCTION_TABLE.fields as Record<string, number>;
  const names = Object.keys(fields).filter((k) => k !== "cbSize");
  assert.equal(names.length, 13);
  assert.deepEqual(names, RIO_ORDER);
  RIO_ORDER.forEach((name, i) => assert.equal(fields[name], 8 + 8 * i, name));
  assert.equal(fields.cbSize, 0);
  assert.equal(8 + 8 * 13, abi.STRUCTS.RIO_EXTENSION_FUNCTION_TABLE.size);
});

Deno.test("rio_table: rioDefinitions lists the 13 functions in table order", () => {
  assert.deepEqual(Object.keys(rioDefinitions), RIO_ORDER);
});

Deno.test("rio_table: every RIO signature matches the C declaration", () => {
  for (const name of RIO_ORDER) {
    const def = (rioDefinitions as Record<string, Sig & Record<string, unknown>>)[name];
    assert.deepEqual(
      { parameters: [...def.parameters], result: def.result },
      RIO_SIGNATURES[name],
      name,
    );
    // Nothing else (no nonblocking: RIO calls are fast, non-waiting calls).
    assert.deepEqual(Object.keys(def).sort(), ["parameters", "result"], name);
  }
  assert.equal(rioDefinitions.RIOReceiveEx.parameters.length, 9);
  assert.equal(rioDefinitions.RIOSendEx.parameters.length, 9);
  assert.equal(rioDefinitions.RIODequeueCompletion.result, "u32");
  assert.equal(rioDefinitions.RIONotify.result, "i32");
});

// ---------------------------------------------------------------------------
// kernelbase.dll (§1.2, §2.7).

type Def = Sig & { optional?: boolean; nonblocking?: boolean; name?: string };

const IORING_EXPORTS: Record<string, Sig> = {
  // HRESULT QueryIoRingCapabilities(IORING_CAPABILITIES*)
  QueryIoRingCapabilities: { parameters: ["pointer"], result: "i32" },
  // BOOL IsIoRingOpSupported(HIORING, IORING_OP_CODE)
  IsIoRingOpSupported: { parameters: ["pointer", "u32"], result: "i32" },
  // HRESULT CreateIoRing(IORING_VERSION, IORING_CREATE_FLAGS (8 B by value = u64), UINT32, UINT32, HIORING*)
  CreateIoRing: { parameters: ["u32", "u64", "u32", "u32", "pointer"], result: "i32" },
  // HRESULT GetIoRingInfo(HIORING, IORING_INFO*)
  GetIoRingInfo: { parameters: ["pointer", "pointer"], result: "i32" },
  // HRESULT SubmitIoRing(HIORING, UINT32, UINT32, UINT32*)
  SubmitIoRing: { parameters: ["pointer", "u32", "u32", "pointer"], result: "i32" },
  // HRESULT CloseIoRing(HIORING)
  CloseIoRing: { parameters: ["pointer"], result: "i32" },
  // HRESULT PopIoRingCompletion(HIORING, IORING_CQE*)
  PopIoRingCompletion: { parameters: ["pointer", "pointer"], result: "i32" },
  // HRESULT SetIoRingCompletionEvent(HIORING, HANDLE)
  SetIoRingCompletionEvent: { parameters: ["pointer", "pointer"], result: "i32" },
  // HRESULT BuildIoRingCancelRequest(HIORING, IORING_HANDLE_REF (16 B → pointer), UINT_PTR, UINT_PTR)
  BuildIoRingCancelRequest: { parameters: ["pointer", "pointer", "usize", "usize"], result: "i32" },
  // HRESULT BuildIoRingReadFile(HIORING, HANDLE_REF, BUFFER_REF, UINT32, UINT64, UINT_PTR, IORING_SQE_FLAGS)
  BuildIoRingReadFile: {
    parameters: ["pointer", "pointer", "pointer", "u32", "u64", "usize", "u32"],
    result: "i32",
  },
  // HRESULT BuildIoRingRegisterFileHandles(HIORING, UINT32, HANDLE const[], UINT_PTR)
  BuildIoRingRegisterFileHandles: {
    parameters: ["pointer", "u32", "pointer", "usize"],
    result: "i32",
  },
  // HRESULT BuildIoRingRegisterBuffers(HIORING, UINT32, IORING_BUFFER_INFO const[], UINT_PTR)
  BuildIoRingRegisterBuffers: { parameters: ["pointer", "u32", "pointer", "usize"], result: "i32" },
  // HRESULT BuildIoRingWriteFile(HIORING, HANDLE_REF, BUFFER_REF, UINT32, UINT64, FILE_WRITE_FLAGS, UINT_PTR, IORING_SQE_FLAGS)
  BuildIoRingWriteFile: {
    parameters: ["pointer", "pointer", "pointer", "u32", "u64", "u32", "usize", "u32"],
    result: "i32",
  },
  // HRESULT BuildIoRingFlushFile(HIORING, HANDLE_REF, FILE_FLUSH_MODE, UINT_PTR, IORING_SQE_FLAGS)
  BuildIoRingFlushFile: {
    parameters: ["pointer", "pointer", "u32", "usize", "u32"],
    result: "i32",
  },
  // HRESULT BuildIoRingReadFileScatter(HIORING, HANDLE_REF, UINT32, FILE_SEGMENT_ELEMENT[], UINT32, UINT64, UINT_PTR, IORING_SQE_FLAGS)
  BuildIoRingReadFileScatter: {
    parameters: ["pointer", "pointer", "u32", "pointer", "u32", "u64", "usize", "u32"],
    result: "i32",
  },
  // HRESULT BuildIoRingWriteFileGather(HIORING, HANDLE_REF, UINT32, FILE_SEGMENT_ELEMENT[], UINT32, UINT64, FILE_WRITE_FLAGS, UINT_PTR, IORING_SQE_FLAGS)
  BuildIoRingWriteFileGather: {
    parameters: ["pointer", "pointer", "u32", "pointer", "u32", "u64", "u32", "usize", "u32"],
    result: "i32",
  },
};

const KERNEL_OTHER: Record<string, Def> = {
  // LPVOID VirtualAlloc(LPVOID, SIZE_T, DWORD, DWORD)
  VirtualAlloc: { parameters: ["pointer", "usize", "u32", "u32"], result: "pointer" },
  // BOOL VirtualFree(LPVOID, SIZE_T, DWORD)
  VirtualFree: { parameters: ["pointer", "usize", "u32"], result: "i32" },
  // HANDLE CreateEventW(LPSECURITY_ATTRIBUTES, BOOL, BOOL, LPCWSTR)
  CreateEventW: { parameters: ["pointer", "i32", "i32", "pointer"], result: "pointer" },
  // BOOL SetEvent(HANDLE) / ResetEvent(HANDLE)
  SetEvent: { parameters: ["pointer"], result: "i32" },
  ResetEvent: { parameters: ["pointer"], result: "i32" },
  // DWORD WaitForSingleObject(HANDLE, DWORD)
  WaitForSingleObject: { parameters: ["pointer", "u32"], result: "u32" },
  WaitForSingleObject_nonblocking: {
    name: "WaitForSingleObject",
    parameters: ["pointer", "u32"],
    result: "u32",
    nonblocking: true,
  },
  // BOOL CloseHandle(HANDLE)
  CloseHandle: { parameters: ["pointer"], result: "i32" },
  // HANDLE CreateFileW(LPCWSTR, DWORD, DWORD, LPSECURITY_ATTRIBUTES, DWORD, DWORD, HANDLE)
  // (the file name is JS-owned UTF-16: `buffer`, pointer-sized like `pointer`)
  CreateFileW: {
    parameters: ["buffer", "u32", "u32", "pointer", "u32", "u32", "pointer"],
    result: "pointer",
  },
  // BOOL CancelIoEx(HANDLE, LPOVERLAPPED)
  CancelIoEx: { parameters: ["pointer", "pointer"], result: "i32" },
  // DWORD GetLastError(void)
  GetLastError: { parameters: [], result: "u32" },
};

function plain(def: Def): Def {
  const out: Def = { parameters: [...def.parameters], result: def.result };
  if (def.name !== undefined) out.name = def.name;
  if (def.optional !== undefined) out.optional = def.optional;
  if (def.nonblocking !== undefined) out.nonblocking = def.nonblocking;
  return out;
}

Deno.test("kernelbase: the table has exactly the 16 I/O ring exports plus the known helpers", () => {
  assert.equal(Object.keys(IORING_EXPORTS).length, 16);
  assert.deepEqual(
    Object.keys(kernelbaseSymbols).sort(),
    [...Object.keys(IORING_EXPORTS), ...Object.keys(KERNEL_OTHER)].sort(),
  );
});

Deno.test("kernelbase: every I/O ring export matches §1.2 and is optional", () => {
  const table = kernelbaseSymbols as unknown as Record<string, Def>;
  for (const [name, sig] of Object.entries(IORING_EXPORTS)) {
    assert.deepEqual(plain(table[name]), { ...sig, optional: true }, name);
  }
  // The traps of pitfalls 1 and 13, spelled out.
  assert.equal(kernelbaseSymbols.IsIoRingOpSupported.result, "i32"); // BOOL
  assert.equal(kernelbaseSymbols.CreateIoRing.parameters[1], "u64"); // CREATE_FLAGS by value
  assert.equal(kernelbaseSymbols.CreateIoRing.parameters.length, 5); // not split in two u32
  assert.equal(kernelbaseSymbols.BuildIoRingReadFile.parameters[1], "pointer"); // HANDLE_REF
  assert.equal(kernelbaseSymbols.BuildIoRingReadFile.parameters[2], "pointer"); // BUFFER_REF
  assert.equal(kernelbaseSymbols.BuildIoRingReadFile.parameters[4], "u64"); // UINT64 fileOffset
  assert.equal(kernelbaseSymbols.BuildIoRingReadFile.parameters[5], "usize"); // UINT_PTR userData
});

Deno.test("kernelbase: no struct-typed parameter anywhere (keeps every symbol on the fast path)", () => {
  for (const [name, def] of Object.entries(kernelbaseSymbols as unknown as Record<string, Def>)) {
    for (const p of def.parameters) {
      assert.equal(typeof p, "string", `${name}: ${JSON.stringify(p)}`);
    }
    assert.equal(typeof def.result, "string", name);
  }
});

Deno.test("kernelbase: memory, event, wait and file symbols match their C signatures, not optional", () => {
  const table = kernelbaseSymbols as unknown as Record<string, Def>;
  for (const [name, sig] of Object.entries(KERNEL_OTHER)) {
    assert.deepEqual(plain(table[name]), sig, name);
  }
});

// ---------------------------------------------------------------------------
// ws2_32.dll (§2.6). SOCKET is UINT_PTR → usize; int → i32; DWORD/GROUP → u32; WORD → u16.

const WS2_SIGNATURES: Record<string, Def> = {
  // int WSAStartup(WORD, LPWSADATA)
  WSAStartup: { parameters: ["u16", "buffer"], result: "i32" },
  // int WSACleanup(void)
  WSACleanup: { parameters: [], result: "i32" },
  // SOCKET WSASocketW(int, int, int, LPWSAPROTOCOL_INFOW, GROUP, DWORD)
  WSASocketW: { parameters: ["i32", "i32", "i32", "pointer", "u32", "u32"], result: "usize" },
  // int bind(SOCKET, const struct sockaddr*, int)
  bind: { parameters: ["usize", "pointer", "i32"], result: "i32" },
  // int connect(SOCKET, const struct sockaddr*, int) (winsock2.h)
  connect: { parameters: ["usize", "pointer", "i32"], result: "i32" },
  // int getsockname(SOCKET, struct sockaddr*, int*)
  getsockname: { parameters: ["usize", "pointer", "pointer"], result: "i32" },
  // int setsockopt(SOCKET, int, int, const char*, int)
  setsockopt: { parameters: ["usize", "i32", "i32", "pointer", "i32"], result: "i32" },
  // int WSAIoctl(SOCKET, DWORD, LPVOID, DWORD, LPVOID, DWORD, LPDWORD, LPWSAOVERLAPPED, LPWSAOVERLAPPED_COMPLETION_ROUTINE)
  WSAIoctl: {
    parameters: [
      "usize",
      "u32",
      "pointer",
      "u32",
      "pointer",
      "u32",
      "pointer",
      "pointer",
      "pointer",
    ],
    result: "i32",
  },
  // int closesocket(SOCKET)
  closesocket: { parameters: ["usize"], result: "i32" },
  // int WSAGetLastError(void)
  WSAGetLastError: { parameters: [], result: "i32" },
  // int sendto(SOCKET, const char*, int, int, const struct sockaddr*, int)
  sendto: { parameters: ["usize", "pointer", "i32", "i32", "pointer", "i32"], result: "i32" },
  // int recvfrom(SOCKET, char*, int, int, struct sockaddr*, int*)
  recvfrom: { parameters: ["usize", "pointer", "i32", "i32", "pointer", "pointer"], result: "i32" },
};

Deno.test("ws2_32: the table has exactly the known symbols with the C signatures", () => {
  const table = ws2Symbols as unknown as Record<string, Def>;
  assert.deepEqual(Object.keys(table).sort(), Object.keys(WS2_SIGNATURES).sort());
  for (const [name, sig] of Object.entries(WS2_SIGNATURES)) {
    assert.deepEqual(plain(table[name]), sig, name);
  }
});

Deno.test("abi: WSA_CMSG is what mswsock.h's macros give on x64 (alignment 8, data at 16)", () => {
  // WSA_CMSGHDR_ALIGN / WSA_CMSGDATA_ALIGN round to 8 on x64 (TYPE_ALIGNMENT(WSACMSGHDR),
  // MAX_NATURAL_ALIGNMENT); WSA_CMSG_DATA = cmsg + WSA_CMSGDATA_ALIGN(16) = +16;
  // RIO_CMSG_BASE_SIZE = WSA_CMSGHDR_ALIGN(sizeof(RIO_CMSG_BUFFER) = 4) = 8.
  assert.deepEqual({ ...abi.WSA_CMSG }, {
    HDR_ALIGN: 8,
    DATA_ALIGN: 8,
    DATA_OFFSET: 16,
    RIO_BASE_SIZE: 8,
  });
  // WSA_CMSG_SPACE(n) = WSA_CMSGDATA_ALIGN(16 + WSA_CMSGHDR_ALIGN(n)); WSA_CMSG_LEN(n) = 16 + n.
  const space: [number, number][] = [[0, 16], [1, 24], [4, 24], [8, 24], [9, 32], [20, 40]];
  for (const [n, want] of space) assert.equal(abi.wsaCmsgSpace(n), want, `WSA_CMSG_SPACE(${n})`);
  assert.equal(abi.wsaCmsgLen(4), 20);
  assert.equal(abi.wsaCmsgLen(20), 36);
  // regio's own USO limits (no Windows limit is documented): 64 segments, the UDP maxima.
  assert.deepEqual({ ...abi.USO_LIMITS }, {
    MAX_SEGMENTS: 64,
    MAX_PAYLOAD_V4: 65507,
    MAX_PAYLOAD_V6: 65527,
  });
});
