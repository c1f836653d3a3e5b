/**
 * Provided-buffer rings (REGISTER_PBUF_RING): a ring of buffers, carved from
 * a {@link NativeRegion}, that the kernel picks from for receives. A buffer
 * belongs to the application from the completion that names it until it is
 * recycled; a per-buffer state byte stops it from being added twice.
 *
 * @module
 */

import { checkInteger, RegioError } from "../errors.ts";
import {
  IO_URING_BUF,
  IO_URING_BUF_REG,
  IORING_MAX,
  IORING_REGISTER,
} from "../../ffi/linux/abi.ts";
import { markKernelMayUse, NativeRegion } from "../memory.ts";
import type { RingCore } from "./ring.ts";
import { register } from "./ring_syscalls.ts";
import { withArgs } from "./scratch.ts";
import { Lifecycle, Registration } from "./registration.ts";

/** Options for `Uring.registerBufferRing`. */
export interface BufferRingOptions {
  /** The memory the buffers are carved from (it is held while registered). */
  region: NativeRegion;
  /** Number of buffers: a power of two, at most 32768. */
  count: number;
  /** Bytes per buffer. */
  bufferSize: number;
  /** Where the first buffer starts in the region (default 0). */
  offset?: number;
}

const KERNEL = 1; // the kernel may hand the buffer out
const APP = 0; // a completion handed it to the application
const LENT = 2; // a reply's SEND reads it; it goes back to the kernel on that SEND's completion

/** Internal state of a {@link ProvidedBufferRing}. */
export interface BufferRingState {
  /** Lifecycle and in-flight count (receives that select from the group, sends from its region). */
  readonly life: Lifecycle;
  /** The group id (`buf_group`). */
  readonly groupId: number;
  /** Marks `bid` as handed out by a completion; false if it was not the kernel's. */
  take(bid: number): boolean;
  /** Marks the application's buffer `bid` as read by a reply in flight (see {@link giveBack}). */
  lend(bid: number): void;
  /** The reply reading `bid` completed: the buffer goes back to the kernel (unless disposed). */
  giveBack(bid: number): void;
  /**
   * A completion handed `bid` out without data (it failed): the buffer goes
   * back to the kernel unless the ring is disposed. Never throws for a valid `bid`.
   */
  putBack(bid: number): void;
  /** Buffers in the kernel's hands. */
  available(): number;
  /**
   * Adds a hook called after each recycle (a receiver that ran dry re-arms
   * there; several receivers may share the ring). Returns its remover.
   */
  onRecycle(hook: () => void): () => void;
}

let stateOf: (ring: ProvidedBufferRing) => BufferRingState;
let construct: (core: RingCore, options: BufferRingOptions, groupId: number) => ProvidedBufferRing;

/**
 * A provided-buffer ring: `count` buffers of `bufferSize` bytes inside a
 * region, handed to the kernel up front. Receives that select from the ring
 * say which buffer they filled (its ID); the buffer is then the
 * application's until {@link ProvidedBufferRing.recycle} gives it back.
 * Made by `Uring.registerBufferRing`.
 */
export class ProvidedBufferRing extends Registration {
  /** The buffer group id receives select with. */
  readonly groupId: number;
  /** Number of buffers (IDs are `0 … count-1`). */
  readonly count: number;
  /** Bytes per buffer. */
  readonly bufferSize: number;
  /** Offset of buffer 0 in {@link ProvidedBufferRing.region}. */
  readonly offset: number;
  /** The region the buffers live in. */
  readonly region: NativeRegion;
  readonly #life: Lifecycle;
  readonly #entries: Uint32Array;
  readonly #tail16: Uint16Array;
  readonly #state: Uint8Array;
  readonly #base: number;
  #tail = 0;
  #available = 0;
  #onRecycle: (() => void)[] = [];
  readonly #internal: BufferRingState;

