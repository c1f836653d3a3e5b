/**
 * The request queue (RIO_RQ) of one RioUdpSocket, as regio tracks it: the
 * request slots, RIOReceiveEx / RIOSendEx and the commit of deferred
 * requests, the outstanding counts, and regio's sharing rule for the
 * registrations a request names.
 *
 * Each posted request takes a request slot: its RIO_BUF descriptors live
 * in native memory owned by the socket until the completion is dequeued.
 * Whether RIO reads a RIO_BUF only during the call is UNCONFIRMED (deferred
 * requests might read it at commit), so descriptors are never reused early.
 * The slot index is the RequestContext; the caller's context stays in JS.
 *
 * @module
 */

import { RIO, STRUCTS, writeRioBuf, WSA_ERROR } from "../../ffi/windows/abi.ts";
import { BusyError, DisposedError, WinsockError } from "../errors.ts";
import type { NativeRegion } from "../memory.ts";
import { checkRioBool, lastWinsockError } from "./check.ts";
import {
  type BufferState,
  type CqState,
  INTERNAL,
  type RioChild,
  type RioContext,
} from "./rio_context.ts";
import type { RioAddressSlice, RioSlice } from "./rio_buffer.ts";
import { SCRATCH, SLOT } from "./rio_socket_open.ts";

/** One RIO_BUF descriptor; a request slot holds the data, address and control ones in a row. */
const BUF = STRUCTS.RIO_BUF.size;

/** A slot's kind: a receive. */
export const RECEIVE = 1;
/** A slot's kind: a send. */
export const SEND = 2;

/**
 * The request slots and counts of one socket's RIO_RQ. The per-slot arrays
 * are read by the socket when it builds a completion, then cleared by
 * {@link RioRequestQueue.release}.
 */
export class RioRequestQueue {
  /** Per slot: 0 (free), {@link RECEIVE} or {@link SEND}. */
  readonly kind: Uint8Array;
  /** Per slot: the caller's context. */
  readonly context: unknown[];
  /** Per slot: the data slice. */
  readonly data: (RioSlice | null)[];
  /** Per slot: the address slice, or null. */
  readonly remote: (RioAddressSlice | null)[];
  /** Per slot: the control slice, or null. */
  readonly control: (RioSlice | null)[];
  readonly #ctx: RioContext;
  readonly #rq: Deno.PointerObject;
  readonly #cq: CqState;
  readonly #view: DataView;
  readonly #maxR: number;
  readonly #maxS: number;
  readonly #dataPtr: Deno.PointerObject[] = [];
  readonly #addrPtr: Deno.PointerObject[] = [];
  readonly #ctrlPtr: Deno.PointerObject[] = [];
  readonly #requestContext: bigint[] = [];
  readonly #free: number[] = [];
  #receives = 0;
  #sends = 0;
  #deferredReceives = 0;
  #deferredSends = 0;

  /** Slots for `maxR + maxS` requests, each a SLOT after the SCRATCH area of `region`. */
  constructor(
    ctx: RioContext,
    rq: Deno.PointerObject,
    cq: CqState,
    region: NativeRegion,
    maxR: number,
    maxS: number,
  ) {
    this.#ctx = ctx;
    this.#rq = rq;
    this.#cq = cq;
    this.#view = region.view;
    this.#maxR = maxR;
    this.#maxS = maxS;
    const slots = maxR + maxS;
    // Pointer objects and contexts made once, not per request.
    for (let i = 0; i < slots; i++) {
      this.#dataPtr.push(Deno.UnsafePointer.offset(region.pointer, SCRATCH + i * SLOT)!);
      this.#addrPtr.push(Deno.UnsafePointer.offset(region.pointer, SCRATCH + i * SLOT + BUF)!);
      this.#ctrlPtr.push(Deno.UnsafePointer.offset(region.pointer, SCRATCH + i * SLOT + 2 * BUF)!);
      this.#requestContext.push(BigInt(i));
      this.#free.push(slots - 1 - i);
    }
    this.kind = new Uint8Array(slots);
    this.context = new Array(slots).fill(undefined);
    this.data = new Array(slots).fill(null);
    this.remote = new Array(slots).fill(null);
    this.control = new Array(slots).fill(null);
  }

  /** Receives posted and not yet dequeued (deferred ones included). */
  get receives(): number {
    return this.#receives;
  }

  /** Sends posted and not yet dequeued (deferred ones included). */
  get sends(): number {
    return this.#sends;
  }

  /**
   * Throws WSAENOBUFS when every slot of `kind` is taken (nothing posted).
   * @throws {WinsockError}
   */
  checkRoom(kind: number): void {
    if (kind === RECEIVE) {
      if (this.#receives >= this.#maxR) {
        throw new WinsockError(
          WSA_ERROR.WSAENOBUFS,
          "RIOReceiveEx",
          `${this.#receives} receives are outstanding (maxOutstandingReceive); dequeue completions first`,
        );
      }
    } else if (this.#sends >= this.#maxS) {
      throw new WinsockError(
        WSA_ERROR.WSAENOBUFS,
        "RIOSendEx",
        `${this.#sends} sends are outstanding (maxOutstandingSend); dequeue completions first`,
      );
    }
  }

