/**
 * A UDP socket with a RIO request queue: WSASocketW(WSA_FLAG_REGISTERED_IO),
 * bind, RIOCreateRequestQueue, and RIOReceiveEx / RIOSendEx with remote
 * addresses in registered memory.
 *
 * This module holds the socket as the caller sees it: the limits and
 * argument checks of each request, the completions, options set once open,
 * and the close order. The request slots, the RIO calls that post and
 * commit, and regio's sharing rule are in rio_requests.ts; options and
 * opening (WSASocketW through RIOCreateRequestQueue) in rio_socket_open.ts.
 *
 * @module
 */

import type { SocketAddress } from "../../ffi/windows/abi.ts";
import { BusyError, checkInteger, DisposedError, WinsockError } from "../errors.ts";
import { trackLeak, untrackLeak } from "../leak.ts";
import { NativeRegion } from "../memory.ts";
import { checkWinsock } from "./check.ts";
import { checkOpen, INTERNAL, type RioContext } from "./rio_context.ts";
import type { RioAddressSlice, RioSlice } from "./rio_buffer.ts";
import { RECEIVE, RioRequestQueue, SEND } from "./rio_requests.ts";
import {
  openUdpSocket,
  type RioSocketMetadata,
  type RioSocketQueue,
  type RioUdpSocketOptions,
  SCRATCH,
} from "./rio_socket_open.ts";

/** A dequeued request: what it was, how it ended, and the slices it used. */
export interface RioCompletion {
  /** The socket the request was posted on. */
  readonly socket: RioUdpSocket;
  /** Which call posted it. */
  readonly kind: "receive" | "send";
  /**
   * RIORESULT.Status: 0 on success, else an error code (995 = aborted by
   * closesocket). Whether RIO reports Winsock or Win32 codes is undocumented:
   * a truncated datagram may be WSAEMSGSIZE or ERROR_MORE_DATA (reference §5.3).
   */
  readonly status: number;
  /** Bytes received or sent. */
  readonly bytes: number;
  /** The context given when posting. */
  readonly context: unknown;
  /** The data slice (for a receive, the datagram is its first `bytes` bytes). */
  readonly data: RioSlice;
  /** The address slice (for a receive, now holding the sender's SOCKADDR_INET). */
  readonly remote: RioAddressSlice | null;
  /** The control slice (for a receive, now holding a RIO_CMSG_BUFFER), or null. */
  readonly control: RioSlice | null;
  /** `status` as an error, or null on success. */
  readonly error: WinsockError | null;
}

/** Options for {@link RioUdpSocket.receiveEx}. */
export interface RioReceiveOptions {
  /** RIO_MSG_DEFER: queue it; it starts at the next non-deferred request or {@link RioUdpSocket.commit}. */
  defer?: boolean;
  /**
   * `pControlContext`: a slice of registered memory for control data (a
   * RIO_CMSG_BUFFER, see src/windows/cmsg.ts), 8-byte aligned, not
   * overlapping the data or address slices. A receive gets the packet
   * info, ECN and URO segment size there; a send reads its USO segment
   * size, ECN and source from it. Undocumented for RIO (MsQuic's usage).
   */
  control?: RioSlice;
  /** Bytes of `control` to name (default: all of it; for a send, its TotalLength). */
  controlLength?: number;
}

/** Options for {@link RioUdpSocket.sendEx}. */
export interface RioSendOptions extends RioReceiveOptions {
  /** Bytes to send from the start of the data slice (default: all of it). */
  length?: number;
}

let makeRioUdpSocket: (ctx: RioContext, options: RioUdpSocketOptions) => RioUdpSocket;

/**
 * A bound UDP socket with a RIO request queue.
 *
 * Requests name registered memory only: a {@link RioSlice} for data and a
 * {@link RioAddressSlice} (SOCKADDR_INET, ≥ 28 bytes) for the remote address.
 * Limits are enforced before any call (a clear error, nothing posted), and so
 * is regio's sharing rule: while a send is in flight nothing else may use its
 * registration. That is stricter than RIO's, which is per RIO_BUF (see
 * rio_buffer.ts); it is the project's choice.
 *
 * Not thread-safe (pitfall 19). Sync dispose with requests outstanding throws
 * {@link BusyError}; `await using` closes the socket (pending receives
 * complete with WSA_OPERATION_ABORTED) and drains every request.
 */
