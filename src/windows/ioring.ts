/**
 * The Windows I/O ring (kernelbase.dll, Windows 11 build 22000+): create a
 * ring, register file handles and buffers, build reads/writes/flushes/cancels
 * that refer to them by index, submit, and reap completions without blocking
 * the event loop.
 *
 * Rules this module keeps (shared/reference/windows-api.md §1, §3):
 * - versions are open integers (1, 2, 300, 400, …); write/flush need 300,
 *   scatter/gather 400;
 * - IsIoRingOpSupported returns a BOOL;
 * - 16-byte refs go by pointer to 16-byte-aligned native scratch, rewritten
 *   for every call (the callee may modify its copy);
 * - userData is unique in the process and never 0 (a cancel of 0 cancels
 *   every op on the handle, on every ring);
 * - the completion event is edge-triggered: drain to S_FALSE before waiting,
 *   and every wait has a timeout (short on IORING_VERSION_1, whose signal can
 *   be missed); without the event, a timer polls;
 * - CloseIoRing neither cancels nor waits, so close() cancels and drains
 *   every submitted op first; sync dispose refuses while any is in flight.
 *
 * @module
 */

import {
  BusyError,
  checkInteger,
  DisposedError,
  HResultError,
  RegioError,
  UnsupportedError,
} from "../errors.ts";
import { trackLeak, untrackLeak } from "../leak.ts";
import type { Allocator, NativeRegion, RegionSlice } from "../memory.ts";
import {
  encodeCreateFlags,
  HRESULT,
  INVALID_HANDLE_VALUE,
  IORING_FLAGS,
  writeBufferInfo,
} from "../../ffi/windows/abi.ts";
import { windowsAllocator } from "./api.ts";
import { checkHandle, checkHResult } from "./check.ts";
import {
  type IoRingCapabilities,
  type IoRingOpName,
  laterBuilder,
  OP_CODES,
  queryCapabilities,
  type RingKernel,
  ringKernel,
} from "./ioring_kernel.ts";
import { allocate, type Memory, PAGE, RingScratch } from "./ioring_memory.ts";
import {
  type IoRingCompletion,
  IoRingOperation,
  type IoRingOpKind,
  markSubmitted,
  settleOperation,
} from "./ioring_op.ts";
import {
  type BuildOptions,
  flushMode,
  type FlushOptions,
  type IoRingOptions,
  sqeFlags,
  type SubmitResult,
  type SubmitWaitOptions,
  writeFlags,
  type WriteOptions,
} from "./ioring_options.ts";
import {
  type BufferRef,
  BufferTable,
  checkBufferRef,
  checkFileRef,
  FileHandleTable,
  type FileRef,
  handleValue,
  refTables,
  type TableHost,
  tableState,
} from "./ioring_tables.ts";
import { CompletionWaiter } from "./ioring_waiter.ts";

const MAX_U32 = 0xffff_ffff;
const ABANDONED: IoRingCompletion = { result: HRESULT.E_ABORT, information: 0, ok: false };

// Unique in the process (cancel targets are matched by userData), never 0.
let nextUserData = 0n;

/**
 * Which ring built an operation, and what a cancel of it needs: `handle` is
 * the file it targets (0n for registrations). Kept for the op's lifetime, so
 * a cancel of a finished op can still be built.
 */
const owners = new WeakMap<
  IoRingOperation,
  { ring: IoRing; handle: bigint; cancellable: boolean }
>();

/** The ring's record of one operation it has built (a cancel's needs are in `owners`). */
interface Pending {
  readonly op: IoRingOperation;
  readonly tables: readonly (FileHandleTable | BufferTable)[];
  submitted: boolean;
  /** Drops holds, table counts and per-op memory; runs exactly once. */
  release(): void;
  after?(c: IoRingCompletion): void;
}

function fileOffsetValue(offset: number | bigint): bigint {
  if (typeof offset === "bigint") {
    if (offset < 0n || offset > 0xffff_ffff_ffff_ffffn) {
      throw new RangeError(`fileOffset must be in [0, 2^64), got ${offset}`);
    }
    return offset;
  }
  return BigInt(checkInteger("fileOffset", offset, 0, Number.MAX_SAFE_INTEGER));
}

/**
 * A Windows I/O ring. Create it with {@link IoRing.create}; close it with
 * `await using` (cancels and drains in-flight operations first) or `using`
 * (refuses with {@link BusyError} while operations are in flight).
 *
 * @example Read a file through a registered handle and buffer
 * ```ts ignore
 * import { IoRing, NativeRegion } from "@regio/regio/windows";
 *
 * await using ring = IoRing.create();
 * using region = NativeRegion.allocate(4096);
 * using files = await ring.registerFiles([fileHandle]); // opened with FILE_FLAG_OVERLAPPED
 * using buffers = await ring.registerBuffers([region]);
 * const read = ring.read(files.index(0), buffers.slice(0, 0, 4096), 4096, 0);
 * ring.submit();
 * const n = await read.bytes(); // HResultError on failure (EOF included)
 * console.log(region.bytes.subarray(0, n));
 * ```
 */
