/**
 * `Uring`, the public io_uring wrapper: creates the ring, hands out
 * registrations (files, buffers, provided-buffer rings, datagram endpoints)
 * and runs the fixed-buffer file operations as promises.
 *
 * @module
 */

import { checkInteger, ErrnoError } from "../errors.ts";
import {
  ERRNO,
  IO_URING_SQE,
  IORING_ASYNC_CANCEL,
  IORING_FEAT,
  IORING_FSYNC,
  IORING_MAX,
  IORING_OP,
  IORING_SETUP,
  IOSQE,
} from "../../ffi/linux/abi.ts";
import type { NativeRegion } from "../memory.ts";
import { RingCore } from "./ring.ts";
import { type FileTable, type FileTableState, liveFileTable, registerFiles } from "./files.ts";
import { type BufferTable, liveBufferTable, registerBuffers } from "./buffers.ts";
import { type BufferRingOptions, type ProvidedBufferRing, registerBufferRing } from "./buf_ring.ts";
import { type DatagramEndpoint, openDatagramEndpoint } from "./datagram.ts";
import type { DatagramEndpointOptions } from "./datagram_options.ts";

/** Options for {@link Uring.create}. */
export interface UringOptions {
  /** Submission queue entries (a power of two, at most 32768; default 256). */
  entries?: number;
  /** Completion queue entries (at least `entries`, at most 65536; default 4 × entries). */
  cqEntries?: number;
}

/** What the kernel accepted and supports, read once at creation. */
export interface UringCapabilities {
  /** Setup flags the kernel accepted (`IORING_SETUP_*`). */
  readonly setupFlags: number;
  /** Feature bits (`IORING_FEAT_*`). */
  readonly features: number;
  /** Actual submission queue size. */
  readonly sqEntries: number;
  /** Actual completion queue size. */
  readonly cqEntries: number;
  /** True when task work is deferred to this thread's waits (SINGLE_ISSUER | DEFER_TASKRUN). */
  readonly deferTaskrun: boolean;
  /** True when the kernel supports resource tags (safe release of registrations, 5.13+). */
  readonly resourceTags: boolean;
  /** True when `opcode` (`IORING_OP_*`) is supported, per REGISTER_PROBE. */
  supports(opcode: number): boolean;
}

/** Options for {@link Uring.fsync}. */
export interface FsyncOptions {
  /** Sync data only (`fdatasync`). */
  datasync?: boolean;
}

const MAX_IO = 0x7fffffff; // cqe.res is an s32

let coreOf: (ring: Uring) => RingCore;

/**
 * An io_uring instance driven from the JS thread. Waiting for completions
 * never blocks the event loop: a registered eventfd is polled on Deno's
 * blocking pool and completions are reaped here. SQEs prepared in the same
 * tick are submitted together.
 *
 * If `io_uring_enter` fails for good (ENXIO, EBADFD, EOWNERDEAD, …), every
 * pending operation rejects with that {@link ErrnoError}, endpoints report it
 * through `onError`, and later calls throw it. Everything can still be closed:
 * registrations are dropped without unregistering, and native memory the
 * kernel's requests may still use is leaked on purpose (reported once), never freed.
 *
 * @example
 * ```ts ignore
 * import { FileFd, NativeRegion, Uring } from "@regio/regio/linux";
 * await using ring = Uring.create();
 * using file = FileFd.open("data.bin");
 * using region = NativeRegion.allocate(64 * 1024);
 * await using files = ring.registerFiles([file.fd]);
 * await using buffers = ring.registerBuffers([region]);
 * const n = await ring.readFixed(files, 0, buffers, 0, 0, 4096, 0);
 * ```
 */
export class Uring implements Disposable, AsyncDisposable {
  /** What the kernel accepted and supports. */
  readonly capabilities: UringCapabilities;
  readonly #core: RingCore;

  static {
    coreOf = (ring) => ring.#core;
  }

  private constructor(core: RingCore) {
    this.#core = core;
    const flags = core.setupFlags;
    this.capabilities = Object.freeze({
      setupFlags: flags,
      features: core.features,
      sqEntries: core.sqEntries,
      cqEntries: core.cqEntries,
      deferTaskrun: (flags & IORING_SETUP.DEFER_TASKRUN) !== 0,
      resourceTags: (core.features & IORING_FEAT.RSRC_TAGS) !== 0,
      supports: (opcode: number) => core.opcodes[opcode] === 1,
    });
  }

