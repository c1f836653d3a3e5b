/**
 * I/O ring references and registrations: raw and registered file and buffer
 * refs (distinct classes, so a buffer ref cannot be passed where a file ref
 * is expected), and the two registered tables a ring can hold.
 *
 * A ring has at most one live table of each kind: registering a new one
 * replaces the old completely (documented kernel semantics). The old table
 * object is then "replaced": its refs stop working for new operations and its
 * dispose does nothing, so it can never unregister its successor.
 *
 * @module
 */

import { BusyError, checkInteger, DisposedError } from "../errors.ts";
import type { NativeRegion, RegionSlice } from "../memory.ts";

/** What a table needs from its ring. @internal */
export interface TableHost {
  /** Releases `table`'s registration; `eager` submits it now. Never rejects. */
  release(table: FileHandleTable | BufferTable, eager: boolean): Promise<void>;
  /** Cancels the ops that use `table` and resolves when they have completed. */
  drain(table: FileHandleTable | BufferTable): Promise<void>;
}

/** @internal A table's mutable state, shared with its ring. */
export interface TableState {
  readonly host: TableHost;
  /** The ring's live registration of this kind (false once replaced or the ring closed). */
  current: boolean;
  disposed: boolean;
  /** Built or submitted ops that use this table. */
  inFlight: number;
}

let fileTableState: (t: FileHandleTable) => TableState;
let bufferTableState: (t: BufferTable) => TableState;

/** @internal The ring's view of a table. */
export function tableState(t: FileHandleTable | BufferTable): TableState {
  return t instanceof FileHandleTable ? fileTableState(t) : bufferTableState(t);
}

const MAX_U32 = 0xffff_ffff;

let makeFileRef: (handle: bigint, index?: number, table?: FileHandleTable) => FileRef;

/**
 * A file handle for an I/O ring operation: a raw HANDLE
 * ({@link FileRef.raw}) or an index into a {@link FileHandleTable}
 * ({@link FileHandleTable.index}).
 */
export class FileRef {
  readonly #brand = "FileRef";
  /** `"raw"` (IORING_REF_RAW) or `"registered"` (IORING_REF_REGISTERED). */
  readonly kind: "raw" | "registered";
  /** The HANDLE (for a registered ref: the handle registered at `index`). */
  readonly handle: bigint;
  /** The table index (registered refs; -1 for raw). */
  readonly index: number;
  /** The table (registered refs). */
  readonly table: FileHandleTable | undefined;

  static {
    makeFileRef = (handle, index, table) => new FileRef(handle, index, table);
  }

  // Use FileRef.raw or FileHandleTable.index.
  private constructor(handle: bigint, index = -1, table?: FileHandleTable) {
    this.kind = table ? "registered" : "raw";
    this.handle = handle;
    this.index = index;
    this.table = table;
  }

  /**
   * A raw-handle ref. Open files with FILE_FLAG_OVERLAPPED: a synchronous
   * handle serialises every operation on it.
   * @throws {RangeError} for NULL or INVALID_HANDLE_VALUE.
   */
  static raw(handle: Deno.PointerObject | bigint): FileRef {
    return new FileRef(handleValue(handle, "handle"));
  }

  /** Is `x` a FileRef? */
  static is(x: unknown): x is FileRef {
    return typeof x === "object" && x !== null && #brand in x;
  }

  /** `FileRef(raw 0x…)` or `FileRef(registered #i)`. */
  toString(): string {
    return this.kind === "raw"
      ? `${this.#brand}(raw 0x${this.handle.toString(16)})`
      : `${this.#brand}(registered #${this.index})`;
  }
}

let makeBufferRef: (
  length: number,
  raw: { region: NativeRegion; address: bigint } | {
    table: BufferTable;
    index: number;
    offset: number;
  },
) => BufferRef;

/**
 * A buffer for an I/O ring operation: raw native memory
 * ({@link BufferRef.raw}) or `(index, offset, length)` in a
 * {@link BufferTable} ({@link BufferTable.slice}). Always bounds-checked.
 */
export class BufferRef {
  readonly #brand = "BufferRef";
  /** `"raw"` or `"registered"`. */
  readonly kind: "raw" | "registered";
  /** Raw refs: the native address of the first byte. */
  readonly address: bigint;
  /** Registered refs: the table index (-1 for raw). */
  readonly index: number;
  /** Registered refs: byte offset inside the registered buffer (0 for raw). */
  readonly offset: number;
  /** How many bytes the ref covers. */
  readonly length: number;
  /** Raw refs: the region the memory belongs to (held while an op uses it). */
  readonly region: NativeRegion | undefined;
  /** Registered refs: the table. */
  readonly table: BufferTable | undefined;

  static {
    makeBufferRef = (length, raw) => new BufferRef(length, raw);
  }