export class IoRing implements Disposable, AsyncDisposable {
  /** The version the ring was created with (from GetIoRingInfo). */
  readonly version: number;
  /** Actual SQ size (from GetIoRingInfo). */
  readonly submissionQueueSize: number;
  /** Actual CQ size (from GetIoRingInfo). */
  readonly completionQueueSize: number;
  /** The OS capabilities the ring was created under. */
  readonly capabilities: IoRingCapabilities;

  readonly #k: RingKernel;
  readonly #allocator: Allocator;
  readonly #ring: Deno.PointerObject;
  readonly #scratch: RingScratch;
  readonly #host: TableHost;
  readonly #waiter: CompletionWaiter;

  readonly #ops = new Map<bigint, Pending>();
  #queue: Pending[] = [];
  #inFlight = 0;
  readonly #listeners = new Set<() => void>();

  #files: FileHandleTable | undefined;
  #buffers: BufferTable | undefined;
  #fileGen = 0;
  #bufferGen = 0;
  #bufferHolds: { gen: number; drop: () => void }[] = [];
  /** Does a zero-count registration unregister (header) or fail (observed)? Learned once. */
  #zeroLengthWorks: boolean | undefined;

  /** Set when the completion waiter failed; reported by the next call on the ring. */
  #fault: unknown;

  #closing = false;
  #torn = false;
  #closePromise: Promise<void> | undefined;

