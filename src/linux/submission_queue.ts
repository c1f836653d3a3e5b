/**
 * The submission side of a ring: claiming the next SQE (zeroed, with the
 * fields every op uses), writing op-specific fields into it, and publishing
 * the local tail to the kernel before `io_uring_enter`.
 *
 * @module
 */

import { IO_URING_SQE, IORING_SQ } from "../../ffi/linux/abi.ts";
import type { RingMemory } from "./ring_memory.ts";

const TWO32 = 4294967296;

/** The SQ of one ring; SQE indexes are in 32-bit words of the SQE array. */
export class SubmissionQueue {
  readonly #sq: Uint32Array;
  readonly #sqe8: Uint8Array;
  readonly #sqe16: Uint16Array;
  readonly #sqe32: Uint32Array;
  readonly #sqeI: Int32Array;
  readonly #head: number;
  readonly #tailAt: number;
  readonly #flags: number;
  readonly #mask: number;
  readonly #entries: number;
  #tail: number; // next SQE to fill (local copy of the SQ tail)
  // The kernel's SQ head as last read: it only moves on, so a stale copy can
  // only make the queue look fuller, never free an SQE the kernel still owns.
  #seenHead: number;

  /** The SQ in `memory`, of `entries` SQEs. */
  constructor(memory: RingMemory, entries: number) {
    this.#sq = memory.sq;
    this.#sqe8 = memory.sqe8;
    this.#sqe16 = memory.sqe16;
    this.#sqe32 = memory.sqe32;
    this.#sqeI = memory.sqeI;
    this.#head = memory.sqHead;
    this.#tailAt = memory.sqTail;
    this.#flags = memory.sqFlags;
    this.#mask = memory.sqMask;
    this.#entries = entries;
    this.#tail = Atomics.load(this.#sq, this.#tailAt);
    this.#seenHead = Atomics.load(this.#sq, this.#head);
  }

  /** True when every SQE is claimed and not yet consumed by the kernel. */
  full(): boolean {
    // An atomic load costs a builtin call: read the head only when the last copy says full.
    if (((this.#tail - this.#seenHead) >>> 0) < this.#entries) return false;
    this.#seenHead = Atomics.load(this.#sq, this.#head);
    return ((this.#tail - this.#seenHead) >>> 0) >= this.#entries;
  }

  /**
   * Claims the next SQE, zeroed, with `user_data = (kind, token)`; the caller
   * checked it is not {@link SubmissionQueue.full}. Returns its index.
   */
  claim(opcode: number, sqeFlags: number, fd: number, kind: number, token: number): number {
    const w = ((this.#tail & this.#mask) * IO_URING_SQE.SIZE) >>> 2;
    // Plain stores: TypedArray#fill over 16 words is a builtin call, several times slower.
    const q = this.#sqe32;
    for (let i = w, end = w + (IO_URING_SQE.SIZE >>> 2); i < end; i++) q[i] = 0;
    const b = w << 2;
    this.#sqe8[b + IO_URING_SQE.opcode] = opcode;
    this.#sqe8[b + IO_URING_SQE.flags] = sqeFlags;
    this.#sqeI[w + (IO_URING_SQE.fd >>> 2)] = fd;
    this.#sqe32[w + (IO_URING_SQE.user_data >>> 2)] = token;
    this.#sqe32[w + (IO_URING_SQE.user_data >>> 2) + 1] = kind;
    this.#tail = (this.#tail + 1) >>> 0;
    return w;
  }

  /** Writes a u64 field (a non-negative integer below 2^53) at byte `field` of SQE `w`. */
  set64(w: number, field: number, value: number): void {
    const i = w + (field >>> 2);
    this.#sqe32[i] = value >>> 0;
    this.#sqe32[i + 1] = Math.floor(value / TWO32) >>> 0;
  }

  /** Writes a u32 field at byte `field` of SQE `w`. */
  set32(w: number, field: number, value: number): void {
    this.#sqe32[w + (field >>> 2)] = value;
  }

  /** Writes a u16 field at byte `field` of SQE `w`. */
  set16(w: number, field: number, value: number): void {
    this.#sqe16[(w << 1) + (field >>> 1)] = value;
  }

  /** Publishes the claimed SQEs; returns how many the kernel has yet to consume. */
  publish(): number {
    Atomics.store(this.#sq, this.#tailAt, this.#tail);
    this.#seenHead = Atomics.load(this.#sq, this.#head);
    return (this.#tail - this.#seenHead) >>> 0;
  }

  /** True when the kernel flags CQEs waiting in its overflow list. */
  cqOverflowed(): boolean {
    return (Atomics.load(this.#sq, this.#flags) & IORING_SQ.CQ_OVERFLOW) !== 0;
  }
}
