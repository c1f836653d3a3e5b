/**
 * The memory a ring shares with the kernel: the SQ ring, CQ ring and SQE
 * array mapped from the ring fd (one mapping for both rings when the kernel
 * has SINGLE_MMAP), the typed-array views over them, and the word offsets of
 * the head, tail, mask and flags fields that `io_uring_params` reports.
 *
 * @module
 */

import {
  IO_CQRING_OFFSETS,
  IO_SQRING_OFFSETS,
  IO_URING_CQE,
  IO_URING_PARAMS,
  IO_URING_SQE,
  IORING_CQ,
  IORING_FEAT,
  IORING_OFF,
  IORING_SETUP,
} from "../../ffi/linux/abi.ts";
import { mmapAllocator, NativeRegion } from "../memory.ts";

/** The three mappings of one ring and the views the SQ and CQ code reads them through. */
export class RingMemory {
  /** SQ ring as u32 words. */
  readonly sq: Uint32Array;
  /** CQ ring as u32 words (the SQ ring's mapping when it is a single one). */
  readonly cq: Uint32Array;
  /** CQ ring as i32 words (for `cqe.res`). */
  readonly cqI: Int32Array;
  /** SQE array as bytes. */
  readonly sqe8: Uint8Array;
  /** SQE array as u16 words. */
  readonly sqe16: Uint16Array;
  /** SQE array as u32 words. */
  readonly sqe32: Uint32Array;
  /** SQE array as i32 words. */
  readonly sqeI: Int32Array;
  /** Word index of the SQ head in {@link RingMemory.sq}. */
  readonly sqHead: number;
  /** Word index of the SQ tail in {@link RingMemory.sq}. */
  readonly sqTail: number;
  /** Word index of the SQ flags in {@link RingMemory.sq}. */
  readonly sqFlags: number;
  /** SQ ring mask. */
  readonly sqMask: number;
  /** Word index of the CQ head in {@link RingMemory.cq}. */
  readonly cqHead: number;
  /** Word index of the CQ tail in {@link RingMemory.cq}. */
  readonly cqTail: number;
  /** CQ ring mask. */
  readonly cqMask: number;
  /** Word index of the CQ flags in {@link RingMemory.cq} (-1: the kernel has none). */
  readonly cqFlags: number;
  /** Word index of the first CQE in {@link RingMemory.cq}. */
  readonly cqes: number;

  readonly #ringMap: NativeRegion;
  readonly #cqMap: NativeRegion;
  readonly #sqeMap: NativeRegion;

  /** Maps the rings of `fd` as `params` (filled in by `io_uring_setup`) describes them. */
  constructor(fd: number, params: DataView) {
    const P = IO_URING_PARAMS, SQO = IO_SQRING_OFFSETS, CQO = IO_CQRING_OFFSETS;
    const u32 = (o: number): number => params.getUint32(o, true);
    const sqEntries = u32(P.sq_entries), cqEntries = u32(P.cq_entries);
    const sq = (k: number): number => u32(P.sq_off + k);
    const cq = (k: number): number => u32(P.cq_off + k);
    const noArray = (u32(P.flags) & IORING_SETUP.NO_SQARRAY) !== 0;
    const sqSize = noArray ? 0 : sq(SQO.array) + sqEntries * 4;
    const cqSize = cq(CQO.cqes) + cqEntries * IO_URING_CQE.SIZE;
    const single = (u32(P.features) & IORING_FEAT.SINGLE_MMAP) !== 0;
    const ringSize = single ? Math.max(sqSize, cqSize) : Math.max(sqSize, sq(SQO.flags) + 4);
    const maps: NativeRegion[] = [];
    try {
      this.#ringMap = NativeRegion.allocate(ringSize, {
        allocator: mmapAllocator({ fd, offset: IORING_OFF.SQ_RING }),
      });
      maps.push(this.#ringMap);
      this.#cqMap = single ? this.#ringMap : NativeRegion.allocate(cqSize, {
        allocator: mmapAllocator({ fd, offset: IORING_OFF.CQ_RING }),
      });
      if (!single) maps.push(this.#cqMap);
      this.#sqeMap = NativeRegion.allocate(sqEntries * IO_URING_SQE.SIZE, {
        allocator: mmapAllocator({ fd, offset: IORING_OFF.SQES }),
      });
      maps.push(this.#sqeMap);
    } catch (e) {
      for (const m of maps.reverse()) m.free();
      throw e;
    }
    this.sq = new Uint32Array(this.#ringMap.bytes.buffer);
    this.cq = new Uint32Array(this.#cqMap.bytes.buffer);
    this.cqI = new Int32Array(this.#cqMap.bytes.buffer);
    this.sqHead = sq(SQO.head) >>> 2;
    this.sqTail = sq(SQO.tail) >>> 2;
    this.sqFlags = sq(SQO.flags) >>> 2;
    this.sqMask = this.sq[sq(SQO.ring_mask) >>> 2];
    this.cqHead = cq(CQO.head) >>> 2;
    this.cqTail = cq(CQO.tail) >>> 2;
    this.cqMask = this.cq[cq(CQO.ring_mask) >>> 2];
    this.cqFlags = cq(CQO.flags) > 0 ? cq(CQO.flags) >>> 2 : -1;
    this.cqes = cq(CQO.cqes) >>> 2;
    if (!noArray) {
      // Identity index array, filled once (as liburing does).
      const array = sq(SQO.array) >>> 2;
      for (let i = 0; i < sqEntries; i++) this.sq[array + i] = i;
    }
    const sqeBuf = this.#sqeMap.bytes.buffer;
    this.sqe8 = new Uint8Array(sqeBuf);
    this.sqe16 = new Uint16Array(sqeBuf);
    this.sqe32 = new Uint32Array(sqeBuf);
    this.sqeI = new Int32Array(sqeBuf);
  }

  /**
   * Whether the kernel signals the registered eventfd when it posts CQEs
   * (clears or sets IORING_CQ_EVENTFD_DISABLED; a no-op without CQ flags).
   */
  eventfdSignals(on: boolean): void {
    const at = this.cqFlags;
    if (at < 0) return;
    const flags = Atomics.load(this.cq, at);
    const next = on ? flags & ~IORING_CQ.EVENTFD_DISABLED : flags | IORING_CQ.EVENTFD_DISABLED;
    if (next !== flags) Atomics.store(this.cq, at, next);
  }

  /** Unmaps everything (the views are revoked); once no request can touch it. */
  free(): void {
    this.#sqeMap.free();
    if (this.#cqMap !== this.#ringMap) this.#cqMap.free();
    this.#ringMap.free();
  }
}
