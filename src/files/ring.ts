/**
 * The portable registered-file API: one {@link FileRing} over Linux io_uring
 * and the Windows I/O ring. Files are opened natively and registered once;
 * buffers are registered native memory; reads and writes name both by index,
 * so a program written against it runs unchanged on either kernel.
 *
 * This module is the facade: {@link FileRing} and the public names of its
 * registrations and requests, re-exported from the modules that hold them.
 *
 * @example
 * ```ts ignore
 * import { FileRing } from "@regio/regio";
 *
 * await using ring = FileRing.open({ depth: 64 });
 * using files = await ring.openFiles(["a.bin", "b.bin"]);
 * using pool = await ring.registerBuffers({ count: 64, size: 4096 });
 * const n = await ring.read({ file: 1, buffer: 0, length: 4096, position: 0 });
 * console.log(pool.bytes(0).subarray(0, n));
 * ```
 *
 * @module
 */

import { BusyError, checkInteger, DisposedError, RegioError, UnsupportedError } from "../errors.ts";
import type {
  Backend,
  FileRingBackend,
  FileRingCapabilities,
  OpenFilesOptions,
} from "./backend.ts";
import { InFlight } from "./batch.ts";
import {
  BufferPool,
  type BufferPoolOptions,
  FileSet,
  newBufferPool,
  newFileSet,
  type PoolState,
  type Release,
  type SetState,
} from "./registrations.ts";
import { checkPaths, checkPool, checkRequests, type IoRequest } from "./requests.ts";
import { ReadRanges } from "./overlap.ts";
import { BatchSettler } from "./settle.ts";
import { chooseBackend, createBackend } from "./platform.ts";
import { tearDownDrained, tearDownNow } from "./teardown.ts";

export type { FileRingBackend, FileRingCapabilities, OpenFilesOptions };
export { BufferPool, type BufferPoolOptions, FileSet, type IoRequest };

/** Options for {@link FileRing.open}. */
export interface FileRingOptions {
  /** Most operations in flight at once (1–4096; default 64). Calls beyond it wait their turn. */
  depth?: number;
  /** The kernel interface; default the platform's (`"io_uring"` on Linux, `"ioring"` on Windows). */
  backend?: FileRingBackend;
}

const MAX_DEPTH = 4096;

/**
 * The error for a call that needs a registration the ring does not have
 * (never made, or disposed): a {@link DisposedError} as before, so callers
 * that catch it keep working, but saying what is missing.
 */
function missing(message: string): DisposedError {
  const e = new DisposedError("FileRing");
  e.message = message;
  return e;
}

/**
 * A registered-I/O ring for files: io_uring on Linux, the I/O ring on
 * Windows (build 22000+). Open files and register buffers on it, then read
 * and write by index. Waiting never blocks the event loop.
 *
 * - `read` resolves to the bytes read, 0 at or after end of file on both kernels.
 * - `readMany` sends a whole batch in one submission and resolves once.
 * - Every index, offset and length is checked before the kernel sees it (`RangeError`).
 * - Failures are typed: `ErrnoError` (Linux), `HResultError` (Windows).
 * - `using` refuses with `BusyError` while operations are in flight;
 *   `await using` cancels them, waits, and closes files, buffers and ring in order.
 *
 * @example Checksum the first 4 KiB of two files
 * ```ts ignore
 * import { FileRing } from "@regio/regio";
 *
 * await using ring = FileRing.open();
 * using files = await ring.openFiles(["a.bin", "b.bin"]);
 * using pool = await ring.registerBuffers({ count: 2, size: 4096 });
 * const [a, b] = await ring.readMany([
 *   { file: 0, buffer: 0, length: 4096, position: 0 },
 *   { file: 1, buffer: 1, length: 4096, position: 0 },
 * ]);
 * console.log(a, b, pool.bytes(0)[0]);
 * ```
 */
export class FileRing implements Disposable, AsyncDisposable {
  /** The kernel interface in use. */
  readonly backend: FileRingBackend;
  /** What this ring can do on this kernel (write/flush need IORING_VERSION 300 on Windows). */
  readonly capabilities: FileRingCapabilities;
  /** Most operations in flight at once. */
  readonly depth: number;

  readonly #b: Backend;
  readonly #ops: InFlight;
  readonly #settler = new BatchSettler();
  readonly #reads = new ReadRanges();
  #files: SetState | undefined;
  #pool: PoolState | undefined;
  #openingFiles = false;
  #openingPool = false;
  #closing = false;
  #closed = false;
  #draining: Promise<void> | undefined;

  private constructor(depth: number, backend: FileRingBackend) {
    this.depth = depth;
    this.backend = backend;
    this.#ops = new InFlight(depth, (batch) => this.#settler.settle(batch), () => this.closed);
    this.#b = createBackend(backend, depth, this.#ops.complete);
    this.capabilities = this.#b.capabilities;
  }

