/**
 * A UDP socket with a RIO request queue: WSASocketW(WSA_FLAG_REGISTERED_IO),
 * bind, RIOCreateRequestQueue, and RIOReceiveEx / RIOSendEx with remote
 * addresses in registered memory.
 *
 * Each posted request takes a request slot: its two RIO_BUF descriptors live
 * in native memory owned by the socket until the completion is dequeued.
 * Whether RIO reads a RIO_BUF only during the call is UNCONFIRMED (deferred
 * requests might read it at commit), so descriptors are never reused early.
 * The slot index is the RequestContext; the caller's context stays in JS.
 *
 * @module
 */

import {
  readSockaddrInet,
  RIO,
  SOCKET,
  type SocketAddress,
  STRUCTS,
  writeRioBuf,
  writeSockaddrInet,
  WSA_ERROR,
} from "../../ffi/windows/abi.ts";
import { BusyError, checkInteger, DisposedError, WinsockError } from "../errors.ts";
import { trackLeak, untrackLeak } from "../leak.ts";
import { NativeRegion } from "../memory.ts";
import { checkRioBool, checkRioHandle, checkSocket, checkWinsock } from "./check.ts";
import { type BufferState, checkOpen, INTERNAL, type RioContext } from "./rio_context.ts";
import type { RioAddressSlice, RioSlice } from "./rio_buffer.ts";
import { type RioCompletion, RioCompletionQueue } from "./rio_queue.ts";

/** Options for `Rio.udpSocket`. */
export interface RioUdpSocketOptions {
  /** Numeric IPv4 or IPv6 address to bind (`"127.0.0.1"`, `"::1"`, `"0.0.0.0"`…). */
  hostname: string;
  /** Port to bind; 0 lets the system pick (see {@link RioUdpSocket.addr}). */
  port: number;
  /** The completion queue for both directions. */
  cq: RioCompletionQueue;
  /** Receives that may be outstanding at once (default 16). */
  maxOutstandingReceive?: number;
  /** Sends that may be outstanding at once (default 16). */
  maxOutstandingSend?: number;
  /** SO_RCVBUF in bytes (1 to 2³¹−1), set before bind; default: Winsock's. */
  receiveBufferSize?: number;
  /** SO_SNDBUF in bytes (1 to 2³¹−1), set before bind; default: Winsock's. */
  sendBufferSize?: number;
}

/** Options for {@link RioUdpSocket.receiveEx}. */
export interface RioReceiveOptions {
  /** RIO_MSG_DEFER: queue it; it starts at the next non-deferred request or {@link RioUdpSocket.commit}. */
  defer?: boolean;
}

/** Options for {@link RioUdpSocket.sendEx}. */
export interface RioSendOptions extends RioReceiveOptions {
  /** Bytes to send from the start of the data slice (default: all of it). */
  length?: number;
}

const RECEIVE = 1;
const SEND = 2;
/** SOCKADDR_INET (28) + an int namelen, for bind/getsockname. */
const SCRATCH = 32;
/** The namelen int, free until getsockname: setsockopt's int optval before bind. */
const OPTVAL = 28;
/** Per request slot: the data RIO_BUF, then the address RIO_BUF. */
const SLOT = 2 * STRUCTS.RIO_BUF.size;

/**
 * A bound UDP socket with a RIO request queue.
 *
 * Requests name registered memory only: a {@link RioSlice} for data and a
 * {@link RioAddressSlice} (SOCKADDR_INET, ≥ 28 bytes) for the remote address.
 * Limits are enforced before any call (a clear error, nothing posted), and so
 * is the rule that a send locks its whole registration until it completes.
 *
 * Not thread-safe (pitfall 19). Sync dispose with requests outstanding throws
 * {@link BusyError}; `await using` closes the socket (pending receives
 * complete with WSA_OPERATION_ABORTED) and drains every request.
 */
