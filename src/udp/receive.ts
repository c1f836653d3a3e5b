/**
 * The receive side of `UdpSocket`: receives the backend reports land in a
 * ready ring (arrival order); `receive()` takes a batch of datagrams from
 * it or waits (one receive waiter at most), and the datagrams of the last
 * batch are held until replied to, released, or auto-released by the next
 * request. A coalesced receive is split here into the datagrams it holds,
 * each a view of its own segment of the slot; the slot goes back to the
 * kernel once all of them are done (slots.ts `settle`).
 * Every datagram handed out and every reply is charged to the shared
 * cooperative budget (src/budget.ts): under a flood, completions reaped
 * while submitting replies would otherwise keep each batch inside one chain
 * of microtasks, and timers and other I/O would starve. Once the budget is
 * spent, the next batch waits for a turn of the event loop.
 *
 * ## Oversized and empty datagrams
 *
 * A datagram longer than `slotSize` is delivered **truncated**: `data` is
 * its first `slotSize` bytes, `truncated` is true and `stats.truncated`
 * counts it. Replying to it sends the truncated bytes (the echo example
 * drops such datagrams instead). Zero-length datagrams are delivered and
 * can be replied to like any other.
 *
 * ## Offloads and per-datagram metadata
 *
 * Receive coalescing (UDP_GRO on Linux, `bind({ gro })`, on by default;
 * URO on Windows, off unless `bind({ gro: true })`) lets one kernel receive
 * carry many datagrams; each still arrives as its own `UdpDatagram` (a view
 * of its segment). Replies to the datagrams of one coalesced receive, in
 * order, go back as one segmented send (UDP_SEGMENT / USO) without a copy,
 * and {@link UdpSocket.sendMany} packs datagrams into such trains (outbox.ts
 * says when a train forms and leaves). Each datagram carries its ECN
 * codepoint (`ecn`) and the address it arrived at (`local`), and a reply
 * leaves from that address. `UdpSocket.offloads` and `support()` say which
 * of these a socket has.
 *
 * @module
 */

import { charge, exhausted, onNextTurn } from "../budget.ts";
import { checkInteger, DisposedError, RegioError, UnsupportedError } from "../errors.ts";
import type { Outbox } from "./outbox.ts";
import { READY, type Slots } from "./slots.ts";
import { checkHeld, newUdpDatagram, retireDatagram, type UdpDatagram } from "./views.ts";

/** Options for {@link UdpSocket.receive}. */
export interface UdpReceiveOptions {
  /** Resolve with `[]` when nothing arrives within this many milliseconds. */
  timeoutMs?: number;
  /** Most datagrams in one batch (default: all that are ready). */
  max?: number;
}

/** Options for {@link UdpSocket.reply} (instead of a bare length). */
export interface UdpReplyOptions {
  /** Bytes of `datagram.data` to send back (default: all). */
  length?: number;
  /** ECN codepoint to mark the reply with, 0–3 (default 0, Not-ECT). */
  ecn?: number;
}

/**
 * Checks an `ecn` option (0–3) against what the engine supports.
 * @throws {RangeError} out of range; {@link UnsupportedError} for a mark the engine cannot set.
 */
export function checkEcn(slots: Slots, ecn: number | undefined): number {
  if (ecn === undefined || ecn === 0) return 0;
  checkInteger("ecn", ecn, 0, 3);
  if (!slots.backend.offloads.ecn) {
    throw new UnsupportedError(
      "ECN marks on sends",
      `an engine that sets them (not ${slots.backend.engine} yet)`,
    );
  }
  return ecn;
}

/**
 * True when a `length` argument is an options object instead: a plain object
 * (`{ length, ecn }`), never a boxed number, array or other instance, which
 * stay lengths and fail the length check as before.
 */
