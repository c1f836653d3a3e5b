/**
 * The ws2_32.dll and RIO table fake: a TypeScript stand-in for the Winsock
 * symbols and the 13 RIO functions that follows the documented semantics
 * (shared/reference/windows-api.md §2, §3.2) and decodes every struct it is
 * handed at offsets written literally here, never through ffi/windows/abi.ts.
 *
 * Sockets talk over a simulated loopback network: a send really copies bytes
 * into a posted receive's registered memory and writes a SOCKADDR_INET.
 * Timing is the test's: with `hold = true`, committed requests wait for
 * `run()`. Everything the documents call undefined or a serious error is
 * recorded in `violations`, which tests assert is empty.
 */

import type { Ws2 } from "../../ffi/windows/ws2_32.ts";
import { queryRioTable, type RioFunctions } from "../../ffi/windows/rio_table.ts";
import type { Kernelbase } from "../../ffi/windows/kernelbase.ts";
import { addr, type FakeBase, ptr, viewAt } from "./fake_base.ts";
import { fakeKernelCore, type HandleHooks } from "./fake_kernel.ts";

// Documented values, copied from the reference (winerror.h, mswsockdef.h, winsock2.h).
const WSA_OPERATION_ABORTED = 995;
const WSAEFAULT = 10014;
const WSAEINVAL = 10022;
const WSAEALREADY = 10037;
const WSAENOTSOCK = 10038;
const WSAEMSGSIZE = 10040;
const WSAENOPROTOOPT = 10042;
const WSAESOCKTNOSUPPORT = 10044;
const WSAEAFNOSUPPORT = 10047;
const WSAEADDRINUSE = 10048;
const WSAEADDRNOTAVAIL = 10049;
const WSAENOBUFS = 10055;
const WSAVERNOTSUPPORTED = 10092;
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
const SO_SNDBUF = 0x1001;
const SO_RCVBUF = 0x1002;
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

/** RIO_EXTENSION_FUNCTION_TABLE order (mswsock.h): entry i is at offset 8 + 8 * i. */
const RIO_TABLE_ORDER = [
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
] as const;
const FN_BASE = 0x7ffa_1000_0000n;

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
}

/** The socket options a socket was given with setsockopt. */
export interface FakeSocketOptions {
  /** SO_RCVBUF as last set (bytes). */
  rcvbuf?: number;
  /** SO_SNDBUF as last set (bytes). */
  sndbuf?: number;
  /** Names of the options set after bind, in order (none expected). */
  afterBind: string[];
}

interface Registration {
  id: bigint;
  address: bigint;
  length: number;
  live: boolean;
  /** Requests referencing it whose completion has not been dequeued. */
  refs: number;
  /** Sends among them: a send locks the whole registration. */
  sends: number;
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
  /** Every RIODeregisterBuffer argument, in order (to assert "exactly once"). */
  readonly deregistered: bigint[] = [];

  readonly #sockets = new Map<bigint, Sock>();
  readonly #regs = new Map<bigint, Registration>();
  readonly #cqs = new Map<bigint, CompletionQueue>();
  readonly #rqs = new Map<bigint, RequestQueue>();
  #nextRegId = 0x7ff0_0000_1000n; // above 2^32: truncating an ID to 32 bits shows
  #nextPort = 49152;
  #table: RioFunctions | undefined;

  constructor(readonly base: FakeBase, readonly options: FakeWinsockOptions = {}) {}

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
    return {
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
        self.startups++;
        return 0;
      },
      WSACleanup: (): number => {
        self.#log("WSACleanup");
        if (!needStartup()) return SOCKET_ERROR;
        self.startups--;
        if (self.startups === 0) {
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
        if (ep.port === 0) ep.port = self.#ephemeralPort(ep.af);
        else if (self.#portInUse(ep)) return self.#fail(WSAEADDRINUSE);
        k.bound = ep;
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
        // The fake knows only SOL_SOCKET SO_RCVBUF / SO_SNDBUF, each an int.
        const name = level !== SOL_SOCKET
          ? undefined
          : optname === SO_RCVBUF
          ? "rcvbuf"
          : optname === SO_SNDBUF
          ? "sndbuf"
          : undefined;
        if (name === undefined) return self.#fail(WSAENOPROTOOPT);
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
        RIO_TABLE_ORDER.forEach((_, i) =>
          out.setBigUint64(8 + 8 * i, FN_BASE + BigInt(i) * 16n, true)
        );
        viewAt(returned, 4).setUint32(0, RIO_TABLE_SIZE, true);
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
        return self.base.lastError;
      },
      sendto: (): never => {
        throw new Error("fake: sendto is not faked; use RIO sockets on both ends");
      },
      recvfrom: (): never => {
        throw new Error("fake: recvfrom is not faked; use RIO sockets on both ends");
      },
    };
  }

