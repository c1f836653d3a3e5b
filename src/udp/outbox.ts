/**
 * Every send of a `UdpSocket` on its way to the kernel: the record of each
 * send in flight (which slot, which bytes, how many datagrams), the reply
 * train being formed, the completion accounting, and the fallback when the
 * kernel refuses segmentation.
 *
 * ## Trains
 *
 * A train is one segmented send (UDP_SEGMENT / USO): datagrams contiguous
 * in one slot's registered memory, all of one length but the last (which
 * may be shorter). `sendMany` packs its trains in a send slot. Replies form
 * trains by themselves: consecutive `reply` calls to datagrams of one
 * coalesced receive — same slot, so same peer and same local address —
 * each starting where the previous one ended, with one length and one ECN
 * mark, join the pending train. It goes to the kernel when a reply does not
 * fit it (another slot, a gap, another length or mark, the segment or byte
 * limit), after a shorter last datagram, at the end of the current
 * microtask (after the loop over a batch), and before the next batch is
 * handed out. A reply to a datagram that was not coalesced goes out at once.
 *
 * ## Fallback
 *
 * When the kernel refuses a segmented send (`UdpBackend.refusedSegmentation`:
 * EIO / EINVAL on Linux), the socket stops segmenting for good
 * (`stats.segmentation` false, `stats.segmentationFallbacks` counts the
 * refusals) and re-sends that train one datagram per send from the same
 * memory; so does every later train.
 *
 * ## Send errors
 *
 * UDP sends are fire-and-forget: a send the kernel rejects (no route,
 * ENETUNREACH / WSAENETUNREACH …) frees its slot and is counted in
 * `stats.sendErrors` (the latest is {@link UdpSocket.lastSendError}); it
 * never throws later.
 *
 * @module
 */

import type { SocketAddress } from "../../ffi/inet.ts";
import type { Slots } from "./slots.ts";

/**
 * The destination of a connected socket's sends: its peer, sent with no
 * address (`backend.sendTo(…, null, …)`). Compared by identity.
 */
export const TO_PEER: SocketAddress = Object.freeze({ hostname: "", port: 0 });