  static {
    stateOf = (ring) => ring.#internal;
    construct = (core, options, groupId) => new ProvidedBufferRing(core, options, groupId);
  }

  private constructor(core: RingCore, options: BufferRingOptions, groupId: number) {
    const { region, count, bufferSize } = options;
    const offset = options.offset ?? 0;
    if (!(region instanceof NativeRegion)) throw new TypeError("region must be a NativeRegion");
    checkInteger("count", count, 1, IORING_MAX.BUF_RING_ENTRIES);
    if ((count & (count - 1)) !== 0) {
      throw new RangeError(`count must be a power of two, got ${count}`);
    }
    checkInteger("bufferSize", bufferSize, 1, 0xffffffff);
    region.checkRange(offset, count * bufferSize, 1);
    const ringMemory = NativeRegion.allocate(count * IO_URING_BUF.SIZE);
    const held = { release: undefined as (() => void) | undefined };
    const life: Lifecycle = new Lifecycle(core, "ProvidedBufferRing", {
      cancel: () => core.cancelUsersOf(life),
      unregister: () => {
        withArgs(IO_URING_BUF_REG.SIZE, (args) => {
          args.view.setUint16(IO_URING_BUF_REG.bgid, groupId, true);
          register(
            core.fd,
            IORING_REGISTER.UNREGISTER_PBUF_RING,
            args.address,
            1,
            "UNREGISTER_PBUF_RING",
          );
        });
        return 0; // no tags: with no receive in flight the kernel no longer touches the ring
      },
      release: () => {
        core.groupIds.delete(groupId);
        ringMemory.free();
        held.release?.();
      },
      abandon: () => {
        // A receive in flight may still pick a buffer from the ring and fill it.
        core.groupIds.delete(groupId);
        markKernelMayUse(ringMemory, "a failed io_uring's ProvidedBufferRing");
        markKernelMayUse(region, "a failed io_uring's ProvidedBufferRing");
        ringMemory.free(); // revokes the view; the memory stays leaked
        held.release?.();
        return ringMemory.mappedLength + region.mappedLength;
      },
    });
    try {
      withArgs(IO_URING_BUF_REG.SIZE, (args) => {
        const v = args.view; // reserved words stay zero (withArgs zero-fills)
        v.setBigUint64(IO_URING_BUF_REG.ring_addr, ringMemory.address, true);
        v.setUint32(IO_URING_BUF_REG.ring_entries, count, true);
        v.setUint16(IO_URING_BUF_REG.bgid, groupId, true);
        register(core.fd, IORING_REGISTER.PBUF_RING, args.address, 1, "REGISTER_PBUF_RING");
      });
    } catch (e) {
      core.disown(life);
      ringMemory.free();
      throw e;
    }
    super(life);
    this.#life = life;
    this.groupId = groupId;
    this.count = count;
    this.bufferSize = bufferSize;
    this.offset = offset;
    this.region = region;
    this.#base = Number(region.address) + offset;
    this.#state = new Uint8Array(count);
    this.#entries = new Uint32Array(ringMemory.bytes.buffer);
    this.#tail16 = new Uint16Array(ringMemory.bytes.buffer);
    core.groupIds.add(groupId);
    held.release = region.retain(`ProvidedBufferRing ${groupId}`);
    for (let bid = 0; bid < count; bid++) this.#add(bid);
    Atomics.store(this.#tail16, IO_URING_BUF.RING_TAIL >>> 1, this.#tail);
    this.#internal = {
      life: this.#life,
      groupId,
      take: (bid) => this.#take(bid),
      lend: (bid) => {
        this.#state[bid] = LENT;
      },
      giveBack: (bid) => {
        if (this.#state[bid] === LENT && !this.#life.disposed) this.#publish(bid);
      },
      putBack: (bid) => {
        if (this.#state[bid] === APP && !this.#life.disposed) this.#publish(bid);
      },
      available: () => this.#available,
      onRecycle: (hook) => {
        this.#onRecycle = [...this.#onRecycle, hook];
        return () => {
          this.#onRecycle = this.#onRecycle.filter((h) => h !== hook);
        };
      },
    };
  }

  /** Buffers currently in the kernel's hands. */
  get available(): number {
    return this.#available;
  }

  /** Offset of buffer `bid` in {@link ProvidedBufferRing.region}. @throws {RangeError} for a bad ID. */
  bufferOffset(bid: number): number {
    checkInteger("buffer id", bid, 0, this.count - 1);
    return this.offset + bid * this.bufferSize;
  }

  /**
   * True while buffer `bid` belongs to the application: a completion handed it
   * out, and it is neither recycled nor being replied from.
   */
  owned(bid: number): boolean {
    checkInteger("buffer id", bid, 0, this.count - 1);
    return this.#state[bid] === APP;
  }

  /**
   * Gives buffer `bid` back to the kernel.
   * @throws {RangeError} for a bad ID; {@link RegioError} if the kernel already has it,
   *   or a reply in flight still reads it (it is recycled when that send completes).
   */
  recycle(bid: number): void {
    this.#life.assertLive();
    checkInteger("buffer id", bid, 0, this.count - 1);
    if (this.#state[bid] === KERNEL) {
      throw new RegioError(`buffer ${bid} of group ${this.groupId} is already the kernel's`);
    }
    if (this.#state[bid] === LENT) {
      throw new RegioError(
        `buffer ${bid} of group ${this.groupId} is being sent by a reply; ` +
          "it goes back to the kernel when that send completes",
      );
    }
    this.#publish(bid);
  }

  #publish(bid: number): void {
    this.#add(bid);
    Atomics.store(this.#tail16, IO_URING_BUF.RING_TAIL >>> 1, this.#tail);
    const hooks = this.#onRecycle;
    for (let i = 0; i < hooks.length; i++) hooks[i]();
  }

  #add(bid: number): void {
    // Entry body first (plain stores), then the tail with Atomics (release).
    const w = ((this.#tail & (this.count - 1)) * IO_URING_BUF.SIZE) >>> 2;
    const addr = this.#base + bid * this.bufferSize;
    const tailWord = this.#entries[w + 3] & 0xffff0000; // entry 0's resv is the ring tail
    this.#entries[w] = addr >>> 0;
    this.#entries[w + 1] = Math.floor(addr / 4294967296);
    this.#entries[w + 2] = this.bufferSize;
    this.#entries[w + 3] = tailWord | bid;
    this.#tail = (this.#tail + 1) & 0xffff;
    this.#state[bid] = KERNEL;
    this.#available++;
  }

  #take(bid: number): boolean {
    if (bid >= this.count || this.#state[bid] !== KERNEL) return false;
    this.#state[bid] = APP;
    this.#available--;
    return true;
  }
}

/**
 * Registers a provided-buffer ring with a free group id.
 * @throws {RangeError} for bad sizes; {@link ErrnoError} from the kernel.
 */
export function registerBufferRing(core: RingCore, options: BufferRingOptions): ProvidedBufferRing {
  core.assertOpen();
  let groupId = 0;
  while (core.groupIds.has(groupId)) groupId++;
  if (groupId > 0xffff) throw new RangeError("all 65536 buffer group ids are in use");
  return construct(core, options, groupId);
}

/** @internal The state behind a ring, after checking it belongs to `core` and is live. */
export function liveBufferRing(core: RingCore, ring: ProvidedBufferRing): BufferRingState {
  if (!(ring instanceof ProvidedBufferRing)) {
    throw new TypeError("buffers must be a ProvidedBufferRing");
  }
  const s = stateOf(ring);
  if (s.life.core !== core) {
    throw new RegioError("this ProvidedBufferRing belongs to another Uring");
  }
  s.life.assertLive();
  return s;
}
