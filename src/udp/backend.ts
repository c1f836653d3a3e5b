/**
 * The contract between the portable {@link UdpSocket} (socket.ts) and a
 * platform's registered-buffer datagram engine (linux.ts: io_uring;
 * windows.ts: RIO). Internal: not exported from any entry point.
 *
 * Slots are numbered once for both sides: receive slots are
 * `0 … receiveSlots-1`, send slots follow them. The backend owns the
 * memory and the kernel objects; the portable layer owns the bookkeeping of
 * who holds which slot, and decides when a receive slot goes back to the
 * kernel (a coalesced receive holds several datagrams; its slot returns once
 * all of them are released or their replies completed).
 *
 * Per-datagram metadata (GRO segment size, ECN, the local address) is per
 * receive slot: the backend decodes the platform's control messages when a
 * receive completes. A segmented send (a "train") is always one contiguous
 * range of one slot's registered memory — the shape both UDP_SEGMENT on
 * Linux and USO through one RIO_BUF on Windows need. What a backend can do
 * is in {@link UdpBackend.offloads}.
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
  /** IPV6_V6ONLY for an IPv6 socket, set explicitly before bind either way. */
  ipv6Only: boolean;
  /**
   * Receive coalescing wanted (GRO / URO), or undefined for the platform's
   * default (Linux: on; Windows: off, quinn#2092); a backend that cannot reports it off.
   */
  gro: boolean | undefined;
  /** Share the port with other sockets that ask for it (SO_REUSEPORT), set before bind. */
  reusePort?: boolean;
  /** SO_BROADCAST, set before bind. */
  broadcast?: boolean;
  /** Connect to this peer right after bind (same family as `hostname`). */
  connect?: SocketAddress;
  /** Multicast send options, set after bind. */
  multicast?: MulticastOptions;
}

/** What a bound socket may change (validated; undefined: left as it is). */
export interface SocketSettings {
  /** SO_BROADCAST. */
  broadcast?: boolean;
  /** Multicast send options. */
  multicast?: MulticastOptions;
}

/** Multicast send options (validated; undefined: the OS default). */
export interface MulticastOptions {
  /** IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS, 0–255. */
  ttl?: number;
  /** IP_MULTICAST_LOOP / IPV6_MULTICAST_LOOP. */
  loopback?: boolean;
  /** IP_MULTICAST_IF / IPV6_MULTICAST_IF. */
  interface?: InterfaceRef;
}

/** An interface, by its IPv4 address (network-order bytes) or by index (0: the default). */
export interface InterfaceRef {
  /** IPv4 only: the interface's local address, or null to name it by index. */
  address: Uint8Array | null;
  /** The interface index (0 with a null address: the system's choice). */
  ifindex: number;
}

/** A group to join or leave (validated against the socket's family). */
export interface Membership extends InterfaceRef {
  /** The group address (4 or 16 bytes, network order). */
  group: Uint8Array;
  /** Source-specific membership: the one sender to accept (the group's family), or null. */
  source: Uint8Array | null;
}

/** What a backend does for this socket (fixed once opened). */
export interface BackendOffloads {
  /** Receives may be coalesced (then `received` reports a segment size). */
  readonly gro: boolean;
  /** Segmented sends (`segment > 0` in `reply` / `sendTo`) are possible. */
  readonly gso: boolean;
  /** Received ECN codepoints are reported, and sends may set one. */
  readonly ecn: boolean;
  /** `local(slot)` is the address each datagram arrived at, and replies leave from it. */
  readonly local: boolean;
}

/** What a backend reports to the portable layer (called on the JS thread). */
export interface BackendEvents {
  /**
   * Receive slot `slot` now holds `length` payload bytes of a receive whose
   * full length was `fullLength` (larger when the kernel truncated it). With
   * `segment` > 0 the receive was coalesced: it holds datagrams of `segment`
   * bytes each, the last one shorter or equal; 0 means one datagram. `ecn`
   * is the received codepoint (0 when not reported).
   */
  received(slot: number, length: number, fullLength: number, segment: number, ecn: number): void;
  /**
   * The send the portable layer numbered `token` completed: `bytes` sent, or
   * `error`. The slot it was sent from is still the portable layer's.
   */
  sent(token: number, bytes: number, error: Error | null): void;
  /** A receive completed with an error that does not stop receiving (counted). */
  receiveError(error: Error): void;
  /** Receiving stopped for good (the socket cannot recover). */
  failed(error: Error): void;
  /**
   * A connected socket's peer error (the kernel's report of an ICMP port
   * unreachable and the like), from a receive or a send. Receiving goes on.
   */
  peerError(error: Error): void;
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
  /** Payload bytes per slot (the longest datagram delivered whole). */
  readonly slotSize: number;
  /** What it can do. */
  readonly offloads: BackendOffloads;
  /** Most segments in one segmented send. */
  readonly maxSegments: number;
  /** Most payload bytes in one segmented send. */
  readonly maxTrainBytes: number;
  /** Which platform API drives it. */
  readonly engine: "io_uring" | "rio";
  /** The connected peer, or null. */
  readonly peer: SocketAddress | null;
  /** Starts receiving into every receive slot. */
  start(events: BackendEvents): void;
  /** A view of slot `slot`'s whole payload area (made once per slot). */
  payload(slot: number): Uint8Array;
  /** The sender recorded in receive slot `slot` (decoded now). */
  remote(slot: number): SocketAddress;
  /**
   * The address the datagrams in receive slot `slot` arrived at (decoded
   * now; the bound address when the backend does not report it).
   */
  local(slot: number): SocketAddress;
  /** Gives receive slot `slot` back to the kernel (nothing may still read it). */
  release(slot: number): void;
  /**
   * Sends `length` bytes at `offset` of receive slot `slot`'s payload back
   * to its sender, from the address it arrived at, from the slot itself.
   * `segment` > 0 sends them as one segmented send of `segment`-byte
   * datagrams; `ecn` is the codepoint to mark. Completes with `sent(token)`.
   */
  reply(
    slot: number,
    offset: number,
    length: number,
    segment: number,
    ecn: number,
    token: number,
  ): void;
  /**
   * Sends `length` bytes at `offset` of send slot `slot` to `remote` (same
   * family as the socket), or to the connected peer when `remote` is null;
   * `segment`, `ecn` and `token` as for `reply`.
   */
  sendTo(
    slot: number,
    offset: number,
    length: number,
    remote: SocketAddress | null,
    segment: number,
    ecn: number,
    token: number,
  ): void;
  /** True when `error` (from `sent`) means the kernel refused the segmentation itself. */
  refusedSegmentation(error: Error): boolean;
  /** Joins (`join`) or leaves a multicast group. @throws the platform's error. */
  setMembership(join: boolean, membership: Membership): void;
  /**
   * Applies `settings` to the bound socket, the interface first (the kernel's
   * refusal of it leaves the rest unchanged). @throws the platform's error.
   */
  setOptions(settings: SocketSettings): void;
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