/** One socket's sends in flight and its pending reply train. */
export class Outbox {
  readonly #slots: Slots;
  readonly #first: number; // the first send slot
  readonly #sendDone: (slot: number) => void;
  readonly #onError: (error: Error) => void;
  // Records of sends in flight, by token (parallel arrays; freed tokens are reused).
  readonly #slot: number[] = [];
  readonly #offset: number[] = [];
  readonly #length: number[] = [];
  readonly #segment: number[] = [];
  readonly #count: number[] = [];
  readonly #ecn: number[] = [];
  readonly #remote: (SocketAddress | null)[] = [];
  readonly #freeTokens: number[] = [];
  // The pending reply train (#tSlot -1: none).
  #tSlot = -1;
  #tStart = 0;
  #tBytes = 0;
  #tSegment = 0;
  #tCount = 0;
  #tEcn = 0;
  #tClosed = false;
  #flushQueued = false;
  readonly #flushTask = (): void => {
    this.#flushQueued = false;
    this.flush();
  };

  /**
   * `sendDone(slot)`: send slot `slot` has nothing in flight any more.
   * `onError`: a send failed (for `lastSendError`).
   */
  constructor(slots: Slots, sendDone: (slot: number) => void, onError: (error: Error) => void) {
    this.#slots = slots;
    this.#first = slots.receiveSlots;
    this.#sendDone = sendDone;
    this.#onError = onError;
  }

  #record(
    slot: number,
    offset: number,
    length: number,
    segment: number,
    count: number,
    ecn: number,
    remote: SocketAddress | null,
  ): number {
    let t = this.#freeTokens.pop();
    if (t === undefined) {
      t = this.#slot.length;
      this.#slot.push(0);
      this.#offset.push(0);
      this.#length.push(0);
      this.#segment.push(0);
      this.#count.push(0);
      this.#ecn.push(0);
      this.#remote.push(null);
    }
    this.#slot[t] = slot;
    this.#offset[t] = offset;
    this.#length[t] = length;
    this.#segment[t] = segment;
    this.#count[t] = count;
    this.#ecn[t] = ecn;
    this.#remote[t] = remote;
    return t;
  }

  #issue(t: number): void {
    const backend = this.#slots.backend;
    const slot = this.#slot[t];
    const remote = this.#remote[t];
    if (remote) {
      backend.sendTo(
        slot,
        this.#offset[t],
        this.#length[t],
        remote === TO_PEER ? null : remote,
        this.#segment[t],
        this.#ecn[t],
        t,
      );
    } else {
      backend.reply(slot, this.#offset[t], this.#length[t], this.#segment[t], this.#ecn[t], t);
    }
  }

  /**
   * Counts `count` datagrams of record `t` in flight, then issues it; if the
   * backend throws, both are undone and the error rethrown.
   */
  #issueOrUndo(t: number, count: number): void {
    const inFlight = this.#slots.inFlight;
    const slot = this.#slot[t];
    inFlight[slot] += count; // before: a backend may report completions early
    try {
      this.#issue(t);
    } catch (e) {
      inFlight[slot] -= count;
      this.#remote[t] = null;
      this.#freeTokens.push(t);
      throw e;
    }
  }

  /**
   * A reply of `length` bytes at `offset` of receive slot `slot`.
   * `coalesced`: the slot holds more than one datagram (it may join a train).
   * @throws what the backend throws for an immediate send (nothing changed then).
   */
  reply(slot: number, offset: number, length: number, ecn: number, coalesced: boolean): void {
    const slots = this.#slots;
    if (!coalesced || !slots.segmentation) {
      this.#issueOrUndo(this.#record(slot, offset, length, 0, 1, ecn, null), 1);
      return;
    }
    slots.inFlight[slot]++;
    const backend = slots.backend;
    if (
      this.#tSlot === slot && !this.#tClosed && offset === this.#tStart + this.#tBytes &&
      length <= this.#tSegment && ecn === this.#tEcn && this.#tCount < backend.maxSegments &&
      this.#tBytes + length <= backend.maxTrainBytes
    ) {
      this.#tBytes += length;
      this.#tCount++;
      if (length < this.#tSegment) this.flush(); // a shorter datagram ends a train
      return;
    }
    this.flush();
    this.#tSlot = slot;
    this.#tStart = offset;
    this.#tBytes = length;
    this.#tSegment = length;
    this.#tCount = 1;
    this.#tEcn = ecn;
    this.#tClosed = length === 0;
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(this.#flushTask);
    }
  }

  /** Sends the pending reply train, if any. Never throws: a failure counts as a send error. */
  flush(): void {
    const slot = this.#tSlot;
    if (slot < 0) return;
    this.#tSlot = -1;
    const n = this.#tCount;
    const t = this.#record(
      slot,
      this.#tStart,
      this.#tBytes,
      n > 1 ? this.#tSegment : 0,
      n,
      this.#tEcn,
      null,
    );
    if (this.#slots.closed) return this.#done(t, 0, null, false);
    try {
      this.#issue(t);
    } catch (e) {
      this.#done(t, 0, e as Error, true);
    }
  }

  /**
   * A fresh send of `count` datagrams packed at `[offset, offset+length)` of
   * send slot `slot` (`segment` bytes each but the last; 0 with one datagram).
   * Without segmentation a train goes out one datagram per send.
   * @throws what the backend throws for the first send (nothing changed then).
   */
  send(
    slot: number,
    offset: number,
    length: number,
    remote: SocketAddress,
    segment: number,
    count: number,
    ecn: number,
  ): void {
    const slots = this.#slots;
    if (count === 1 || slots.segmentation) {
      const t = this.#record(slot, offset, length, count > 1 ? segment : 0, count, ecn, remote);
      this.#issueOrUndo(t, count);
      return;
    }
    this.#oneByOne(slot, offset, length, segment, count, ecn, remote, true);
  }

  /**
   * Sends `count` datagrams one per send. With `first`, a throw on the
   * first one is rethrown with nothing changed; any later throw counts as
   * that datagram's send error.
   */
  #oneByOne(
    slot: number,
    offset: number,
    length: number,
    segment: number,
    count: number,
    ecn: number,
    remote: SocketAddress | null,
    first: boolean,
  ): void {
    for (let k = 0; k < count; k++) {
      const at = k * segment;
      const n = k === count - 1 ? length - at : segment;
      const t = this.#record(slot, offset + at, n, 0, 1, ecn, remote);
      if (first) {
        this.#issueOrUndo(t, count); // counts the rest as in flight too
        first = false;
        continue;
      }
      try {
        this.#issue(t);
      } catch (e) {
        this.#done(t, 0, e as Error, true);
      }
    }
  }

  /** The backend's `sent` event for the send numbered `token`. */
  sent(token: number, bytes: number, error: Error | null): void {
    const slots = this.#slots;
    if (
      error && this.#segment[token] > 0 && !slots.closed &&
      slots.backend.refusedSegmentation(error)
    ) {
      // The datagrams are still in the slot: send them one by one.
      slots.segmentation = false;
      slots.segmentationFallbacks++;
      // Read the record out first: #oneByOne may reuse its token.
      const slot = this.#slot[token], offset = this.#offset[token], length = this.#length[token];
      const segment = this.#segment[token], count = this.#count[token], ecn = this.#ecn[token];
      const remote = this.#remote[token];
      this.#remote[token] = null;
      this.#freeTokens.push(token);
      this.#oneByOne(slot, offset, length, segment, count, ecn, remote, false);
      return;
    }
    this.#done(token, bytes, error, true);
  }

  /** Send `t` is over (sent, failed, or dropped at close): count it, free what it held. */
  #done(t: number, bytes: number, error: Error | null, counted: boolean): void {
    const slots = this.#slots;
    const slot = this.#slot[t];
    const count = this.#count[t];
    this.#remote[t] = null;
    this.#freeTokens.push(t);
    if (counted) {
      if (error) {
        slots.sendErrors += count;
        this.#onError(error);
      } else {
        slots.datagramsOut += count;
        slots.bytesOut += bytes;
        slots.sends++;
        if (count > 1) slots.trains++;
      }
    }
    slots.inFlight[slot] -= count;
    if (slots.inFlight[slot] > 0) return;
    if (slot < this.#first) slots.settle(slot);
    else this.#sendDone(slot);
  }
}