  /**
   * Creates a ring with the best setup flags the kernel accepts
   * (`SINGLE_ISSUER | DEFER_TASKRUN | NO_SQARRAY | CQSIZE`, falling back to
   * `COOP_TASKRUN | TASKRUN_FLAG`, then none).
   * @throws {UnsupportedError} when io_uring is blocked (seccomp, `kernel.io_uring_disabled`)
   *   or missing; {@link RangeError} for bad sizes.
   */
  static create(options: UringOptions = {}): Uring {
    const entries = checkInteger("entries", options.entries ?? 256, 1, IORING_MAX.ENTRIES);
    const cqEntries = checkInteger(
      "cqEntries",
      options.cqEntries ?? Math.min(entries * 4, IORING_MAX.CQ_ENTRIES),
      entries,
      IORING_MAX.CQ_ENTRIES,
    );
    return new Uring(RingCore.create({ entries, cqEntries }));
  }

  /** Operations in flight (file ops and datagram endpoint ops). */
  get inFlight(): number {
    return this.#core.expected;
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#core.closed;
  }

  /** CQEs the kernel reported as dropped (EBADR; should stay 0). */
  get droppedCompletions(): number {
    return this.#core.droppedCqes;
  }

  /**
   * Registers `fds` as this ring's file table (`-1` leaves a slot empty).
   * The table holds its own reference to each file.
   * @throws {RangeError} for an empty list or a bad fd; {@link ErrnoError}
   *   from the kernel (EBADF for a closed fd, EBUSY when a table exists).
   */
  registerFiles(fds: readonly number[]): FileTable {
    return registerFiles(this.#core, fds);
  }

  /**
   * Registers `regions` as this ring's buffer table; each region is held
   * until the table is disposed and the kernel has let go of it.
   * @throws {RangeError} for an empty list; {@link DisposedError} for a freed
   *   region; {@link ErrnoError} from the kernel (ENOMEM names RLIMIT_MEMLOCK).
   */
  registerBuffers(regions: readonly NativeRegion[]): BufferTable {
    return registerBuffers(this.#core, regions);
  }

  /**
   * Registers a provided-buffer ring carved from `options.region`.
   * @throws {RangeError} for a count that is not a power of two, or buffers outside the region.
   */
  registerBufferRing(options: BufferRingOptions): ProvidedBufferRing {
    return registerBufferRing(this.#core, options);
  }

  /**
   * Drives the UDP socket in `options.files[options.index]` with multishot
   * receives from `options.buffers` and sends from the same region.
   * @throws {RangeError} for an empty slot or buffers too small for a datagram.
   */
  openDatagramEndpoint(options: DatagramEndpointOptions): DatagramEndpoint {
    return openDatagramEndpoint(this.#core, options);
  }

  /**
   * Reads `length` bytes at `fileOffset` of file `fileIndex` into registered
   * buffer `bufferIndex` at `offset` (READ_FIXED). Resolves to the bytes read
   * (fewer at end of file).
   * @throws {RangeError} (synchronously, before the kernel sees anything) for
   *   a bad index, an empty slot, a slice outside the buffer, or a negative or
   *   fractional number; {@link DisposedError} for a disposed table.
   *   Rejects with {@link ErrnoError} for a failed read.
   */
  readFixed(
    files: FileTable,
    fileIndex: number,
    buffers: BufferTable,
    bufferIndex: number,
    offset: number,
    length: number,
    fileOffset: number,
  ): Promise<number> {
    return this.#rw(
      IORING_OP.READ_FIXED,
      "IORING_OP_READ_FIXED",
      files,
      fileIndex,
      buffers,
      bufferIndex,
      offset,
      length,
      fileOffset,
    );
  }

  /**
   * Writes `length` bytes from registered buffer `bufferIndex` at `offset` to
   * file `fileIndex` at `fileOffset` (WRITE_FIXED). Resolves to the bytes written.
   * @throws {RangeError} like {@link Uring.readFixed}. Rejects with {@link ErrnoError}.
   */
  writeFixed(
    files: FileTable,
    fileIndex: number,
    buffers: BufferTable,
    bufferIndex: number,
    offset: number,
    length: number,
    fileOffset: number,
  ): Promise<number> {
    return this.#rw(
      IORING_OP.WRITE_FIXED,
      "IORING_OP_WRITE_FIXED",
      files,
      fileIndex,
      buffers,
      bufferIndex,
      offset,
      length,
      fileOffset,
    );
  }

  #rw(
    opcode: number,
    name: string,
    files: FileTable,
    fileIndex: number,
    buffers: BufferTable,
    bufferIndex: number,
    offset: number,
    length: number,
    fileOffset: number,
  ): Promise<number> {
    const core = this.#core;
    core.assertOpen();
    const f = this.#fileSlot(files, fileIndex);
    const b = liveBufferTable(core, buffers);
    checkInteger("buffer index", bufferIndex, 0, b.regions.length - 1);
    const size = b.regions[bufferIndex].byteLength;
    checkInteger("offset", offset, 0, size);
    checkInteger("length", length, 0, Math.min(size - offset, MAX_IO));
    checkInteger("fileOffset", fileOffset, 0, Number.MAX_SAFE_INTEGER);
    const [w, promise] = core.prepOp(name, [f.life, b.life], opcode, IOSQE.FIXED_FILE, fileIndex);
    core.set64(w, IO_URING_SQE.off, fileOffset);
    core.set64(w, IO_URING_SQE.addr, b.addresses[bufferIndex] + offset);
    core.set32(w, IO_URING_SQE.len, length);
    core.set16(w, IO_URING_SQE.buf_index, bufferIndex);
    return promise;
  }

  /**
   * Flushes file `fileIndex` to storage (FSYNC). Resolves to 0.
   * @throws {RangeError} for a bad index or an empty slot. Rejects with {@link ErrnoError}.
   */
  fsync(files: FileTable, fileIndex: number, options: FsyncOptions = {}): Promise<number> {
    const core = this.#core;
    core.assertOpen();
    const f = this.#fileSlot(files, fileIndex);
    const [w, promise] = core.prepOp(
      "IORING_OP_FSYNC",
      [f.life],
      IORING_OP.FSYNC,
      IOSQE.FIXED_FILE,
      fileIndex,
    );
    if (options.datasync) core.set32(w, IO_URING_SQE.op_flags, IORING_FSYNC.DATASYNC);
    return promise;
  }

  /**
   * Cancels every operation in flight on file `fileIndex` (ASYNC_CANCEL with
   * FD_FIXED | ALL). Resolves to how many were cancelled (0 when none
   * matched); each cancelled operation rejects with ECANCELED.
   * @throws {RangeError} for a bad index.
   */
  cancel(files: FileTable, fileIndex: number): Promise<number> {
    const core = this.#core;
    core.assertOpen();
    liveFileTable(core, files);
    checkInteger("file index", fileIndex, 0, files.length - 1);
    const [w, promise] = core.prepOp(
      "IORING_OP_ASYNC_CANCEL",
      [],
      IORING_OP.ASYNC_CANCEL,
      0,
      fileIndex,
    );
    const C = IORING_ASYNC_CANCEL;
    core.set32(w, IO_URING_SQE.op_flags, C.FD | C.FD_FIXED | C.ALL);
    return promise.catch((e) => {
      if (e instanceof ErrnoError && e.code === ERRNO.ENOENT) return 0;
      throw e;
    });
  }

  #fileSlot(files: FileTable, fileIndex: number): FileTableState {
    const f = liveFileTable(this.#core, files);
    checkInteger("file index", fileIndex, 0, f.slots.length - 1);
    if (f.slots[fileIndex] < 0) throw new RangeError(`file slot ${fileIndex} is empty`);
    return f;
  }

  /**
   * Submits the prepared SQEs now instead of at the end of the tick, and
   * reaps what has completed. Returns how many SQEs the kernel took.
   * @throws {DisposedError} once closed; {@link ErrnoError} when
   *   `io_uring_enter` failed for good (ENXIO, EBADFD, EOWNERDEAD, …): every
   *   operation then rejects with that error and the ring can only be closed.
   */
  submit(): number {
    const core = this.#core;
    core.assertOpen();
    const n = core.submit();
    // A completion callback may have closed the ring meanwhile: not an error.
    if (core.failure) throw core.failure;
    return n;
  }

  /**
   * Closes the ring, disposing its registrations first. Idempotent.
   * @throws {BusyError} while operations are in flight (nothing is changed).
   */
  close(): void {
    this.#core.close();
  }

  /** Same as {@link Uring.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Cancels every operation, waits for the final completions, disposes the
   * registrations (waiting for their tag completions), then closes.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.#core.closeDrained();
  }
}

/**
 * Whether `ring`'s wait for completions keeps the process alive (what
 * `UdpSocket.ref` / `unref` set). Not part of the Linux entry point.
 */
export function refRing(ring: Uring, on: boolean): void {
  coreOf(ring).ref(on);
}

/**
 * Whether new completions of `ring` wake its eventfd wait: off while the
 * caller polls the ring itself (each wake is a blocking-pool round trip).
 * Not part of the Linux entry point.
 */
export function ringWakeups(ring: Uring, on: boolean): void {
  coreOf(ring).eventfdSignals(on);
}