export class RioUdpSocket implements Disposable, AsyncDisposable {
  /** The bound address (the port the system picked when bound to port 0). */
  readonly addr: SocketAddress;
  /** The peer given as `connect` in the options, or null. */
  readonly peer: SocketAddress | null;
  /** The completion queue (the `RioCompletionQueue` given in the options). */
  readonly cq: RioSocketQueue;
  /** MaxOutstandingReceive. */
  readonly maxOutstandingReceive: number;
  /** MaxOutstandingSend. */
  readonly maxOutstandingSend: number;
  readonly #ctx: RioContext;
  readonly #socket: bigint;
  readonly #context: bigint;
  readonly #region: NativeRegion;
  readonly #view: DataView;
  readonly #requests: RioRequestQueue;
  /** Which of the receive metadata options took. */
  readonly metadata: RioSocketMetadata;
  #closing = false;
  #closed = false;

  static {
    makeRioUdpSocket = (ctx, options) => new RioUdpSocket(ctx, options);
  }

  // Use `Rio.udpSocket`.
  private constructor(ctx: RioContext, options: RioUdpSocketOptions) {
    checkOpen(ctx, "a RioUdpSocket");
    const { cqState, maxR, maxS, addr, peer, socket, rq, context, region, metadata } =
      openUdpSocket(
        ctx,
        options,
      );
    this.metadata = metadata;
    const slots = maxR + maxS;
    this.addr = addr;
    this.peer = peer;
    this.#socket = socket;
    this.#context = context;
    this.cq = options.cq;
    this.maxOutstandingReceive = maxR;
    this.maxOutstandingSend = maxS;
    this.#ctx = ctx;
    this.#region = region;
    this.#view = region.view;
    this.#requests = new RioRequestQueue(ctx, rq, cqState, region, maxR, maxS);
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
    return this.#requests.receives;
  }

  /** Sends posted and not yet dequeued (deferred ones included). */
  get sendsOutstanding(): number {
    return this.#requests.sends;
  }

  /** How many more receives may be posted now. */
  get receivesAvailable(): number {
    return this.maxOutstandingReceive - this.#requests.receives;
  }

  /** How many more sends may be posted now. */
  get sendsAvailable(): number {
    return this.maxOutstandingSend - this.#requests.sends;
  }

  #check(): void {
    if (this.#closing || this.#closed) throw new DisposedError("RioUdpSocket");
  }

  /**
   * RIOReceiveEx into `data`; when `remote` is given the sender's
   * SOCKADDR_INET is written there. The completion comes from the socket's
   * completion queue with `context`.
   * @throws {WinsockError} WSAENOBUFS when `maxOutstandingReceive` receives are outstanding (nothing posted).
   * @throws {BusyError} when a send is in flight on a registration it names (regio's rule).
   */
  receiveEx(
    data: RioSlice,
    remote: RioAddressSlice | null,
    context?: unknown,
    options?: RioReceiveOptions,
  ): void {
    this.#check();
    this.#requests.checkRoom(RECEIVE);
    this.#post(RECEIVE, data, data.length, remote, context, options);
  }

  /**
   * RIOSendEx of `data` (or its first `options.length` bytes) to the
   * SOCKADDR_INET in `remote`. Under regio's sharing rule (stricter than
   * RIO's per-RIO_BUF one) nothing else may use the registration of either
   * slice until the completion is dequeued.
   * @throws {WinsockError} WSAENOBUFS when `maxOutstandingSend` sends are outstanding (nothing posted).
   * @throws {BusyError} when another request in flight uses a registration it names.
   */
  sendEx(
    data: RioSlice,
    remote: RioAddressSlice,
    context?: unknown,
    options?: RioSendOptions,
  ): void {
    this.#sendEx(data, remote, context, options);
  }

  /**
   * RIOSendEx with no address (a NULL pRemoteAddress, as the docs allow on a
   * connected socket): to {@link RioUdpSocket.peer}. Otherwise like {@link RioUdpSocket.sendEx}.
   * @throws {TypeError} when the socket was not opened with `connect`.
   */
  send(data: RioSlice, context?: unknown, options?: RioSendOptions): void {
    if (!this.peer) throw new TypeError("RioUdpSocket.send needs a connected socket; use sendEx");
    this.#sendEx(data, null, context, options);
  }