  // Use BufferRef.raw or BufferTable.slice.
  private constructor(
    length: number,
    raw: { region: NativeRegion; address: bigint } | {
      table: BufferTable;
      index: number;
      offset: number;
    },
  ) {
    this.length = length;
    if ("region" in raw) {
      this.kind = "raw";
      this.region = raw.region;
      this.address = raw.address;
      this.index = -1;
      this.offset = 0;
      this.table = undefined;
    } else {
      this.kind = "registered";
      this.region = undefined;
      this.address = 0n;
      this.index = raw.index;
      this.offset = raw.offset;
      this.table = raw.table;
    }
  }

  /**
   * A raw ref to native memory: a whole region or a bounds-checked slice.
   * @throws {RangeError} if longer than 4 GiB - 1 (the I/O ring's UINT32 length).
   * @throws {DisposedError} if the region was freed.
   */
  static raw(target: NativeRegion | RegionSlice): BufferRef {
    const region = "region" in target ? target.region : target;
    const offset = "region" in target ? target.offset : 0;
    const length = "region" in target ? target.length : target.byteLength;
    checkInteger("buffer length", length, 0, MAX_U32);
    return new BufferRef(length, { region, address: region.address + BigInt(offset) });
  }

  /** Is `x` a BufferRef? */
  static is(x: unknown): x is BufferRef {
    return typeof x === "object" && x !== null && #brand in x;
  }

  /** `BufferRef(raw 0x…, n)` or `BufferRef(registered #i+offset, n)`. */
  toString(): string {
    return this.kind === "raw"
      ? `${this.#brand}(raw 0x${this.address.toString(16)}, ${this.length})`
      : `${this.#brand}(registered #${this.index}+${this.offset}, ${this.length})`;
  }
}

/** @internal A HANDLE argument as a BigInt; NULL and INVALID_HANDLE_VALUE are refused. */
export function handleValue(h: Deno.PointerObject | bigint, name: string): bigint {
  const v = typeof h === "bigint" ? h : Deno.UnsafePointer.value(h);
  if (v <= 0n || v >= 0xffff_ffff_ffff_ffffn) {
    throw new RangeError(`${name} must be a valid HANDLE, got 0x${v.toString(16)}`);
  }
  return v;
}

/** @internal Checks that `file` can be used on the ring behind `host`. */
export function checkFileRef(file: FileRef, host: TableHost): void {
  if (!FileRef.is(file)) throw new TypeError(`expected a FileRef, got ${String(file)}`);
  if (file.table) checkTable(file.table, host, "FileHandleTable");
}

/**
 * @internal Checks that `buffer` can be used on the ring behind `host`;
 * returns `length` checked, with -0 made 0 (Deno's FFI rejects -0 for a u32).
 */
export function checkBufferRef(buffer: BufferRef, length: number, host: TableHost): number {
  if (!BufferRef.is(buffer)) throw new TypeError(`expected a BufferRef, got ${String(buffer)}`);
  if (buffer.table) checkTable(buffer.table, host, "BufferTable");
  else buffer.region!.pointer; // DisposedError if the region was freed
  return checkInteger("length", length, 0, buffer.length);
}

function checkTable(t: FileHandleTable | BufferTable, host: TableHost, what: string): void {
  const s = tableState(t);
  if (s.host !== host) throw new RangeError(`the ${what} belongs to another IoRing`);
  if (s.disposed || !s.current) {
    throw new DisposedError(`${what} (disposed, or replaced by a newer registration)`);
  }
}

/** @internal The tables an operation on these refs uses. */
export function refTables(file: FileRef, buffer?: BufferRef): (FileHandleTable | BufferTable)[] {
  const t: (FileHandleTable | BufferTable)[] = [];
  if (file.table) t.push(file.table);
  if (buffer?.table) t.push(buffer.table);
  return t;
}

function assertUsable(s: TableState, what: string): void {
  if (s.disposed) throw new DisposedError(what);
  if (!s.current) {
    throw new DisposedError(`${what} (replaced by a newer registration, or its ring closed)`);
  }
}

let makeFileHandleTable: (host: TableHost, handles: readonly (bigint | null)[]) => FileHandleTable;

/**
 * The ring's registered file handles (BuildIoRingRegisterFileHandles). Made
 * by {@link IoRing.registerFiles}. Dispose it to release the registration.
 */
export class FileHandleTable implements Disposable, AsyncDisposable {
  /** Number of entries (sparse ones included). */
  readonly length: number;
  readonly #handles: readonly (bigint | null)[];
  readonly #s: TableState;

  static {
    fileTableState = (t) => t.#s;
    makeFileHandleTable = (host, handles) => new FileHandleTable(host, handles);
  }

  // Made by IoRing.registerFiles.
  private constructor(host: TableHost, handles: readonly (bigint | null)[]) {
    this.length = handles.length;
    this.#handles = handles;
    this.#s = { host, current: true, disposed: false, inFlight: 0 };
  }

  /** True while this is the ring's live file table and not disposed. */
  get live(): boolean {
    return this.#s.current && !this.#s.disposed;
  }

