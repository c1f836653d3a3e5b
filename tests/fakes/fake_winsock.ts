/**
 * The ws2_32.dll and RIO table fake: a TypeScript stand-in for the Winsock
 * symbols and the 13 RIO functions that follows the documented semantics
 * (shared/reference/windows-api.md §2, §3.2, and §5 where it corrects them)
 * and decodes every struct it is
 * handed at offsets written literally here, never through ffi/windows/abi.ts.
 *
 * Sockets talk over a simulated loopback network: a send really copies bytes
 * into a posted receive's registered memory and writes a SOCKADDR_INET.
 * Timing is the test's: with `hold = true`, committed requests wait for
 * `run()`. Everything the documents call undefined or a serious error is
 * recorded in `violations`, which tests assert is empty.
 */

import type { Ws2 } from "../../ffi/windows/ws2_32.ts";
import type { RioFunctions } from "../../ffi/windows/rio_table.ts";
import { addr, type FakeBase, ptr, viewAt } from "./fake_base.ts";
import type { HandleHooks } from "./fake_kernel.ts";
import {
  readSendControl,
  receiveControlSize,
  type ReceiveMetadata,
  writeReceiveControl,
} from "./fake_rio_control.ts";

// Documented values, copied from the reference (winerror.h, mswsockdef.h, winsock2.h).
const WSA_OPERATION_ABORTED = 995;
const WSAEACCES = 10013;
const WSAEFAULT = 10014;
const WSAEINVAL = 10022;
const WSAEALREADY = 10037;
const WSAENOTSOCK = 10038;
const WSAEMSGSIZE = 10040;
const WSAEAFNOSUPPORT = 10047;
const WSAEADDRINUSE = 10048;
const WSAEADDRNOTAVAIL = 10049;
const WSAENOBUFS = 10055;
const WSAECONNRESET = 10054;
const ERROR_MORE_DATA = 234;
const ERROR_PORT_UNREACHABLE = 1234;
const WSANOTINITIALISED = 10093;
const SOCKET_ERROR = -1;
const INVALID_SOCKET = 0xffff_ffff_ffff_ffffn;
const RIO_INVALID_BUFFERID = 0xffff_ffffn; // zero-extended, not -1
const RIO_CORRUPT_CQ = 0xffff_ffff;
const RIO_MAX_CQ_SIZE = 0x800_0000;
const RIO_EVENT_COMPLETION = 1;
const RIO_MSG_DONT_NOTIFY = 0x1;
const RIO_MSG_DEFER = 0x2;
const RIO_MSG_COMMIT_ONLY = 0x8;
const WSA_FLAG_REGISTERED_IO = 0x100;
const AF_INET = 2;
const AF_INET6 = 23;
const SOCK_DGRAM = 2;
const IPPROTO_UDP = 17;
const SOL_SOCKET = 0xffff;
const IPPROTO_IPV6 = 41;
const IPV6_V6ONLY = 27; // Windows' value (Linux: 26)
const WSAENETUNREACH = 10051;
const SO_SNDBUF = 0x1001;
const SO_RCVBUF = 0x1002;
/** GRO's and regio's limit; the fake coalesces no more segments into one receive. */
const MAX_COALESCED_SEGMENTS = 64;
// Not in the reference: winerror.h (mingw-w64), the Winsock codes the fake refuses with.
const WSAENOPROTOOPT = 10042;
const WSAESOCKTNOSUPPORT = 10044;
const WSAVERNOTSUPPORTED = 10092;
// Not in the reference either: ws2def.h / ws2ipdef.h (mingw-w64; windows-sys for the last
// two, which mingw-w64 lacks), the metadata and URO options.
const IPPROTO_IP = 0;
const IP_PKTINFO = 19; // IPV6_PKTINFO at IPPROTO_IPV6 too
const IP_RECVECN = 50; // IPV6_RECVECN too
const UDP_RECV_MAX_COALESCED_SIZE = 3;
// Not in the reference: winsock2.h / ws2ipdef.h (mingw-w64), the Windows numbers.
const SO_BROADCAST = 0x20;
const IP_MULTICAST_IF = 9; // also IPV6_MULTICAST_IF
const IP_MULTICAST_TTL = 10; // also IPV6_MULTICAST_HOPS
const IP_MULTICAST_LOOP = 11; // also IPV6_MULTICAST_LOOP
const IP_ADD_MEMBERSHIP = 12; // also IPV6_ADD_MEMBERSHIP
const IP_DROP_MEMBERSHIP = 13; // also IPV6_DROP_MEMBERSHIP
const IP_ADD_SOURCE_MEMBERSHIP = 15;
const IP_DROP_SOURCE_MEMBERSHIP = 16;
const MCAST_JOIN_SOURCE_GROUP = 45; // ws2ipdef.h; GROUP_SOURCE_REQ, either family
const MCAST_LEAVE_SOURCE_GROUP = 46;
const SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER = 0xc800_0024;
const WSAID_MULTIPLE_RIO = [
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
const SOCKADDR_INET_SIZE = 28;
const RIO_TABLE_SIZE = 112;

// RIOReceive / RIOSend: (RQ, pData, DataBufferCount, Flags, RequestContext) -> BOOL.
const PLAIN = { parameters: ["pointer", "pointer", "u32", "u32", "usize"], result: "i32" } as const;
// RIOReceiveEx / RIOSendEx: (RQ, pData, DataBufferCount, pLocalAddress, pRemoteAddress,
// pControlContext, pFlags, Flags, RequestContext) -> int / BOOL.
const EX = {
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
} as const;

/**
 * RIO_EXTENSION_FUNCTION_TABLE (mswsock.h), in table order: entry i is at
 * offset 8 + 8 * i. The signatures are copied here from the header, not from
 * ffi/windows/rio_table.ts, so the fake's callbacks and the project's
 * bindings are two independent readings of it. RIO_RQ / RIO_CQ / PRIO_BUF /
 * PRIO_NOTIFICATION_COMPLETION / PRIORESULT / PCHAR are pointers; SOCKET,
 * RIO_BUFFERID and the PVOID contexts travel as usize (same x64 register).
 */
const RIO_TABLE = {
  RIOReceive: PLAIN,
  RIOReceiveEx: EX,
  RIOSend: PLAIN,
  RIOSendEx: EX,
  RIOCloseCompletionQueue: { parameters: ["pointer"], result: "void" },
  RIOCreateCompletionQueue: { parameters: ["u32", "pointer"], result: "pointer" },
  RIOCreateRequestQueue: {
    parameters: ["usize", "u32", "u32", "u32", "u32", "pointer", "pointer", "usize"],
    result: "pointer",
  },
  RIODequeueCompletion: { parameters: ["pointer", "pointer", "u32"], result: "u32" },
  RIODeregisterBuffer: { parameters: ["usize"], result: "void" },
  RIONotify: { parameters: ["pointer"], result: "i32" },
  RIORegisterBuffer: { parameters: ["pointer", "u32"], result: "usize" },
  RIOResizeCompletionQueue: { parameters: ["pointer", "u32"], result: "i32" },
  RIOResizeRequestQueue: { parameters: ["pointer", "u32", "u32"], result: "i32" },
} as const satisfies Record<string, Deno.UnsafeCallbackDefinition>;
type RioName = keyof typeof RIO_TABLE;
const RIO_TABLE_ORDER = Object.keys(RIO_TABLE) as RioName[];

/** What a RIO function returns when the fake refuses the call (a violation, or a fake bug). */
const REFUSED: Record<RioName, unknown> = {
  RIOReceive: 0,
  RIOReceiveEx: 0,
  RIOSend: 0,
  RIOSendEx: 0,
  RIOCloseCompletionQueue: undefined,
  RIOCreateCompletionQueue: null,
  RIOCreateRequestQueue: null,
  RIODequeueCompletion: 0xffff_ffff, // RIO_CORRUPT_CQ
  RIODeregisterBuffer: undefined,
  RIONotify: 10022, // WSAEINVAL, returned directly
  RIORegisterBuffer: 0xffff_ffffn, // RIO_INVALID_BUFFERID
  RIOResizeCompletionQueue: 0,
  RIOResizeRequestQueue: 0,
};

/** One load of the RIO provider (mswsock.dll): from the first WSAStartup to the WSACleanup that balances it. */
interface Provider {
  /** 1 for the first load in this fake, 2 for the next… */
  readonly generation: number;
  /** The table's function pointers, made at the first WSAIoctl of this load. */
  callbacks: Deno.UnsafeCallback[] | null;
}

/** Options for the Winsock fake. */
export interface FakeWinsockOptions {
  /** Make the RIO WSAIoctl fail with this Winsock code (msquic#4793). */
  rioIoctlError?: number;
  /** Make RIOCreateCompletionQueue fail with this code (pitfall 22: seen as WSAEFAULT). */
  createCqError?: number;
  /**
   * UNCONFIRMED which requests RIO_MSG_COMMIT_ONLY commits: only the
   * direction of the call it is passed to ("direction", the default), or
   * every deferred request of the queue ("queue").
   */
  commitScope?: "direction" | "queue";
  /**
   * UNCONFIRMED whether deferred, never-committed requests complete when the
   * socket is closed: "abort" (default) completes them with
   * WSA_OPERATION_ABORTED, "lost" never completes them.
   */
  deferredOnClose?: "abort" | "lost";
  /** UNCONFIRMED error for exceeding an RQ's outstanding limit (default WSAENOBUFS). */
  rqLimitError?: number;
  /** Make setsockopt (of a known option, with valid arguments) fail with this code. */
  setsockoptError?: number;
  /**
   * What WSAGetLastError reports (§5.2: from Deno, the last error is best
   * effort): "kept" (default) the code the failed call set, "lost" 0,
   * "unrelated" a code no call set (WSAEWOULDBLOCK).
   */
  lastError?: "kept" | "lost" | "unrelated";
  /**
   * UNCONFIRMED which code space RIORESULT.Status uses (§5.3): "winsock"
   * (default: WSAEMSGSIZE for truncation, WSAECONNRESET for ICMP) or "win32"
   * (ERROR_MORE_DATA, ERROR_PORT_UNREACHABLE), as MsQuic's shared handler
   * expected.
   */
  statusSpace?: "winsock" | "win32";
  /**
   * Status of the requests closesocket completes (default
   * WSA_OPERATION_ABORTED = ERROR_OPERATION_ABORTED, 995; MsQuic also met
   * WSAENOTSOCK at shutdown).
   */
  closeStatus?: number;
  /**
   * Model ICMP port-unreachable: a send to a port nobody is bound to makes
   * one of the sender's receives complete with the unreachable status
   * (default off: the datagram is dropped silently, as on Linux). Whether
   * RIO reports these at all is UNCONFIRMED (msquic#3323).
   */
  icmp?: boolean;
  /** The unreachable status `icmp` uses (default: the code space's, see `statusSpace`). */
  icmpStatus?: number;
  /**
   * URO (UDP_RECV_MAX_COALESCED_SIZE > 0 on the receiving socket): "info"
   * (default) coalesces datagrams waiting from one sender and says so with
   * UDP_COALESCED_INFO; "silent" coalesces without it (the machines
   * quinn#2092 describes); "absent" refuses the option (WSAENOPROTOOPT), as
   * a Windows without URO would.
   */
  uro?: "info" | "silent" | "absent";
  /** Refuse IP_RECVECN / IPV6_RECVECN (WSAENOPROTOOPT), as before Windows 11 or under Wine. */
  noRecvEcn?: boolean;
  /**
   * Complete every send with a UDP_SEND_MSG_SIZE cmsg with this status
   * instead of sending it (a device that cannot segment). Which status real
   * RIO reports then is UNCONFIRMED.
   */
  refuseSegmentation?: number;
}

/** What WSAGetLastError reports with `lastError: "unrelated"`. */
const UNRELATED_LAST_ERROR = 10035; // WSAEWOULDBLOCK
/** ws2_32 calls `failNext` can fail, and the sentinel each returns. */
const WS2_SENTINELS: Record<string, number | bigint> = {
  WSASocketW: INVALID_SOCKET,
  bind: SOCKET_ERROR,
  getsockname: SOCKET_ERROR,
  setsockopt: SOCKET_ERROR,
  WSAIoctl: SOCKET_ERROR,
  closesocket: SOCKET_ERROR,
  WSACleanup: SOCKET_ERROR,
};

/** The socket options a socket was given with setsockopt. */
export interface FakeSocketOptions {
  /** SO_RCVBUF as last set (bytes). */
  rcvbuf?: number;
  /** SO_SNDBUF as last set (bytes). */
  sndbuf?: number;
  /** IPPROTO_IPV6 IPV6_V6ONLY as last set (unset: Windows' default, on). */
  v6only?: number;
  /** Names of the options set after bind, in order (none expected). */
  afterBind: string[];
  /** SO_BROADCAST as last set. */
  broadcast?: boolean;
  /** IP(V6)_MULTICAST_TTL/HOPS, _LOOP and _IF as last set (DWORDs). */
  multicastTtl?: number;
  multicastLoop?: number;
  multicastIf?: number;
  /** Memberships now held (once one was joined): "group" or "group from source", with "@interface". */
  memberships?: string[];
}

/** The metadata and URO options a socket was given (kept apart from {@link FakeSocketOptions}). */
export interface FakeSocketMetadata {
  /** IP_PKTINFO / IPV6_PKTINFO on. */
  pktinfo: boolean;
  /** IP_RECVECN / IPV6_RECVECN on. */
  recvEcn: boolean;
  /** UDP_RECV_MAX_COALESCED_SIZE (0: URO off). */
  maxCoalesced: number;
  /** Names of these options set after bind, in order. */
  afterBind: string[];
}

interface Registration {
  id: bigint;
  address: bigint;
  length: number;
  live: boolean;
  /** Requests referencing it whose completion has not been dequeued. */
  refs: number;
  /** Those requests, to check the per-RIO_BUF sharing rule. */
  pending: Set<Request>;
  freedReported: boolean;
}

interface Slice {
  reg: Registration;
  offset: number;
  length: number;
}

interface Request {
  kind: "receive" | "send";
  rq: RequestQueue;
  data: Slice | null;
  remote: Slice | null;
  control: Slice | null;
  flags: number;
  context: bigint;
  regs: Registration[];
}

interface Completion {
  status: number;
  bytes: number;
  request: Request;
}

interface CompletionQueue {
  handle: bigint;
  size: number;
  event: bigint | null;
  notifyReset: boolean;
  queue: Completion[];
  closed: boolean;
  armed: boolean;
  charged: number;
}

interface RequestQueue {
  handle: bigint;
  socket: Sock;
  maxReceive: number;
  maxSend: number;
  receiveCq: CompletionQueue;
  sendCq: CompletionQueue;
  context: bigint;
  outstandingReceive: number;
  outstandingSend: number;
  deferred: Request[];
}

/** A decoded SOCKADDR_INET: family, address bytes (network order), port. */
export interface Endpoint {
  af: number;
  address: Uint8Array;
  port: number;
}

interface Datagram {
  bytes: Uint8Array;
  from: Endpoint;
  /** The ECN codepoint it was sent with. */
  ecn: number;
  /** The address it was sent to, as the receiver's family spells it. */
  to: Uint8Array;
}

interface Sock {
  handle: bigint;
  af: number;
  flags: number;
  bound: Endpoint | null;
  closed: boolean;
  rq: RequestQueue | null;
  /** Committed receives waiting for a datagram. */
  receives: Request[];
  /** Committed sends waiting to be transmitted (see `hold`). */
  sends: Request[];
  inbox: Datagram[];
  options: FakeSocketOptions;
  metadata: FakeSocketMetadata;
  /** ICMP errors waiting for a receive to report them (`icmp`). */
  unreachable: number;
  /** Set by connect: the only sender it hears, the destination of address-less sends. */
  peer: Endpoint | null;
}

function isWildcard(a: Uint8Array): boolean {
  return a.every((b) => b === 0);
}

function isLoopback(af: number, a: Uint8Array): boolean {
  if (af === AF_INET) return a[0] === 127;
  return a.subarray(0, 15).every((b) => b === 0) && a[15] === 1;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  return a.af === b.af && a.port === b.port && sameBytes(a.address, b.address);
}

function isMulticast(af: number, a: Uint8Array): boolean {
  return af === AF_INET ? (a[0] & 0xf0) === 0xe0 : a[0] === 0xff;
}

/** 255.255.255.255, or the fake host's one subnet broadcast, 127.255.255.255. */
function isBroadcast(af: number, a: Uint8Array): boolean {
  return af === AF_INET && a[1] === 255 && a[2] === 255 && a[3] === 255 &&
    (a[0] === 255 || a[0] === 127);
}

function hexBytes(a: Uint8Array): string {
  return [...a].map((x) => x.toString(16).padStart(2, "0")).join("");
}

/** Whether membership key `m` accepts a datagram to `group` from `source`. */
function memberOf(m: string, group: Uint8Array, source: Uint8Array): boolean {
  const g = m.slice(0, m.indexOf(" ") >= 0 ? m.indexOf(" ") : m.indexOf("@"));
  if (g !== hexBytes(group)) return false;
  const from = / from ([0-9a-f]+)@/.exec(m);
  return !from || from[1] === hexBytes(source);
}

/** The IPv4 address inside an IPv4-mapped IPv6 address (::ffff:a.b.c.d), or null. */
function unmapped(a: Uint8Array): Uint8Array | null {
  const isMapped = a.length === 16 && a.subarray(0, 10).every((b) => b === 0) &&
    a[10] === 0xff && a[11] === 0xff;
  return isMapped ? a.slice(12) : null;
}

/** An IPv4 address as IPv4-mapped IPv6 (::ffff:a.b.c.d). */
function mapped(a: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  out[10] = out[11] = 0xff;
  out.set(a, 12);
  return out;
}

/** A dual-stack socket: IPv6 with IPV6_V6ONLY off (Windows' default is on). */
function dualStack(s: Sock): boolean {
  return s.af === AF_INET6 && s.options.v6only === 0;
}

/** The fake OS side of Winsock and RIO. */
export class FakeWinsock {
  /** CloseHandle / CancelIoEx hooks (sockets are not closed through CloseHandle). */
  readonly hooks: HandleHooks = {};
  /** Everything undefined or "a serious error" the wrappers did; tests assert it is empty. */
  readonly #violations: string[] = [];
  /** Hold committed sends and undelivered datagrams until `run()`. */
  hold = false;
  /** Make the next RIODequeueCompletion return RIO_CORRUPT_CQ (one-shot) … */
  corruptNextDequeue = false;
  /** … or every one while true. */
  corrupt = false;
  /** Called for every datagram sent, delivered or not: the decoded destination and the payload. */
  onTransmit: ((to: Readonly<Endpoint>, payload: Uint8Array) => void) | undefined;
  /** WSAStartup reference count. */
  startups = 0;
  /** Successful RIO table ioctls (WSAIoctl with WSAID_MULTIPLE_RIO). */
  tableFetches = 0;
  /** Every RIODeregisterBuffer argument, in order (to assert "exactly once"). */
  readonly deregistered: bigint[] = [];

  readonly #sockets = new Map<bigint, Sock>();
  readonly #regs = new Map<bigint, Registration>();
  readonly #cqs = new Map<bigint, CompletionQueue>();
  readonly #rqs = new Map<bigint, RequestQueue>();
  #nextRegId = 0x7ff0_0000_1000n; // above 2^32: truncating an ID to 32 bits shows
  #nextPort = 49152;
  /** The RIO provider while loaded (WSAStartup count > 0), else null. */
  #provider: Provider | null = null;
  #loads = 0;
  readonly #forced = new Map<string, number>();
  /** Every callback handed out, closed when the fake is disposed. */
  readonly #callbacks: Deno.UnsafeCallback[] = [];

  constructor(readonly base: FakeBase, readonly options: FakeWinsockOptions = {}) {}

  /**
   * Closes every table callback (test teardown). Whatever still holds a
   * table must not call it after this: the test has already failed its
   * leak checks by then.
   */
  dispose(): void {
    for (const cb of this.#callbacks) cb.close();
    this.#callbacks.length = 0;
    this.#provider = null;
  }

  /** Recorded violations, plus any registered memory freed since the last call. */
  get violations(): readonly string[] {
    this.#audit();
    return this.#violations;
  }

  #violation(what: string): void {
    this.#violations.push(what);
  }

  /** Registered memory must not be freed before RIODeregisterBuffer. */
  #audit(): void {
    for (const r of this.#regs.values()) {
      if (r.live && !r.freedReported && !this.base.isMapped(r.address, r.length)) {
        r.freedReported = true;
        this.#violation(`memory of buffer ${hex(r.id)} was freed while still registered`);
      }
    }
  }

  #log(name: string): void {
    this.base.log.record(name);
    this.#audit();
  }

  #fail(code: number): number {
    this.base.lastError = code;
    return SOCKET_ERROR;
  }

  /** The address of every successful bind, in order (IPv4 dotted, IPv6 as hex). */
  readonly binds: string[] = [];

  /** Live (open) sockets. */
  get openSockets(): number {
    return [...this.#sockets.values()].filter((s) => !s.closed).length;
  }

  /** Live (not deregistered) buffer registrations. */
  get liveRegistrations(): number {
    return [...this.#regs.values()].filter((r) => r.live).length;
  }

  /** Open completion queues. */
  get openCompletionQueues(): number {
    return [...this.#cqs.values()].filter((c) => !c.closed).length;
  }

  /** Completions waiting in a CQ (by the handle the wrapper holds). */
  queued(cq: Deno.PointerValue): number {
    return this.#cqs.get(addr(cq))?.queue.length ?? 0;
  }

  /** Is RIONotify armed on this CQ? */
  armed(cq: Deno.PointerValue): boolean {
    return this.#cqs.get(addr(cq))?.armed ?? false;
  }

  /** The WSASocketW flags of every socket created, in order. */
  socketFlags(): number[] {
    return [...this.#sockets.values()].map((s) => s.flags);
  }

  /** What setsockopt set on every socket created, in order. */
  socketOptions(): FakeSocketOptions[] {
    return [...this.#sockets.values()].map((s) => s.options);
  }

  /** The metadata / URO options of every socket created, in order. */
  socketMetadata(): FakeSocketMetadata[] {
    return [...this.#sockets.values()].map((s) => s.metadata);
  }

  /** Kernel receives that completed with more than one datagram in them. */
  coalescedReceives = 0;
  /** Sends that carried UDP_SEND_MSG_SIZE and were segmented (or refused). */
  segmentedSends = 0;

  // ---------------------------------------------------------------- ws2_32

  ws2(): Ws2 {
    // deno-lint-ignore no-this-alias
    const self = this;
    const needStartup = (): boolean => {
      if (self.startups > 0) return true;
      self.base.lastError = WSANOTINITIALISED;
      return false;
    };
    const sock = (s: number | bigint): Sock | undefined => {
      const k = self.#sockets.get(BigInt(s));
      if (!k || k.closed) {
        self.base.lastError = WSAENOTSOCK;
        return undefined;
      }
      return k;
    };
    const symbols: Ws2 = {
      WSAStartup: (version, data): number => {
        self.#log("WSAStartup");
        if (!(data instanceof Uint8Array) || data.byteLength < 408) {
          throw new Error("fake: WSAStartup needs a 408-byte x64 WSADATA");
        }
        // MAKEWORD(2,2): low byte major. Below 1.1 is not supported.
        const major = version & 0xff, minor = version >> 8;
        if (major < 1 || (major === 1 && minor < 1)) return WSAVERNOTSUPPORTED;
        const v = new DataView(data.buffer, data.byteOffset, 408);
        const negotiated = major >= 2 ? 0x0202 : version;
        v.setUint16(0, negotiated, true); // wVersion
        v.setUint16(2, 0x0202, true); // wHighVersion
        v.setUint16(4, 0, true); // iMaxSockets (ignored since 2.0)
        v.setUint16(6, 0, true); // iMaxUdpDg
        v.setBigUint64(8, 0n, true); // lpVendorInfo
        writeCString(data, 16, "WinSock 2.0 (regio fake)", 257); // szDescription
        writeCString(data, 273, "Running", 129); // szSystemStatus
        if (self.startups++ === 0) self.#provider = { generation: ++self.#loads, callbacks: null };
        return 0;
      },
      WSACleanup: (): number => {
        self.#log("WSACleanup");
        if (!needStartup()) return SOCKET_ERROR;
        self.startups--;
        if (self.startups === 0) {
          // The count is zero: the provider "must prepare itself to be unloaded" (WSPCleanup).
          self.#provider = null;
          if (self.openSockets > 0) {
            self.#violation(`WSACleanup with ${self.openSockets} socket(s) open`);
          }
          if (self.liveRegistrations > 0) {
            self.#violation(`WSACleanup with ${self.liveRegistrations} RIO buffer(s) registered`);
          }
          if (self.openCompletionQueues > 0) {
            self.#violation(`WSACleanup with ${self.openCompletionQueues} RIO CQ(s) open`);
          }
        }
        return 0;
      },
      WSASocketW: (af, type, protocol, info, group, flags): bigint => {
        self.#log("WSASocketW");
        if (!needStartup()) return INVALID_SOCKET;
        if (af !== AF_INET && af !== AF_INET6) {
          self.base.lastError = WSAEAFNOSUPPORT;
          return INVALID_SOCKET;
        }
        if (type !== SOCK_DGRAM || (protocol !== IPPROTO_UDP && protocol !== 0)) {
          self.base.lastError = WSAESOCKTNOSUPPORT; // the fake only does UDP
          return INVALID_SOCKET;
        }
        if (info !== null || group !== 0) {
          self.base.lastError = WSAEINVAL;
          return INVALID_SOCKET;
        }
        const handle = self.base.newHandle();
        self.#sockets.set(handle, {
          handle,
          af,
          flags,
          bound: null,
          closed: false,
          rq: null,
          receives: [],
          sends: [],
          inbox: [],
          options: { afterBind: [] },
          metadata: { pktinfo: false, recvEcn: false, maxCoalesced: 0, afterBind: [] },
          unreachable: 0,
          peer: null,
        });
        return handle;
      },
      bind: (s, name, namelen): number => {
        self.#log("bind");
        if (!needStartup()) return SOCKET_ERROR;
        const k = sock(s);
        if (!k) return SOCKET_ERROR;
        if (k.bound) return self.#fail(WSAEINVAL);
        const need = k.af === AF_INET ? 16 : 28;
        if (name === null || namelen < need) return self.#fail(WSAEFAULT);
        const ep = decodeSockaddr(viewAt(name, need), 0);
        if (!ep || ep.af !== k.af) return self.#fail(WSAEAFNOSUPPORT);
        if (!isWildcard(ep.address) && !isLoopback(ep.af, ep.address)) {
          return self.#fail(WSAEADDRNOTAVAIL); // the fake host has only loopback
        }
        if (ep.port === 0) ep.port = self.#ephemeralPort(k);
        else if (self.#portInUse(ep, k)) return self.#fail(WSAEADDRINUSE);
        k.bound = ep;
        self.binds.push(ep.af === AF_INET ? ep.address.join(".") : hexBytes(ep.address));
        return 0;
      },
      getsockname: (s, name, namelen): number => {
        self.#log("getsockname");
        if (!needStartup()) return SOCKET_ERROR;
        const k = sock(s);
        if (!k) return SOCKET_ERROR;
        if (!k.bound) return self.#fail(WSAEINVAL);
        if (name === null || namelen === null) return self.#fail(WSAEFAULT);
        const lenView = viewAt(namelen, 4);
        const need = k.af === AF_INET ? 16 : 28;
        if (lenView.getInt32(0, true) < need) return self.#fail(WSAEFAULT);
        encodeSockaddr(viewAt(name, need), 0, k.bound);
        lenView.setInt32(0, need, true);
        return 0;
      },
      setsockopt: (s, level, optname, optval, optlen): number => {
        self.#log("setsockopt");
        if (!needStartup()) return SOCKET_ERROR;
        const k = sock(s);
        if (!k) return SOCKET_ERROR;
        const meta = self.#metadataOption(k, level, optname, optval, optlen);
        if (meta !== undefined) return meta;
        if (
          level === IPPROTO_IP || (level === IPPROTO_IPV6 && optname !== IPV6_V6ONLY) ||
          (level === SOL_SOCKET && optname === SO_BROADCAST)
        ) {
          return self.#ipOption(k, level, optname, optval, optlen);
        }
        // The fake knows SOL_SOCKET SO_RCVBUF / SO_SNDBUF and IPPROTO_IPV6 IPV6_V6ONLY, each an int.
        const name = level === SOL_SOCKET
          ? (optname === SO_RCVBUF ? "rcvbuf" : optname === SO_SNDBUF ? "sndbuf" : undefined)
          : level === IPPROTO_IPV6 && optname === IPV6_V6ONLY
          ? "v6only"
          : undefined;
        if (name === undefined) return self.#fail(WSAENOPROTOOPT);
        if (name === "v6only" && k.af !== AF_INET6) return self.#fail(WSAEINVAL);
        // "optval is not in a valid part of the address space, or optlen is too small."
        if (optval === null || optlen < 4) return self.#fail(WSAEFAULT);
        if (self.options.setsockoptError !== undefined) {
          return self.#fail(self.options.setsockoptError);
        }
        k.options[name] = viewAt(optval, 4).getInt32(0, true);
        if (k.bound) k.options.afterBind.push(name);
        return 0;
      },
      WSAIoctl: (s, code, inBuf, inLen, outBuf, outLen, returned, overlapped, routine): number => {
        self.#log("WSAIoctl");
        if (!needStartup()) return SOCKET_ERROR;
        if (!sock(s)) return SOCKET_ERROR;
        if (overlapped !== null || routine !== null) return self.#fail(WSAEINVAL);
        // 0xC8000006 (SIO_GET_EXTENSION_FUNCTION_POINTER) is the classic wrong code.
        if (code !== SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER) return self.#fail(WSAEINVAL);
        if (inBuf === null || inLen !== 16) return self.#fail(WSAEINVAL);
        const guid = new Uint8Array(viewAt(inBuf, 16).buffer);
        if (!WSAID_MULTIPLE_RIO.every((b, i) => guid[i] === b)) return self.#fail(WSAEINVAL);
        if (outBuf === null || outLen < RIO_TABLE_SIZE || returned === null) {
          return self.#fail(WSAEFAULT);
        }
        if (self.options.rioIoctlError !== undefined) return self.#fail(self.options.rioIoctlError);
        const out = viewAt(outBuf, RIO_TABLE_SIZE);
        out.setUint32(0, RIO_TABLE_SIZE, true); // cbSize
        out.setUint32(4, 0, true); // padding
        self.#tableCallbacks().forEach((cb, i) =>
          out.setBigUint64(8 + 8 * i, Deno.UnsafePointer.value(cb.pointer), true)
        );
        viewAt(returned, 4).setUint32(0, RIO_TABLE_SIZE, true);
        self.tableFetches++;
        return 0;
      },
      connect: (s, name, namelen): number => {
        self.#log("connect");
        if (!needStartup()) return SOCKET_ERROR;
        const k = sock(s);
        if (!k) return SOCKET_ERROR;
        const need = k.af === AF_INET ? 16 : 28;
        if (name === null || namelen < need) return self.#fail(WSAEFAULT);
        const ep = decodeSockaddr(viewAt(name, need), 0);
        if (!ep || ep.af !== k.af) return self.#fail(WSAEAFNOSUPPORT);
        if (!k.bound) return self.#fail(WSAEINVAL); // regio binds first; the fake insists
        k.peer = ep;
        return 0;
      },
      closesocket: (s): number => {
        self.#log("closesocket");
        if (!needStartup()) return SOCKET_ERROR;
        const k = sock(s);
        if (!k) return SOCKET_ERROR;
        self.#close(k);
        return 0;
      },
      WSAGetLastError: (): number => {
        const mode = self.options.lastError ?? "kept";
        return mode === "lost"
          ? 0
          : mode === "unrelated"
          ? UNRELATED_LAST_ERROR
          : self.base.lastError;
      },
      sendto: (): never => {
        throw new Error("fake: sendto is not faked; use RIO sockets on both ends");
      },
      recvfrom: (): never => {
        throw new Error("fake: recvfrom is not faked; use RIO sockets on both ends");
      },
    };
    const out: Record<string, unknown> = { ...symbols };
    for (const [name, sentinel] of Object.entries(WS2_SENTINELS)) {
      const real = (symbols as unknown as Record<string, (...a: unknown[]) => unknown>)[name];
      out[name] = (...args: unknown[]): unknown => {
        const code = self.#takeForced(name);
        if (code === undefined) return real(...args);
        self.#log(name);
        self.base.lastError = code;
        return sentinel;
      };
    }
    return out as unknown as Ws2;
  }

  /**
   * Makes the next call named `call` (a ws2_32 function, or a RIO function
   * that reports through WSAGetLastError) fail with `code` as its last error,
   * before it does anything. One-shot.
   */
  failNext(call: string, code: number): void {
    this.#forced.set(call, code);
  }

  #takeForced(call: string): number | undefined {
    const code = this.#forced.get(call);
    this.#forced.delete(call);
    return code;
  }

  /** IP_PKTINFO / IPV6_PKTINFO, IP_RECVECN / IPV6_RECVECN, UDP_RECV_MAX_COALESCED_SIZE (ints). */
  #metadataOption(
    k: Sock,
    level: number,
    name: number,
    optval: Deno.PointerValue,
    optlen: number,
  ): number | undefined {
    const ipLevel = k.af === AF_INET ? IPPROTO_IP : IPPROTO_IPV6;
    const which = level === ipLevel && name === IP_PKTINFO
      ? "pktinfo"
      : level === ipLevel && name === IP_RECVECN
      ? "recvEcn"
      : level === IPPROTO_UDP && name === UDP_RECV_MAX_COALESCED_SIZE
      ? "maxCoalesced"
      : undefined;
    if (which === undefined) return undefined;
    if (optval === null || optlen < 4) return this.#fail(WSAEFAULT);
    if (which === "recvEcn" && this.options.noRecvEcn) return this.#fail(WSAENOPROTOOPT);
    if (which === "maxCoalesced" && this.options.uro === "absent") {
      return this.#fail(WSAENOPROTOOPT);
    }
    const value = viewAt(optval, 4).getInt32(0, true);
    if (which === "maxCoalesced") k.metadata.maxCoalesced = value;
    else k.metadata[which] = value !== 0;
    if (k.bound) k.metadata.afterBind.push(which);
    return 0;
  }

  #ephemeralPort(k: Sock): number {
    for (;;) {
      const port = this.#nextPort++;
      const wildcard = new Uint8Array(k.af === AF_INET ? 4 : 16);
      if (!this.#portInUse({ af: k.af, address: wildcard, port }, k)) return port;
    }
  }

  /** Does binding `ep` on `k` clash with a bound socket (a dual-stack `::` holds IPv4's port too)? */
  #portInUse(ep: Endpoint, k: Sock): boolean {
    const dual = dualStack(k) && isWildcard(ep.address);
    for (const s of this.#sockets.values()) {
      const b = s.bound;
      if (s.closed || !b || b.port !== ep.port) continue;
      if (b.af !== ep.af) {
        if (dual || (dualStack(s) && isWildcard(b.address))) return true;
        continue;
      }
      if (isWildcard(b.address) || isWildcard(ep.address) || sameBytes(b.address, ep.address)) {
        return true;
      }
    }
    return false;
  }

  /** The open socket a datagram to `to` lands on: same family, or a dual-stack `::` for IPv4. */
  #receiver(to: Endpoint): Sock | undefined {
    const open = [...this.#sockets.values()].filter((s) =>
      !s.closed && s.bound && s.bound.port === to.port
    );
    const same = open.find((s) =>
      s.bound!.af === to.af &&
      (sameBytes(s.bound!.address, to.address) ||
        (isWildcard(s.bound!.address) && isLoopback(to.af, to.address)))
    );
    if (same || to.af !== AF_INET || !isLoopback(AF_INET, to.address)) return same;
    return open.find((s) => dualStack(s) && isWildcard(s.bound!.address));
  }

  /** closesocket: pending requests complete with WSA_OPERATION_ABORTED; the RQ goes. */
  #close(k: Sock): void {
    k.closed = true;
    k.inbox.length = 0;
    const rq = k.rq;
    if (!rq) return;
    const lost = this.options.deferredOnClose === "lost";
    if (lost && rq.deferred.length > 0) {
      this.#violation(
        `closesocket stranded ${rq.deferred.length} deferred request(s) that never complete`,
      );
    }
    const deferred = lost ? [] : rq.deferred;
    for (const r of [...deferred, ...k.receives, ...k.sends]) {
      this.#complete(r, this.options.closeStatus ?? WSA_OPERATION_ABORTED, 0);
    }
    rq.deferred.length = 0;
    k.receives.length = 0;
    k.sends.length = 0;
    // closesocket frees the RQ and its slots in the CQ.
    if (rq.receiveCq === rq.sendCq) rq.receiveCq.charged -= rq.maxReceive + rq.maxSend;
    else {
      rq.receiveCq.charged -= rq.maxReceive;
      rq.sendCq.charged -= rq.maxSend;
    }
    this.#rqs.delete(rq.handle);
  }

  // ------------------------------------------------------------------- RIO

  /**
   * The function pointers WSAIoctl writes into the table: real
   * `Deno.UnsafeCallback`s, one set per load of the provider, so the
   * project's own query and binding code (and its 13 signatures) run in the
   * tests. A call through a set whose provider was unloaded (the WSACleanup
   * that brought the count to zero came after the table was fetched) is the
   * Application Verifier stop E10A, recorded as a violation and refused.
   * Nothing thrown may leave a callback (Deno aborts), so a fake error is a
   * violation too.
   */
  #tableCallbacks(): Deno.UnsafeCallback[] {
    const provider = this.#provider!;
    if (provider.callbacks) return provider.callbacks;
    const impl = this.#rioFunctions() as unknown as Record<RioName, (...a: unknown[]) => unknown>;
    provider.callbacks = RIO_TABLE_ORDER.map((name) => {
      const cb = new Deno.UnsafeCallback(
        RIO_TABLE[name] as Deno.UnsafeCallbackDefinition,
        ((...args: unknown[]): unknown => {
          if (this.#provider !== provider) {
            this.#violation(
              `${name} called through the RIO table of Winsock session ${provider.generation} ` +
                "after the WSACleanup that unloaded its provider (Application Verifier stop E10A)",
            );
            return REFUSED[name];
          }
          const forced = name === "RIONotify" || name === "RIODequeueCompletion"
            ? undefined // they report directly, not through WSAGetLastError
            : this.#takeForced(name);
          if (forced !== undefined) {
            this.#log(name);
            this.base.lastError = forced;
            return REFUSED[name];
          }
          try {
            return impl[name](...args);
          } catch (e) {
            this.#violation(`fake: ${name} threw: ${(e as Error).message}`);
            return REFUSED[name];
          }
        }) as Deno.UnsafeCallbackFunction,
      );
      this.#callbacks.push(cb);
      return cb;
    });
    return provider.callbacks;
  }

  #decodeRioBuf(p: Deno.PointerValue): Slice | number {
    // RIO_BUF: 0 BufferId (8 bytes), 8 Offset (u32), 12 Length (u32).
    const v = viewAt(p, 16);
    const id = v.getBigUint64(0, true);
    const offset = v.getUint32(8, true);
    const length = v.getUint32(12, true);
    const reg = this.#regs.get(id);
    if (!reg || !reg.live) return WSAEFAULT; // "deregistered or freed before the op"
    if (!this.base.isMapped(reg.address, reg.length)) {
      this.#violation(`buffer ${hex(id)} used after its memory was freed`);
      return WSAEFAULT;
    }
    // A slice cannot extend beyond the registration (error code UNCONFIRMED).
    if (offset + length > reg.length) return WSAEINVAL;
    return { reg, offset, length };
  }

  #post(
    kind: "receive" | "send",
    rqPtr: Deno.PointerValue,
    pData: Deno.PointerValue,
    count: number,
    pLocal: Deno.PointerValue,
    pRemote: Deno.PointerValue,
    pControl: Deno.PointerValue,
    pFlags: Deno.PointerValue,
    flags: number,
    context: number | bigint,
  ): number {
    const fail = (code: number): number => {
      this.base.lastError = code; // FALSE, and no completion is queued
      return 0;
    };
    const rq = this.#rqs.get(addr(rqPtr));
    if (!rq || rq.socket.closed) return fail(WSAEINVAL);
    if (flags & ~(RIO_MSG_DONT_NOTIFY | RIO_MSG_DEFER | RIO_MSG_COMMIT_ONLY)) {
      return fail(WSAEINVAL);
    }
    if (flags & RIO_MSG_COMMIT_ONLY) {
      // Every other argument NULL/0 and no other flag.
      if (
        flags !== RIO_MSG_COMMIT_ONLY || pData !== null || count !== 0 || pLocal !== null ||
        pRemote !== null || pControl !== null || pFlags !== null || BigInt(context) !== 0n
      ) return fail(WSAEINVAL);
      this.#commit(rq, kind);
      return 1;
    }
    if ((pData === null) !== (count === 0) || count > 1) return fail(WSAEINVAL);
    if (kind === "send" && pLocal !== null) return fail(WSAEINVAL); // reserved, must be NULL
    if (!rq.socket.bound) return fail(WSAEINVAL); // UDP RIO needs a bound socket
    // NULL pRemoteAddress: only on a connected socket.
    if (kind === "send" && pRemote === null && !rq.socket.peer) return fail(WSAEINVAL);
    const data = pData === null ? null : this.#decodeRioBuf(pData);
    if (typeof data === "number") return fail(data);
    const remote = pRemote === null ? null : this.#decodeRioBuf(pRemote);
    if (typeof remote === "number") return fail(remote);
    if (remote && remote.length < SOCKADDR_INET_SIZE) return fail(WSAEINVAL);
    const control = pControl === null ? null : this.#decodeRioBuf(pControl);
    if (typeof control === "number") return fail(control);
    if (control) {
      // WSACMSGHDRs are read and written in place: the slice must be 8-aligned (WSA_CMSGHDR_ALIGN).
      if ((control.reg.address + BigInt(control.offset)) % 8n !== 0n) {
        this.#violation(`a ${kind} control slice at an address that is not 8-aligned`);
      }
      if ([data, remote].some((x) => x !== null && overlaps(x, control))) {
        this.#violation(`a ${kind} control slice overlaps its own data or address slice`);
      }
    }
    for (const p of [pLocal, pFlags]) {
      if (p !== null) {
        const s = this.#decodeRioBuf(p);
        if (typeof s === "number") return fail(s);
      }
    }
    if (
      kind === "receive" ? rq.outstandingReceive >= rq.maxReceive : rq.outstandingSend >= rq.maxSend
    ) {
      return fail(this.options.rqLimitError ?? WSAENOBUFS);
    }
    const regs = [
      ...new Set([data?.reg, remote?.reg, control?.reg].filter((r) => r !== undefined)),
    ];
    // Microsoft's sharing rule is per RIO_BUF, not per registration (reference §5.7): a
    // slice of a pending send must not be named again, and a pending receive's slice must
    // not be read (sent from) until it completes. Other parts of the registration are free.
    const mine = [data, remote, control].filter((x) => x !== null);
    for (const r of regs) {
      for (const other of r.pending) {
        if (kind !== "send" && other.kind !== "send") continue;
        const theirs = [other.data, other.remote, other.control].filter((x) => x !== null);
        if (mine.some((a) => theirs.some((b) => overlaps(a, b)))) {
          this.#violation(
            `a ${kind} on buffer ${hex(r.id)} names bytes of a ${other.kind} still in flight ` +
              "(RIOSendEx / RIOReceiveEx remarks: per RIO_BUF)",
          );
        }
      }
    }
    const request: Request = {
      kind,
      rq,
      data,
      remote,
      control,
      flags,
      context: BigInt(context),
      regs,
    };
    for (const r of regs) {
      r.refs++;
      r.pending.add(request);
    }
    if (kind === "receive") rq.outstandingReceive++;
    else rq.outstandingSend++;
    rq.deferred.push(request);
    if (!(flags & RIO_MSG_DEFER)) this.#commit(rq, kind);
    return 1;
  }

  #commit(rq: RequestQueue, kind: "receive" | "send"): void {
    const all = this.options.commitScope === "queue";
    const keep: Request[] = [];
    for (const r of rq.deferred) {
      if (!all && r.kind !== kind) keep.push(r);
      else if (r.kind === "receive") rq.socket.receives.push(r);
      else rq.socket.sends.push(r);
    }
    rq.deferred = keep;
    if (!this.hold) this.run();
  }

  /**
   * Transmits every committed send and delivers queued datagrams into posted
   * receives. Runs after each commit unless `hold` is set.
   */
  run(): void {
    for (const s of this.#sockets.values()) {
      while (s.sends.length > 0) this.#transmit(s, s.sends.shift()!);
    }
    for (const s of this.#sockets.values()) this.#deliver(s);
  }

  #read(slice: Slice): Uint8Array | null {
    const at = slice.reg.address + BigInt(slice.offset);
    if (!this.base.isMapped(at, slice.length)) {
      this.#violation(`read of freed memory (buffer ${hex(slice.reg.id)})`);
      return null;
    }
    if (slice.length === 0) return new Uint8Array(0);
    return new Uint8Array(viewAt(ptr(at), slice.length).buffer);
  }

  #transmit(from: Sock, r: Request): void {
    const payload = r.data ? this.#read(r.data) : new Uint8Array(0);
    const dest = r.remote ? this.#read(r.remote) : null;
    if (!payload || (r.remote && !dest)) return this.#complete(r, WSAEFAULT, 0);
    let to = dest
      ? decodeSockaddr(new DataView(dest.buffer, dest.byteOffset, dest.byteLength), 0)
      : from.peer;
    if (!to || to.af !== from.af) return this.#complete(r, WSAEAFNOSUPPORT, 0);
    let segment = 0, ecn = 0, chosen: Uint8Array | null = null;
    if (r.control) {
      const bytes = this.#read(r.control);
      if (!bytes) return this.#complete(r, WSAEFAULT, 0);
      const c = readSendControl(bytes);
      if (typeof c === "string") {
        this.#violation(`RIOSendEx control slice: ${c}`);
        return this.#complete(r, WSAEINVAL, 0);
      }
      ({ segment, ecn, source: chosen } = c);
      if (segment > 0) {
        this.segmentedSends++;
        if (this.options.refuseSegmentation !== undefined) {
          return this.#complete(r, this.options.refuseSegmentation, 0);
        }
      }
    }
    const self = from.bound!;
    if (chosen) {
      // The source a reply asks for must be one of this host's addresses the socket may use.
      const ok = chosen.length === (self.af === AF_INET ? 4 : 16) &&
        (isWildcard(self.address)
          ? isLoopback(self.af, chosen) ||
            (unmapped(chosen) !== null && unmapped(chosen)![0] === 127)
          : sameBytes(chosen, self.address));
      if (!ok) return this.#complete(r, WSAEINVAL, 0);
    }
    // USO: one RIO_BUF, cut into segment-size datagrams (the last shorter or equal).
    const pieces: Uint8Array[] = [];
    if (segment > 0 && payload.length > segment) {
      for (let at = 0; at < payload.length; at += segment) {
        pieces.push(payload.subarray(at, Math.min(payload.length, at + segment)));
      }
    } else pieces.push(payload);
    for (const piece of pieces) this.onTransmit?.(to, piece.slice());
    let source: Endpoint = {
      af: self.af,
      address: chosen ?? (isWildcard(self.address) ? loopbackOf(self.af) : self.address),
      port: self.port,
    };
    // A dual-stack socket reaches IPv4 through mapped addresses, and is seen there as IPv4.
    const v4 = to.af === AF_INET6 ? unmapped(to.address) : null;
    if (v4) {
      if (!dualStack(from)) return this.#complete(r, WSAENETUNREACH, 0);
      to = { af: AF_INET, address: v4, port: to.port };
      const from4 = chosen ? unmapped(chosen) : null;
      source = { af: AF_INET, address: from4 ?? loopbackOf(AF_INET), port: self.port };
    }
    if (isMulticast(to.af, to.address) || isBroadcast(to.af, to.address)) {
      return this.#complete(r, this.#fanOut(from, to, source, payload, ecn), payload.length);
    }
    const found = this.#receiver(to);
    // A connected socket hears its peer only.
    const target = found && (!found.peer || sameEndpoint(found.peer, source)) ? found : undefined;
    // Seen from an IPv6 socket, an IPv4 sender is ::ffff:a.b.c.d.
    if (target && target.af !== source.af) {
      source = { af: AF_INET6, address: mapped(source.address), port: source.port };
    }
    const seen = target && target.af !== to.af ? mapped(to.address) : to.address;
    // UDP: a datagram to nobody is dropped, and the send still succeeds.
    for (const piece of pieces) {
      if (target && target.inbox.length < 256) {
        target.inbox.push({ bytes: piece.slice(), from: source, ecn: ecn & 3, to: seen });
      } else if (!found && this.options.icmp) from.unreachable++;
    }
    this.#complete(r, 0, payload.length);
  }

  /**
   * A send to a group or a broadcast address: a copy for every socket bound
   * to the port on the wildcard address that may hear it. Returns the status.
   */
  #fanOut(from: Sock, to: Endpoint, source: Endpoint, payload: Uint8Array, ecn: number): number {
    const group = isMulticast(to.af, to.address);
    if (!group && !from.options.broadcast) return WSAEACCES;
    for (const s of this.#sockets.values()) {
      if (s.closed || !s.bound || s.bound.af !== to.af || s.bound.port !== to.port) continue;
      if (!isWildcard(s.bound.address) || (s.peer && !sameEndpoint(s.peer, source))) continue;
      // Windows applies IP_MULTICAST_LOOP to the receiving socket; every fake socket is local.
      const hears = !group || (s.options.multicastLoop !== 0 &&
        (s.options.memberships ?? []).some((m) => memberOf(m, to.address, source.address)));
      if (hears && s.inbox.length < 256) {
        s.inbox.push({ bytes: payload.slice(), from: source, ecn: ecn & 3, to: to.address });
      }
    }
    return 0;
  }

  /** setsockopt at IPPROTO_IP / IPPROTO_IPV6, and SO_BROADCAST (Windows numbers and structs). */
  #ipOption(
    k: Sock,
    level: number,
    optname: number,
    optval: Deno.PointerValue,
    optlen: number,
  ): number {
    const v6 = level === IPPROTO_IPV6;
    if (level !== SOL_SOCKET && (v6 ? AF_INET6 : AF_INET) !== k.af) {
      return this.#fail(WSAEINVAL);
    }
    const dword = (): number | null =>
      optval === null || optlen < 4 ? null : viewAt(optval, 4).getInt32(0, true);
    const o = k.options;
    if (level === SOL_SOCKET) {
      const v = dword();
      if (v === null) return this.#fail(WSAEFAULT);
      o.broadcast = v !== 0;
      return 0;
    }
    if (
      optname === IP_MULTICAST_IF || optname === IP_MULTICAST_TTL || optname === IP_MULTICAST_LOOP
    ) {
      const v = dword();
      if (v === null) return this.#fail(WSAEFAULT);
      if (optname === IP_MULTICAST_IF) o.multicastIf = v;
      else if (optname === IP_MULTICAST_TTL) o.multicastTtl = v;
      else o.multicastLoop = v;
      return 0;
    }
    if (optname === MCAST_JOIN_SOURCE_GROUP || optname === MCAST_LEAVE_SOURCE_GROUP) {
      return this.#sourceGroup(k, optname === MCAST_JOIN_SOURCE_GROUP, optval, optlen);
    }
    const join = optname === IP_ADD_MEMBERSHIP || optname === IP_ADD_SOURCE_MEMBERSHIP;
    const withSource = optname === IP_ADD_SOURCE_MEMBERSHIP ||
      optname === IP_DROP_SOURCE_MEMBERSHIP;
    if (!join && optname !== IP_DROP_MEMBERSHIP && !withSource) return this.#fail(WSAENOPROTOOPT);
    if (v6 && withSource) return this.#fail(WSAENOPROTOOPT);
    // ip_mreq (8): group @0, interface @4; ip_mreq_source (12): group @0, source @4,
    // interface @8; ipv6_mreq (20): group @0 (16 bytes), interface index @16.
    const size = v6 ? 20 : withSource ? 12 : 8;
    if (optval === null || optlen < size) return this.#fail(WSAEFAULT);
    const b = new Uint8Array(viewAt(optval, size).buffer).slice();
    const g = b.subarray(0, v6 ? 16 : 4);
    if (!isMulticast(k.af, g)) return this.#fail(WSAEINVAL);
    const iface = v6
      ? String(new DataView(b.buffer).getUint32(16, true))
      : [...b.subarray(withSource ? 8 : 4, withSource ? 12 : 8)].join(".");
    const key = `${hexBytes(g)}${withSource ? ` from ${hexBytes(b.subarray(4, 8))}` : ""}@${iface}`;
    return this.#hold(k, key, join);
  }

  /**
   * MCAST_JOIN/LEAVE_SOURCE_GROUP: GROUP_SOURCE_REQ (264) is gsr_interface
   * (ULONG) @0, then two SOCKADDR_STORAGE (128 each, 8-aligned) @8 and @136,
   * each holding a SOCKADDR_IN (address @4) or SOCKADDR_IN6 (address @8).
   */
  #sourceGroup(k: Sock, join: boolean, optval: Deno.PointerValue, optlen: number): number {
    if (optval === null || optlen < 264) return this.#fail(WSAEFAULT);
    const v = viewAt(optval, 264);
    const b = new Uint8Array(v.buffer, v.byteOffset, 264).slice();
    const view = new DataView(b.buffer);
    if (view.getUint16(8, true) !== k.af || view.getUint16(136, true) !== k.af) {
      return this.#fail(WSAEINVAL);
    }
    const [at, n] = k.af === AF_INET6 ? [8, 16] : [4, 4];
    const g = b.subarray(8 + at, 8 + at + n);
    if (!isMulticast(k.af, g)) return this.#fail(WSAEINVAL);
    const source = hexBytes(b.subarray(136 + at, 136 + at + n));
    return this.#hold(k, `${hexBytes(g)} from ${source}@${view.getUint32(0, true)}`, join);
  }

  /** Joins (adds) or leaves (removes) membership `key`, failing as Winsock does. */
  #hold(k: Sock, key: string, join: boolean): number {
    const held = (k.options.memberships ??= []);
    const at = held.indexOf(key);
    if (join && at >= 0) return this.#fail(WSAEADDRINUSE);
    if (!join && at < 0) return this.#fail(WSAEADDRNOTAVAIL);
    if (join) held.push(key);
    else held.splice(at, 1);
    return 0;
  }

  #deliver(s: Sock): void {
    while (!s.closed && s.unreachable > 0 && s.receives.length > 0) {
      s.unreachable--;
      const win32 = this.options.statusSpace === "win32";
      const status = this.options.icmpStatus ?? (win32 ? ERROR_PORT_UNREACHABLE : WSAECONNRESET);
      this.#complete(s.receives.shift()!, status, 0);
    }
    while (!s.closed && s.inbox.length > 0 && s.receives.length > 0) {
      const r = s.receives.shift()!;
      const [d, segment] = this.#coalesce(s);
      let status = 0, bytes = 0;
      if (r.control && !this.#writeControl(s, r.control, d, segment)) {
        this.#complete(r, WSAEFAULT, 0);
        continue;
      }
      if (r.data) {
        const at = r.data.reg.address + BigInt(r.data.offset);
        bytes = Math.min(d.bytes.length, r.data.length);
        if (!this.base.isMapped(at, r.data.length)) {
          this.#violation(`write to freed memory (buffer ${hex(r.data.reg.id)})`);
          this.#complete(r, WSAEFAULT, 0);
          continue;
        }
        if (bytes > 0) {
          new Uint8Array(viewAt(ptr(at), bytes).buffer).set(d.bytes.subarray(0, bytes));
        }
        if (d.bytes.length > r.data.length) {
          status = this.options.statusSpace === "win32" ? ERROR_MORE_DATA : WSAEMSGSIZE;
        }
      }
      if (r.remote) {
        const at = r.remote.reg.address + BigInt(r.remote.offset);
        if (!this.base.isMapped(at, SOCKADDR_INET_SIZE)) {
          this.#violation(`write to freed memory (buffer ${hex(r.remote.reg.id)})`);
        } else {
          const v = viewAt(ptr(at), SOCKADDR_INET_SIZE);
          for (let i = 0; i < SOCKADDR_INET_SIZE; i++) v.setUint8(i, 0);
          encodeSockaddr(v, 0, d.from);
        }
      }
      this.#complete(r, status, bytes);
    }
  }

  /**
   * The next receive's worth of the inbox: one datagram, or with URO on the
   * run of datagrams from one sender to one address with one ECN mark, all
   * of the first one's size but the last (shorter or equal), within
   * UDP_RECV_MAX_COALESCED_SIZE and 64 segments. Returns it and the segment
   * size UDP_COALESCED_INFO reports (0: one datagram, or `uro: "silent"`).
   */
  #coalesce(s: Sock): [Datagram, number] {
    const first = s.inbox.shift()!;
    const max = s.metadata.maxCoalesced;
    if (max <= 0 || first.bytes.length === 0) return [first, 0];
    const seg = first.bytes.length;
    const parts = [first.bytes];
    let total = seg;
    while (s.inbox.length > 0 && parts.length < MAX_COALESCED_SEGMENTS) {
      const n = s.inbox[0];
      const same = n.from.af === first.from.af && n.from.port === first.from.port &&
        sameBytes(n.from.address, first.from.address) && sameBytes(n.to, first.to) &&
        n.ecn === first.ecn;
      if (!same || n.bytes.length === 0 || n.bytes.length > seg || total + n.bytes.length > max) {
        break;
      }
      parts.push(s.inbox.shift()!.bytes);
      total += n.bytes.length;
      if (n.bytes.length < seg) break; // a shorter datagram ends a super-packet
    }
    if (parts.length === 1) return [first, 0];
    this.coalescedReceives++;
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const p of parts) (bytes.set(p, at), at += p.length);
    return [{ ...first, bytes }, this.options.uro === "silent" ? 0 : seg];
  }

  /** Fills a receive's control slice; false (a violation) when it cannot hold what is due. */
  #writeControl(s: Sock, control: Slice, d: Datagram, segment: number): boolean {
    const family = s.af === AF_INET ? 4 : 6;
    const m: ReceiveMetadata = {
      family,
      segment,
      ecn: s.metadata.recvEcn ? d.ecn : null,
      pktinfo: s.metadata.pktinfo ? { family, address: d.to, ifindex: 1 } : null,
    };
    const need = receiveControlSize(m);
    if (need > control.length) {
      this.#violation(
        `a ${control.length}-byte receive control slice cannot hold the ${need} bytes due`,
      );
      return false;
    }
    const at = control.reg.address + BigInt(control.offset);
    if (!this.base.isMapped(at, control.length)) {
      this.#violation(`write to freed memory (buffer ${hex(control.reg.id)})`);
      return false;
    }
    writeReceiveControl(new Uint8Array(viewAt(ptr(at), control.length).buffer), m);
    return true;
  }

  #complete(r: Request, status: number, bytes: number): void {
    const cq = r.kind === "receive" ? r.rq.receiveCq : r.rq.sendCq;
    if (cq.closed) {
      // RIOCloseCompletionQueue: later completions are silently dropped.
      this.#release(r);
      return;
    }
    if (cq.queue.length >= cq.size) this.#violation(`CQ ${hex(cq.handle)} overflowed`);
    cq.queue.push({ status, bytes, request: r });
    if (cq.armed && !(r.flags & RIO_MSG_DONT_NOTIFY)) this.#fire(cq);
  }

  /** What dequeuing a completion does: releases the buffers and the quota charge. */
  #release(r: Request): void {
    for (const reg of r.regs) {
      reg.refs--;
      reg.pending.delete(r);
    }
    if (r.kind === "receive") r.rq.outstandingReceive--;
    else r.rq.outstandingSend--;
  }

  #fire(cq: CompletionQueue): void {
    cq.armed = false;
    if (cq.event !== null) this.base.setEvent(cq.event);
  }

  #rioFunctions(): RioFunctions {
    // deno-lint-ignore no-this-alias
    const self = this;
    return {
      RIOReceive: (rq, pData, count, flags, context): number => {
        self.#log("RIOReceive");
        return self.#post("receive", rq, pData, count, null, null, null, null, flags, context);
      },
      RIOReceiveEx: (
        rq,
        pData,
        count,
        pLocal,
        pRemote,
        pControl,
        pFlags,
        flags,
        context,
      ): number => {
        self.#log("RIOReceiveEx");
        return self.#post(
          "receive",
          rq,
          pData,
          count,
          pLocal,
          pRemote,
          pControl,
          pFlags,
          flags,
          context,
        );
      },
      RIOSend: (rq, pData, count, flags, context): number => {
        self.#log("RIOSend");
        return self.#post("send", rq, pData, count, null, null, null, null, flags, context);
      },
      RIOSendEx: (rq, pData, count, pLocal, pRemote, pControl, pFlags, flags, context): number => {
        self.#log("RIOSendEx");
        return self.#post(
          "send",
          rq,
          pData,
          count,
          pLocal,
          pRemote,
          pControl,
          pFlags,
          flags,
          context,
        );
      },
      RIOCloseCompletionQueue: (cqPtr): void => {
        self.#log("RIOCloseCompletionQueue");
        const cq = self.#cqs.get(addr(cqPtr));
        if (!cq || cq.closed) return; // an invalid CQ is ignored
        if (cq.charged > 0) {
          self.#violation(`CQ ${hex(cq.handle)} closed while request queues still use it`);
        }
        const lost = cq.queue.length;
        if (lost > 0) {
          self.#violation(`CQ ${hex(cq.handle)} closed with ${lost} completion(s) not dequeued`);
        }
        for (const c of cq.queue) self.#release(c.request);
        cq.queue.length = 0;
        cq.closed = true;
      },
      RIOCreateCompletionQueue: (size, notification): Deno.PointerValue => {
        self.#log("RIOCreateCompletionQueue");
        if (self.options.createCqError !== undefined) {
          self.base.lastError = self.options.createCqError;
          return null;
        }
        if (size < 1 || size > RIO_MAX_CQ_SIZE) {
          self.base.lastError = WSAEINVAL;
          return null;
        }
        let event: bigint | null = null, notifyReset = false;
        if (notification !== null) {
          // RIO_NOTIFICATION_COMPLETION: 0 Type; Event: 8 EventHandle, 16 NotifyReset (BOOL).
          const v = viewAt(notification, 32);
          const type = v.getUint32(0, true);
          if (type !== RIO_EVENT_COMPLETION) {
            throw new Error(`fake: notification type ${type} is not faked (only events)`);
          }
          event = v.getBigUint64(8, true);
          notifyReset = v.getInt32(16, true) !== 0;
          if (!self.base.isEvent(event)) {
            self.base.lastError = WSAEINVAL;
            return null;
          }
        }
        const handle = self.base.newHandle();
        self.#cqs.set(handle, {
          handle,
          size,
          event,
          notifyReset,
          queue: [],
          closed: false,
          armed: false,
          charged: 0,
        });
        return ptr(handle);
      },
      RIOCreateRequestQueue: (
        s,
        maxReceive,
        receiveBuffers,
        maxSend,
        sendBuffers,
        rcq,
        scq,
        context,
      ): Deno.PointerValue => {
        self.#log("RIOCreateRequestQueue");
        const fail = (code: number): null => {
          self.base.lastError = code;
          return null;
        };
        const k = self.#sockets.get(BigInt(s));
        if (!k || k.closed) return fail(WSAENOTSOCK);
        if (!(k.flags & WSA_FLAG_REGISTERED_IO) || k.rq) return fail(WSAEINVAL);
        // Windows 8+: MaxReceiveDataBuffers and MaxSendDataBuffers must be 1.
        if (receiveBuffers !== 1 || sendBuffers !== 1) return fail(WSAEINVAL);
        if (maxReceive === 0 && maxSend === 0) return fail(WSAEINVAL);
        const receiveCq = self.#cqs.get(addr(rcq)), sendCq = self.#cqs.get(addr(scq));
        if (!receiveCq || !sendCq || receiveCq.closed || sendCq.closed) return fail(WSAEINVAL);
        // The outstanding counts of every RQ sharing a CQ must fit in it.
        if (receiveCq === sendCq) {
          if (receiveCq.charged + maxReceive + maxSend > receiveCq.size) return fail(WSAENOBUFS);
          receiveCq.charged += maxReceive + maxSend;
        } else {
          if (
            receiveCq.charged + maxReceive > receiveCq.size ||
            sendCq.charged + maxSend > sendCq.size
          ) return fail(WSAENOBUFS);
          receiveCq.charged += maxReceive;
          sendCq.charged += maxSend;
        }
        const handle = self.base.newHandle();
        const rq: RequestQueue = {
          handle,
          socket: k,
          maxReceive,
          maxSend,
          receiveCq,
          sendCq,
          context: BigInt(context),
          outstandingReceive: 0,
          outstandingSend: 0,
          deferred: [],
        };
        k.rq = rq;
        self.#rqs.set(handle, rq);
        return ptr(handle);
      },
      RIODequeueCompletion: (cqPtr, array, size): number => {
        self.#log("RIODequeueCompletion");
        const cq = self.#cqs.get(addr(cqPtr));
        if (!cq || cq.closed || self.corrupt || self.corruptNextDequeue) {
          self.corruptNextDequeue = false;
          return RIO_CORRUPT_CQ;
        }
        const n = Math.min(size, cq.queue.length);
        if (n === 0) return 0;
        const at = addr(array);
        if (!self.base.isMapped(at, n * 24)) {
          self.#violation("RIODequeueCompletion into memory that is not mapped");
          return RIO_CORRUPT_CQ;
        }
        // RIORESULT (24 bytes): 0 Status (LONG), 4 BytesTransferred, 8 SocketContext, 16 RequestContext.
        const v = viewAt(array, n * 24);
        for (let i = 0; i < n; i++) {
          const c = cq.queue.shift()!;
          v.setInt32(i * 24, c.status, true);
          v.setUint32(i * 24 + 4, c.bytes, true);
          v.setBigUint64(i * 24 + 8, c.request.rq.context, true);
          v.setBigUint64(i * 24 + 16, c.request.context, true);
          self.#release(c.request);
        }
        return n;
      },
      RIODeregisterBuffer: (id): void => {
        self.#log("RIODeregisterBuffer");
        const key = BigInt(id);
        self.deregistered.push(key);
        const reg = self.#regs.get(key);
        if (!reg || !reg.live) return; // an invalid ID is ignored
        if (reg.refs > 0) {
          self.#violation(
            `buffer ${
              hex(key)
            } deregistered while ${reg.refs} request(s) using it were not dequeued`,
          );
        }
        reg.live = false;
      },
      RIONotify: (cqPtr): number => {
        self.#log("RIONotify");
        const cq = self.#cqs.get(addr(cqPtr));
        if (!cq || cq.closed || cq.event === null) return WSAEINVAL;
        if (cq.armed) {
          self.#violation("RIONotify armed twice (WSAEALREADY)");
          return WSAEALREADY; // returned directly, not through WSAGetLastError
        }
        if (cq.notifyReset) self.base.resetEvent(cq.event);
        cq.armed = true;
        if (cq.queue.some((c) => !(c.request.flags & RIO_MSG_DONT_NOTIFY))) self.#fire(cq);
        return 0;
      },
      RIORegisterBuffer: (p, length): bigint => {
        self.#log("RIORegisterBuffer");
        if (length === 0) {
          self.base.lastError = WSAEINVAL;
          return RIO_INVALID_BUFFERID;
        }
        const at = addr(p);
        if (at === 0n || !self.base.isMapped(at, length)) {
          self.base.lastError = WSAEFAULT;
          return RIO_INVALID_BUFFERID;
        }
        const id = self.#nextRegId;
        self.#nextRegId += 0x10n;
        self.#regs.set(id, {
          id,
          address: at,
          length,
          live: true,
          refs: 0,
          pending: new Set(),
          freedReported: false,
        });
        return id;
      },
      RIOResizeCompletionQueue: (): never => {
        throw new Error("fake: RIOResizeCompletionQueue is not faked (regio does not resize)");
      },
      RIOResizeRequestQueue: (): never => {
        throw new Error("fake: RIOResizeRequestQueue is not faked (regio does not resize)");
      },
    };
  }
}

