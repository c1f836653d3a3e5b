/**
 * Slot accounting for `UdpSocket`: the states a slot goes through, the
 * table both the receive and the send side write them into, the counters
 * behind `stats`, and the `pool` snapshot. Shared state only; the sides
 * (receive.ts, send.ts) decide when a slot moves.
 *
 * ## Slot ownership
 *
 * The socket owns a fixed pool of slots. Receive slots belong to the kernel
 * until a datagram lands in one; the datagram then **holds its slot** until
 * you {@link UdpSocket.reply} from it or {@link UdpSocket.release} it.
 * Anything still held when you ask for the next batch (`receive()` or the
 * next turn of `for await`) is released automatically, and its `data`
 * becomes invalid: copy what you keep. A reply's slot goes back to the
 * kernel when the kernel has finished sending it, never earlier.
 *
 * Send slots carry fresh data: {@link UdpSocket.send} copies bytes into one
 * (the only copy), or fill one yourself from {@link UdpSocket.acquire}. A
 * send slot is free again when the kernel reports the send done.
 *
 * ## Backpressure
 *
 * Nothing queues without bound. When every receive slot is held or
 * replying, the kernel stops receiving into the pool (the socket's own
 * receive buffer then fills, then the kernel drops; counted as a
 * `poolEmpty` event here). When every send slot is busy, `send()` and
 * `acquire()` wait for one.
 *
 * @module
 */

import type { UdpBackend } from "./backend.ts";

// Receive slot states.
/** Receive slot: in the kernel's hands, ready for a datagram. */
export const KERNEL = 0;
/** Receive slot: holds a datagram not yet handed to `receive()`. */
export const READY = 1;
/** Receive slot: every datagram it holds is handed out, and one at least is still held. */
export const HELD = 2;
/** Receive slot: nothing held any more; replies from it are at the kernel (or in a train). */
export const REPLYING = 3;
// Send slot states.
/** Send slot: free. */
export const FREE = 0;
/** Send slot: acquired (a `UdpSendSlot`), not yet sent. */
export const ACQUIRED = 1;
/** Send slot: its send is at the kernel. */
export const SENDING = 2;

/** Counters since the socket was bound. */
export interface UdpStats {
  /** Datagrams received (truncated ones included). */
  datagramsIn: number;
  /** Payload bytes received (after truncation). */
  bytesIn: number;
  /** Datagrams the kernel reported sent (replies and fresh sends). */
  datagramsOut: number;
  /** Payload bytes sent. */
  bytesOut: number;
  /** Datagrams longer than a slot (delivered truncated). */
  truncated: number;
  /** Times every receive slot was out of the kernel's hands (receiving paused). */
  poolEmpty: number;
  /** Sends the kernel rejected. */
  sendErrors: number;
  /** Receives that completed with an error the socket recovered from. */
  receiveErrors: number;
  /** Kernel receives (a coalesced receive holding many datagrams counts once). */
  receives: number;
  /** Kernel sends completed (a train of many datagrams counts once). */
  sends: number;
  /** Segmented sends (trains of two datagrams or more) completed. */
  trains: number;
  /** Trains the kernel refused to segment, then sent one datagram per send. */
  segmentationFallbacks: number;
  /** True while trains go out as segmented sends (false: unsupported, or off after a refusal). */
  segmentation: boolean;
  /**
   * Datagrams the kernel dropped for this socket since it was bound, before
   * any reached a slot (its receive buffer was full: see `receiveBufferSize`),
   * read from the kernel when `stats` is read. Linux: SO_MEMINFO's
   * SK_MEMINFO_DROPS, the drops column of /proc/net/udp. After close, the
   * count read just before the socket closed. Null on Windows, whose Winsock
   * keeps no per-socket count.
   */
  kernelDrops: number | null;
}

/** Where every slot is, for accounting (a snapshot). */
export interface UdpPoolState {
  /** Receive slots in total. */
  receiveSlots: number;
  /** Receive slots in the kernel's hands, ready for datagrams. */
  receiving: number;
  /** Holding a datagram not yet handed to `receive()`. */
  ready: number;
  /** Holding a datagram handed out and not yet replied to or released. */
  held: number;
  /** Receive slots with replies the kernel has not finished (or in a train not yet sent). */
  replying: number;
  /** Send slots in total. */
  sendSlots: number;
  /** Send slots free. */
  sendFree: number;
  /** Send slots acquired with `acquire()` and not yet sent. */
  acquired: number;
  /** Fresh sends the kernel has not finished. */
  sending: number;
}

/**
 * One socket's slot table and counters. It is also the owner a
 * `UdpDatagram` or `UdpSendSlot` reads its validity from.
 */