  /**
   * Opens a ring: io_uring on Linux, the I/O ring on Windows.
   * @throws {UnsupportedError} on other platforms, or when the kernel
   *   interface is missing or blocked (the message says what is needed).
   * @throws {RangeError} for a bad depth or backend name.
   */
  static open(options: FileRingOptions = {}): FileRing {
    const depth = checkInteger("depth", options.depth ?? 64, 1, MAX_DEPTH);
    const backend = chooseBackend(options.backend);
    return new FileRing(depth, backend);
  }

  /** Operations in flight. */
  get inFlight(): number {
    return this.#ops.count;
  }

  /** True once closed (or closing). */
  get closed(): boolean {
    return this.#closing || this.#closed;
  }

  #assertOpen(): void {
    if (this.#closing || this.#closed) throw new DisposedError("FileRing");
  }

  #require(can: boolean, what: string): void {
    if (!can) throw new UnsupportedError(what, `this kernel cannot (${this.capabilities.detail})`);
  }

  /**
   * Opens `paths` (Linux `open`; Windows `CreateFileW` with
   * `FILE_FLAG_OVERLAPPED`) and registers them as the ring's files. If any
   * path fails, the files already opened are closed and the error names the path.
   * @throws {RangeError} for an empty list or a bad path string.
   * @throws {RegioError} when the ring already has a live {@link FileSet}.
   * @throws {ErrnoError} / {@link Win32Error} naming the path that failed;
   *   {@link HResultError} when the registration fails.
   */
  async openFiles(paths: readonly string[], options: OpenFilesOptions = {}): Promise<FileSet> {
    this.#assertOpen();
    checkPaths(paths);
    if ((this.#files && !this.#files.disposed) || this.#openingFiles) {
      throw new RegioError("this FileRing already has open files: dispose that FileSet first");
    }
    this.#openingFiles = true;
    try {
      const backend = await this.#b.openFiles([...paths], options);
      if (this.#closing || this.#closed) {
        backend.dispose();
        throw new DisposedError("FileRing");
      }
      const [set, s] = newFileSet(backend, [...paths], this.#release);
      this.#files = s;
      return set;
    } finally {
      this.#openingFiles = false;
    }
  }

  /**
   * Allocates native memory for `count` buffers of `size` bytes and
   * registers it with the kernel (one registration; the pool's buffers are
   * slices of it). On Linux the memory counts against RLIMIT_MEMLOCK.
   * @throws {RangeError} for a bad count or size (count × size at most 1 GiB).
   * @throws {RegioError} when the ring already has a live {@link BufferPool}.
   */
  async registerBuffers(options: BufferPoolOptions): Promise<BufferPool> {
    this.#assertOpen();
    const { count, size } = checkPool(options);
    if ((this.#pool && !this.#pool.disposed) || this.#openingPool) {
      throw new RegioError("this FileRing already has a BufferPool: dispose it first");
    }
    this.#openingPool = true;
    try {
      const backend = await this.#b.registerBuffers(count * size);
      if (this.#closing || this.#closed) {
        backend.dispose();
        throw new DisposedError("FileRing");
      }
      const [pool, s] = newBufferPool(backend, count, size, this.#release);
      this.#pool = s;
      return pool;
    } finally {
      this.#openingPool = false;
    }
  }

  /** A set or pool is being disposed: it takes no new operations. */
  readonly #release: Release = (s) => {
    if (this.#files === s) this.#files = undefined;
    if (this.#pool === s) this.#pool = undefined;
  };

  /**
   * Reads `length` bytes at `position` of a file into a pool buffer.
   * Resolves to the bytes read: fewer near the end of the file, 0 at or after it.
   * @throws {RangeError} (synchronously) for a bad index, offset or length, or
   *   a range a read still in flight writes into (see {@link FileRing.readMany}).
   * @throws {DisposedError} after close; also without open files or registered buffers (the
   *   message says which is missing).
   */
  read(request: IoRequest): Promise<number> {
    return this.#start(false, [request]).then(first);
  }

  /**
   * Reads every request in one submission. Resolves once all have
   * completed, to the bytes read per request (in order); if any failed,
   * rejects with the first failure once all have completed.
   *
   * Two reads may not write into the same bytes at once: a request whose
   * buffer range overlaps another of the call, or a read still in flight
   * (from its submission until its promise settles), is refused. Empty
   * reads and ranges that only touch are fine.
   * @throws {RangeError} (synchronously, before anything is submitted) for
   *   a bad request, overlapping reads, or more requests than
   *   {@link FileRing.depth}, whether or not the call has to wait for room
   *   in the ring. A call that waits claims its ranges only when it is
   *   submitted: if a read into the same bytes started meanwhile, it rejects
   *   with the RangeError then.
   */
  readMany(requests: readonly IoRequest[]): Promise<number[]> {
    return this.#start(false, requests);
  }

  /**
   * Writes `length` bytes from a pool buffer to a file at `position`.
   * Resolves to the bytes written.
   * @throws {UnsupportedError} when `capabilities.write` is false (Windows before IORING_VERSION 300).
   * @throws {RangeError} like {@link FileRing.read}.
   */
  write(request: IoRequest): Promise<number> {
    return this.#start(true, [request]).then(first);
  }

  /** Writes every request in one submission, like {@link FileRing.readMany}. */
  writeMany(requests: readonly IoRequest[]): Promise<number[]> {
    return this.#start(true, requests);
  }

  /**
   * Flushes file `file` to storage (Linux FSYNC; Windows BuildIoRingFlushFile).
   * Covers writes that completed before it was called.
   * @throws {UnsupportedError} when `capabilities.flush` is false.
   */
  flush(file: number): Promise<void> {
    this.#assertOpen();
    this.#require(this.capabilities.flush, "FileRing.flush");
    const files = this.#liveFiles();
    checkInteger("file", file, 0, files.paths.length - 1);
    if (!this.#ops.fits(1)) return this.#ops.room(1).then(() => this.flush(file));
    return this.#ops.submitFlush(this.#b, files, file).then(() => {});
  }

  #liveFiles(): SetState {
    const f = this.#files;
    if (f === undefined || f.disposed) {
      throw missing("FileRing has no open files: call openFiles first");
    }
    return f;
  }

  #livePool(): PoolState {
    const p = this.#pool;
    if (p === undefined || p.disposed) {
      throw missing("FileRing has no registered buffers: call registerBuffers first");
    }
    return p;
  }

  #start(write: boolean, requests: readonly IoRequest[]): Promise<number[]> {
    this.#assertOpen();
    if (write) this.#require(this.capabilities.write, "FileRing.write");
    if (!Array.isArray(requests)) throw new TypeError("requests must be an array");
    const files = this.#liveFiles();
    const pool = this.#livePool();
    const n = requests.length;
    checkInteger("number of requests", n, 0, this.depth);
    const checked = checkRequests(requests, files.paths.length, pool.count, pool.size);
    if (n === 0) return Promise.resolve([]);
    if (!this.#ops.fits(n)) {
      // Refused now, as when there is room; a waiting read holds no claim.
      if (!write) this.#reads.check(checked, n, pool.size);
      return this.#ops.room(n).then(() => this.#start(write, requests));
    }
    if (write) return this.#ops.submitIo(this.#b, write, files, pool, checked, n);
    const claims = this.#reads.claim(checked, n, pool.size);
    return this.#ops.submitIo(this.#b, write, files, pool, checked, n).finally(() =>
      this.#reads.release(claims)
    );
  }

  /**
   * Closes files, buffers and the ring now. Idempotent. Every step runs even
   * when one fails: one failure is thrown as is, several as an
   * `AggregateError` whose `errors` are in teardown order (files, buffers,
   * ring). The ring counts as closed either way.
   * @throws {BusyError} while operations are in flight, or while an async
   *   dispose is draining (await that instead); nothing is changed.
   */
  close(): void {
    if (this.#closed) return;
    if (this.#draining) {
      throw new BusyError(
        "FileRing",
        this.#ops.count,
        "operation(s) in flight, and an async dispose is draining the ring",
      );
    }
    if (this.#ops.count > 0) throw new BusyError("FileRing", this.#ops.count);
    this.#closing = true;
    this.#closed = true;
    const f = this.#files, p = this.#pool;
    this.#files = this.#pool = undefined;
    try {
      tearDownNow([f, p], this.#b, "FileRing.close");
    } finally {
      this.#ops.wake();
    }
  }

  /** Same as {@link FileRing.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Cancels every operation in flight, waits for their completions, then
   * unregisters and closes the files, releases and frees the buffers, and
   * closes the ring (Windows: only after every operation has drained).
   * A second call returns the first one's promise. As with
   * {@link FileRing.close}, every step runs even when one fails; the promise
   * rejects with the one error, or an `AggregateError` of several in
   * teardown order.
   */
  [Symbol.asyncDispose](): Promise<void> {
    if (this.#draining) return this.#draining;
    if (this.#closed) return Promise.resolve();
    return (this.#draining = this.#drain());
  }

  async #drain(): Promise<void> {
    this.#closing = true;
    this.#ops.wake();
    const f = this.#files, p = this.#pool;
    this.#files = this.#pool = undefined;
    try {
      await tearDownDrained([f, p], this.#b, "FileRing");
    } finally {
      this.#closed = true;
    }
  }
}

function first(results: number[]): number {
  return results[0];
}
