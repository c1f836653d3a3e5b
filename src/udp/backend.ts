/**
 * The contract between the portable {@link UdpSocket} (socket.ts) and a
 * platform's registered-buffer datagram engine (linux.ts: io_uring;
 * windows.ts: RIO). Internal: not exported from any entry point.
 *
 * Slots are numbered once for both sides: receive slots are
 * `0 … receiveSlots-1`, send slots follow them. The backend owns the
 * memory and the kernel objects; the portable layer owns the bookkeeping of
 * who holds which slot.
 *
 * @module
 */

import type { SocketAddress } from "../../ffi/inet.ts";

/** Options a backend is opened with (already validated by options.ts). */
export interface BackendOptions {
  /** Numeric IPv4 or IPv6 literal. */
  hostname: string;
  /** 0–65535 (0 picks a port). */
  port: number;
  /** Receive slots wanted (a backend may round up; it reports the real count). */
  slots: number;
  /** Payload bytes per slot. */
  slotSize: number;
  /** Slots for fresh sends. */
  sendSlots: number;
  /** SO_RCVBUF to set before bind (bytes), or undefined for the OS default. */
  receiveBufferSize?: number;
  /** SO_SNDBUF to set before bind (bytes), or undefined for the OS default. */
  sendBufferSize?: number;
}

/** What a backend reports to the portable layer (called on the JS thread). */
export interface BackendEvents {
  /** Receive slot `slot` now holds a datagram of `length` payload bytes. */
  received(slot: number, length: number, truncated: boolean): void;
  /**
   * The send from `slot` completed (`error` null on success). For a receive
   * slot (a reply), the backend has already given the slot back to the kernel.
   */
  sent(slot: number, bytes: number, error: Error | null): void;
  /** A receive completed with an error that does not stop receiving (counted). */
  receiveError(error: Error): void;
  /** Receiving stopped for good (the socket cannot recover). */
  failed(error: Error): void;
}

/** A platform engine: one bound UDP socket with its registered slot memory. */
export interface UdpBackend {
  /** The bound address (real port). */
  readonly addr: SocketAddress;
  /** 4 or 6. */
  readonly family: 4 | 6;
  /** Receive slots (may be more than asked for, e.g. a power of two). */
  readonly receiveSlots: number;
  /** Send slots. */
  readonly sendSlots: number;
  /** Payload bytes per slot. */
  readonly slotSize: number;
  /** Which platform API drives it. */
  readonly engine: "io_uring" | "rio";
  /** Starts receiving into every receive slot. */
  start(events: BackendEvents): void;
  /** A view of slot `slot`'s whole payload area (made once per slot). */
  payload(slot: number): Uint8Array;
  /** The sender recorded in receive slot `slot` (decoded now). */
  remote(slot: number): SocketAddress;
  /** Gives receive slot `slot` back to the kernel without sending. */
  release(slot: number): void;
  /** Sends `length` bytes of receive slot `slot` back to its sender, from the slot itself. */
  reply(slot: number, length: number): void;
  /** Sends `length` bytes of send slot `slot` to `remote` (same family as the socket). */
  sendTo(slot: number, length: number, remote: SocketAddress): void;
  /** Receive slots the kernel currently holds (posted / provided). */
  kernelReceiveSlots(): number;
  /** Requests in flight at the kernel (receives armed/posted plus sends). */
  inFlight(): number;
  /**
   * Datagrams the kernel dropped for this socket since it was bound, read
   * now (after close: the last count read before the socket closed); null
   * where the OS keeps no per-socket count.
   */
  kernelDrops(): number | null;
  /** Whether waiting for completions keeps the process alive (default: it does). */
  ref(on: boolean): void;
  /**
   * Stops receiving, waits for every request the kernel holds, then frees
   * in the platform's safe order. Idempotent; never throws for in-flight work.
   */
  close(): Promise<void>;
}

/** Opens a backend (bind first, so a port in use leaves nothing behind). */
export type BackendFactory = (options: BackendOptions) => UdpBackend;
