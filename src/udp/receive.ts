/**
 * The receive side of `UdpSocket`: datagrams the backend reports land in a
 * ready ring (arrival order); `receive()` takes a batch from it or waits
 * (one receive waiter at most), and the slots of the last batch are held
 * until replied to, released, or auto-released by the next request.
 * Every datagram handed out and every reply is charged to the shared
 * cooperative budget (src/budget.ts): under a flood, completions reaped
 * while submitting replies would otherwise keep each batch inside one chain
 * of microtasks, and timers and other I/O would starve. Once the budget is
 * spent, the next batch waits for a turn of the event loop.
 *
 * @module
 */

import { charge, exhausted, onNextTurn } from "../budget.ts";
import { checkInteger, DisposedError, RegioError } from "../errors.ts";
import { HELD, READY, REPLYING, type Slots } from "./slots.ts";
import { checkHeld, newUdpDatagram, type UdpDatagram } from "./views.ts";

/** Options for {@link UdpSocket.receive}. */
export interface UdpReceiveOptions {
  /** Resolve with `[]` when nothing arrives within this many milliseconds. */
  timeoutMs?: number;
  /** Most datagrams in one batch (default: all that are ready). */
  max?: number;
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
  readonly #size: number;
  // Datagrams received and not yet handed out, in arrival order (a ring).
  readonly #readySlot: Int32Array;
  readonly #readyLength: Int32Array;
  readonly #readyTruncated: Uint8Array;
  #readyHead = 0;
  #readyCount = 0;
  // Slots handed out in the last batch (released on the next request).
  readonly #held: Int32Array;
  #heldCount = 0;
  #waiter: ReceiveWaiter | undefined;
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

  /** Sized for every receive slot of `slots`. */
  constructor(slots: Slots) {
    this.#slots = slots;
    const n = (this.#size = slots.receiveSlots);
    this.#readySlot = new Int32Array(n);
    this.#readyLength = new Int32Array(n);
    this.#readyTruncated = new Uint8Array(n);
    this.#held = new Int32Array(n);
  }

  /** Datagrams received and not yet handed out. */
  get ready(): number {
    return this.#readyCount;
  }

  /** Calls of `receive()` waiting (0 or 1). */
  get waiting(): number {
    return this.#waiter ? 1 : 0;
  }

  /** The backend's `received` event: slot `slot` holds a datagram. */
  received(slot: number, length: number, truncated: boolean): void {
    const slots = this.#slots;
    slots.datagramsIn++;
    slots.bytesIn += length;
    if (truncated) slots.truncated++;
    if (--slots.receiving === 0) slots.poolEmpty++;
    slots.state[slot] = READY;
    let i = this.#readyHead + this.#readyCount++;
    if (i >= this.#size) i -= this.#size;
    this.#readySlot[i] = slot;
    this.#readyLength[i] = length;
    this.#readyTruncated[i] = truncated ? 1 : 0;
    // Deliver after the whole completion batch has been reaped.
    if (this.#waiter && !this.#deliverQueued) {
      this.#deliverQueued = true;
      queueMicrotask(this.#deliver);
    }
  }

  /** See {@link UdpSocket.receive}. */
  receive(options?: UdpReceiveOptions): Promise<UdpDatagram[]> {
    const max = options?.max === undefined
      ? this.#size
      : checkInteger("max", options.max, 1, this.#size);
    const timeoutMs = options?.timeoutMs;
    if (timeoutMs !== undefined) checkInteger("timeoutMs", timeoutMs, 0, 2 ** 31 - 1);
    const slots = this.#slots;
    if (slots.closed) return Promise.reject(new DisposedError("UdpSocket"));
    if (slots.failure) return Promise.reject(slots.failure);
    if (this.#waiter) {
      return Promise.reject(new RegioError("UdpSocket: a receive() is already waiting"));
    }
    this.releaseHeld();
    if (this.#readyCount > 0 && !exhausted()) return Promise.resolve(this.#take(max));
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
    const n = Math.min(max, this.#readyCount);
    const batch = new Array<UdpDatagram>(n);
    const slots = this.#slots;
    const state = slots.state;
    const gens = slots.gens;
    for (let k = 0; k < n; k++) {
      const i = this.#readyHead;
      const slot = this.#readySlot[i];
      const gen = (gens[slot] = (gens[slot] + 1) >>> 0);
      state[slot] = HELD;
      this.#held[this.#heldCount++] = slot;
      batch[k] = newUdpDatagram(
        slots,
        slot,
        gen,
        this.#readyLength[i],
        this.#readyTruncated[i] === 1,
      );
      this.#readyHead = i + 1 === this.#size ? 0 : i + 1;
    }
    this.#readyCount -= n;
    charge(n);
    return batch;
  }

  /** Gives the kernel back every slot of the last batch that is still held. */
  releaseHeld(): void {
    const n = this.#heldCount;
    this.#heldCount = 0;
    const state = this.#slots.state;
    for (let k = 0; k < n; k++) {
      const slot = this.#held[k];
      if (state[slot] === HELD) this.#giveBack(slot);
    }
  }

  #giveBack(slot: number): void {
    this.#slots.toKernel(slot);
    this.#slots.backend.release(slot);
  }

  /** See {@link UdpSocket.reply}; `datagram` is a `UdpDatagram` (checked by the caller). */
  reply(datagram: UdpDatagram, length: number | undefined): void {
    const slots = this.#slots;
    checkHeld(datagram, slots);
    const n = length === undefined ? datagram.length : checkInteger(
      "length",
      length,
      0,
      datagram.length,
    );
    const slot = datagram.slot;
    slots.state[slot] = REPLYING;
    try {
      slots.backend.reply(slot, n);
    } catch (e) {
      slots.state[slot] = HELD;
      throw e;
    }
    charge();
  }

  /** Gives a held datagram's slot back to the kernel without replying. */
  release(datagram: UdpDatagram): void {
    checkHeld(datagram, this.#slots);
    this.#giveBack(datagram.slot);
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
