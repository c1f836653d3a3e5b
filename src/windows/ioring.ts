/**
 * The Windows I/O ring (kernelbase.dll, Windows 11 build 22000+): create a
 * ring, register file handles and buffers, build reads/writes/flushes/cancels
 * that refer to them by index, submit, and reap completions without blocking
 * the event loop.
 *
 * This module holds the ring's public surface, creation and closing; the
 * submission and completion engine is in ioring_engine.ts, the registrations
 * in ioring_register.ts and the data-op builders in ioring_build.ts.
 *
 * Rules these modules keep (shared/reference/windows-api.md §1, §3):
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

import { BusyError, checkInteger, DisposedError, RegioError, UnsupportedError } from "../errors.ts";
import { trackLeak, untrackLeak } from "../leak.ts";
import type { Allocator, NativeRegion, RegionSlice } from "../memory.ts";
import { encodeCreateFlags, IORING_FLAGS } from "../../ffi/windows/abi.ts";
import { windowsAllocator } from "./api.ts";
import { checkHandle, checkHResult } from "./check.ts";
import { type BuildContext, buildFlush, buildSegmented, buildTransfer } from "./ioring_build.ts";
import { RingEngine } from "./ioring_engine.ts";
import {
  type IoRingCapabilities,
  type IoRingOpName,
  OP_CODES,
  queryCapabilities,
  type RingKernel,
  ringKernel,
} from "./ioring_kernel.ts";
import { RingScratch } from "./ioring_memory.ts";
import type { IoRingOperation } from "./ioring_op.ts";
import type {
  BuildOptions,
  FlushOptions,
  IoRingOptions,
  SubmitResult,
  SubmitWaitOptions,
  WriteOptions,
} from "./ioring_options.ts";
import { RingRegistrations } from "./ioring_register.ts";
import type { BufferRef, BufferTable, FileHandleTable, FileRef } from "./ioring_tables.ts";

const MAX_U32 = 0xffff_ffff;

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
  readonly #ring: Deno.PointerObject;
  readonly #scratch: RingScratch;
  readonly #engine: RingEngine;
  readonly #registrations: RingRegistrations;
  /** What the builders need (the tables' host among it). */
  readonly #ctx: BuildContext;

  #closing = false;
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
    const engine = new RingEngine(k, ring, scratch, event, sliceMs, options.pollIntervalMs ?? 5);
    this.#engine = engine;
    this.#registrations = new RingRegistrations(k, ring, allocator, engine, () => this.#closing);
    const host = this.#registrations.host;
    this.#ctx = { k, ring, version: this.version, scratch, allocator, host, engine };
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
    return this.#engine.torn;
  }

  /** Submitted operations whose completion has not been reaped yet. */
  get inFlight(): number {
    return this.#engine.inFlight;
  }

  /** Built operations not yet submitted. */
  get queued(): number {
    return this.#engine.queued;
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
    return await this.#registrations.registerFiles(handles);
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
    return await this.#registrations.registerBuffers(regions);
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
    this.#assertOpen();
    return buildTransfer(this.#ctx, "read", file, buffer, length, fileOffset, options);
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
    this.#assertOpen();
    return buildTransfer(this.#ctx, "write", file, buffer, length, fileOffset, options);
  }

  /**
   * Builds a flush (BuildIoRingFlushFile; version 300+). To cover earlier
   * writes, pass `drainPreceding: true` (an unflagged flush does not wait for them).
   * @throws {UnsupportedError} on a ring below version 300 or an OS without the symbol.
   */
  flush(file: FileRef, options: FlushOptions = {}): IoRingOperation {
    this.#assertOpen();
    return buildFlush(this.#ctx, file, options);
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
    this.#assertOpen();
    return buildSegmented(this.#ctx, "readScatter", file, segments, length, fileOffset, options);
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
    this.#assertOpen();
    return buildSegmented(this.#ctx, "writeGather", file, segments, length, fileOffset, options);
  }

  /**
   * Builds a cancel request for `target` (BuildIoRingCancelRequest, by its
   * userData, never 0, naming its file with the kind of ref, raw or
   * registered, that the target was built with). Only a request: the target
   * may still complete normally; read its outcome from the target's own
   * completion. A target that already finished makes the cancel complete
   * with HRESULT_FROM_WIN32(ERROR_NOT_FOUND).
   * @throws {RangeError} if `target` is not a cancellable op of this ring.
   */
  cancel(target: IoRingOperation): IoRingOperation {
    this.#assertOpen();
    return this.#engine.cancel(target);
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
    const submitted = this.#engine.submitNow();
    if (!options) return submitted;
    return this.#engine.waitFor(submitted, options);
  }

  /** Pops every available completion now (no waiting); returns how many. */
  poll(): number {
    this.#assertOpen();
    return this.#engine.drain();
  }

  #assertOpen(): void {
    if (this.#closing || this.#engine.torn) throw new DisposedError("IoRing");
    if (this.#engine.faulted) throw this.#engine.faultError();
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
    const engine = this.#engine;
    if (engine.torn) return Promise.resolve();
    this.#closePromise ??= (async () => {
      this.#closing = true;
      try {
        await engine.cancelAndDrain(() => true);
        while (engine.inFlight > 0) await engine.nextCompletion();
      } catch (e) {
        // Nothing was released. A waiter fault is reported here, so a retry starts afresh.
        this.#closing = false;
        this.#closePromise = undefined;
        engine.forgetFault(e);
        throw e;
      }
      this.#teardown();
      await engine.finished(); // a pending wait was woken; let it return and close the event
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
    if (this.#engine.torn) return;
    const n = this.#engine.inFlight;
    if (n > 0) throw new BusyError("IoRing", n);
    this.#teardown();
  }

  /** Closes the ring with nothing in flight. Runs once. */
  #teardown(): void {
    if (this.#engine.torn) return;
    this.#closing = true;
    // Unsubmitted entries: CloseIoRing abandons them; the kernel never saw them.
    const hr = this.#engine.teardown(() => this.#k.CloseIoRing(this.#ring));
    // The ring's registrations end with it. Even if CloseIoRing failed, nothing
    // is in flight and nothing more can be submitted, so no operation can
    // reach the registered memory once it is released.
    this.#registrations.end();
    // Wake the waiter; a pending wait closes the event itself when it returns.
    this.#engine.stop();
    this.#scratch.free();
    untrackLeak(this);
    this.#engine.wake();
    checkHResult(hr, "CloseIoRing");
  }
}