  /**
   * Posts one request in a free slot (after {@link RioRequestQueue.checkRoom}
   * and the caller's argument checks): `length` bytes of `data`, `remote`
   * and `controlLength` bytes of `control` when given.
   * @throws {BusyError} when the sharing rule refuses a registration it names.
   * @throws {WinsockError} from RIOReceiveEx / RIOSendEx (the slot stays free).
   */
  post(
    kind: number,
    data: RioSlice,
    length: number,
    remote: RioAddressSlice | null,
    context: unknown,
    defer: boolean,
    control: RioSlice | null,
    controlLength: number,
    owner: RioChild,
  ): void {
    const d = data.buffer[INTERNAL];
    const r = remote ? remote.buffer[INTERNAL] : null;
    const c = control ? control.buffer[INTERNAL] : null;
    checkUsable(d, kind);
    if (r && r !== d) checkUsable(r, kind);
    if (c && c !== d && c !== r) checkUsable(c, kind);
    const slot = this.#free.pop()!; // a slot per allowed request, so never empty here
    const at = SCRATCH + slot * SLOT;
    writeRioBuf(this.#view, at, d.id, data.offset, length);
    if (remote) writeRioBuf(this.#view, at + BUF, r!.id, remote.offset, remote.length);
    if (control) writeRioBuf(this.#view, at + 2 * BUF, c!.id, control.offset, controlLength);
    const flags = defer ? RIO.RIO_MSG_DEFER : 0;
    const { fn, ws2 } = this.#ctx;
    const remotePtr = remote ? this.#addrPtr[slot] : null;
    const controlPtr = control ? this.#ctrlPtr[slot] : null;
    // The two take the same arguments; pLocalAddress and pFlags stay NULL.
    const receive = kind === RECEIVE;
    const ex = receive ? fn.RIOReceiveEx : fn.RIOSendEx;
    const dataPtr = this.#dataPtr[slot];
    const request = this.#requestContext[slot];
    const ok = ex(this.#rq, dataPtr, 1, null, remotePtr, controlPtr, null, flags, request);
    if (ok === 0) {
      const error = lastWinsockError(ws2, receive ? "RIOReceiveEx" : "RIOSendEx");
      this.#free.push(slot);
      throw error;
    }
    this.kind[slot] = kind;
    this.context[slot] = context;
    this.data[slot] = data;
    this.remote[slot] = remote;
    this.control[slot] = control;
    hold(d, kind, 1, owner);
    if (r && r !== d) hold(r, kind, 1, owner);
    if (c && c !== d && c !== r) hold(c, kind, 1, owner);
    if (receive) {
      this.#receives++;
      this.#deferredReceives = defer ? this.#deferredReceives + 1 : 0;
    } else {
      this.#sends++;
      this.#deferredSends = defer ? this.#deferredSends + 1 : 0;
    }
    this.#cq.outstanding++;
  }

  /**
   * Starts every deferred request (RIO_MSG_COMMIT_ONLY). Which requests one
   * COMMIT_ONLY covers (its direction only, or the whole queue) is
   * UNCONFIRMED, so each direction with deferred requests gets its own.
   */
  commit(): void {
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

  /** Frees a dequeued request's slot (of a nonzero kind): its registrations, count and state. */
  release(slot: number, owner: RioChild): void {
    const kind = this.kind[slot];
    const remote = this.remote[slot];
    const control = this.control[slot];
    const d = this.data[slot]!.buffer[INTERNAL];
    const r = remote ? remote.buffer[INTERNAL] : null;
    const c = control ? control.buffer[INTERNAL] : null;
    hold(d, kind, -1, owner);
    if (r && r !== d) hold(r, kind, -1, owner);
    if (c && c !== d && c !== r) hold(c, kind, -1, owner);
    if (kind === RECEIVE) this.#receives--;
    else this.#sends--;
    this.kind[slot] = 0;
    this.context[slot] = undefined;
    this.data[slot] = null;
    this.remote[slot] = null;
    this.control[slot] = null;
    this.#free.push(slot);
  }
}

/**
 * regio's sharing rule, stricter than RIO's per-RIO_BUF rule (rio_buffer.ts):
 * a registration a new request may use is live, has no send in flight, and,
 * for a send, no request in flight at all.
 */
function checkUsable(s: BufferState, kind: number): void {
  if (s.closed) throw new DisposedError(s.label);
  if (s.sendsInFlight > 0) {
    throw new BusyError(
      s.label,
      s.sendsInFlight,
      "send(s) in flight on this registration; regio lets nothing else use it until they complete",
    );
  }
  if (kind === SEND && s.inFlight > 0) {
    throw new BusyError(
      s.label,
      s.inFlight,
      "request(s) in flight use it, and regio starts a send only on a registration nothing else uses",
    );
  }
}

function hold(s: BufferState, kind: number, delta: number, socket: RioChild): void {
  s.inFlight += delta;
  if (kind === SEND) s.sendsInFlight += delta;
  const n = (s.users.get(socket) ?? 0) + delta;
  if (n === 0) s.users.delete(socket);
  else s.users.set(socket, n);
}
