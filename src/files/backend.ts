/**
 * The contract between the portable file ring (ring.ts) and its two kernel
 * backends (linux.ts: io_uring; windows.ts: the I/O ring), and the
 * teardown helpers both backends use.
 * Internal, except the three types `FileRing` re-exports (`FileRingBackend`,
 * `FileRingCapabilities`, `OpenFilesOptions`).
 *
 * The portable layer checks every argument and counts what is in flight; a
 * backend only prepares operations, submits them and reports each
 * completion through {@link Completion}.
 *
 * @module
 */

import type { NativeRegion } from "../memory.ts";

/** The kernel interface behind a file ring. */
export type FileRingBackend = "io_uring" | "ioring";

/** What a file ring can do on this kernel. */
export interface FileRingCapabilities {
  /** Writes through registered buffers (Windows: IORING_VERSION_3 = 300 or later). */
  readonly write: boolean;
  /** Flushing a file to storage (Windows: IORING_VERSION_3 = 300 or later). */
  readonly flush: boolean;
  /** A short description of the kernel interface, e.g. `"IORING_VERSION 300"`. */
  readonly detail: string;
}

/** Options for opening files on a ring. */
export interface OpenFilesOptions {
  /** Open for writing too (default: read only). */
  write?: boolean;
  /** Create missing files (implies `write`). */
  create?: boolean;
}

/**
 * One submission's operations, settled together: the promise resolves once
 * every operation has completed. Results are indexed like the requests.
 */
export class Batch {
  /** Bytes transferred per operation. */
  readonly results: number[];
  /** Operations still to complete. */
  remaining = 0;
  /** The first failure, reported once all have completed. */
  error: Error | undefined = undefined;
  /** Resolves the caller's promise. */
  readonly resolve: (value: number[]) => void;
  /** Rejects the caller's promise. */
  readonly reject: (error: Error) => void;
  /** The file set the operations use. */
  readonly files: UseCount;
  /** The buffer pool they use (undefined for flushes). */
  readonly buffers: UseCount | undefined;

  constructor(
    n: number,
    files: UseCount,
    buffers: UseCount | undefined,
    resolve: (value: number[]) => void,
    reject: (error: Error) => void,
  ) {
    this.results = new Array<number>(n).fill(0);
    this.files = files;
    this.buffers = buffers;
    this.resolve = resolve;
    this.reject = reject;
  }
}

/** Something that counts the operations using it. */
export interface UseCount {
  inFlight: number;
}

/** How a backend reports one completed operation: bytes (≥ 0) or an error. */
export type Completion = (batch: Batch, index: number, bytes: number, error?: Error) => void;

/** A backend's registered files. */
export interface BackendFiles {
  /** Unregisters and closes the files now (nothing is in flight). */
  dispose(): void;
  /** Cancels what uses the files, waits, unregisters, closes them. */
  disposeDrained(): Promise<void>;
}

/** A backend's registered buffer memory: one region, carved into the pool's buffers. */
export interface BackendBuffers {
  /** The registered memory. */
  readonly region: NativeRegion;
  /** Releases the registration now (nothing is in flight); the region may stay held a little longer. */
  dispose(): void;
  /** Cancels what uses the buffers, waits, and releases the registration. */
  disposeDrained(): Promise<void>;
}

/** What a kernel backend does for the portable ring. */
export interface Backend {
  /** What it can do. */
  readonly capabilities: FileRingCapabilities;
  /** Opens `paths` natively and registers them as the ring's file table. */
  openFiles(paths: readonly string[], options: OpenFilesOptions): Promise<BackendFiles>;
  /** Allocates `bytes` of native memory and registers it. */
  registerBuffers(bytes: number): Promise<BackendBuffers>;
  /**
   * Prepares a read (`write` false) or write of `length` bytes at file
   * `position`, from/into byte `at` of the registered region. Checked already.
   */
  prepareIo(
    write: boolean,
    files: BackendFiles,
    file: number,
    buffers: BackendBuffers,
    at: number,
    length: number,
    position: number,
    batch: Batch,
    index: number,
  ): void;
  /** Prepares a flush of `file`. */
  prepareFlush(files: BackendFiles, file: number, batch: Batch, index: number): void;
  /** Submits what was prepared (the end of a call). */
  submit(): void;
  /** Closes the ring now (nothing is in flight). */
  close(): void;
  /** Closes the ring after every submitted operation has completed. */
  closeDrained(): Promise<void>;
}

/**
 * Buffer regions a backend has let go of that a registration may still hold
 * (until the kernel confirms the release, or the ring closes).
 */
export class OrphanRegions {
  #regions: NativeRegion[] = [];

  /** Regions still waiting to be freed. */
  get length(): number {
    return this.#regions.length;
  }

  /** Frees `region` now, or later once nothing holds it. */
  freeLater(region: NativeRegion): void {
    if (region.holds === 0) region.free();
    else this.#regions.push(region);
  }

  /** Frees every waiting region that nothing holds any more. */
  freeReleased(): void {
    const left: NativeRegion[] = [];
    for (const r of this.#regions) {
      if (r.holds === 0) r.free();
      else left.push(r);
    }
    this.#regions = left;
  }
}

/**
 * Runs every step in order, awaiting each, even after one fails; then
 * throws the first failure (if any).
 */
export async function runAll(steps: readonly (() => unknown)[]): Promise<void> {
  let first: unknown;
  let failed = false;
  for (const step of steps) {
    try {
      await step();
    } catch (e) {
      if (!failed) first = e;
      failed = true;
    }
  }
  if (failed) throw first;
}

/** {@link runAll} for steps that finish now. */
export function runAllSync(steps: readonly (() => void)[]): void {
  closeAll(steps, (step) => step());
}

/** Closes every item, then throws the first failure (if any). */
export function closeAll<T>(items: readonly T[], close: (item: T) => void): void {
  let first: unknown;
  for (const item of items) {
    try {
      close(item);
    } catch (e) {
      first ??= e;
    }
  }
  if (first !== undefined) throw first;
}
