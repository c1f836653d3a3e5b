/**
 * The portable registered-file API: one {@link FileRing} over Linux io_uring
 * and the Windows I/O ring. Files are opened natively and registered once;
 * buffers are registered native memory; reads and writes name both by index,
 * so a program written against it runs unchanged on either kernel.
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

import { setImmediate } from "node:timers";
import { BusyError, checkInteger, DisposedError, RegioError, UnsupportedError } from "../errors.ts";
import {
  type Backend,
  type BackendBuffers,
  type BackendFiles,
  Batch,
  type Completion,
  type FileRingBackend,
  type FileRingCapabilities,
  type OpenFilesOptions,
  type UseCount,
} from "./backend.ts";
import { LinuxBackend } from "./linux.ts";
import { WindowsBackend } from "./windows.ts";

export type { FileRingBackend, FileRingCapabilities, OpenFilesOptions };

/** Options for {@link FileRing.open}. */
export interface FileRingOptions {
  /** Most operations in flight at once (1–4096; default 64). Calls beyond it wait their turn. */
  depth?: number;
  /** The kernel interface; default the platform's (`"io_uring"` on Linux, `"ioring"` on Windows). */
  backend?: FileRingBackend;
}

/** Options for {@link FileRing.registerBuffers}. */
export interface BufferPoolOptions {
  /** Number of buffers (1–65536). */
  count: number;
  /** Bytes per buffer (count × size at most 1 GiB). */
  size: number;
}

/** One read or write: `length` bytes between file `file` at `position` and pool buffer `buffer`. */
export interface IoRequest {
  /** Index of the file in the ring's {@link FileSet}. */
  file: number;
  /** Index of the buffer in the ring's {@link BufferPool}. */
  buffer: number;
  /** Byte offset inside the buffer (default 0). */
  bufferOffset?: number;
  /** Bytes to transfer; `bufferOffset + length` must fit in the buffer. */
  length: number;
  /** Byte offset in the file. */
  position: number;
}

const MAX_DEPTH = 4096;
const MAX_POOL_BYTES = 2 ** 30; // one io_uring registered buffer spans at most 1 GiB
/** Longest stretch of completions delivered before the event loop gets a turn. */
const YIELD_AFTER_MS = 2;

/** What a {@link FileSet} and a {@link BufferPool} share: a registration on a ring. */
interface RegistrationState extends UseCount {
  readonly ring: FileRing;
  readonly backend: BackendFiles | BackendBuffers;
  disposed: boolean;
}

interface SetState extends RegistrationState {
  readonly backend: BackendFiles;
  readonly paths: readonly string[];
}

interface PoolState extends RegistrationState {
  readonly backend: BackendBuffers;
  readonly count: number;
  readonly size: number;
}

let makeSet: (s: SetState) => FileSet;
let makePool: (s: PoolState) => BufferPool;

/**
 * Disposes `s` now. Idempotent. Even when unregistering fails, the backend
 * closes every file (hands the memory on to be freed once nothing holds it),
 * then throws that error; `s` counts as disposed, as nothing is left to retry.
 * @throws {BusyError} while operations use it (nothing changes).
 */
function closeNow(s: RegistrationState, what: string): void {
  if (s.disposed) return;
  if (s.inFlight > 0) throw new BusyError(what, s.inFlight);
  s.disposed = true;
  s.ring[RELEASE](s);
  s.backend.dispose();
}

/** Throws nothing, the one error, or an AggregateError of them all in the order they happened. */
function throwErrors(errors: readonly unknown[], what: string): void {
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) {
    throw new AggregateError(
      errors,
      `${what}: ${errors.length} steps of the teardown failed (every step ran); ` +
        `the first: ${(errors[0] as Error)?.message ?? String(errors[0])}`,
    );
  }
}

/** Disposes `s` once the operations that use it are cancelled and drained. Idempotent. */
async function closeDrained(s: RegistrationState): Promise<void> {
  if (s.disposed) return;
  s.disposed = true;
  s.ring[RELEASE](s);
  await s.backend.disposeDrained();
}

