/**
 * The send side of `UdpSocket`: the free send slots, the sends and
 * acquires waiting for one, the destination check, and `sendMany`, which
 * packs datagrams into trains in send slots (outbox.ts sends them and
 * frees the slot when they are done).
 *
 * Sends often complete inline (io_uring reaps them inside the submit of
 * the next one), so every send is charged to the shared cooperative budget
 * (src/budget.ts): once it is spent, `send()` resolves on the next turn of
 * the event loop instead of at once, and freed slots go to the waiting
 * sends on that turn. Waiters are served first come, first served; a new
 * send or acquire queues behind them.
 *
 * @module
 */

import { parseIpv4, parseIpv6, type SocketAddress } from "../../ffi/inet.ts";
import { charge, nextTurn, onNextTurn } from "../budget.ts";
import { checkInteger, DisposedError } from "../errors.ts";
import { type Outbox, TO_PEER } from "./outbox.ts";
import { checkEcn, isOptionsObject } from "./receive.ts";
import { ACQUIRED, FREE, SENDING, type Slots } from "./slots.ts";
import { checkAcquired, newUdpSendSlot, UdpSendSlot } from "./views.ts";

/** Options for {@link UdpSocket.send} (instead of a bare length). */
export interface UdpSendOptions {
  /** Bytes to send (default: all of `data`, or the whole slot). */
  length?: number;
  /** ECN codepoint to mark the datagram with, 0–3 (default 0, Not-ECT). */
  ecn?: number;
}

/** Options for {@link UdpSocket.sendMany}. */
export interface UdpSendManyOptions {
  /** ECN codepoint to mark every datagram with, 0–3 (default 0, Not-ECT). */
  ecn?: number;
}

interface SendWaiter {
  data: Uint8Array | null; // null: an acquire()
  remote: SocketAddress | null;
  length: number;
  ecn: number;
  resolve: (slot: UdpSendSlot | undefined) => void;
  reject: (e: Error) => void;
}

const RESOLVED: Promise<void> = Promise.resolve();

/** The same address, whatever way it is written (`::1` and `0:0::1`). */
function sameHost(a: string, b: string, family: 4 | 6): boolean {
  if (a === b) return true;
  const x = family === 4 ? parseIpv4(a) : parseIpv6(a);
  const y = family === 4 ? parseIpv4(b) : parseIpv6(b);
  return x !== null && y !== null && x.every((v, i) => v === y[i]);
}

