/**
 * Registered (fixed) buffers: one table per ring over {@link NativeRegion}s,
 * made with REGISTER_BUFFERS2 and resource tags. Each region is held
 * (`retain`) until the kernel's tag completion says it let go of the pages.
 *
 * @module
 */

import { checkInteger, ErrnoError, RegioError } from "../errors.ts";
import {
  ERRNO,
  IO_URING_RSRC_REGISTER,
  IORING_FEAT,
  IORING_MAX,
  IORING_REGISTER,
  IOVEC,
  RLIMIT,
} from "../../ffi/linux/abi.ts";
import { libc } from "./libc.ts";
import { markKernelMayUse, NativeRegion } from "../memory.ts";
import type { RingCore } from "./ring.ts";
import { KIND } from "./ring_contracts.ts";
import { register } from "./ring_syscalls.ts";
import { withArgs } from "./scratch.ts";
import { Lifecycle, Registration } from "./registration.ts";

/** Internal state of a {@link BufferTable}, shared with the ops that use it. */
export interface BufferTableState {
  /** Lifecycle and in-flight count. */
  readonly life: Lifecycle;
  /** The registered regions, by index. */
  readonly regions: readonly NativeRegion[];
  /** Their addresses as numbers (below 2^53), by index. */
  readonly addresses: Float64Array;
}

let stateOf: (table: BufferTable) => BufferTableState;
let construct: (state: BufferTableState) => BufferTable;

/**
 * A ring's registered buffer table: `READ_FIXED`/`WRITE_FIXED` name a buffer
 * by index and the kernel skips pinning pages per operation. Made by
 * `Uring.registerBuffers`; each region is held (it cannot be freed) until
 * the table is disposed and the kernel has released it.
 *
 * Disposal unregisters exactly once: `[Symbol.dispose]` refuses with a
 * `BusyError` while operations use the table; `[Symbol.asyncDispose]`
 * cancels them, waits for their final completions, unregisters, waits for
 * the resource-tag completions and only then lets the regions go.
 */
export class BufferTable extends Registration {
  readonly #s: BufferTableState;

  static {
    stateOf = (table) => table.#s;
    construct = (state) => new BufferTable(state);
  }

  private constructor(state: BufferTableState) {
    super(state.life);
    this.#s = state;
  }

  /** Number of registered buffers. */
  get length(): number {
    return this.#s.regions.length;
  }

  /** The region registered at `index`. @throws {RangeError} for a bad index. */
  region(index: number): NativeRegion {
    checkInteger("buffer index", index, 0, this.#s.regions.length - 1);
    return this.#s.regions[index];
  }
}

/** @internal Throws unless `table` is a live table of `core`. */
export function liveBufferTable(core: RingCore, table: BufferTable): BufferTableState {
  if (!(table instanceof BufferTable)) throw new TypeError("buffers must be a BufferTable");
  const s = stateOf(table);
  if (s.life.core !== core) throw new RegioError("this BufferTable belongs to another Uring");
  s.life.assertLive();
  return s;
}

/** RLIMIT_MEMLOCK as text, for the ENOMEM message. */
function memlockLimit(): string {
  return withArgs(RLIMIT.SIZE, (args) => {
    if (libc().getrlimit(RLIMIT.MEMLOCK, args.pointer) !== 0) return "unknown";
    const kib = (v: bigint): string => v === RLIMIT.INFINITY ? "unlimited" : `${v / 1024n} KiB`;
    return `soft ${kib(args.view.getBigUint64(RLIMIT.cur, true))}, hard ${
      kib(args.view.getBigUint64(RLIMIT.max, true))
    }`;
  });
}

/**
 * Registers `regions` as the ring's buffer table.
 * @throws {RangeError} for an empty list or more than 16384 regions;
 *   {@link DisposedError} for a freed region; {@link ErrnoError} from the kernel
 *   (ENOMEM when RLIMIT_MEMLOCK is exceeded; the message names the limit).
 */
export function registerBuffers(core: RingCore, regions: readonly NativeRegion[]): BufferTable {
  core.assertOpen();
  if (!Array.isArray(regions)) throw new TypeError("regions must be an array of NativeRegion");
  checkInteger("number of buffers", regions.length, 1, IORING_MAX.REG_BUFFERS);
  const addresses = new Float64Array(regions.length);
  regions.forEach((r, i) => {
    if (!(r instanceof NativeRegion)) throw new TypeError(`regions[${i}] is not a NativeRegion`);
    addresses[i] = Number(r.address); // throws DisposedError when freed
    checkInteger(`regions[${i}].byteLength`, r.byteLength, 1, IORING_MAX.BUFFER_BYTES);
  });
  const useTags = (core.features & IORING_FEAT.RSRC_TAGS) !== 0;
  const R = IO_URING_RSRC_REGISTER;
  const n = regions.length;
  const holds: (() => void)[] = [];
  let tag = 0;
  const life = new Lifecycle(core, "BufferTable", {
    cancel: () => core.cancelUsersOf(life),
    unregister: () => {
      register(core.fd, IORING_REGISTER.UNREGISTER_BUFFERS, 0n, 0, "UNREGISTER_BUFFERS");
      return useTags ? n : 0;
    },
    release: () => {
      core.dropTag(tag);
      for (const release of holds) release();
    },
    abandon: () => {
      core.dropTag(tag);
      let bytes = 0;
      for (const r of regions) {
        markKernelMayUse(r, "a failed io_uring's BufferTable"); // free() will leak it
        bytes += r.mappedLength;
      }
      for (const release of holds) release();
      return bytes;
    },
  });
  try {
    if (useTags) tag = core.newTag(() => life.tagArrived());
    withArgs(R.SIZE + n * (8 + IOVEC.SIZE), (args) => {
      const v = args.view;
      const tagsAt = R.SIZE, iovAt = R.SIZE + n * 8;
      v.setUint32(R.nr, n, true);
      v.setBigUint64(R.data, args.address + BigInt(iovAt), true);
      if (useTags) v.setBigUint64(R.tags, args.address + BigInt(tagsAt), true);
      for (let i = 0; i < n; i++) {
        v.setBigUint64(iovAt + i * IOVEC.SIZE + IOVEC.base, regions[i].address, true);
        v.setBigUint64(iovAt + i * IOVEC.SIZE + IOVEC.len, BigInt(regions[i].byteLength), true);
        if (useTags) {
          v.setUint32(tagsAt + i * 8, tag, true);
          v.setUint32(tagsAt + i * 8 + 4, KIND.TAG, true);
        }
      }
      register(core.fd, IORING_REGISTER.BUFFERS2, args.address, R.SIZE, "REGISTER_BUFFERS2");
    });
  } catch (e) {
    core.dropTag(tag);
    core.disown(life);
    if (e instanceof ErrnoError && e.code === ERRNO.ENOMEM) {
      throw new ErrnoError(
        e.code,
        e.call,
        `Registered buffers are charged to RLIMIT_MEMLOCK (${memlockLimit()}); ` +
          "raise it (ulimit -l, systemd LimitMEMLOCK) or register less memory",
      );
    }
    if (e instanceof ErrnoError && e.code === ERRNO.EBUSY) {
      throw new ErrnoError(e.code, e.call, "A ring has one buffer table: dispose it first");
    }
    throw e;
  }
  for (const r of regions) holds.push(r.retain("an io_uring BufferTable"));
  return construct({ life, regions: [...regions], addresses });
}
