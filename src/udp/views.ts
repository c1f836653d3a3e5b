/**
 * The objects a `UdpSocket` hands out: {@link UdpDatagram} (a received
 * datagram, a view of the receive slot holding it) and {@link UdpSendSlot}
 * (a send slot to fill in place). Each checks, on every use, that it still
 * holds its slot: a datagram until it is replied to or released (several
 * datagrams of one coalesced receive share a slot, each a view of its own
 * segment), a send slot by reading the slot table through `Owner`.
 *
 * @module
 */

import type { SocketAddress } from "../../ffi/inet.ts";
import type { UdpBackend } from "./backend.ts";
import { ACQUIRED } from "./slots.ts";

/** What a datagram or send slot reads from its socket. */
interface Owner {
  readonly backend: UdpBackend;
  readonly state: Uint8Array;
  closed: boolean;
}

let holdDatagram: (datagram: UdpDatagram, owner: Owner) => void;
let retire: (datagram: UdpDatagram) => boolean;
let makeUdpDatagram: (
  owner: Owner,
  slot: number,
  offset: number,
  length: number,
  truncated: boolean,
  ecn: number,
) => UdpDatagram;

/**
 * One received datagram. Its bytes stay in the socket's registered slot;
 * the object is valid until you reply from it, release it, or ask for the
 * next batch (see the module's slot-ownership rule).
 */
export class UdpDatagram {
  /** The receive slot holding it (shared with the other datagrams of a coalesced receive). */
  readonly slot: number;
  /** Where its bytes start in the slot (0 unless it came in a coalesced receive). */
  readonly offset: number;
  /** Payload bytes received (at most the slot size). */
  readonly length: number;
  /** True when the datagram was longer than the slot and was cut to `length` bytes. */
  readonly truncated: boolean;
  /**
   * The ECN codepoint it arrived with (the low two bits of the IPv4 TOS /
   * IPv6 traffic class): 0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE. Always 0 where
   * the engine does not report it (`support().udp.ecn`).
   */
  readonly ecn: number;
  readonly #owner: Owner;
  #done = false;
  #data: Uint8Array | undefined;
  #remote: SocketAddress | undefined;
  #local: SocketAddress | undefined;

  static {
    makeUdpDatagram = (owner, slot, offset, length, truncated, ecn) =>
      new UdpDatagram(owner, slot, offset, length, truncated, ecn);
    holdDatagram = (datagram, owner) => datagram.#hold(owner);
    retire = (datagram) => {
      if (datagram.#done) return false;
      datagram.#done = true;
      return true;
    };
  }

  // Made by the socket.
  private constructor(
    owner: Owner,
    slot: number,
    offset: number,
    length: number,
    truncated: boolean,
    ecn: number,
  ) {
    this.#owner = owner;
    this.slot = slot;
    this.offset = offset;
    this.length = length;
    this.truncated = truncated;
    this.ecn = ecn;
  }

  /** True while the datagram still holds its slot. */
  get valid(): boolean {
    return !this.#done && !this.#owner.closed;
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
    const at = this.offset;
    return (this.#data ??= this.#owner.backend.payload(this.slot).subarray(at, at + this.length));
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

  /**
   * The address it arrived at — on a socket bound to `0.0.0.0` or `::`, the
   * one the sender used (e.g. 127.0.0.2), which is also where a reply
   * leaves from. Decoded on first use and kept. Where the engine does not
   * report it (`support().udp.localAddress`) it is the bound address.
   * @throws {RangeError} when first read after the datagram no longer holds its slot.
   */
  get local(): SocketAddress {
    if (this.#local) return this.#local;
    this.#hold(this.#owner);
    return (this.#local = this.#owner.backend.local(this.slot));
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
  offset: number,
  length: number,
  truncated: boolean,
  ecn: number,
): UdpDatagram {
  return makeUdpDatagram(owner, slot, offset, length, truncated, ecn);
}

/**
 * Marks `datagram` as no longer holding its slot (replied to or released);
 * false when it already did not.
 */
export function retireDatagram(datagram: UdpDatagram): boolean {
  return retire(datagram);
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
