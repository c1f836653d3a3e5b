/**
 * The file ring's registrations: {@link FileSet} (the registered files) and
 * {@link BufferPool} (the registered buffer memory), the state each shares
 * with its ring, and how one is disposed on its own (now, or once drained).
 *
 * @module
 */

import { BusyError, checkInteger, DisposedError } from "../errors.ts";
import type { BackendBuffers, BackendFiles, UseCount } from "./backend.ts";

/** Options for {@link FileRing.registerBuffers}. */
export interface BufferPoolOptions {
  /** Number of buffers (1–65536). */
  count: number;
  /** Bytes per buffer (count × size at most 1 GiB). */
  size: number;
}

/** What a {@link FileSet} and a {@link BufferPool} share: a registration on a ring. */
export interface RegistrationState extends UseCount {
  readonly backend: BackendFiles | BackendBuffers;
  /** Tells the ring that this registration is being disposed: it takes no new operations. */
  readonly release: () => void;
  /** True once disposal has started. */
  disposed: boolean;
}

/** The state behind a {@link FileSet}. */
export interface SetState extends RegistrationState {
  readonly backend: BackendFiles;
  /** The paths, as given. */
  readonly paths: readonly string[];
}

/** The state behind a {@link BufferPool}. */
export interface PoolState extends RegistrationState {
  readonly backend: BackendBuffers;
  /** Number of buffers. */
  readonly count: number;
  /** Bytes per buffer. */
  readonly size: number;
}

let makeSet: (s: SetState) => FileSet;
let makePool: (s: PoolState) => BufferPool;

/** Tells a ring that registration `s` is being disposed. */
export type Release = (s: RegistrationState) => void;

/**
 * A new {@link FileSet} over registered `backend` files, with the state the
 * ring keeps for it (its constructor is private: only the ring makes one).
 */
export function newFileSet(
  backend: BackendFiles,
  paths: readonly string[],
  release: Release,
): [FileSet, SetState] {
  const s: SetState = { backend, paths, inFlight: 0, disposed: false, release: () => release(s) };
  return [makeSet(s), s];
}

/**
 * A new {@link BufferPool} of `count` buffers of `size` bytes over the
 * registered `backend` memory, with the state the ring keeps for it.
 */
export function newBufferPool(
  backend: BackendBuffers,
  count: number,
  size: number,
  release: Release,
): [BufferPool, PoolState] {
  const s: PoolState = {
    backend,
    count,
    size,
    inFlight: 0,
    disposed: false,
    release: () => release(s),
  };
  return [makePool(s), s];
}

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
  s.release();
  s.backend.dispose();
}

/** Disposes `s` once the operations that use it are cancelled and drained. Idempotent. */
async function closeDrained(s: RegistrationState): Promise<void> {
  if (s.disposed) return;
  s.disposed = true;
  s.release();
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