  #sendEx(
    data: RioSlice,
    remote: RioAddressSlice | null,
    context: unknown,
    options: RioSendOptions | undefined,
  ): void {
    this.#check();
    this.#requests.checkRoom(SEND);
    const length = options?.length === undefined
      ? data.length
      : checkInteger("length", options.length, 0, data.length);
    this.#post(SEND, data, length, remote, context, options);
  }

  #post(
    kind: number,
    data: RioSlice,
    length: number,
    remote: RioAddressSlice | null,
    context: unknown,
    options: RioSendOptions | undefined,
  ): void {
    const defer = options?.defer === true;
    const control = options?.control ?? null;
    const controlLength = control === null
      ? 0
      : options?.controlLength === undefined
      ? control.length
      : checkInteger("controlLength", options.controlLength, 1, control.length);
    this.#requests.post(kind, data, length, remote, context, defer, control, controlLength, this);
  }

  /**
   * Starts every deferred request (RIO_MSG_COMMIT_ONLY). Which requests one
   * COMMIT_ONLY covers (its direction only, or the whole queue) is
   * UNCONFIRMED, so each direction with deferred requests gets its own.
   */
  commit(): void {
    this.#check();
    this.#requests.commit();
  }

  /**
   * `setsockopt(level, name)` with `value` as the option bytes (a DWORD when
   * a number), e.g. the multicast options of `SOCKOPT`. `call` names it in the error.
   * @throws {WinsockError} from setsockopt; {@link RangeError} for more than 4096 bytes;
   *   the allocator's error when a struct over 28 bytes cannot get its region.
   */
  setOption(level: number, name: number, value: number | Uint8Array, call: string): void {
    this.#check();
    const bytes = typeof value === "number" ? 4 : value.length;
    checkInteger("option length", bytes, 0, 4096);
    const { ws2 } = this.#ctx;
    if (typeof value !== "number" && bytes > SCRATCH - 4) {
      // A bigger struct (GROUP_SOURCE_REQ, 264 B) gets its own region; setsockopt copies it.
      using own = NativeRegion.allocate(bytes, { allocator: this.#ctx.allocator });
      own.bytes.set(value);
      checkWinsock(ws2.setsockopt(this.#socket, level, name, own.pointer, bytes), call, ws2);
      return;
    }
    // The scratch area at the front of the region is free once the socket is open.
    if (typeof value === "number") this.#view.setInt32(0, value, true);
    else new Uint8Array(this.#view.buffer, this.#view.byteOffset, bytes).set(value);
    checkWinsock(ws2.setsockopt(this.#socket, level, name, this.#region.pointer, bytes), call, ws2);
  }

  /** Called by the completion queue for each dequeued RIORESULT of this socket. */
  #complete(slot: number, status: number, bytes: number): RioCompletion {
    const requests = this.#requests;
    const kind = requests.kind[slot];
    const data = requests.data[slot]!;
    const remote = requests.remote[slot];
    const context = requests.context[slot];
    if (kind === 0) {
      throw new WinsockError(status, "RIODequeueCompletion", `no request in slot ${slot}`);
    }
    const control = requests.control[slot];
    requests.release(slot, this);
    const call = kind === RECEIVE ? "RIOReceiveEx" : "RIOSendEx";
    return {
      socket: this,
      kind: kind === RECEIVE ? "receive" : "send",
      status,
      bytes,
      context,
      data,
      remote,
      control,
      error: status === 0 ? null : new WinsockError(status, call),
    };
  }

  /**
   * Closes the socket when nothing is outstanding. Idempotent.
   * @throws {BusyError} while requests are outstanding (nothing is changed; use `await using`).
   */
  close(): void {
    if (this.#closed) return;
    const n = this.#requests.receives + this.#requests.sends;
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
    // Closing only once it worked: a failed closesocket leaves the socket open, so
    // teardown must not go on as if its requests were aborted; the next close retries.
    checkWinsock(this.#ctx.ws2.closesocket(this.#socket), "closesocket", this.#ctx.ws2);
    this.#closing = true;
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
      this.#requests.commit();
      this.#closesocket();
    }
    const cq = this.cq[INTERNAL];
    const requests = this.#requests;
    while (requests.receives + requests.sends > 0) {
      if (cq.pump() === 0 && requests.receives + requests.sends > 0) await cq.idle();
    }
    this.#finish();
  }
}

/** Makes a {@link RioUdpSocket} (its constructor is not public). */
export function newRioUdpSocket(ctx: RioContext, options: RioUdpSocketOptions): RioUdpSocket {
  return makeRioUdpSocket(ctx, options);
}
