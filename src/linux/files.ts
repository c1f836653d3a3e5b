/**
 * Registered (fixed) files: one table per ring, made with REGISTER_FILES2 and
 * resource tags, with sparse slots and in-place updates (FILES_UPDATE2).
 *
 * @module
 */

import { checkInteger, ErrnoError, RegioError } from "../errors.ts";
import {
  ERRNO,
  IO_URING_RSRC_REGISTER,
  IO_URING_RSRC_UPDATE2,
  IORING_FEAT,
  IORING_FILES,
  IORING_MAX,
  IORING_REGISTER,
} from "../../ffi/linux/abi.ts";
import type { RingCore } from "./ring.ts";
import { KIND } from "./ring_contracts.ts";
import { register } from "./ring_syscalls.ts";
import { withArgs } from "./scratch.ts";
import { Lifecycle, Registration } from "./registration.ts";

/** Internal state of a {@link FileTable}, shared with the ops that use it. */
export interface FileTableState {
  /** Lifecycle and in-flight count. */
  readonly life: Lifecycle;
  /** The fd registered in each slot, or -1. */
  readonly slots: Int32Array;
  /** The resource tag id of the slots (0 without FEAT_RSRC_TAGS). */
  readonly tag: number;
}

let stateOf: (table: FileTable) => FileTableState;
let construct: (state: FileTableState) => FileTable;

/**
 * A ring's registered file table: operations name a file by its slot index
 * (`IOSQE_FIXED_FILE`). The table holds its own reference to each file, so
 * closing the original fd does not empty a slot; {@link FileTable.update}
 * does. Made by `Uring.registerFiles`.
 *
 * Disposal unregisters exactly once: `[Symbol.dispose]` refuses with a
 * `BusyError` while operations use the table; `[Symbol.asyncDispose]`
 * cancels them, waits for their final completions, unregisters and waits for
 * the kernel's resource-tag completions.
 */
export class FileTable extends Registration {
  readonly #s: FileTableState;

  static {
    stateOf = (table) => table.#s;
    construct = (state) => new FileTable(state);
  }

  private constructor(state: FileTableState) {
    super(state.life);
    this.#s = state;
  }

  /** Number of slots. */
  get length(): number {
    return this.#s.slots.length;
  }

  /**
   * The fd registered in slot `index`, or -1 for an empty slot.
   * @throws {RangeError} for an index outside the table.
   */
  fd(index: number): number {
    checkInteger("file index", index, 0, this.#s.slots.length - 1);
    return this.#s.slots[index];
  }

  /**
   * Replaces slot `index` with `fd` (-1 empties it). Operations already in
   * flight keep the old file until they complete.
   * @throws {RangeError} for a bad index or fd; {@link DisposedError} after disposal;
   *   {@link ErrnoError} from the kernel (e.g. EBADF for a closed fd).
   */
  update(index: number, fd: number): void {
    const s = this.#s;
    s.life.assertLive();
    checkInteger("file index", index, 0, s.slots.length - 1);
    checkInteger("fd", fd, -1, 0x7fffffff);
    const tag = fd >= 0 ? s.tag : 0;
    const U = IO_URING_RSRC_UPDATE2;
    withArgs(U.SIZE + 16, (args) => {
      const v = args.view;
      v.setUint32(U.offset, index, true);
      v.setBigUint64(U.data, args.address + BigInt(U.SIZE), true);
      v.setBigUint64(U.tags, args.address + BigInt(U.SIZE + 8), true);
      v.setUint32(U.nr, 1, true);
      v.setInt32(U.SIZE, fd, true);
      v.setUint32(U.SIZE + 8, tag, true);
      v.setUint32(U.SIZE + 12, tag ? KIND.TAG : 0, true);
      register(
        s.life.core.fd,
        IORING_REGISTER.FILES_UPDATE2,
        args.address,
        U.SIZE,
        "FILES_UPDATE2",
      );
    });
    if (s.slots[index] >= 0 && s.tag !== 0) s.life.expectTag();
    s.slots[index] = fd;
  }
}

/** @internal The state behind a table (for the ops that use it). */
export function fileTableState(table: FileTable): FileTableState {
  return stateOf(table);
}

/**
 * Registers `fds` (-1 for an empty slot) as the ring's file table.
 * @throws {RangeError} for an empty list or bad fds; {@link ErrnoError} from the kernel
 *   (EBADF for a closed fd, EBUSY if the ring already has a table).
 */
export function registerFiles(core: RingCore, fds: readonly number[]): FileTable {
  core.assertOpen();
  if (!Array.isArray(fds)) throw new TypeError("fds must be an array of file descriptors");
  checkInteger("number of files", fds.length, 1, IORING_MAX.FIXED_FILES);
  fds.forEach((fd, i) => checkInteger(`fds[${i}]`, fd, -1, 0x7fffffff));
  const useTags = (core.features & IORING_FEAT.RSRC_TAGS) !== 0;
  const R = IO_URING_RSRC_REGISTER;
  const n = fds.length;
  let tag = 0;
  const life = new Lifecycle(core, "FileTable", {
    cancel: () => core.cancelUsersOf(life),
    unregister: () => {
      register(core.fd, IORING_REGISTER.UNREGISTER_FILES, 0n, 0, "UNREGISTER_FILES");
      let occupied = 0;
      for (const fd of slots) if (fd >= 0) occupied++;
      return useTags ? occupied : 0;
    },
    release: () => core.dropTag(tag),
    abandon: () => {
      core.dropTag(tag);
      return 0; // the kernel holds its own file references; no memory of ours
    },
  });
  const slots = Int32Array.from(fds);
  try {
    if (useTags) tag = core.newTag(() => life.tagArrived());
    withArgs(R.SIZE + n * 12, (args) => {
      const v = args.view;
      const tagsAt = R.SIZE, fdsAt = R.SIZE + n * 8;
      v.setUint32(R.nr, n, true);
      v.setBigUint64(R.data, args.address + BigInt(fdsAt), true);
      if (useTags) v.setBigUint64(R.tags, args.address + BigInt(tagsAt), true);
      for (let i = 0; i < n; i++) {
        v.setInt32(fdsAt + i * 4, fds[i], true);
        if (useTags && fds[i] !== IORING_FILES.EMPTY) {
          v.setUint32(tagsAt + i * 8, tag, true); // tags are not allowed on empty slots
          v.setUint32(tagsAt + i * 8 + 4, KIND.TAG, true);
        }
      }
      register(core.fd, IORING_REGISTER.FILES2, args.address, R.SIZE, "REGISTER_FILES2");
    });
  } catch (e) {
    core.dropTag(tag);
    core.disown(life);
    if (e instanceof ErrnoError && e.code === ERRNO.EBUSY) {
      throw new ErrnoError(
        e.code,
        e.call,
        "A ring has one file table: dispose the existing one, or update its slots",
      );
    }
    throw e;
  }
  return construct({ life, slots, tag });
}

/** @internal Throws unless `table` is a live table of `core`. */
export function liveFileTable(core: RingCore, table: FileTable): FileTableState {
  if (!(table instanceof FileTable)) throw new TypeError("files must be a FileTable");
  const s = stateOf(table);
  if (s.life.core !== core) throw new RegioError("this FileTable belongs to another Uring");
  s.life.assertLive();
  return s;
}