export class Slots {
  /** The engine the slots belong to. */
  readonly backend: UdpBackend;
  /** Receive slots are `0 … receiveSlots-1`; send slots follow. */
  readonly receiveSlots: number;
  /** Send slots. */
  readonly sendSlots: number;
  /** Each slot's state (the constants above). */
  readonly state: Uint8Array;
  /** Per receive slot: datagrams of its receive not yet handed out. */
  readonly pending: Uint16Array;
  /** Per receive slot: datagrams handed out and still held. */
  readonly held: Uint16Array;
  /** Per slot: datagrams of it in sends not yet completed (or in a reply train not yet sent). */
  readonly inFlight: Uint16Array;
  /** Per receive slot: datagrams its receive holds (1 unless coalesced). */
  readonly count: Uint16Array;
  /** True once the socket's close has begun. */
  closed = false;
  /** The error that stopped the socket for good, if any. */
  failure: Error | undefined;
  /** Receive slots in the kernel's hands. */
  receiving: number;
  // Counters (see UdpStats).
  /** See {@link UdpStats.datagramsIn}. */
  datagramsIn = 0;
  /** See {@link UdpStats.bytesIn}. */
  bytesIn = 0;
  /** See {@link UdpStats.datagramsOut}. */
  datagramsOut = 0;
  /** See {@link UdpStats.bytesOut}. */
  bytesOut = 0;
  /** See {@link UdpStats.truncated}. */
  truncated = 0;
  /** See {@link UdpStats.poolEmpty}. */
  poolEmpty = 0;
  /** See {@link UdpStats.sendErrors}. */
  sendErrors = 0;
  /** See {@link UdpStats.receiveErrors}. */
  receiveErrors = 0;
  /** See {@link UdpStats.receives}. */
  receives = 0;
  /** See {@link UdpStats.sends}. */
  sends = 0;
  /** See {@link UdpStats.trains}. */
  trains = 0;
  /** See {@link UdpStats.segmentationFallbacks}. */
  segmentationFallbacks = 0;
  /** See {@link UdpStats.segmentation}. */
  segmentation: boolean;

  /** Every receive slot starts in the kernel's hands, every send slot free. */
  constructor(backend: UdpBackend) {
    this.backend = backend;
    this.receiveSlots = backend.receiveSlots;
    this.sendSlots = backend.sendSlots;
    const all = backend.receiveSlots + backend.sendSlots;
    this.state = new Uint8Array(all);
    this.pending = new Uint16Array(backend.receiveSlots);
    this.held = new Uint16Array(backend.receiveSlots);
    this.count = new Uint16Array(backend.receiveSlots);
    this.inFlight = new Uint16Array(all);
    this.receiving = backend.receiveSlots;
    this.segmentation = backend.offloads.gso;
  }

  /**
   * Puts receive slot `slot` in the state its counters say; once nothing of
   * it is pending, held or sending, it goes back to the kernel (a coalesced
   * receive's buffer returns only when every datagram in it is done).
   */
  settle(slot: number): void {
    const state = this.state;
    if (this.pending[slot] > 0) state[slot] = READY;
    else if (this.held[slot] > 0) state[slot] = HELD;
    else if (this.inFlight[slot] > 0) state[slot] = REPLYING;
    else if (state[slot] !== KERNEL) {
      state[slot] = KERNEL;
      this.receiving++;
      if (!this.closed) this.backend.release(slot);
    }
  }

  /** A snapshot of the counters. */
  stats(): UdpStats {
    return {
      datagramsIn: this.datagramsIn,
      bytesIn: this.bytesIn,
      datagramsOut: this.datagramsOut,
      bytesOut: this.bytesOut,
      truncated: this.truncated,
      poolEmpty: this.poolEmpty,
      sendErrors: this.sendErrors,
      receiveErrors: this.receiveErrors,
      receives: this.receives,
      sends: this.sends,
      trains: this.trains,
      segmentationFallbacks: this.segmentationFallbacks,
      segmentation: this.segmentation,
      kernelDrops: this.backend.kernelDrops(),
    };
  }

  /** Where every slot is; `ready` and `sendFree` come from the two sides. */
  pool(ready: number, sendFree: number): UdpPoolState {
    let held = 0, replying = 0, acquired = 0, sending = 0;
    const r = this.receiveSlots;
    const state = this.state;
    for (let s = 0; s < state.length; s++) {
      const st = state[s];
      if (s < r) {
        if (st === HELD) held++;
        // A slot of a coalesced receive may be held and replying at once.
        if (this.inFlight[s] > 0) replying++;
      } else if (st === ACQUIRED) acquired++;
      else if (st === SENDING) sending++;
    }
    return {
      receiveSlots: r,
      receiving: this.receiving,
      ready,
      held,
      replying,
      sendSlots: this.sendSlots,
      sendFree,
      acquired,
      sending,
    };
  }
}