export class RioUdpSocket implements Disposable, AsyncDisposable {
  /** The bound address (the port the system picked when bound to port 0). */
  readonly addr: SocketAddress;
  /** The completion queue. */
  readonly cq: RioCompletionQueue;
  /** MaxOutstandingReceive. */
  readonly maxOutstandingReceive: number;
  /** MaxOutstandingSend. */
  readonly maxOutstandingSend: number;
  readonly #ctx: RioContext;
  readonly #socket: bigint;
  readonly #rq: Deno.PointerObject;
  readonly #context: bigint;
  readonly #region: NativeRegion;
  readonly #view: DataView;
  readonly #dataPtr: Deno.PointerObject[] = [];
  readonly #addrPtr: Deno.PointerObject[] = [];
  readonly #requestContext: bigint[] = [];
  readonly #free: number[] = [];
  readonly #kind: Uint8Array;
  readonly #userContext: unknown[];
  readonly #data: (RioSlice | null)[];
  readonly #remote: (RioAddressSlice | null)[];
  #receives = 0;
  #sends = 0;
  #deferredReceives = 0;
  #deferredSends = 0;
  #closing = false;
  #closed = false;

  /** @internal Use `Rio.udpSocket`. */
  constructor(ctx: RioContext, options: RioUdpSocketOptions) {
    checkOpen(ctx, "a RioUdpSocket");
    const cq = options.cq;
    if (!(cq instanceof RioCompletionQueue) || !ctx.cqStates.has(cq[INTERNAL])) {
      throw new TypeError("cq must be an open RioCompletionQueue of the same Rio");
    }
    const maxR = checkInteger(
      "maxOutstandingReceive",
      options.maxOutstandingReceive ?? 16,
      0,
      RIO.RIO_MAX_CQ_SIZE,
    );
    const maxS = checkInteger(
      "maxOutstandingSend",
      options.maxOutstandingSend ?? 16,
      0,
      RIO.RIO_MAX_CQ_SIZE,
    );
    if (maxR + maxS === 0) {
      throw new RangeError("maxOutstandingReceive and maxOutstandingSend cannot both be 0");
    }
    const rcvbuf = options.receiveBufferSize === undefined
      ? undefined
      : checkInteger("receiveBufferSize", options.receiveBufferSize, 1, 2 ** 31 - 1);
    const sndbuf = options.sendBufferSize === undefined
      ? undefined
      : checkInteger("sendBufferSize", options.sendBufferSize, 1, 2 ** 31 - 1);
    const cqState = cq[INTERNAL];
    if (cqState.charged + maxR + maxS > cq.size) {
      throw new WinsockError(
        WSA_ERROR.WSAENOBUFS,
        "RIOCreateRequestQueue",
        `the completion queue has ${
          cq.size - cqState.charged
        } of ${cq.size} entries free and this ` +
          `socket needs ${maxR + maxS} (maxOutstandingReceive + maxOutstandingSend)`,
      );
    }
    const { ws2, fn } = ctx;
    const slots = maxR + maxS;
    const region = NativeRegion.allocate(SCRATCH + slots * SLOT, { allocator: ctx.allocator });
    try {
      const view = region.view;
      const namelen = writeSockaddrInet(view, 0, {
        hostname: options.hostname,
        port: options.port,
      });
      const af = namelen === STRUCTS.SOCKADDR_IN.size ? SOCKET.AF_INET : SOCKET.AF_INET6;
      const s = checkSocket(
        ws2.WSASocketW(
          af,
          SOCKET.SOCK_DGRAM,
          SOCKET.IPPROTO_UDP,
          null,
          0,
          RIO.WSA_FLAG_OVERLAPPED | RIO.WSA_FLAG_REGISTERED_IO,
        ),
        "WSASocketW",
        ws2,
      );
      try {
        const optval = Deno.UnsafePointer.offset(region.pointer, OPTVAL);
        const option = (name: number, call: string, value: number | undefined): void => {
          if (value === undefined) return;
          view.setInt32(OPTVAL, value, true);
          checkWinsock(ws2.setsockopt(s, SOCKET.SOL_SOCKET, name, optval, 4), call, ws2);
        };
        option(SOCKET.SO_RCVBUF, "setsockopt(SO_RCVBUF)", rcvbuf);
        option(SOCKET.SO_SNDBUF, "setsockopt(SO_SNDBUF)", sndbuf);
        checkWinsock(ws2.bind(s, region.pointer, namelen), "bind", ws2);
        view.setInt32(STRUCTS.SOCKADDR_INET.size, STRUCTS.SOCKADDR_INET.size, true);
        const lenPtr = Deno.UnsafePointer.offset(region.pointer, STRUCTS.SOCKADDR_INET.size);
        checkWinsock(ws2.getsockname(s, region.pointer, lenPtr), "getsockname", ws2);
        this.addr = readSockaddrInet(view, 0)!;
        this.#context = ctx.nextSocketContext++;
        this.#rq = checkRioHandle(
          fn.RIOCreateRequestQueue(
            s,
            maxR,
            1,
            maxS,
            1,
            cqState.handle,
            cqState.handle,
            this.#context,
          ),
          "RIOCreateRequestQueue",
          ws2,
        );
      } catch (e) {
        ws2.closesocket(s);
        throw e;
      }
      this.#socket = s;
    } catch (e) {
      region.free();
      throw e;
    }
    this.cq = cq;
    this.maxOutstandingReceive = maxR;
    this.maxOutstandingSend = maxS;
    this.#ctx = ctx;
    this.#region = region;
    this.#view = region.view;
    // Pointer objects and contexts made once, not per request.
    for (let i = 0; i < slots; i++) {
      this.#dataPtr.push(Deno.UnsafePointer.offset(region.pointer, SCRATCH + i * SLOT)!);
      this.#addrPtr.push(Deno.UnsafePointer.offset(region.pointer, SCRATCH + i * SLOT + SLOT / 2)!);
      this.#requestContext.push(BigInt(i));
      this.#free.push(slots - 1 - i);
    }
    this.#kind = new Uint8Array(slots);
    this.#userContext = new Array(slots).fill(undefined);
    this.#data = new Array(slots).fill(null);
    this.#remote = new Array(slots).fill(null);
    cqState.charged += slots;
    cqState.sockets.set(
      this.#context,
      (slot, status, bytes) => this.#complete(slot, status, bytes),
    );
    cqState.attached.add(this);
    ctx.sockets.add(this);
    trackLeak(this, `a RioUdpSocket bound to port ${this.addr.port}`);
  }

  /** True once closed and drained. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Receives posted and not yet dequeued (deferred ones included). */
  get receivesOutstanding(): number {
    return this.#receives;
  }

  /** Sends posted and not yet dequeued (deferred ones included). */
  get sendsOutstanding(): number {
    return this.#sends;
  }

  /** How many more receives may be posted now. */
  get receivesAvailable(): number {
    return this.maxOutstandingReceive - this.#receives;
  }

  /** How many more sends may be posted now. */
  get sendsAvailable(): number {
    return this.maxOutstandingSend - this.#sends;
  }

  #check(): void {
    if (this.#closing || this.#closed) throw new DisposedError("RioUdpSocket");
  }

  /**
   * RIOReceiveEx into `data`; when `remote` is given the sender's
   * SOCKADDR_INET is written there. The completion comes from the socket's
   * completion queue with `context`.
   * @throws {WinsockError} WSAENOBUFS when `maxOutstandingReceive` receives are outstanding (nothing posted).
   * @throws {BusyError} when a send in flight locks a registration it names.
   */
  receiveEx(
    data: RioSlice,
    remote: RioAddressSlice | null,
    context?: unknown,
    options?: RioReceiveOptions,
  ): void {
    this.#check();
    if (this.#receives >= this.maxOutstandingReceive) {
      throw new WinsockError(
        WSA_ERROR.WSAENOBUFS,
        "RIOReceiveEx",
        `${this.#receives} receives are outstanding (maxOutstandingReceive); dequeue completions first`,
      );
    }
    this.#post(RECEIVE, data, data.length, remote, context, options?.defer === true);
  }

  /**
   * RIOSendEx of `data` (or its first `options.length` bytes) to the
   * SOCKADDR_INET in `remote`. The whole registration of each slice is
   * locked until the completion is dequeued.
   * @throws {WinsockError} WSAENOBUFS when `maxOutstandingSend` sends are outstanding (nothing posted).
   * @throws {BusyError} when another request in flight uses a registration it names.
   */
  sendEx(
    data: RioSlice,
    remote: RioAddressSlice,
    context?: unknown,
    options?: RioSendOptions,
  ): void {
    this.#check();
    if (this.#sends >= this.maxOutstandingSend) {
      throw new WinsockError(
        WSA_ERROR.WSAENOBUFS,
        "RIOSendEx",
        `${this.#sends} sends are outstanding (maxOutstandingSend); dequeue completions first`,
      );
    }
    const length = options?.length === undefined
      ? data.length
      : checkInteger("length", options.length, 0, data.length);
    this.#post(SEND, data, length, remote, context, options?.defer === true);
  }

  #post(
    kind: number,
    data: RioSlice,
    length: number,
    remote: RioAddressSlice | null,
    context: unknown,
    defer: boolean,
  ): void {
    const d = data.buffer[INTERNAL];
    const r = remote ? remote.buffer[INTERNAL] : null;
    checkUsable(d, kind);
    if (r && r !== d) checkUsable(r, kind);
    const slot = this.#free.pop()!; // a slot per allowed request, so never empty here
    const at = SCRATCH + slot * SLOT;
    writeRioBuf(this.#view, at, d.id, data.offset, length);
    if (remote) writeRioBuf(this.#view, at + SLOT / 2, r!.id, remote.offset, remote.length);
    const flags = defer ? RIO.RIO_MSG_DEFER : 0;
    const { fn, ws2 } = this.#ctx;
    const remotePtr = remote ? this.#addrPtr[slot] : null;
    const ok = kind === RECEIVE
      ? fn.RIOReceiveEx(
        this.#rq,
        this.#dataPtr[slot],
        1,
        null,
        remotePtr,
        null,
        null,
        flags,
        this.#requestContext[slot],
      )
      : fn.RIOSendEx(
        this.#rq,
        this.#dataPtr[slot],
        1,
        null,
        remotePtr,
        null,
        null,
        flags,
        this.#requestContext[slot],
      );
    if (ok === 0) {
      const code = ws2.WSAGetLastError(); // the very next call (pitfall 24)
      this.#free.push(slot);
      throw new WinsockError(code, kind === RECEIVE ? "RIOReceiveEx" : "RIOSendEx");
    }
    this.#kind[slot] = kind;
    this.#userContext[slot] = context;
    this.#data[slot] = data;
    this.#remote[slot] = remote;
    hold(d, kind, 1, this);
    if (r && r !== d) hold(r, kind, 1, this);
    if (kind === RECEIVE) {
      this.#receives++;
      this.#deferredReceives = defer ? this.#deferredReceives + 1 : 0;
    } else {
      this.#sends++;
      this.#deferredSends = defer ? this.#deferredSends + 1 : 0;
    }
    this.cq[INTERNAL].outstanding++;
  }

  /**
   * Starts every deferred request (RIO_MSG_COMMIT_ONLY). Which requests one
   * COMMIT_ONLY covers (its direction only, or the whole queue) is
   * UNCONFIRMED, so each direction with deferred requests gets its own.
   */
  commit(): void {
    this.#check();
    this.#commit();
  }

  #commit(): void {
    const { fn, ws2 } = this.#ctx;
    const only = RIO.RIO_MSG_COMMIT_ONLY;
    if (this.#deferredReceives > 0) {
      checkRioBool(
        fn.RIOReceiveEx(this.#rq, null, 0, null, null, null, null, only, 0n),
        "RIOReceiveEx",
        ws2,
      );
      this.#deferredReceives = 0;
    }
    if (this.#deferredSends > 0) {
      checkRioBool(
        fn.RIOSendEx(this.#rq, null, 0, null, null, null, null, only, 0n),
        "RIOSendEx",
        ws2,
      );
      this.#deferredSends = 0;
    }
  }

  /** Called by the completion queue for each dequeued RIORESULT of this socket. */
  #complete(slot: number, status: number, bytes: number): RioCompletion {
    const kind = this.#kind[slot];
    const data = this.#data[slot]!;
    const remote = this.#remote[slot];
    const context = this.#userContext[slot];
    if (kind === 0) {
      throw new WinsockError(status, "RIODequeueCompletion", `no request in slot ${slot}`);
    }
    const d = data.buffer[INTERNAL];
    hold(d, kind, -1, this);
    if (remote && remote.buffer[INTERNAL] !== d) hold(remote.buffer[INTERNAL], kind, -1, this);
    if (kind === RECEIVE) this.#receives--;
    else this.#sends--;
    this.#kind[slot] = 0;
    this.#userContext[slot] = undefined;
    this.#data[slot] = null;
    this.#remote[slot] = null;
    this.#free.push(slot);
    const call = kind === RECEIVE ? "RIOReceiveEx" : "RIOSendEx";
    return {
      socket: this,
      kind: kind === RECEIVE ? "receive" : "send",
      status,
      bytes,
      context,
      data,
      remote,
      error: status === 0 ? null : new WinsockError(status, call),
    };
  }

  /**
   * Closes the socket when nothing is outstanding. Idempotent.
   * @throws {BusyError} while requests are outstanding (nothing is changed; use `await using`).
   */
  close(): void {
    if (this.#closed) return;
    const n = this.#receives + this.#sends;
    if (n > 0) {
      throw new BusyError(
        "RioUdpSocket",
        n,
        "request(s) not yet dequeued (`await using` closes the socket and drains them)",
      );
    }
    if (!this.#closing) this.#closesocket();
    this.#finish();
  }

  #closesocket(): void {
    this.#closing = true;
    checkWinsock(this.#ctx.ws2.closesocket(this.#socket), "closesocket", this.#ctx.ws2);
  }

  #finish(): void {
    const state = this.cq[INTERNAL];
    state.charged -= this.maxOutstandingReceive + this.maxOutstandingSend;
    state.sockets.delete(this.#context);
    state.attached.delete(this);
    this.#region.free();
    this.#closed = true;
    this.#ctx.sockets.delete(this);
    untrackLeak(this);
  }

  /** Same as {@link RioUdpSocket.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * The documented teardown: commits anything deferred (so no request is
   * left that closesocket might never complete), closesocket (pending
   * receives complete with WSA_OPERATION_ABORTED), then dequeues until every
   * request of this socket is dequeued. Completions of other sockets met on
   * the way stay queued for their next `dequeue()`.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#closed) return;
    if (!this.#closing) {
      this.#commit();
      this.#closesocket();
    }
    const cq = this.cq[INTERNAL];
    while (this.#receives + this.#sends > 0) {
      if (cq.pump() === 0 && this.#receives + this.#sends > 0) await cq.idle();
    }
    this.#finish();
  }
}

/** A registration a new request may use: live, not locked by a send, and not shared by a send. */
function checkUsable(s: BufferState, kind: number): void {
  if (s.closed) throw new DisposedError(s.label);
  if (s.sendsInFlight > 0) {
    throw new BusyError(
      s.label,
      s.sendsInFlight,
      "send(s) in flight lock the whole registration until they complete (RIOSendEx remarks)",
    );
  }
  if (kind === SEND && s.inFlight > 0) {
    throw new BusyError(
      s.label,
      s.inFlight,
      "request(s) in flight use it, and a send would lock the whole registration",
    );
  }
}

function hold(s: BufferState, kind: number, delta: number, socket: RioUdpSocket): void {
  s.inFlight += delta;
  if (kind === SEND) s.sendsInFlight += delta;
  const n = (s.users.get(socket) ?? 0) + delta;
  if (n === 0) s.users.delete(socket);
  else s.users.set(socket, n);
}