/** The send slots of one socket and who waits for them. */
export class SendSide {
  readonly #slots: Slots;
  readonly #outbox: Outbox;
  readonly #family: 4 | 6;
  readonly #peer: SocketAddress | null;
  readonly #slotSize: number;
  readonly #first: number; // the first send slot's number
  readonly #freeSend: number[] = [];
  readonly #sendSlotObjects: UdpSendSlot[] = [];
  // Sends and acquires waiting for a slot: a queue from #head on.
  #waiters: SendWaiter[] = [];
  #head = 0;
  #serving = false;
  #serveQueued = false;
  readonly #serveLater = (): void => {
    this.#serveQueued = false;
    this.#serve();
  };
  // The last destination that passed the checks (sends to one peer check once),
  // as the copy the backend is handed.
  #okHost: string | undefined;
  #okPort = -1;
  #okRemote: SocketAddress | undefined;

  /** Every send slot of `slots` starts free; sends go through `outbox`. */
  constructor(slots: Slots, outbox: Outbox) {
    this.#slots = slots;
    this.#outbox = outbox;
    this.#family = slots.backend.family;
    this.#peer = slots.backend.peer;
    this.#slotSize = slots.backend.slotSize;
    const first = (this.#first = slots.receiveSlots);
    const total = first + slots.sendSlots;
    for (let s = total - 1; s >= first; s--) this.#freeSend.push(s);
    for (let s = first; s < total; s++) this.#sendSlotObjects.push(newUdpSendSlot(slots, s));
  }

  /** Free send slots right now. */
  get free(): number {
    return this.#freeSend.length;
  }

  /** Calls of `send()` / `acquire()` waiting for a slot. */
  get waiting(): number {
    return this.#waiters.length - this.#head;
  }

  /** Checks a destination; {@link TO_PEER} for a connected socket's peer. */
  #checkRemote(remote: SocketAddress | undefined): SocketAddress {
    const peer = this.#peer;
    if (remote === undefined) {
      if (peer) return TO_PEER;
      throw new TypeError("remote is required: this socket is not connected (UdpSocket.connect)");
    }
    const checked = this.#checkAddress(remote);
    if (!peer) return checked;
    if (checked.port !== peer.port || !sameHost(checked.hostname, peer.hostname, this.#family)) {
      throw new TypeError(
        `a socket connected to ${peer.hostname}:${peer.port} cannot send to ` +
          `${checked.hostname}:${checked.port}`,
      );
    }
    return TO_PEER;
  }

  /**
   * Checks `remote` and returns a copy of what was checked: each field is
   * read once, so a getter cannot answer the backend differently.
   */
  #checkAddress(remote: SocketAddress): SocketAddress {
    if (remote === null || typeof remote !== "object") {
      throw new TypeError("remote must be a { hostname, port } object");
    }
    const { hostname, port } = remote;
    if (hostname === this.#okHost && port === this.#okPort) return this.#okRemote!;
    if (typeof hostname !== "string") throw new TypeError("remote.hostname must be a string");
    checkInteger("remote.port", port, 1, 65535);
    const family = parseIpv4(hostname) ? 4 : parseIpv6(hostname) ? 6 : 0;
    if (family === 0) {
      throw new TypeError(`remote.hostname "${hostname}" is not a numeric IPv4 or IPv6 address`);
    }
    if (family !== this.#family) {
      throw new TypeError(
        `remote.hostname: an IPv${this.#family} socket cannot send to ${hostname} (an IPv${family} address)`,
      );
    }
    this.#okHost = hostname;
    this.#okPort = port;
    return (this.#okRemote = Object.freeze({ hostname, port }));
  }

  /** See {@link UdpSocket.send}. */
  send(
    data: Uint8Array | UdpSendSlot,
    to?: SocketAddress,
    lengthOrOptions?: number | UdpSendOptions,
  ): Promise<void> {
    const slots = this.#slots;
    if (slots.closed) throw new DisposedError("UdpSocket");
    if (slots.failure) throw slots.failure;
    const remote = this.#checkRemote(to);
    const options = isOptionsObject(lengthOrOptions) ? lengthOrOptions : undefined;
    const length = options ? options.length : lengthOrOptions as number | undefined;
    const ecn = options ? checkEcn(slots, options.ecn) : 0;
    if (data instanceof UdpSendSlot) {
      checkAcquired(data, slots);
      const n = length === undefined ? this.#slotSize : checkInteger(
        "length",
        length,
        0,
        this.#slotSize,
      );
      this.#sendFrom(data.slot, n, remote, ecn);
      return charge() ? RESOLVED : nextTurn();
    }
    if (!(data instanceof Uint8Array)) {
      throw new TypeError("send() takes a Uint8Array or a UdpSendSlot");
    }
    const n = length === undefined ? data.length : checkInteger("length", length, 0, data.length);
    if (n > this.#slotSize) {
      throw new RangeError(`${n} bytes do not fit a ${this.#slotSize}-byte slot`);
    }
    const slot = this.#waiting() ? undefined : this.#freeSend.pop();
    if (slot === undefined) {
      const { promise, resolve, reject } = Promise.withResolvers<UdpSendSlot | undefined>();
      this.#waiters.push({ data, remote, length: n, ecn, resolve, reject });
      return promise as Promise<unknown> as Promise<void>;
    }
    this.#copySend(slot, data, n, remote, ecn);
    return charge() ? RESOLVED : nextTurn();
  }

  /** See {@link UdpSocket.sendMany}. */
  async sendMany(
    remote: SocketAddress,
    payloads: readonly Uint8Array[],
    options?: UdpSendManyOptions,
  ): Promise<void> {
    const slots = this.#slots;
    if (slots.closed) throw new DisposedError("UdpSocket");
    if (slots.failure) throw slots.failure;
    remote = this.#checkRemote(remote);
    if (!Array.isArray(payloads)) throw new TypeError("sendMany() takes an array of Uint8Array");
    const size = this.#slotSize;
    for (const p of payloads) {
      if (!(p instanceof Uint8Array)) {
        throw new TypeError("sendMany() takes an array of Uint8Array");
      }
      if (p.length > size) throw new RangeError(`${p.length} bytes do not fit a ${size}-byte slot`);
    }
    const ecn = checkEcn(slots, options?.ecn);
    const backend = slots.backend;
    // Without segmentation a train still shares one slot, sent one datagram per send.
    const maxSegments = slots.segmentation ? backend.maxSegments : 64;
    const maxBytes = slots.segmentation ? Math.min(size, backend.maxTrainBytes) : size;
    let i = 0;
    while (i < payloads.length) {
      const { slot } = await this.acquire();
      const bytes = backend.payload(slot);
      const segment = payloads[i].length;
      let at = 0, count = 0;
      // A train: one length, but the last may be shorter; within the segment and byte limits.
      while (i < payloads.length && count < maxSegments) {
        const p = payloads[i];
        if (count > 0 && (p.length > segment || at + p.length > maxBytes || segment === 0)) break;
        bytes.set(p, at);
        at += p.length;
        count++;
        i++;
        if (p.length < segment) break;
      }
      try {
        this.#outbox.send(slot, 0, at, remote, segment, count, ecn);
      } catch (e) {
        this.#free(slot);
        throw e;
      }
      slots.state[slot] = SENDING;
      if (!charge(count)) await nextTurn();
    }
  }

  #waiting(): boolean {
    return this.#head < this.#waiters.length;
  }

  #copySend(
    slot: number,
    data: Uint8Array,
    n: number,
    remote: SocketAddress,
    ecn: number,
  ): void {
    if (n > 0) {
      this.#slots.backend.payload(slot).set(n === data.length ? data : data.subarray(0, n));
    }
    this.#slots.state[slot] = ACQUIRED;
    this.#sendFrom(slot, n, remote, ecn);
  }

  #sendFrom(slot: number, n: number, remote: SocketAddress, ecn: number): void {
    try {
      this.#outbox.send(slot, 0, n, remote, 0, 1, ecn);
    } catch (e) {
      this.#free(slot);
      throw e;
    }
    this.#slots.state[slot] = SENDING;
  }

  /** See {@link UdpSocket.acquire}. */
  acquire(): Promise<UdpSendSlot> {
    const slots = this.#slots;
    if (slots.closed) return Promise.reject(new DisposedError("UdpSocket"));
    if (slots.failure) return Promise.reject(slots.failure);
    const slot = this.tryAcquire();
    if (slot) return Promise.resolve(slot);
    const { promise, resolve, reject } = Promise.withResolvers<UdpSendSlot | undefined>();
    this.#waiters.push({ data: null, remote: null, length: 0, ecn: 0, resolve, reject });
    return promise as Promise<UdpSendSlot>;
  }

  /** See {@link UdpSocket.tryAcquire}. */
  tryAcquire(): UdpSendSlot | null {
    const slots = this.#slots;
    if (slots.closed) throw new DisposedError("UdpSocket");
    if (slots.failure) throw slots.failure;
    const slot = this.#waiting() ? undefined : this.#freeSend.pop();
    if (slot === undefined) return null;
    slots.state[slot] = ACQUIRED;
    return this.#sendSlotObjects[slot - this.#first];
  }

  /** Send slot `slot` has nothing in flight any more (outbox.ts). */
  sent(slot: number): void {
    this.#free(slot);
  }

  /** Returns an acquired send slot unsent. */
  release(item: UdpSendSlot): void {
    checkAcquired(item, this.#slots);
    this.#free(item.slot);
  }

  /** Frees send slot `slot`; the waiters get it (now, or on the next turn when the budget is spent). */
  #free(slot: number): void {
    const slots = this.#slots;
    slots.state[slot] = FREE;
    if (slots.closed) return;
    this.#freeSend.push(slot);
    if (this.#waiting() && !this.#serving) this.#serve();
  }

  /** Hands free slots to waiters in order, each charged to the budget. */
  #serve(): void {
    const slots = this.#slots;
    // Serving one can free another inline (a send completing in its submit):
    // the loop below picks that up instead of recursing.
    this.#serving = true;
    try {
      while (this.#waiting() && this.#freeSend.length > 0 && !slots.closed) {
        if (!charge()) {
          if (!this.#serveQueued) {
            this.#serveQueued = true;
            onNextTurn(this.#serveLater);
          }
          return;
        }
        const w = this.#waiters[this.#head++];
        const slot = this.#freeSend.pop()!;
        if (w.data === null) {
          slots.state[slot] = ACQUIRED;
          w.resolve(this.#sendSlotObjects[slot - this.#first]);
          continue;
        }
        try {
          this.#copySend(slot, w.data, w.length, w.remote!, w.ecn);
          w.resolve(undefined);
        } catch (e) {
          w.reject(e as Error); // the slot was freed again by #sendFrom
        }
      }
    } finally {
      this.#serving = false;
      this.#compact();
    }
  }

  /** Drops served waiters from the front of the queue once they are the larger part. */
  #compact(): void {
    if (this.#head === this.#waiters.length) {
      this.#waiters = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#waiters.length) {
      this.#waiters = this.#waiters.slice(this.#head);
      this.#head = 0;
    }
  }

  /**
   * Rejects every waiting send and acquire with `error` (the socket failed:
   * a send slot may never come back) or a fresh {@link DisposedError} each
   * (it closes).
   */
  reject(error?: Error): void {
    const waiters = this.#waiters;
    const head = this.#head;
    this.#waiters = [];
    this.#head = 0;
    for (let i = head; i < waiters.length; i++) {
      waiters[i].reject(error ?? new DisposedError("UdpSocket"));
    }
  }
}