  /** Operations built or in flight that use this table. */
  get inFlight(): number {
    return this.#s.inFlight;
  }

  /**
   * A ref to entry `i`.
   * @throws {RangeError} out of range, or a sparse (empty) entry.
   * @throws {DisposedError} once disposed or replaced.
   */
  index(i: number): FileRef {
    assertUsable(this.#s, "FileHandleTable");
    checkInteger("file index", i, 0, this.length - 1);
    const h = this.#handles[i];
    if (h === null) throw new RangeError(`file index ${i} is a sparse (empty) entry`);
    return makeFileRef(h, i, this);
  }

  /**
   * Releases the registration (queued; sent with the ring's next submit or
   * close). Idempotent; does nothing once replaced.
   * @throws {BusyError} while operations use the table (nothing is changed).
   */
  [Symbol.dispose](): void {
    disposeTable(this, this.#s, "FileHandleTable");
  }

  /** Cancels the operations that use the table, waits for them, then releases it. */
  [Symbol.asyncDispose](): Promise<void> {
    return asyncDisposeTable(this, this.#s);
  }
}

let makeBufferTable: (host: TableHost, lengths: readonly number[]) => BufferTable;

/**
 * The ring's registered buffers (BuildIoRingRegisterBuffers), over
 * {@link NativeRegion}s that stay held (cannot be freed) until the
 * registration is released and the kernel has confirmed it, or the ring closes.
 * Made by {@link IoRing.registerBuffers}.
 */
export class BufferTable implements Disposable, AsyncDisposable {
  /** Number of entries (sparse ones included). */
  readonly length: number;
  readonly #lengths: readonly number[];
  readonly #s: TableState;

  static {
    bufferTableState = (t) => t.#s;
    makeBufferTable = (host, lengths) => new BufferTable(host, lengths);
  }

  // Made by IoRing.registerBuffers; 0 marks a sparse entry.
  private constructor(host: TableHost, lengths: readonly number[]) {
    this.length = lengths.length;
    this.#lengths = lengths;
    this.#s = { host, current: true, disposed: false, inFlight: 0 };
  }

  /** True while this is the ring's live buffer table and not disposed. */
  get live(): boolean {
    return this.#s.current && !this.#s.disposed;
  }

  /** Operations built or in flight that use this table. */
  get inFlight(): number {
    return this.#s.inFlight;
  }

  /** Byte length of entry `i` (0 for a sparse entry). */
  byteLength(i: number): number {
    checkInteger("buffer index", i, 0, this.length - 1);
    return this.#lengths[i];
  }

  /**
   * A bounds-checked ref to `[offset, offset + length)` of entry `index`.
   * @throws {RangeError} for a bad index, a sparse entry, or a range outside the buffer.
   * @throws {DisposedError} once disposed or replaced.
   */
  slice(index: number, offset = 0, length?: number): BufferRef {
    assertUsable(this.#s, "BufferTable");
    checkInteger("buffer index", index, 0, this.length - 1);
    const size = this.#lengths[index];
    if (size === 0) throw new RangeError(`buffer index ${index} is a sparse (empty) entry`);
    checkInteger("offset", offset, 0, size);
    const len = length ?? size - offset;
    checkInteger("length", len, 0, size - offset);
    return makeBufferRef(len, { table: this, index, offset });
  }

  /**
   * Releases the registration (queued; sent with the ring's next submit or
   * close). The regions stay held until the kernel confirms the release or
   * the ring closes. Idempotent; does nothing once replaced.
   * @throws {BusyError} while operations use the table (nothing is changed).
   */
  [Symbol.dispose](): void {
    disposeTable(this, this.#s, "BufferTable");
  }

  /** Cancels the operations that use the table, waits for them, then releases it. */
  [Symbol.asyncDispose](): Promise<void> {
    return asyncDisposeTable(this, this.#s);
  }
}

function disposeTable(t: FileHandleTable | BufferTable, s: TableState, what: string): void {
  if (s.disposed) return;
  if (s.current && s.inFlight > 0) throw new BusyError(what, s.inFlight);
  s.disposed = true;
  // Queued, not awaited; if it cannot be built, the holds simply last until the ring closes.
  if (s.current) s.host.release(t, false).catch(() => {});
}

async function asyncDisposeTable(t: FileHandleTable | BufferTable, s: TableState): Promise<void> {
  if (s.disposed) return;
  s.disposed = true; // no new operations from here on
  if (s.inFlight > 0) await s.host.drain(t);
  if (s.current) await s.host.release(t, true);
}

/** Makes a {@link FileHandleTable} (its constructor is not public). */
export function newFileHandleTable(
  host: TableHost,
  handles: readonly (bigint | null)[],
): FileHandleTable {
  return makeFileHandleTable(host, handles);
}

/** Makes a {@link BufferTable} (its constructor is not public). */
export function newBufferTable(host: TableHost, lengths: readonly number[]): BufferTable {
  return makeBufferTable(host, lengths);
}
