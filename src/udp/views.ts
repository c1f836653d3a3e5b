/**
 * The objects a `UdpSocket` hands out: {@link UdpDatagram} (a received
 * datagram, a view of the receive slot holding it) and {@link UdpSendSlot}
 * (a send slot to fill in place). Each checks, on every use, that its slot
 * is still its own, reading the slot table through `Owner`.
 *
 * @module
 */

import type { SocketAddress } from "../../ffi/inet.ts";
import type { UdpBackend } from "./backend.ts";
import { ACQUIRED, HELD } from "./slots.ts";

/** What a datagram or send slot reads from its socket. */
interface Owner {
  readonly backend: UdpBackend;
  readonly state: Uint8Array;
  readonly gens: Uint32Array;
  closed: boolean;
}

let holdDatagram: (datagram: UdpDatagram, owner: Owner) => void;
let makeUdpDatagram: (
  owner: Owner,
  slot: number,
  gen: number,
  length: number,
  truncated: boolean,
) => UdpDatagram;

/**
 * One received datagram. Its bytes stay in the socket's registered slot;
 * the object is valid until you reply from it, release it, or ask for the
 * next batch (see the module's slot-ownership rule).
 */
export class UdpDatagram {
  /** The receive slot holding it. */
  readonly slot: number;
  /** Payload bytes received (at most the slot size). */
  readonly length: number;
  /** True when the datagram was longer than the slot and was cut to `length` bytes. */
  readonly truncated: boolean;
  readonly #owner: Owner;
  readonly #gen: number;
  #data: Uint8Array | undefined;
  #remote: SocketAddress | undefined;

  static {
    makeUdpDatagram = (owner, slot, gen, length, truncated) =>
      new UdpDatagram(owner, slot, gen, length, truncated);
    holdDatagram = (datagram, owner) => datagram.#hold(owner);
  }

  // Made by the socket.
  private constructor(owner: Owner, slot: number, gen: number, length: number, truncated: boolean) {
    this.#owner = owner;
    this.slot = slot;
    this.#gen = gen;
    this.length = length;
    this.truncated = truncated;
  }

  /** True while the datagram still holds its slot. */
  get valid(): boolean {
    const o = this.#owner;
    return !o.closed && o.gens[this.slot] === this.#gen && o.state[this.slot] === HELD;
  }

  /** Checks this is `owner`'s datagram and still holds its slot. */
  #hold(owner: Owner): void {
    if (owner !== this.#owner) throw new TypeError("this datagram belongs to another UdpSocket");
    if (!this.valid) {
      throw new RangeError(
        `the datagram in slot ${this.slot} is no longer held (already replied to or released, ` +
          "auto-released by the next receive, or the socket closed)",
      );
    }
  }

  /**
   * The payload: a view into the registered slot (no copy). Writable, so a
   * reply of at most `length` bytes can be built in place.
   * @throws {RangeError} once the datagram no longer holds its slot.
   */
  get data(): Uint8Array {
    this.#hold(this.#owner);
    return (this.#data ??= this.#owner.backend.payload(this.slot).subarray(0, this.length));
  }

  /**
   * The sender, decoded on first use and kept (a copy: it stays readable
   * after the slot is released).
   * @throws {RangeError} when first read after the datagram no longer holds its slot.
   */
  get remote(): SocketAddress {
    if (this.#remote) return this.#remote;
    this.#hold(this.#owner);
    return (this.#remote = this.#owner.backend.remote(this.slot));
  }
}

let holdSendSlot: (item: UdpSendSlot, owner: Owner) => void;
let makeUdpSendSlot: (owner: Owner, slot: number) => UdpSendSlot;

/** A send slot taken with {@link UdpSocket.acquire}: fill `bytes`, then `send` it. */
export class UdpSendSlot {
  /** Its number in the socket's pool. */
  readonly slot: number;
  readonly #owner: Owner;
  readonly #bytes: Uint8Array;

  static {
    makeUdpSendSlot = (owner, slot) => new UdpSendSlot(owner, slot);
    holdSendSlot = (item, owner) => item.#hold(owner);
  }

  // Made by the socket.
  private constructor(owner: Owner, slot: number) {
    this.#owner = owner;
    this.slot = slot;
    this.#bytes = owner.backend.payload(slot);
  }

  /** Checks this slot is acquired from `owner`. */
  #hold(owner: Owner): void {
    if (owner !== this.#owner) throw new TypeError("this send slot belongs to another UdpSocket");
    if (owner.closed || owner.state[this.slot] !== ACQUIRED) {
      throw new RangeError(`send slot ${this.slot} is not acquired (already sent or released)`);
    }
  }

  /**
   * The whole payload area (`slotSize` bytes of registered memory).
   * @throws {RangeError} once sent or released.
   */
  get bytes(): Uint8Array {
    this.#hold(this.#owner);
    return this.#bytes;
  }
}

/** Makes a {@link UdpDatagram} (its constructor is not public). */
export function newUdpDatagram(
  owner: Owner,
  slot: number,
  gen: number,
  length: number,
  truncated: boolean,
): UdpDatagram {
  return makeUdpDatagram(owner, slot, gen, length, truncated);
}

/** Makes a {@link UdpSendSlot} (its constructor is not public). */
export function newUdpSendSlot(owner: Owner, slot: number): UdpSendSlot {
  return makeUdpSendSlot(owner, slot);
}

/**
 * Checks `datagram` is `owner`'s and still holds its slot.
 * @throws {TypeError} for another socket's; {@link RangeError} once it no longer holds its slot.
 */
export function checkHeld(datagram: UdpDatagram, owner: Owner): void {
  holdDatagram(datagram, owner);
}

/**
 * Checks `item` is acquired from `owner`.
 * @throws {TypeError} for another socket's; {@link RangeError} once sent or released.
 */
export function checkAcquired(item: UdpSendSlot, owner: Owner): void {
  holdSendSlot(item, owner);
}