export function isOptionsObject(x: unknown): x is { length?: number; ecn?: number } {
  if (typeof x !== "object" || x === null) return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

interface ReceiveWaiter {
  resolve: (batch: UdpDatagram[]) => void;
  reject: (e: Error) => void;
  max: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** The ready ring, the held batch and the receive waiter of one socket. */
export class ReceiveSide {
  readonly #slots: Slots;
  readonly #outbox: Outbox;
  readonly #size: number;
  readonly #maxBatch: number;
  readonly #slotSize: number;
  // Receives not yet wholly handed out, in arrival order (a ring); #headNext
  // is the next datagram of the head receive.
  readonly #readySlot: Int32Array;
  readonly #readyLength: Int32Array;
  readonly #readyFull: Int32Array;
  readonly #readySegment: Int32Array;
  readonly #readyEcn: Uint8Array;
  #readyHead = 0;
  #readyCount = 0;
  #readyDatagrams = 0; // datagrams in the ring not yet handed out
  #headNext = 0;
  // Datagrams handed out in the last batch (released on the next request).
  readonly #held: (UdpDatagram | undefined)[] = [];
  #heldCount = 0;
  #waiter: ReceiveWaiter | undefined;
  // A connected socket's peer error not yet seen by a receive() (the latest one).
  #peerError: Error | undefined;
  #deliverQueued = false;
  readonly #deliver = (): void => {
    this.#deliverQueued = false;
    const w = this.#waiter;
    if (!w || this.#readyCount === 0) return;
    if (exhausted()) {
      this.#deliverQueued = true;
      onNextTurn(this.#deliver);
      return;
    }
    this.#waiter = undefined;
    if (w.timer !== undefined) clearTimeout(w.timer);
    w.resolve(this.#take(w.max));
  };

  /** Sized for every receive slot of `slots`; replies go through `outbox`. */
  constructor(slots: Slots, outbox: Outbox) {
    this.#slots = slots;
    this.#outbox = outbox;
    const n = (this.#size = slots.receiveSlots);
    // GRO coalesces at most 64 segments (UDP_GRO_CNT_MAX).
    this.#maxBatch = slots.backend.offloads.gro ? n * 64 : n;
    this.#slotSize = slots.backend.slotSize;
    this.#readySlot = new Int32Array(n);
    this.#readyLength = new Int32Array(n);
    this.#readyFull = new Int32Array(n);
    this.#readySegment = new Int32Array(n);
    this.#readyEcn = new Uint8Array(n);
  }

  /** Receive slots holding datagrams not yet handed out. */
  get ready(): number {
    return this.#readyCount;
  }

  /** Calls of `receive()` waiting (0 or 1). */
  get waiting(): number {
    return this.#waiter ? 1 : 0;
  }

  /**
   * The backend's `received` event: slot `slot` holds `length` bytes of a
   * receive of `fullLength`, in `segment`-byte datagrams when coalesced.
   */
  received(slot: number, length: number, fullLength: number, segment: number, ecn: number): void {
    const slots = this.#slots;
    const cap = this.#slotSize;
    const seg = segment > 0 && segment < length ? segment : 0;
    const count = seg === 0 ? 1 : Math.ceil(length / seg);
    const last = length - (count - 1) * seg;
    const cut = fullLength > length; // the kernel truncated the receive
    let truncated = (cut && (seg === 0 || last < seg)) || last > cap ? 1 : 0;
    if (seg > cap) truncated += count - 1;
    // Whole datagrams of a super-packet that did not fit the buffer are lost: counted as truncated.
    if (cut && seg > 0) truncated += Math.ceil(fullLength / seg) - count;
    slots.datagramsIn += count;
    slots.bytesIn += (count - 1) * Math.min(seg, cap) + Math.min(last, cap);
    slots.truncated += truncated;
    slots.receives++;
    if (--slots.receiving === 0) slots.poolEmpty++;
    slots.state[slot] = READY;
    slots.pending[slot] = count;
    slots.count[slot] = count;
    this.#readyDatagrams += count;
    let i = this.#readyHead + this.#readyCount++;
    if (i >= this.#size) i -= this.#size;
    this.#readySlot[i] = slot;
    this.#readyLength[i] = length;
    this.#readyFull[i] = fullLength;
    this.#readySegment[i] = seg;
    this.#readyEcn[i] = ecn;
    // Deliver after the whole completion batch has been reaped.
    if (this.#waiter && !this.#deliverQueued) {
      this.#deliverQueued = true;
      queueMicrotask(this.#deliver);
    }
  }

  /** See {@link UdpSocket.receive}. */
  receive(options?: UdpReceiveOptions): Promise<UdpDatagram[]> {
    const max = options?.max === undefined
      ? this.#maxBatch
      : checkInteger("max", options.max, 1, this.#maxBatch);
    const timeoutMs = options?.timeoutMs;
    if (timeoutMs !== undefined) checkInteger("timeoutMs", timeoutMs, 0, 2 ** 31 - 1);
    const slots = this.#slots;
    if (slots.closed) return Promise.reject(new DisposedError("UdpSocket"));
    if (slots.failure) return Promise.reject(slots.failure);
    if (this.#waiter) {
      return Promise.reject(new RegioError("UdpSocket: a receive() is already waiting"));
    }
    this.#outbox.flush(); // the replies to the last batch go out before it is released
    this.releaseHeld();
    if (this.#readyCount > 0 && !exhausted()) return Promise.resolve(this.#take(max));
    const peerError = this.#peerError;
    if (peerError && this.#readyCount === 0) {
      this.#peerError = undefined;
      return Promise.reject(peerError);
    }
    const { promise, resolve, reject } = Promise.withResolvers<UdpDatagram[]>();
    const w: ReceiveWaiter = { resolve, reject, max, timer: undefined };
    if (timeoutMs !== undefined) {
      w.timer = setTimeout(() => {
        if (this.#waiter !== w) return;
        this.#waiter = undefined;
        resolve([]);
      }, timeoutMs);
    }
    this.#waiter = w;
    if (this.#readyCount > 0) {
      this.#deliverQueued = true;
      onNextTurn(this.#deliver);
    }
    return promise;
  }

  #take(max: number): UdpDatagram[] {
    const total = Math.min(max, this.#readyDatagrams);
    const batch = new Array<UdpDatagram>(total);
    const slots = this.#slots;
    const cap = this.#slotSize;
    for (let b = 0; b < total; b++) {
      const i = this.#readyHead;
      const slot = this.#readySlot[i];
      const length = this.#readyLength[i];
      const seg = this.#readySegment[i];
      const count = slots.count[slot];
      const k = this.#headNext;
      const at = k * seg;
      const n = seg === 0 ? length : Math.min(seg, length - at);
      const lastCut = k === count - 1 && this.#readyFull[i] > length && (seg === 0 || n < seg);
      const d = newUdpDatagram(
        slots,
        slot,
        at,
        Math.min(n, cap),
        lastCut || n > cap,
        this.#readyEcn[i],
      );
      batch[b] = d;
      this.#held[this.#heldCount++] = d;
      slots.pending[slot]--;
      slots.held[slot]++;
      if (k + 1 < count) this.#headNext = k + 1;
      else {
        slots.settle(slot); // HELD
        this.#headNext = 0;
        this.#readyHead = i + 1 === this.#size ? 0 : i + 1;
        this.#readyCount--;
      }
    }
    this.#readyDatagrams -= total;
    charge(total);
    return batch;
  }

  /** Gives the kernel back every datagram of the last batch that is still held. */
  releaseHeld(): void {
    const n = this.#heldCount;
    this.#heldCount = 0;
    const held = this.#held;
    for (let k = 0; k < n; k++) {
      const d = held[k]!;
      held[k] = undefined;
      if (retireDatagram(d)) this.#drop(d.slot);
    }
  }

  /** One held datagram of `slot` is done. */
  #drop(slot: number): void {
    this.#slots.held[slot]--;
    this.#slots.settle(slot);
  }

  /** See {@link UdpSocket.reply}; `datagram` is a `UdpDatagram` (checked by the caller). */
  reply(datagram: UdpDatagram, lengthOrOptions: number | UdpReplyOptions | undefined): void {
    const slots = this.#slots;
    checkHeld(datagram, slots);
    const options = isOptionsObject(lengthOrOptions) ? lengthOrOptions : undefined;
    const length = options ? options.length : lengthOrOptions as number | undefined;
    const n = length === undefined
      ? datagram.length
      : checkInteger("length", length, 0, datagram.length);
    const ecn = options ? checkEcn(slots, options.ecn) : 0;
    const slot = datagram.slot;
    this.#outbox.reply(slot, datagram.offset, n, ecn, slots.count[slot] > 1);
    retireDatagram(datagram);
    this.#drop(slot);
    charge();
  }

  /** Gives a held datagram's slot back to the kernel without replying. */
  release(datagram: UdpDatagram): void {
    checkHeld(datagram, this.#slots);
    retireDatagram(datagram);
    this.#drop(datagram.slot);
  }

  /**
   * The backend's `peerError` event: the waiting `receive()` rejects with
   * it, or the next one that finds nothing ready does. Only the latest is
   * kept; the socket goes on receiving.
   */
  peerError(error: Error): void {
    const w = this.#waiter;
    if (!w || this.#readyCount > 0) {
      this.#peerError = error;
      return;
    }
    this.#waiter = undefined;
    if (w.timer !== undefined) clearTimeout(w.timer);
    w.reject(error);
  }

  /**
   * Rejects the waiting `receive()`, if any, with `error` (the socket
   * failed) or a {@link DisposedError} (it closes).
   */
  reject(error?: Error): void {
    const w = this.#waiter;
    if (!w) return;
    this.#waiter = undefined;
    if (w.timer !== undefined) clearTimeout(w.timer);
    w.reject(error ?? new DisposedError("UdpSocket"));
  }
}