  #ephemeralPort(af: number): number {
    for (;;) {
      const port = this.#nextPort++;
      if (!this.#portInUse({ af, address: new Uint8Array(af === AF_INET ? 4 : 16), port })) {
        return port;
      }
    }
  }

  #portInUse(ep: Endpoint): boolean {
    for (const s of this.#sockets.values()) {
      const b = s.bound;
      if (s.closed || !b || b.af !== ep.af || b.port !== ep.port) continue;
      if (isWildcard(b.address) || isWildcard(ep.address) || sameBytes(b.address, ep.address)) {
        return true;
      }
    }
    return false;
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
      this.#complete(r, WSA_OPERATION_ABORTED, 0);
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
   * The RIO table, obtained the way the real one is: through
   * `queryRioTable` (WSAIoctl into native memory), then mapping each address
   * read back to the fake function at that table position. A table read at
   * the wrong offsets fails here.
   */
  rio(): RioFunctions {
    if (this.#table) return this.#table;
    const kernel = fakeKernelCore(this.base) as Kernelbase;
    const addresses = queryRioTable(kernel, this.ws2());
    const fns = this.#rioFunctions();
    const out: Record<string, unknown> = {};
    const names = Object.keys(fns);
    names.forEach((name, i) => {
      const at = RIO_TABLE_ORDER.indexOf(name as typeof RIO_TABLE_ORDER[number]);
      if (addresses[i] !== FN_BASE + BigInt(at) * 16n) {
        throw new Error(`fake: RIO table entry ${name} was read from the wrong offset`);
      }
      out[name] = fns[name as keyof RioFunctions];
    });
    return (this.#table = out as unknown as RioFunctions);
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
    if (kind === "send" && pRemote === null) return fail(WSAEINVAL); // not connected
    const data = pData === null ? null : this.#decodeRioBuf(pData);
    if (typeof data === "number") return fail(data);
    const remote = pRemote === null ? null : this.#decodeRioBuf(pRemote);
    if (typeof remote === "number") return fail(remote);
    if (remote && remote.length < SOCKADDR_INET_SIZE) return fail(WSAEINVAL);
    for (const p of [pLocal, pControl, pFlags]) {
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
    const regs = [...new Set([data?.reg, remote?.reg].filter((r) => r !== undefined))];
    for (const r of regs) {
      if (r.sends > 0) {
        this.#violation(
          `buffer ${hex(r.id)} used by a ${kind} while a send on it is in flight ` +
            "(a send locks the entire registered buffer)",
        );
      } else if (kind === "send" && r.refs > 0) {
        this.#violation(
          `send posted on buffer ${hex(r.id)} while ${r.refs} other request(s) use it`,
        );
      }
    }
    for (const r of regs) {
      r.refs++;
      if (kind === "send") r.sends++;
    }
    const request: Request = { kind, rq, data, remote, flags, context: BigInt(context), regs };
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
    if (!payload || !dest) return this.#complete(r, WSAEFAULT, 0);
    const to = decodeSockaddr(new DataView(dest.buffer, dest.byteOffset, dest.byteLength), 0);
    if (!to || to.af !== from.af) return this.#complete(r, WSAEAFNOSUPPORT, 0);
    this.onTransmit?.(to, payload.slice());
    const self = from.bound!;
    const source: Endpoint = {
      af: self.af,
      address: isWildcard(self.address) ? loopbackOf(self.af) : self.address,
      port: self.port,
    };
    const target = [...this.#sockets.values()].find((s) =>
      !s.closed && s.bound && s.bound.af === to.af && s.bound.port === to.port &&
      (sameBytes(s.bound.address, to.address) ||
        (isWildcard(s.bound.address) && isLoopback(to.af, to.address)))
    );
    // UDP: a datagram to nobody is dropped, and the send still succeeds.
    if (target && target.inbox.length < 256) {
      target.inbox.push({ bytes: payload.slice(), from: source });
    }
    this.#complete(r, 0, payload.length);
  }

  #deliver(s: Sock): void {
    while (!s.closed && s.inbox.length > 0 && s.receives.length > 0) {
      const d = s.inbox.shift()!;
      const r = s.receives.shift()!;
      let status = 0, bytes = 0;
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
        if (d.bytes.length > r.data.length) status = WSAEMSGSIZE;
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
      if (r.kind === "send") reg.sends--;
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
          sends: 0,
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