  private constructor(
    k: RingKernel,
    allocator: Allocator,
    ring: Deno.PointerObject,
    scratch: RingScratch,
    caps: IoRingCapabilities,
    event: Deno.PointerObject | null,
    options: IoRingOptions,
  ) {
    this.#k = k;
    this.#allocator = allocator;
    this.#ring = ring;
    this.#scratch = scratch;
    const info = scratch.readInfo();
    this.version = info.version;
    this.submissionQueueSize = info.submissionQueueSize;
    this.completionQueueSize = info.completionQueueSize;
    this.capabilities = caps;
    const slice = options.waitTimeoutMs ?? 1000;
    // IORING_VERSION_1 can miss the empty → non-empty signal: keep its waits short.
    const sliceMs = this.version === 1 ? Math.min(slice, 50) : slice;
    this.#waiter = new CompletionWaiter(k, event, sliceMs, options.pollIntervalMs ?? 5, {
      drain: () => this.#drain(),
      busy: () => !this.#torn && this.#inFlight > 0,
      fault: (e) => {
        this.#fault = e;
        this.#notify(); // waits on the ring end now, not never
      },
    });
    this.#host = {
      release: (t, eager) => this.#releaseTable(t, eager),
      drain: (t) => this.#cancelAndDrain((p) => p.tables.includes(t)),
    };
    trackLeak(this, "an IoRing");
  }

  /**
   * The OS's I/O ring capabilities (QueryIoRingCapabilities).
   * @throws {UnsupportedError} before Windows 11 build 22000.
   */
  static queryCapabilities(): IoRingCapabilities {
    return queryCapabilities(ringKernel());
  }

  /**
   * Creates a ring. Checks the request against the OS capabilities first.
   * @throws {UnsupportedError} before Windows 11 build 22000, or for a version above the OS maximum.
   * @throws {RangeError} for a bad version number or a queue size above the OS maximum.
   * @throws {HResultError} if CreateIoRing fails.
   */
  static create(options: IoRingOptions = {}): IoRing {
    const k = ringKernel();
    const caps = queryCapabilities(k);
    const version = options.version ?? caps.maxVersion;
    checkInteger("version", version, 1, MAX_U32);
    if (version === 3 || version === 4) {
      throw new RangeError(`IORING_VERSION_${version} is ${version * 100}, not ${version}`);
    }
    if (version > caps.maxVersion) {
      throw new UnsupportedError(
        `IORING_VERSION ${version}`,
        `this OS supports up to ${caps.maxVersion}`,
      );
    }
    const sq = options.submissionQueueSize ?? Math.min(256, caps.maxSubmissionQueueSize);
    checkInteger("submissionQueueSize", sq, 1, caps.maxSubmissionQueueSize);
    const cq = options.completionQueueSize ??
      Math.min(2 * sq, caps.maxCompletionQueueSize);
    checkInteger("completionQueueSize", cq, 1, caps.maxCompletionQueueSize);
    if (options.waitTimeoutMs !== undefined) {
      checkInteger("waitTimeoutMs", options.waitTimeoutMs, 1, 0x7fff_ffff);
    }
    if (options.pollIntervalMs !== undefined) {
      checkInteger("pollIntervalMs", options.pollIntervalMs, 1, 0x7fff_ffff);
    }

    const allocator = windowsAllocator();
    const scratch = new RingScratch(allocator);
    let ring: Deno.PointerObject | null = null;
    let event: Deno.PointerObject | null = null;
    try {
      const advisory = options.skipBuilderParamChecks
        ? IORING_FLAGS.IORING_CREATE_SKIP_BUILDER_PARAM_CHECKS
        : IORING_FLAGS.IORING_CREATE_ADVISORY_FLAGS_NONE;
      checkHResult(
        k.CreateIoRing(
          version,
          encodeCreateFlags(IORING_FLAGS.IORING_CREATE_REQUIRED_FLAGS_NONE, advisory),
          sq,
          cq,
          scratch.handle,
        ),
        "CreateIoRing",
      );
      ring = scratch.readHandle();
      if (ring === null) throw new RegioError("CreateIoRing returned a NULL HIORING");
      checkHResult(k.GetIoRingInfo(ring, scratch.info), "GetIoRingInfo");
      if (caps.completionEvent) {
        // Auto-reset: the one waiter's wait consumes the signal.
        event = checkHandle(k.CreateEventW(null, 0, 0, null), "CreateEventW", k);
        checkHResult(k.SetIoRingCompletionEvent(ring, event), "SetIoRingCompletionEvent");
      }
      return new IoRing(k, allocator, ring, scratch, caps, event, options);
    } catch (e) {
      if (ring !== null) k.CloseIoRing(ring);
      if (event !== null) k.CloseHandle(event);
      scratch.free();
      throw e;
    }
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#torn;
  }

  /** Submitted operations whose completion has not been reaped yet. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Built operations not yet submitted. */
  get queued(): number {
    return this.#queue.length;
  }

  /** IsIoRingOpSupported (a BOOL: TRUE = supported). Unknown codes report false. */
  isSupported(op: IoRingOpName | number): boolean {
    this.#assertOpen();
    const code = typeof op === "number" ? op : OP_CODES[op];
    if (code === undefined) throw new RangeError(`unknown I/O ring operation ${String(op)}`);
    return this.#k.IsIoRingOpSupported(this.#ring, checkInteger("op", code, 0, MAX_U32)) !== 0;
  }

  // --- registration ---------------------------------------------------------

  /**
   * Registers file handles (`null` = a sparse, empty entry) and resolves with
   * the table once the kernel has accepted it. It replaces the ring's
   * previous file table completely; that table object is then "replaced"
   * (its refs stop working, its dispose does nothing).
   * @throws {RangeError} for an empty list or an invalid handle.
   * @throws {BusyError} if the current file table has operations in flight.
   * @throws {HResultError} if the kernel rejects the registration.
   */
  async registerFiles(
    handles: readonly (Deno.PointerObject | bigint | null)[],
  ): Promise<FileHandleTable> {
    this.#assertOpen();
    checkInteger("handle count", handles.length, 1, MAX_U32);
    const values = handles.map((h, i) => h === null ? null : handleValue(h, `handles[${i}]`));
    this.#assertReplaceable(this.#files, "FileHandleTable");
    const table = new FileHandleTable(this.#host, values);
    const op = this.#buildRegistration(
      "files",
      values.map((v) => v ?? INVALID_HANDLE_VALUE),
      [],
      ++this.#fileGen,
    );
    if (this.#files) tableState(this.#files).current = false;
    this.#files = table;
    return await this.#finishRegistration(op, table, "BuildIoRingRegisterFileHandles");
  }

  /**
   * Registers native regions as buffers (`null` = a sparse entry) and resolves
   * with the table once the kernel has accepted it. The regions are held
   * (cannot be freed) until the registration is released and confirmed, or
   * the ring closes. Replaces the previous buffer table completely.
   * @throws {RangeError} for an empty list or a region over 4 GiB - 1.
   * @throws {DisposedError} for a freed region.
   * @throws {BusyError} if the current buffer table has operations in flight.
   * @throws {HResultError} if the kernel rejects the registration.
   */
  async registerBuffers(regions: readonly (NativeRegion | null)[]): Promise<BufferTable> {
    this.#assertOpen();
    checkInteger("buffer count", regions.length, 1, MAX_U32);
    const entries = regions.map((r, i) => {
      if (r === null) return { address: 0n, length: 0 };
      checkInteger(`regions[${i}].byteLength`, r.byteLength, 1, MAX_U32);
      return { address: r.address, length: r.byteLength }; // address throws DisposedError if freed
    });
    this.#assertReplaceable(this.#buffers, "BufferTable");
    const table = new BufferTable(this.#host, entries.map((e) => e.length));
    const gen = ++this.#bufferGen;
    const op = this.#buildRegistration("buffers", entries, regions, gen);
    if (this.#buffers) tableState(this.#buffers).current = false;
    this.#buffers = table;
    return await this.#finishRegistration(op, table, "BuildIoRingRegisterBuffers");
  }

  #assertReplaceable(old: FileHandleTable | BufferTable | undefined, what: string): void {
    const n = old ? tableState(old).inFlight : 0;
    if (n > 0) throw new BusyError(`${what} (the one a new registration would replace)`, n);
  }

  async #finishRegistration<T extends FileHandleTable | BufferTable>(
    op: IoRingOperation,
    table: T,
    call: string,
  ): Promise<T> {
    this.#submitNow();
    const c = await op.done;
    if (!c.ok) {
      const s = tableState(table);
      s.current = false;
      s.disposed = true;
      if (this.#files === table) this.#files = undefined;
      if (this.#buffers === table) this.#buffers = undefined;
      throw new HResultError(c.result, call);
    }
    return table;
  }

  /**
   * Builds a REGISTER_FILES / REGISTER_BUFFERS entry. Its array lives in
   * native memory until the op completes (the kernel may read it until then).
   * A successful buffer registration of generation `gen` releases the holds
   * of every older one (the kernel no longer uses those buffers); a failed
   * one releases its own.
   */
  #buildRegistration(
    kind: "files" | "buffers",
    entries: readonly (bigint | { address: bigint; length: number })[],
    regions: readonly (NativeRegion | null)[],
    gen: number,
  ): IoRingOperation {
    const files = kind === "files";
    const mem = entries.length === 0
      ? undefined
      : allocate(this.#allocator, entries.length * (files ? 8 : 16));
    entries.forEach((e, i) => {
      if (typeof e === "bigint") mem!.view.setBigUint64(i * 8, e, true);
      else writeBufferInfo(mem!.view, i * 16, e.address, e.length);
    });
    // A zero count goes with NULL (UNCONFIRMED whether NULL + 0 differs from an empty array).
    const array = mem?.pointer ?? null;
    const count = entries.length;
    const k = this.#k;
    const ring = this.#ring;
    const op = this.#build({
      kind: files ? "registerFiles" : "registerBuffers",
      call: files ? "BuildIoRingRegisterFileHandles" : "BuildIoRingRegisterBuffers",
      handle: 0n,
      cancellable: false,
      memory: mem,
      invoke: files
        ? (ud) => k.BuildIoRingRegisterFileHandles(ring, count, array, ud)
        : (ud) => k.BuildIoRingRegisterBuffers(ring, count, array, ud),
      // Success: older registrations are gone, so their holds go. Failure: the
      // kernel never took these regions, so only this registration's holds go.
      after: files ? undefined : (c) => this.#dropBufferHolds(gen, c.ok),
    });
    for (const r of regions) {
      if (r) this.#bufferHolds.push({ gen, drop: r.retain("an IoRing BufferTable") });
    }
    return op;
  }

  #dropBufferHolds(gen: number, replaced: boolean): void {
    const keep = [];
    for (const h of this.#bufferHolds) {
      if (replaced ? h.gen < gen : h.gen === gen) h.drop();
      else keep.push(h);
    }
    this.#bufferHolds = keep;
  }

  /**
   * Releases `t`'s registration. The header says a zero-count registration
   * unregisters everything; win-ioring-rs saw it fail with E_INVALIDARG
   * (UNCONFIRMED either way). So the first release on a ring tries zero
   * entries and, if that fails, registers an all-sparse table of the same
   * size instead; later releases use what worked.
   */
  async #releaseTable(t: FileHandleTable | BufferTable, eager: boolean): Promise<void> {
    const s = tableState(t);
    if (!s.current || this.#closing) return;
    s.current = false;
    const files = t instanceof FileHandleTable;
    if (files) this.#files = undefined;
    else this.#buffers = undefined;
    const gen = files ? ++this.#fileGen : ++this.#bufferGen;
    const sparse = (): (bigint | { address: bigint; length: number })[] =>
      Array.from(
        { length: t.length },
        () => files ? INVALID_HANDLE_VALUE : { address: 0n, length: 0 },
      );
    const tryZero = this.#zeroLengthWorks !== false;
    const first = this.#buildRegistration(
      files ? "files" : "buffers",
      tryZero ? [] : sparse(),
      [],
      gen,
    );
    if (eager) this.#submitNow();
    const c = await first.done;
    if (!tryZero || first.state !== "completed") return;
    this.#zeroLengthWorks = c.ok;
    const superseded = (files ? this.#fileGen : this.#bufferGen) !== gen;
    if (c.ok || superseded || this.#closing) return;
    const second = this.#buildRegistration(files ? "files" : "buffers", sparse(), [], gen);
    if (eager) this.#submitNow();
    await second.done;
  }

  // --- builders -------------------------------------------------------------

  /**
   * Builds a read of `length` bytes at `fileOffset` into `buffer`
   * (BuildIoRingReadFile). Not submitted until {@link IoRing.submit}. A read
   * at or after EOF completes with HRESULT_FROM_WIN32(ERROR_HANDLE_EOF); one
   * that crosses EOF completes short.
   * @throws {RangeError} if `length` exceeds the buffer ref, or for a bad offset.
   * @throws {DisposedError} if the ring, a table or the region is gone.
   */
  read(
    file: FileRef,
    buffer: BufferRef,
    length: number,
    fileOffset: number | bigint = 0,
    options: BuildOptions = {},
  ): IoRingOperation {
    return this.#transfer("read", file, buffer, length, fileOffset, options);
  }

  /**
   * Builds a write (BuildIoRingWriteFile; version 300+).
   * @throws {UnsupportedError} on a ring below version 300 or an OS without the symbol.
   * @throws {RangeError} if `length` exceeds the buffer ref, or for a bad offset.
   */
  write(
    file: FileRef,
    buffer: BufferRef,
    length: number,
    fileOffset: number | bigint = 0,
    options: WriteOptions = {},
  ): IoRingOperation {
    return this.#transfer("write", file, buffer, length, fileOffset, options);
  }

  #transfer(
    kind: "read" | "write",
    file: FileRef,
    buffer: BufferRef,
    length: number,
    fileOffset: number | bigint,
    options: WriteOptions,
  ): IoRingOperation {
    this.#assertOpen();
    const write = kind === "write"
      ? laterBuilder(this.#k, this.version, "BuildIoRingWriteFile", 300, "write")
      : undefined;
    checkFileRef(file, this.#host);
    length = checkBufferRef(buffer, length, this.#host);
    const offset = fileOffsetValue(fileOffset);
    const flags = sqeFlags(options, this.version);
    const fileWriteFlags = writeFlags(options);
    const k = this.#k;
    const scratch = this.#scratch;
    return this.#build({
      kind,
      call: write ? "BuildIoRingWriteFile" : "BuildIoRingReadFile",
      handle: file.handle,
      cancellable: true,
      tables: refTables(file, buffer),
      regions: buffer.region ? [buffer.region] : [],
      invoke: (ud) => {
        scratch.writeRefs(file, buffer);
        const { fileRef, bufferRef } = scratch;
        return write
          ? write(this.#ring, fileRef, bufferRef, length, offset, fileWriteFlags, ud, flags)
          : k.BuildIoRingReadFile(this.#ring, fileRef, bufferRef, length, offset, ud, flags);
      },
    });
  }

  /**
   * Builds a flush (BuildIoRingFlushFile; version 300+). To cover earlier
   * writes, pass `drainPreceding: true` (an unflagged flush does not wait for them).
   * @throws {UnsupportedError} on a ring below version 300 or an OS without the symbol.
   */
  flush(file: FileRef, options: FlushOptions = {}): IoRingOperation {
    this.#assertOpen();
    const build = laterBuilder(this.#k, this.version, "BuildIoRingFlushFile", 300, "flush");
    checkFileRef(file, this.#host);
    const mode = flushMode(options);
    const flags = sqeFlags(options, this.version);
    return this.#build({
      kind: "flush",
      call: "BuildIoRingFlushFile",
      handle: file.handle,
      cancellable: true,
      tables: refTables(file),
      invoke: (ud) => {
        this.#scratch.writeRefs(file);
        return build(this.#ring, this.#scratch.fileRef, mode, ud, flags);
      },
    });
  }

  /**
   * Builds a scatter read into whole pages (BuildIoRingReadFileScatter;
   * version 400+). Each segment must be one page-aligned 4096-byte slice:
   * ReadFileScatter's rules, which the I/O ring op is assumed to share
   * (UNCONFIRMED), as is its need for a FILE_FLAG_NO_BUFFERING handle.
   * @throws {UnsupportedError} on a ring below version 400 or an OS without the symbol.
   * @throws {RangeError} for a bad segment or a length over the segments' total.
   */
  readScatter(
    file: FileRef,
    segments: readonly RegionSlice[],
    length: number,
    fileOffset: number | bigint = 0,
    options: BuildOptions = {},
  ): IoRingOperation {
    return this.#segmented("readScatter", file, segments, length, fileOffset, options);
  }

  /**
   * Builds a gather write from whole pages (BuildIoRingWriteFileGather;
   * version 400+). Same segment rules as {@link IoRing.readScatter}.
   * @throws {UnsupportedError} on a ring below version 400 or an OS without the symbol.
   */
  writeGather(
    file: FileRef,
    segments: readonly RegionSlice[],
    length: number,
    fileOffset: number | bigint = 0,
    options: WriteOptions = {},
  ): IoRingOperation {
    return this.#segmented("writeGather", file, segments, length, fileOffset, options);
  }

  #segmented(
    kind: "readScatter" | "writeGather",
    file: FileRef,
    segments: readonly RegionSlice[],
    length: number,
    fileOffset: number | bigint,
    options: WriteOptions,
  ): IoRingOperation {
    this.#assertOpen();
    const read = kind === "readScatter";
    const call = read ? "BuildIoRingReadFileScatter" : "BuildIoRingWriteFileGather";
    const scatter = read
      ? laterBuilder(this.#k, this.version, "BuildIoRingReadFileScatter", 400, kind)
      : undefined;
    const gather = read
      ? undefined
      : laterBuilder(this.#k, this.version, "BuildIoRingWriteFileGather", 400, kind);
    checkFileRef(file, this.#host);
    checkInteger("segment count", segments.length, 1, 0xffff);
    segments.forEach((s, i) => {
      s.region.checkRange(s.offset, s.length); // DisposedError if freed
      if (s.length !== PAGE || s.address % BigInt(PAGE) !== 0n) {
        throw new RangeError(`segments[${i}] must be one page-aligned ${PAGE}-byte page`);
      }
    });
    checkInteger("length", length, 1, segments.length * PAGE);
    const offset = fileOffsetValue(fileOffset);
    const flags = sqeFlags(options, this.version);
    const fileWriteFlags = writeFlags(options);
    // FILE_SEGMENT_ELEMENT[]: kept in native memory until the op completes.
    const mem = allocate(this.#allocator, segments.length * 8);
    segments.forEach((s, i) => mem.view.setBigUint64(i * 8, s.address, true));
    const count = segments.length;
    return this.#build({
      kind,
      call,
      handle: file.handle,
      cancellable: true,
      tables: refTables(file),
      regions: segments.map((s) => s.region),
      memory: mem,
      invoke: (ud) => {
        const scratch = this.#scratch;
        scratch.writeRefs(file);
        const ref = scratch.fileRef;
        return scatter
          ? scatter(this.#ring, ref, count, mem.pointer, length, offset, ud, flags)
          : gather!(this.#ring, ref, count, mem.pointer, length, offset, fileWriteFlags, ud, flags);
      },
    });
  }

  /**
   * Builds a cancel request for `target` (BuildIoRingCancelRequest, by its
   * userData, never 0). Only a request: the target may still complete
   * normally; read its outcome from the target's own completion. A target
   * that already finished makes the cancel complete with
   * HRESULT_FROM_WIN32(ERROR_NOT_FOUND).
   * @throws {RangeError} if `target` is not a cancellable op of this ring.
   */
  cancel(target: IoRingOperation): IoRingOperation {
    this.#assertOpen();
    const o = owners.get(target);
    if (!o || o.ring !== this) {
      throw new RangeError("cancel: the target is not an operation of this ring");
    }
    if (!o.cancellable) throw new RangeError(`cancel: a ${target.kind} cannot be cancelled`);
    return this.#buildCancel(target.userData, o.handle);
  }

  #buildCancel(userData: bigint, handle: bigint): IoRingOperation {
    const k = this.#k;
    return this.#build({
      kind: "cancel",
      call: "BuildIoRingCancelRequest",
      handle,
      cancellable: false,
      invoke: (ud) => {
        // A raw ref to the target's own handle: stays right even if its table was replaced.
        this.#scratch.writeRawFile(handle);
        return k.BuildIoRingCancelRequest(this.#ring, this.#scratch.fileRef, userData, ud);
      },
    });
  }

  // --- submit and reap -----------------------------------------------------

  /** Submits every built entry without waiting; returns how many were submitted. */
  submit(): number;
  /**
   * Submits every built entry, then waits (without blocking the event loop)
   * for `wait` completions or `timeoutMs`.
   */
  submit(options: SubmitWaitOptions): Promise<SubmitResult>;
  submit(options?: SubmitWaitOptions): number | Promise<SubmitResult> {
    this.#assertOpen();
    const submitted = this.#submitNow();
    if (!options) return submitted;
    const { wait, timeoutMs } = options;
    if (wait !== "all") checkInteger("wait", wait, 0, MAX_U32);
    if (timeoutMs !== undefined) checkInteger("timeoutMs", timeoutMs, 0, 0x7fff_ffff);
    const target = wait === "all" ? this.#inFlight : Math.min(wait, this.#inFlight);
    return new Promise((resolve) => {
      let completed = 0;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish = (timedOut: boolean): void => {
        this.#listeners.delete(listener);
        clearTimeout(timer);
        resolve({ submitted, completed, timedOut });
      };
      const listener = (): void => {
        if (this.#torn || this.#fault !== undefined || ++completed >= target) finish(false);
      };
      if (target === 0) return finish(false);
      this.#listeners.add(listener);
      if (timeoutMs !== undefined) timer = setTimeout(() => finish(true), timeoutMs);
    });
  }

  /** Pops every available completion now (no waiting); returns how many. */
  poll(): number {
    this.#assertOpen();
    return this.#drain();
  }

  /**
   * SubmitIoRing with no wait: never blocks the JS thread, so the undocumented
   * timeout HRESULT of a waiting submit never arises. On any error every entry
   * stays in the SQ (documented). A full CQ is drained once and retried.
   */
  #submitNow(): number {
    if (this.#queue.length === 0) return 0;
    let hr = this.#k.SubmitIoRing(this.#ring, 0, 0, this.#scratch.submitted);
    if (hr === HRESULT.IORING_E_COMPLETION_QUEUE_TOO_FULL) {
      this.#drain();
      hr = this.#k.SubmitIoRing(this.#ring, 0, 0, this.#scratch.submitted);
    }
    checkHResult(hr, "SubmitIoRing");
    // S_OK means everything went; count them all as in flight whatever
    // submittedEntries says, because freeing under the kernel is the worse mistake.
    const batch = this.#queue;
    this.#queue = [];
    for (const p of batch) {
      p.submitted = true;
      markSubmitted(p.op);
    }
    this.#inFlight += batch.length;
    this.#waiter.start();
    return batch.length;
  }

  /** Pops until S_FALSE, settling each op. */
  #drain(): number {
    let n = 0;
    for (;;) {
      const hr = checkHResult(
        this.#k.PopIoRingCompletion(this.#ring, this.#scratch.cqe),
        "PopIoRingCompletion",
      );
      if (hr === HRESULT.S_FALSE) return n; // empty; the CQE was not written
      const cqe = this.#scratch.readCqe();
      n++;
      const p = this.#ops.get(cqe.userData);
      if (!p || !p.submitted) continue; // not ours (cannot happen with unique userData)
      this.#ops.delete(cqe.userData);
      this.#inFlight--;
      const c = {
        result: cqe.resultCode,
        information: Number(cqe.information),
        ok: cqe.resultCode >= 0,
      };
      this.#settle(p, "completed", c);
    }
  }

  #settle(p: Pending, state: "completed" | "abandoned", c: IoRingCompletion): void {
    p.release();
    settleOperation(p.op, state, c);
    p.after?.(c);
    this.#notify();
  }

  /** Calls every completion listener (a copy: they remove themselves). */
  #notify(): void {
    for (const l of [...this.#listeners]) l();
  }

  /** Resolves at the next completion; rejects once the waiter has failed. */
  #nextCompletion(): Promise<void> {
    return new Promise((resolve, reject) => {
      const l = (): void => {
        this.#listeners.delete(l);
        if (this.#fault === undefined) resolve();
        else reject(this.#faultError());
      };
      if (this.#fault !== undefined) return l();
      this.#listeners.add(l);
      this.#waiter.start();
    });
  }

  // --- build plumbing -----------------------------------------------------

  #build(b: {
    kind: IoRingOpKind;
    call: string;
    handle: bigint;
    cancellable: boolean;
    invoke: (userData: bigint) => number;
    tables?: readonly (FileHandleTable | BufferTable)[];
    regions?: readonly NativeRegion[];
    memory?: Memory;
    after?: (c: IoRingCompletion) => void;
  }): IoRingOperation {
    const userData = ++nextUserData;
    let hr: number;
    try {
      hr = b.invoke(userData);
      if (hr === HRESULT.IORING_E_SUBMISSION_QUEUE_FULL) {
        this.#submitNow(); // make room, then build again (the refs are rewritten)
        hr = b.invoke(userData);
      }
      checkHResult(hr, b.call);
    } catch (e) {
      b.memory?.free();
      throw e;
    }
    const op = new IoRingOperation(b.kind, userData, b.call);
    owners.set(op, { ring: this, handle: b.handle, cancellable: b.cancellable });
    const tables = b.tables ?? [];
    const drops = (b.regions ?? []).map((r) => r.retain(`an IoRing ${b.kind}`));
    for (const t of tables) tableState(t).inFlight++;
    let released = false;
    const p: Pending = {
      op,
      tables,
      submitted: false,
      release: () => {
        if (released) return;
        released = true;
        for (const t of tables) tableState(t).inFlight--;
        for (const drop of drops) drop();
        b.memory?.free();
      },
      after: b.after,
    };
    this.#ops.set(userData, p);
    this.#queue.push(p);
    return op;
  }

  #assertOpen(): void {
    if (this.#closing || this.#torn) throw new DisposedError("IoRing");
    if (this.#fault !== undefined) throw this.#faultError();
  }

  #faultError(): RegioError {
    return new RegioError("the IoRing's completion waiter failed", { cause: this.#fault });
  }

  // --- closing --------------------------------------------------------------

  /**
   * Cancels every submitted operation, waits for all of their completions,
   * then closes the ring and releases its tables, scratch memory and event
   * (CloseIoRing itself neither cancels nor waits). Entries built but never
   * submitted are submitted and cancelled too. Idempotent.
   * @throws {RegioError} if the completion waiter failed (e.g. PopIoRingCompletion
   * returned IORING_E_CORRUPT): nothing is released, and close can be retried.
   */
  close(): Promise<void> {
    if (this.#torn) return Promise.resolve();
    this.#closePromise ??= (async () => {
      this.#closing = true;
      try {
        await this.#cancelAndDrain(() => true);
        while (this.#inFlight > 0) await this.#nextCompletion();
      } catch (e) {
        // Nothing was released. A waiter fault is reported here, so a retry starts afresh.
        this.#closing = false;
        this.#closePromise = undefined;
        if (e instanceof RegioError && e.cause === this.#fault) this.#fault = undefined;
        throw e;
      }
      this.#teardown();
      await this.#waiter.finished(); // a pending wait was woken; let it return and close the event
    })();
    return this.#closePromise;
  }

  /** `await using`: same as {@link IoRing.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * `using`: closes at once if nothing is in flight (unsubmitted entries are
   * abandoned). Idempotent.
   * @throws {BusyError} while operations are in flight; nothing is changed.
   */
  [Symbol.dispose](): void {
    if (this.#torn) return;
    if (this.#inFlight > 0) throw new BusyError("IoRing", this.#inFlight);
    this.#teardown();
  }

  async #cancelAndDrain(filter: (p: Pending) => boolean): Promise<void> {
    if (this.#torn) return;
    // Entries in the SQ cannot be taken back: submit them so they can be cancelled.
    while (this.#queue.some(filter)) await this.#submitPatiently();
    const targets = [...this.#ops.values()].filter(filter);
    for (const p of targets) {
      const o = owners.get(p.op)!;
      if (o.cancellable && p.op.state === "submitted") this.#buildCancel(p.op.userData, o.handle);
    }
    await this.#submitPatiently();
    // Not `await op.done`: that would never settle if the waiter fails.
    while (targets.some((p) => p.op.completion === undefined)) await this.#nextCompletion();
  }

  /** #submitNow, waiting for completions while the CQ is too full to take more. */
  async #submitPatiently(): Promise<void> {
    for (;;) {
      try {
        this.#submitNow();
        return;
      } catch (e) {
        const full = e instanceof HResultError &&
          e.code === HRESULT.IORING_E_COMPLETION_QUEUE_TOO_FULL && this.#inFlight > 0;
        if (!full) throw e;
        await this.#nextCompletion();
      }
    }
  }

  /** Closes the ring with nothing in flight. Runs once. */
  #teardown(): void {
    if (this.#torn) return;
    this.#torn = true;
    this.#closing = true;
    // Unsubmitted entries: CloseIoRing abandons them; the kernel never saw them.
    const abandoned = this.#queue;
    this.#queue = [];
    const hr = this.#k.CloseIoRing(this.#ring);
    for (const p of abandoned) {
      this.#ops.delete(p.op.userData);
      this.#settle(p, "abandoned", ABANDONED);
    }
    // The ring's registrations end with it.
    for (const h of this.#bufferHolds) h.drop();
    this.#bufferHolds = [];
    for (const t of [this.#files, this.#buffers]) if (t) tableState(t).current = false;
    this.#files = this.#buffers = undefined;
    // Wake the waiter; a pending wait closes the event itself when it returns.
    this.#waiter.stop();
    this.#scratch.free();
    untrackLeak(this);
    this.#notify();
    checkHResult(hr, "CloseIoRing");
  }
}