/**
 * Files opened and registered on a {@link FileRing} (Linux: a fixed file
 * table; Windows: a registered handle table over `FILE_FLAG_OVERLAPPED`
 * handles). Requests name a file by its index here. Made by
 * {@link FileRing.openFiles}; a ring has one set at a time.
 *
 * `using` unregisters and closes the files, refusing with a `BusyError`
 * while operations use them; `await using` cancels those operations, waits
 * for them, then unregisters and closes.
 */
export class FileSet implements Disposable, AsyncDisposable {
  readonly #s: SetState;

  static {
    makeSet = (s) => new FileSet(s);
  }

  private constructor(s: SetState) {
    this.#s = s;
  }

  /** Number of files. */
  get length(): number {
    return this.#s.paths.length;
  }

  /** The path of file `index`, as given. @throws {RangeError} for a bad index. */
  path(index: number): string {
    checkInteger("file index", index, 0, this.#s.paths.length - 1);
    return this.#s.paths[index];
  }

  /** Operations in flight that use these files. */
  get inFlight(): number {
    return this.#s.inFlight;
  }

  /** True once disposal has started. */
  get disposed(): boolean {
    return this.#s.disposed;
  }

  /**
   * Unregisters and closes the files. Idempotent. When unregistering (or
   * closing a file) fails, the other files are still closed and the first
   * error is thrown; the set is disposed all the same.
   * @throws {BusyError} while operations use them (nothing changes).
   */
  close(): void {
    closeNow(this.#s, "FileSet");
  }

  /** Same as {@link FileSet.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Cancels the operations that use the files, waits for them, then unregisters and closes. */
  [Symbol.asyncDispose](): Promise<void> {
    return closeDrained(this.#s);
  }
}

/**
 * Registered native memory carved into `count` buffers of `size` bytes.
 * {@link BufferPool.bytes} is a zero-copy view the kernel reads into and
 * writes from. Made by {@link FileRing.registerBuffers}; a ring has one pool
 * at a time. Disposal follows the same rules as {@link FileSet}.
 */
export class BufferPool implements Disposable, AsyncDisposable {
  readonly #s: PoolState;

  static {
    makePool = (s) => new BufferPool(s);
  }

  private constructor(s: PoolState) {
    this.#s = s;
  }

  /** Number of buffers. */
  get count(): number {
    return this.#s.count;
  }

  /** Bytes per buffer. */
  get size(): number {
    return this.#s.size;
  }

  /** Operations in flight that use the pool. */
  get inFlight(): number {
    return this.#s.inFlight;
  }

  /** True once disposal has started. */
  get disposed(): boolean {
    return this.#s.disposed;
  }

  /**
   * Buffer `index` as a view of the registered memory (no copy). Do not touch
   * it while an operation on that buffer is in flight; the view is detached
   * once the pool's memory is freed.
   * @throws {RangeError} for a bad index; {@link DisposedError} after disposal.
   */
  bytes(index: number): Uint8Array {
    const s = this.#s;
    if (s.disposed) throw new DisposedError("BufferPool");
    checkInteger("buffer index", index, 0, s.count - 1);
    return s.backend.region.bytes.subarray(index * s.size, (index + 1) * s.size);
  }

  /**
   * Releases the registration and frees the memory. Idempotent. When
   * releasing fails, the error is thrown and the memory is still freed once
   * no registration holds it (at the latest when the ring closes).
   * @throws {BusyError} while operations use it.
   */
  close(): void {
    closeNow(this.#s, "BufferPool");
  }

  /** Same as {@link BufferPool.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Cancels the operations that use the pool, waits for them, then releases and frees it. */
  [Symbol.asyncDispose](): Promise<void> {
    return closeDrained(this.#s);
  }
}

const RELEASE = Symbol("release");

/** Throws the RangeError of `checkInteger`, naming request `i`. */
function badField(i: number, name: string, value: number, min: number, max: number): never {
  checkInteger(`requests[${i}].${name}`, value, min, max);
  throw new RangeError(`requests[${i}].${name} is out of range`); // not reached
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
  #files: SetState | undefined;
  #pool: PoolState | undefined;
  #openingFiles = false;
  #openingPool = false;
  #inFlight = 0;
  #roomWaiters: (() => void)[] = [];
  #closing = false;
  #closed = false;
  #draining: Promise<void> | undefined;
  #sliceStart = 0;
  #deferred: Batch[] = [];
  #yieldQueued = false;

  readonly #complete: Completion = (batch, index, bytes, error) => {
    batch.results[index] = bytes;
    if (error !== undefined && batch.error === undefined) batch.error = error;
    this.#inFlight--;
    batch.files.inFlight--;
    if (batch.buffers !== undefined) batch.buffers.inFlight--;
    if (--batch.remaining === 0) this.#finish(batch);
    if (this.#roomWaiters.length > 0) this.#wakeWaiters();
  };

  readonly #flushDeferred = (): void => {
    this.#yieldQueued = false;
    this.#sliceStart = performance.now();
    const batches = this.#deferred;
    this.#deferred = [];
    for (const b of batches) settle(b);
  };

  private constructor(depth: number, backend: FileRingBackend) {
    this.depth = depth;
    this.backend = backend;
    this.#b = backend === "io_uring"
      ? LinuxBackend.create(depth, this.#complete)
      : WindowsBackend.create(depth, this.#complete);
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
    const os = Deno.build.os;
    const backend = options.backend ??
      (os === "linux" ? "io_uring" : os === "windows" ? "ioring" : undefined);
    if (backend === undefined) {
      throw new UnsupportedError(
        "FileRing",
        `it needs Linux (io_uring) or Windows 11 (I/O ring); this is ${os}`,
      );
    }
    if (backend !== "io_uring" && backend !== "ioring") {
      throw new RangeError(`backend must be "io_uring" or "ioring", got ${String(backend)}`);
    }
    if (backend === "io_uring" && os !== "linux") {
      throw new UnsupportedError("FileRing io_uring backend", `it needs Linux; this is ${os}`);
    }
    return new FileRing(depth, backend);
  }

  /** Operations in flight. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** True once closed (or closing). */
  get closed(): boolean {
    return this.#closing || this.#closed;
  }

  #assertOpen(): void {
    if (this.#closing || this.#closed) throw new DisposedError("FileRing");
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
    if (!Array.isArray(paths)) throw new TypeError("paths must be an array of strings");
    checkInteger("number of paths", paths.length, 1, 1 << 20);
    paths.forEach((p, i) => {
      if (typeof p !== "string" || p.length === 0 || p.includes("\0")) {
        throw new RangeError(
          `paths[${i}] must be a non-empty string without NUL, got ${String(p)}`,
        );
      }
    });
    if ((this.#files && !this.#files.disposed) || this.#openingFiles) {
      throw new RegioError("this FileRing already has open files: dispose that FileSet first");
    }
    this.#openingFiles = true;
    try {
      const backend = await this.#b.openFiles([...paths], options);
      const s: SetState = { ring: this, backend, paths: [...paths], inFlight: 0, disposed: false };
      if (this.#closing || this.#closed) {
        backend.dispose();
        throw new DisposedError("FileRing");
      }
      this.#files = s;
      return makeSet(s);
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
    const count = checkInteger("count", options?.count, 1, 65536);
    const size = checkInteger("size", options.size, 1, MAX_POOL_BYTES);
    if (count * size > MAX_POOL_BYTES) {
      throw new RangeError(`count × size must be at most 1 GiB, got ${count * size} bytes`);
    }
    if ((this.#pool && !this.#pool.disposed) || this.#openingPool) {
      throw new RegioError("this FileRing already has a BufferPool: dispose it first");
    }
    this.#openingPool = true;
    try {
      const backend = await this.#b.registerBuffers(count * size);
      const s: PoolState = { ring: this, backend, count, size, inFlight: 0, disposed: false };
      if (this.#closing || this.#closed) {
        backend.dispose();
        throw new DisposedError("FileRing");
      }
      this.#pool = s;
      return makePool(s);
    } finally {
      this.#openingPool = false;
    }
  }

  /** @internal A set or pool is being disposed: it takes no new operations. */
  [RELEASE](s: RegistrationState): void {
    if (this.#files === s) this.#files = undefined;
    if (this.#pool === s) this.#pool = undefined;
  }

  /**
   * Reads `length` bytes at `position` of a file into a pool buffer.
   * Resolves to the bytes read: fewer near the end of the file, 0 at or after it.
   * @throws {RangeError} (synchronously) for a bad index, offset or length.
   * @throws {DisposedError} without open files or buffers, or after close.
   */
  read(request: IoRequest): Promise<number> {
    return this.#start(false, [request]).then(first);
  }

  /**
   * Reads every request in one submission. Resolves once all have
   * completed, to the bytes read per request (in order); if any failed,
   * rejects with the first failure once all have completed.
   * @throws {RangeError} (synchronously, before anything is submitted) for
   *   a bad request, or more requests than {@link FileRing.depth}.
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
    if (!this.capabilities.flush) {
      throw new UnsupportedError(
        "FileRing.flush",
        `this kernel cannot (${this.capabilities.detail})`,
      );
    }
    const files = this.#liveFiles();
    checkInteger("file", file, 0, files.paths.length - 1);
    if (this.#inFlight + 1 > this.depth) return this.#room(1).then(() => this.flush(file));
    const { promise, resolve, reject } = Promise.withResolvers<number[]>();
    const batch = new Batch(1, files, undefined, resolve, reject);
    try {
      this.#b.prepareFlush(files.backend, file, batch, 0);
      this.#count(batch, undefined);
    } catch (e) {
      return Promise.reject(e);
    }
    this.#b.submit();
    return promise.then(() => {});
  }

  #liveFiles(): SetState {
    const f = this.#files;
    if (f === undefined || f.disposed) {
      throw new DisposedError("FileRing files (none open: call openFiles first)");
    }
    return f;
  }

  #livePool(): PoolState {
    const p = this.#pool;
    if (p === undefined || p.disposed) {
      throw new DisposedError("FileRing buffers (none registered: call registerBuffers first)");
    }
    return p;
  }

  #start(write: boolean, requests: readonly IoRequest[]): Promise<number[]> {
    this.#assertOpen();
    if (write && !this.capabilities.write) {
      throw new UnsupportedError(
        "FileRing.write",
        `this kernel cannot (${this.capabilities.detail})`,
      );
    }
    if (!Array.isArray(requests)) throw new TypeError("requests must be an array");
    const files = this.#liveFiles();
    const pool = this.#livePool();
    const n = requests.length;
    checkInteger("number of requests", n, 0, this.depth);
    const nFiles = files.paths.length, count = pool.count, size = pool.size;
    // Check everything before anything is prepared: a bad request leaves the kernel untouched.
    // Each field is read once and the checked value is what is prepared (a getter cannot
    // answer differently the second time). Per request: file, byte in the pool, length, position.
    const checked = new Float64Array(4 * n);
    for (let i = 0; i < n; i++) {
      const r = requests[i];
      if (typeof r !== "object" || r === null) {
        throw new TypeError(`requests[${i}] is not an object`);
      }
      const { file, buffer, length, position } = r;
      const offset = r.bufferOffset ?? 0;
      if (!(Number.isInteger(file) && file >= 0 && file < nFiles)) {
        badField(i, "file", file, 0, nFiles - 1);
      }
      if (!(Number.isInteger(buffer) && buffer >= 0 && buffer < count)) {
        badField(i, "buffer", buffer, 0, count - 1);
      }
      if (!(Number.isInteger(offset) && offset >= 0 && offset <= size)) {
        badField(i, "bufferOffset", offset, 0, size);
      }
      if (!(Number.isInteger(length) && length >= 0 && length <= size - offset)) {
        badField(i, "length", length, 0, size - offset);
      }
      if (!(Number.isSafeInteger(position) && position >= 0)) {
        badField(i, "position", position, 0, Number.MAX_SAFE_INTEGER);
      }
      // `+ 0` turns -0 into 0 (Deno's FFI rejects -0 for an integer parameter).
      checked[4 * i] = file + 0;
      checked[4 * i + 1] = buffer * size + offset + 0;
      checked[4 * i + 2] = length + 0;
      checked[4 * i + 3] = position + 0;
    }
    if (n === 0) return Promise.resolve([]);
    if (this.#inFlight + n > this.depth) {
      return this.#room(n).then(() => this.#start(write, requests));
    }
    const { promise, resolve, reject } = Promise.withResolvers<number[]>();
    const batch = new Batch(n, files, pool, resolve, reject);
    const b = this.#b;
    try {
      for (let i = 0, k = 0; i < n; i++, k += 4) {
        const file = checked[k], at = checked[k + 1], length = checked[k + 2];
        b.prepareIo(write, files.backend, file, pool.backend, at, length, checked[k + 3], batch, i);
        this.#count(batch, pool);
      }
    } catch (e) {
      // What was prepared still completes; the batch reports this error then.
      batch.error ??= e as Error;
      if (batch.remaining === 0) return Promise.reject(e);
    }
    b.submit();
    return promise;
  }

  #count(batch: Batch, pool: PoolState | undefined): void {
    batch.remaining++;
    batch.files.inFlight++;
    if (pool !== undefined) pool.inFlight++;
    this.#inFlight++;
  }

  /** Settles a finished batch, yielding to the event loop first when this stretch ran long. */
  #finish(batch: Batch): void {
    if (performance.now() - this.#sliceStart < YIELD_AFTER_MS && this.#deferred.length === 0) {
      settle(batch);
      return;
    }
    // Completions can arrive inside the submit that follows the caller's next
    // request (a microtask chain that would starve timers and I/O); a macrotask breaks it.
    this.#deferred.push(batch);
    if (!this.#yieldQueued) {
      this.#yieldQueued = true;
      setImmediate(this.#flushDeferred);
    }
  }

  /** Resolves once `n` more operations fit within the depth. */
  #room(n: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const check = (): void => {
        if (this.#inFlight + n <= this.depth || this.#closing || this.#closed) resolve();
        else this.#roomWaiters.push(check);
      };
      check();
    });
  }

  #wakeWaiters(): void {
    const waiters = this.#roomWaiters;
    this.#roomWaiters = [];
    for (const w of waiters) w();
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
        this.#inFlight,
        "operation(s) in flight, and an async dispose is draining the ring",
      );
    }
    if (this.#inFlight > 0) throw new BusyError("FileRing", this.#inFlight);
    this.#closing = true;
    this.#closed = true;
    const errors: unknown[] = [];
    const f = this.#files, p = this.#pool;
    this.#files = this.#pool = undefined;
    for (const r of [f, p]) {
      if (r && !r.disposed) {
        r.disposed = true;
        try {
          r.backend.dispose();
        } catch (e) {
          errors.push(e);
        }
      }
    }
    try {
      this.#b.close();
    } catch (e) {
      errors.push(e);
    }
    this.#wakeWaiters();
    throwErrors(errors, "FileRing.close");
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
    this.#wakeWaiters();
    const f = this.#files, p = this.#pool;
    this.#files = this.#pool = undefined;
    const errors: unknown[] = [];
    // Every read/write uses the files: draining them drains everything.
    for (const r of [f, p]) {
      if (r && !r.disposed) {
        r.disposed = true;
        try {
          await r.backend.disposeDrained();
        } catch (e) {
          errors.push(e);
        }
      }
    }
    try {
      await this.#b.closeDrained();
    } catch (e) {
      errors.push(e);
    }
    this.#closed = true;
    throwErrors(errors, "FileRing");
  }
}

function first(results: number[]): number {
  return results[0];
}

function settle(batch: Batch): void {
  if (batch.error !== undefined) batch.reject(batch.error);
  else batch.resolve(batch.results);
}