/** Do two slices share a byte (same registration)? */
function overlaps(a: Slice, b: Slice): boolean {
  return a.reg === b.reg && a.offset < b.offset + b.length && b.offset < a.offset + a.length;
}

function hex(v: bigint): string {
  return "0x" + v.toString(16);
}

function loopbackOf(af: number): Uint8Array {
  if (af === AF_INET) return new Uint8Array([127, 0, 0, 1]);
  const a = new Uint8Array(16);
  a[15] = 1;
  return a;
}

function writeCString(bytes: Uint8Array, at: number, s: string, max: number): void {
  bytes.fill(0, at, at + max);
  for (let i = 0; i < s.length && i < max - 1; i++) bytes[at + i] = s.charCodeAt(i);
}

/** SOCKADDR_IN (0 family, 2 port BE, 4 addr) or SOCKADDR_IN6 (0 family, 2 port BE, 8 addr). */
function decodeSockaddr(v: DataView, at: number): Endpoint | null {
  const af = v.getUint16(at, true);
  const port = v.getUint16(at + 2, false);
  if (af === AF_INET) {
    return {
      af,
      port,
      address: new Uint8Array(v.buffer.slice(v.byteOffset + at + 4, v.byteOffset + at + 8)),
    };
  }
  if (af === AF_INET6) {
    if (v.byteLength - at < 28) return null;
    return {
      af,
      port,
      address: new Uint8Array(v.buffer.slice(v.byteOffset + at + 8, v.byteOffset + at + 24)),
    };
  }
  return null;
}

function encodeSockaddr(v: DataView, at: number, ep: Endpoint): void {
  v.setUint16(at, ep.af, true);
  v.setUint16(at + 2, ep.port, false);
  if (ep.af === AF_INET) {
    for (let i = 0; i < 4; i++) v.setUint8(at + 4 + i, ep.address[i]);
    for (let i = 8; i < 16; i++) v.setUint8(at + i, 0); // sin_zero
  } else {
    v.setUint32(at + 4, 0, true); // sin6_flowinfo
    for (let i = 0; i < 16; i++) v.setUint8(at + 8 + i, ep.address[i]);
    v.setUint32(at + 24, 0, true); // sin6_scope_id
  }
}
