/**
 * The I/O ring half of the kernelbase fake: the 16 I/O ring symbols,
 * following the documented semantics (shared/reference/windows-api.md §1):
 *
 * - capabilities are configurable (MaxVersion 1/2/300/400/…, max sizes,
 *   feature flags); symbols the configured OS lacks are `null`;
 * - CreateIoRing checks version, sizes and required flags, rounds the SQ up
 *   to a power of two and the CQ to a power of two ≥ 2× the SQ, and decodes
 *   the u64 flags as Required (low) / Advisory (high);
 * - IsIoRingOpSupported returns a BOOL; builders fail with
 *   IORING_E_SUBMISSION_QUEUE_FULL when the SQ is full;
 * - PopIoRingCompletion returns S_FALSE on an empty CQ and leaves the CQE alone;
 * - the completion event is edge-triggered (empty → non-empty only);
 * - registrations replace the whole table; sparse entries; a zero-count
 *   registration unregisters all (the header), or is refused with
 *   E_INVALIDARG by the builder or by its completion (win-ioring-rs saw the
 *   latter; reference §5.4 leaves both open), per `zeroLengthRegistration`;
 * - reads/writes copy bytes between in-memory fake files and native memory;
 *   EOF is 0x80070026 at/after the end, a short read before it;
 * - cancel aborts the target (E_ABORT) unless the op resists; no target is
 *   HRESULT_FROM_WIN32(ERROR_NOT_FOUND); opToCancel 0 = every op on the handle;
 *   whether a cancel's file ref must be the very ref the op was built with
 *   (registered index vs raw handle) is UNCONFIRMED (§5.5), per `cancelMatch`;
 * - CloseIoRing neither cancels nor waits.
 *
 * Operations complete only when the test drives them (`complete`,
 * `completeAll`), except registrations and cancels, which take effect at
 * submit (configurable). Whatever would be wrong on real Windows for the
 * wrapper (a write into freed memory or after CloseIoRing, popping a closed
 * ring, freeing a registration array early) is recorded in `violations`.
 *
 * Every struct is decoded at offsets written literally here, never through
 * ffi/windows/abi.ts, so a layout bug in the wrapper fails a test.
 */

import type { Kernelbase } from "../../ffi/windows/kernelbase.ts";
import { addr, type FakeBase, viewAt } from "./fake_base.ts";
import type { HandleHooks, IoRingSymbolName } from "./fake_kernel.ts";

// HRESULTs, written literally (winerror.h).
const S_OK = 0;
const S_FALSE = 1;
const E_INVALIDARG = 0x80070057 | 0;
const E_HANDLE = 0x80070006 | 0;
const E_ABORT = 0x80004004 | 0;
const HR_EOF = 0x80070026 | 0;
const HR_NOT_FOUND = 0x80070490 | 0;
const HR_OPERATION_ABORTED = 0x800703e3 | 0;
const IORING_E_REQUIRED_FLAG_NOT_SUPPORTED = 0x80460001 | 0;
const IORING_E_SUBMISSION_QUEUE_FULL = 0x80460002 | 0;
const IORING_E_VERSION_NOT_SUPPORTED = 0x80460003 | 0;
const IORING_E_SUBMISSION_QUEUE_TOO_BIG = 0x80460004 | 0;
const IORING_E_COMPLETION_QUEUE_TOO_BIG = 0x80460005 | 0;
const IORING_E_COMPLETION_QUEUE_TOO_FULL = 0x80460008 | 0;
const INVALID_HANDLE_VALUE = 0xffff_ffff_ffff_ffffn;
const FEATURE_SET_COMPLETION_EVENT = 0x2;
const KNOWN_VERSIONS = [1, 2, 300, 400];

/** IORING_OP_CODE values, literally. */
export const OP = {
  NOP: 0,
  READ: 1,
  REGISTER_FILES: 2,
  REGISTER_BUFFERS: 3,
  CANCEL: 4,
  WRITE: 5,
  FLUSH: 6,
  READ_SCATTER: 7,
  WRITE_GATHER: 8,
} as const;

/** Options for the I/O ring fake. */
export interface FakeIoRingOptions {
  /** false: a Windows build without the I/O ring (every symbol is null). */
  available?: boolean;
  /** MaxVersion QueryIoRingCapabilities reports (default 400). */
  maxVersion?: number;
  /** Default 65536. */
  maxSubmissionQueueSize?: number;
  /** Default 131072. */
  maxCompletionQueueSize?: number;
  /** IORING_FEATURE_FLAGS (default IORING_FEATURE_SET_COMPLETION_EVENT). */
  featureFlags?: number;
  /**
   * Symbols to make null. By default the v3 builders (write, flush) are null
   * below MaxVersion 300 and the v4 ones (scatter, gather) below 400.
   */
  missing?: IoRingSymbolName[];
  /**
   * A zero-count registration: "accepted" (the header: unregisters all),
   * "refusedAtBuild" (the builder returns E_INVALIDARG) or
   * "refusedAtCompletion" (its CQE is E_INVALIDARG, as win-ioring-rs saw).
   * Default "refusedAtCompletion".
   */
  zeroLengthRegistration?: "accepted" | "refusedAtBuild" | "refusedAtCompletion";
  /**
   * Which in-flight ops a cancel's file ref matches: "file" (default) every
   * op on the same underlying file, however it was referenced; "exactRef"
   * only ops built with the same kind of ref naming the same thing (raw
   * handle value, or registered index on the same ring).
   */
  cancelMatch?: "file" | "exactRef";
  /** Registrations complete at submit (default true); false: only when driven. */
  registrationsCompleteAtSubmit?: boolean;
  /**
   * Every op completes inside the SubmitIoRing that submits it, as a read of
   * cached data can (default false: ops complete when driven).
   */
  opsCompleteAtSubmit?: boolean;
  /** Ops ignore cancel requests and complete normally when driven (default false). */
  resistCancel?: boolean;
  /** On IORING_VERSION_1 rings, never signal the completion event (the v1 race). */
  dropVersion1Signals?: boolean;
  /** IsIoRingOpSupported says FALSE for these op codes. */
  unsupportedOps?: number[];
}

/** A decoded 16-byte ref, plus whether it was 16-byte aligned. */
export interface FakeRef {
  kind: number;
  /** Raw handle / address (kind 0). */
  value: bigint;
  /** Registered index (kind 1). */
  index: number;
  /** Registered buffer offset (kind 1, buffer refs). */
  offset: number;
}

/** An entry built into a ring's SQ (decoded at build time, as the builder copies it). */
export interface FakeOp {
  readonly ring: bigint;
  readonly op: number;
  readonly userData: bigint;
  readonly sqeFlags: number;
  readonly file?: FakeRef;
  readonly buffer?: FakeRef;
  readonly length: number;
  readonly fileOffset: bigint;
  /** REGISTER_*: count and array address; SCATTER/GATHER: segment count and array. */
  readonly count: number;
  readonly array: bigint;
  /** CANCEL: the target's userData. */
  readonly opToCancel: bigint;
  readonly writeFlags: number;
  readonly flushMode: number;
  /** Set by a test: this op ignores cancels (completes normally when driven). */
  resistCancel: boolean;
}

interface FakeCqe {
  userData: bigint;
  result: number;
  information: bigint;
}

interface FakeRing {
  readonly handle: bigint;
  readonly version: number;
  readonly required: number;
  readonly advisory: number;
  readonly sqSize: number;
  readonly cqSize: number;
  readonly sq: FakeOp[];
  readonly inFlight: FakeOp[];
  readonly cq: FakeCqe[];
  event: bigint;
  files: bigint[];
  buffers: { address: bigint; length: number }[];
  closed: boolean;
}

/** A fake file: bytes keyed by a fake handle value. */
export interface FakeFile {
  data: Uint8Array;
  closed: boolean;
}

function pow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** The fake OS side of the I/O ring. */
export class FakeIoRingOs {
  readonly hooks: HandleHooks;
  readonly options: Required<Omit<FakeIoRingOptions, "missing" | "unsupportedOps">> & {
    missing: IoRingSymbolName[];
    unsupportedOps: number[];
  };
  /** Everything the wrapper did that would be wrong on real Windows. Tests assert it is empty. */
  readonly violations: string[] = [];
  /** Every 16-byte ref argument's address alignment, in call order. */
  readonly refAlignment: { call: string; aligned: boolean }[] = [];
  /** Every registration builder call (accepted or not), in call order. */
  readonly registrationCalls: { kind: "files" | "buffers"; count: number; nullArray: boolean }[] =
    [];
  /** Every userData passed to a builder, in call order. */
  readonly userDatas: bigint[] = [];
  /** The (Required, Advisory) each CreateIoRing decoded from its u64 flags. */
  readonly createFlags: { required: number; advisory: number }[] = [];
  /** Fake files by handle value. */
  readonly files = new Map<bigint, FakeFile>();
  /** While true, completions never signal the event (a test's lost signal). */
  suppressSignals = false;
  /** Called when PopIoRingCompletion finds the CQ empty (tests use it to race a completion in). */
  onEmptyPop: (() => void) | undefined;
  readonly #rings = new Map<bigint, FakeRing>();

  constructor(readonly base: FakeBase, options: FakeIoRingOptions = {}) {
    const maxVersion = options.maxVersion ?? 400;
    const missing = [...(options.missing ?? [])];
    if (maxVersion < 300) missing.push("BuildIoRingWriteFile", "BuildIoRingFlushFile");
    if (maxVersion < 400) missing.push("BuildIoRingReadFileScatter", "BuildIoRingWriteFileGather");
    this.options = {
      available: options.available ?? true,
      maxVersion,
      maxSubmissionQueueSize: options.maxSubmissionQueueSize ?? 65536,
      maxCompletionQueueSize: options.maxCompletionQueueSize ?? 131072,
      featureFlags: options.featureFlags ?? FEATURE_SET_COMPLETION_EVENT,
      missing,
      zeroLengthRegistration: options.zeroLengthRegistration ?? "refusedAtCompletion",
      cancelMatch: options.cancelMatch ?? "file",
      registrationsCompleteAtSubmit: options.registrationsCompleteAtSubmit ?? true,
      opsCompleteAtSubmit: options.opsCompleteAtSubmit ?? false,
      resistCancel: options.resistCancel ?? false,
      dropVersion1Signals: options.dropVersion1Signals ?? false,
      unsupportedOps: options.unsupportedOps ?? [],
    };
    this.hooks = {
      close: (h) => {
        const f = this.files.get(h);
        if (!f || f.closed) return false;
        f.closed = true;
        return true;
      },
      cancelAll: (h) => {
        if (!this.files.has(h)) return false;
        // CancelIoEx(h, NULL): every pending op on the handle, on every ring.
        for (const ring of this.#rings.values()) {
          for (const op of [...ring.inFlight]) {
            if (op.file && this.#resolveFile(ring, op.file) === h && !op.resistCancel) {
              this.#finish(ring, op, HR_OPERATION_ABORTED, 0n);
            }
          }
        }
        return true;
      },
    };
  }

  // --- test controls --------------------------------------------------------

  /** Adds a fake file with these contents; returns its handle value. */
  addFile(data: Uint8Array | string): bigint {
    const h = this.base.newHandle();
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data.slice();
    this.files.set(h, { data: bytes, closed: false });
    return h;
  }

  /** Submitted ops not yet completed, on every ring (oldest first). */
  pending(): FakeOp[] {
    return [...this.#rings.values()].flatMap((r) => r.inFlight);
  }

  /** Built but unsubmitted entries, on every ring. */
  queued(): FakeOp[] {
    return [...this.#rings.values()].flatMap((r) => r.sq);
  }

  /**
   * Completes the in-flight op with this userData: performs it (copies the
   * bytes) unless `result` is given. Returns false if there is no such op.
   */
  complete(userData: bigint, result?: { result: number; information?: bigint }): boolean {
    for (const ring of this.#rings.values()) {
      const op = ring.inFlight.find((o) => o.userData === userData);
      if (!op) continue;
      if (result) this.#finish(ring, op, result.result, result.information ?? 0n);
      else this.#execute(ring, op);
      return true;
    }
    return false;
  }

  /** Completes every in-flight op (oldest first); returns how many. */
  completeAll(): number {
    let n = 0;
    for (const ring of this.#rings.values()) {
      for (const op of [...ring.inFlight]) {
        this.#execute(ring, op);
        n++;
      }
    }
    return n;
  }

  /** Rings created and not yet closed. */
  get openRings(): number {
    return [...this.#rings.values()].filter((r) => !r.closed).length;
  }

  /** The live file table of the only/last ring (for assertions). */
  fileTable(ring?: bigint): readonly bigint[] {
    return this.#ring(ring).files;
  }

  /** The live buffer table of the only/last ring. */
  bufferTable(ring?: bigint): readonly { address: bigint; length: number }[] {
    return this.#ring(ring).buffers;
  }

  /** The completion event set on the only/last ring (0n if none). */
  completionEvent(ring?: bigint): bigint {
    return this.#ring(ring).event;
  }

  #ring(h?: bigint): FakeRing {
    const r = h === undefined ? [...this.#rings.values()].at(-1) : this.#rings.get(h);
    if (!r) throw new Error("fake: no such ring");
    return r;
  }

  // --- the symbols ----------------------------------------------------------

  symbols(): Pick<Kernelbase, IoRingSymbolName> {
    const all = this.#symbols();
    const o = this.options;
    for (const name of Object.keys(all) as IoRingSymbolName[]) {
      if (!o.available || o.missing.includes(name)) {
        (all as Record<string, unknown>)[name] = null;
      }
    }
    return all;
  }

  #symbols(): Pick<Kernelbase, IoRingSymbolName> {
    const log = (name: string): void => this.base.log.record(name);
    const o = this.options;
    return {
      QueryIoRingCapabilities: (caps) => {
        log("QueryIoRingCapabilities");
        const v = viewAt(caps, 16);
        v.setUint32(0, o.maxVersion, true);
        v.setUint32(4, o.maxSubmissionQueueSize, true);
        v.setUint32(8, o.maxCompletionQueueSize, true);
        v.setUint32(12, o.featureFlags, true);
        return S_OK;
      },
      IsIoRingOpSupported: (ring, op) => {
        log("IsIoRingOpSupported");
        const r = this.#rings.get(addr(ring));
        // Unknown ops and invalid handles report "unsupported" (FALSE), not an error.
        if (!r || r.closed || o.unsupportedOps.includes(op)) return 0;
        const max = r.version >= 400 ? 8 : r.version >= 300 ? 6 : 4;
        return op >= 0 && op <= max ? 1 : 0;
      },
      CreateIoRing: (version, flags, sqSize, cqSize, out) => {
        log("CreateIoRing");
        const f = BigInt(flags);
        const required = Number(f & 0xffff_ffffn);
        const advisory = Number(f >> 32n);
        this.createFlags.push({ required, advisory });
        if (version > o.maxVersion || !KNOWN_VERSIONS.includes(version)) {
          return IORING_E_VERSION_NOT_SUPPORTED;
        }
        if (required !== 0) return IORING_E_REQUIRED_FLAG_NOT_SUPPORTED;
        // Unknown advisory flags are ignored.
        if (sqSize === 0 || sqSize > o.maxSubmissionQueueSize) {
          return IORING_E_SUBMISSION_QUEUE_TOO_BIG;
        }
        if (cqSize > o.maxCompletionQueueSize) return IORING_E_COMPLETION_QUEUE_TOO_BIG;
        const sq = pow2(sqSize);
        const cq = Math.min(Math.max(pow2(cqSize), 2 * sq), o.maxCompletionQueueSize);
        const handle = this.base.newHandle();
        this.#rings.set(handle, {
          handle,
          version,
          required,
          advisory,
          sqSize: sq,
          cqSize: cq,
          sq: [],
          inFlight: [],
          cq: [],
          event: 0n,
          files: [],
          buffers: [],
          closed: false,
        });
        viewAt(out, 8).setBigUint64(0, handle, true);
        return S_OK;
      },
      GetIoRingInfo: (ring, info) => {
        log("GetIoRingInfo");
        const r = this.#live(ring, "GetIoRingInfo");
        const v = viewAt(info, 20);
        v.setUint32(0, r.version, true);
        v.setUint32(4, r.required, true);
        v.setUint32(8, r.advisory, true);
        v.setUint32(12, r.sqSize, true);
        v.setUint32(16, r.cqSize, true);
        return S_OK;
      },
      SubmitIoRing: (ring, waitOperations, _ms, submitted) => {
        log("SubmitIoRing");
        const r = this.#live(ring, "SubmitIoRing");
        if (waitOperations !== 0) {
          throw new Error("fake: a waiting SubmitIoRing would block the JS thread");
        }
        const n = r.sq.length;
        if (r.cq.length + r.inFlight.length + n > r.cqSize) {
          return IORING_E_COMPLETION_QUEUE_TOO_FULL; // every entry stays in the SQ
        }
        const batch = r.sq.splice(0, n);
        r.inFlight.push(...batch);
        for (const op of batch) {
          const isRegistration = op.op === OP.REGISTER_FILES || op.op === OP.REGISTER_BUFFERS;
          const now = op.op === OP.CANCEL || o.opsCompleteAtSubmit;
          if (now || (isRegistration && o.registrationsCompleteAtSubmit)) {
            this.#execute(r, op);
          }
        }
        if (submitted !== null) viewAt(submitted, 4).setUint32(0, n, true);
        return S_OK;
      },
      CloseIoRing: (ring) => {
        log("CloseIoRing");
        const r = this.#rings.get(addr(ring));
        if (!r || r.closed) {
          this.violations.push("CloseIoRing on a closed or unknown ring");
          return E_HANDLE;
        }
        // Neither cancels nor waits: in-flight ops stay, and may still write.
        if (r.inFlight.length > 0) {
          this.violations.push(`CloseIoRing with ${r.inFlight.length} op(s) in flight`);
        }
        r.closed = true;
        r.sq.length = 0; // queued-but-unsubmitted entries are abandoned
        return S_OK;
      },
      PopIoRingCompletion: (ring, cqe) => {
        log("PopIoRingCompletion");
        const r = this.#live(ring, "PopIoRingCompletion");
        const entry = r.cq.shift();
        if (!entry) {
          this.onEmptyPop?.();
          return S_FALSE; // *cqe untouched
        }
        if (!this.base.isMapped(addr(cqe), 24)) {
          throw new Error("fake: PopIoRingCompletion into unmapped memory");
        }
        const v = viewAt(cqe, 24);
        v.setBigUint64(0, entry.userData, true);
        v.setInt32(8, entry.result, true);
        v.setBigUint64(16, entry.information, true);
        return S_OK;
      },
      SetIoRingCompletionEvent: (ring, event) => {
        log("SetIoRingCompletionEvent");
        const r = this.#live(ring, "SetIoRingCompletionEvent");
        if ((o.featureFlags & FEATURE_SET_COMPLETION_EVENT) === 0) {
          throw new Error(
            "fake: SetIoRingCompletionEvent without IORING_FEATURE_SET_COMPLETION_EVENT",
          );
        }
        const h = addr(event);
        if (h !== 0n && !this.base.isEvent(h)) return E_HANDLE;
        r.event = h; // NULL clears; a new one replaces the old
        return S_OK;
      },
      BuildIoRingCancelRequest: (ring, file, opToCancel, userData) => {
        log("BuildIoRingCancelRequest");
        return this.#build(ring, "BuildIoRingCancelRequest", {
          op: OP.CANCEL,
          file: this.#readRef(file, "BuildIoRingCancelRequest"),
          opToCancel: BigInt(opToCancel),
          userData: BigInt(userData),
        });
      },
      BuildIoRingReadFile: (ring, file, buffer, length, fileOffset, userData, sqeFlags) => {
        log("BuildIoRingReadFile");
        return this.#build(ring, "BuildIoRingReadFile", {
          op: OP.READ,
          file: this.#readRef(file, "BuildIoRingReadFile"),
          buffer: this.#readRef(buffer, "BuildIoRingReadFile", true),
          length,
          fileOffset: BigInt(fileOffset),
          userData: BigInt(userData),
          sqeFlags,
        });
      },
      BuildIoRingRegisterFileHandles: (ring, count, handles, userData) => {
        log("BuildIoRingRegisterFileHandles");
        this.registrationCalls.push({ kind: "files", count, nullArray: handles === null });
        return this.#build(ring, "BuildIoRingRegisterFileHandles", {
          op: OP.REGISTER_FILES,
          count,
          array: addr(handles),
          userData: BigInt(userData),
        });
      },
      BuildIoRingRegisterBuffers: (ring, count, buffers, userData) => {
        log("BuildIoRingRegisterBuffers");
        this.registrationCalls.push({ kind: "buffers", count, nullArray: buffers === null });
        return this.#build(ring, "BuildIoRingRegisterBuffers", {
          op: OP.REGISTER_BUFFERS,
          count,
          array: addr(buffers),
          userData: BigInt(userData),
        });
      },
      BuildIoRingWriteFile: (
        ring,
        file,
        buffer,
        length,
        fileOffset,
        writeFlags,
        userData,
        sqeFlags,
      ) => {
        log("BuildIoRingWriteFile");
        return this.#build(ring, "BuildIoRingWriteFile", {
          op: OP.WRITE,
          file: this.#readRef(file, "BuildIoRingWriteFile"),
          buffer: this.#readRef(buffer, "BuildIoRingWriteFile", true),
          length,
          fileOffset: BigInt(fileOffset),
          writeFlags,
          userData: BigInt(userData),
          sqeFlags,
        });
      },
      BuildIoRingFlushFile: (ring, file, flushMode, userData, sqeFlags) => {
        log("BuildIoRingFlushFile");
        return this.#build(ring, "BuildIoRingFlushFile", {
          op: OP.FLUSH,
          file: this.#readRef(file, "BuildIoRingFlushFile"),
          flushMode,
          userData: BigInt(userData),
          sqeFlags,
        });
      },
      BuildIoRingReadFileScatter: (
        ring,
        file,
        count,
        segments,
        length,
        fileOffset,
        userData,
        sqeFlags,
      ) => {
        log("BuildIoRingReadFileScatter");
        return this.#build(ring, "BuildIoRingReadFileScatter", {
          op: OP.READ_SCATTER,
          file: this.#readRef(file, "BuildIoRingReadFileScatter"),
          count,
          array: addr(segments),
          length,
          fileOffset: BigInt(fileOffset),
          userData: BigInt(userData),
          sqeFlags,
        });
      },
      BuildIoRingWriteFileGather: (
        ring,
        file,
        count,
        segments,
        length,
        fileOffset,
        writeFlags,
        userData,
        sqeFlags,
      ) => {
        log("BuildIoRingWriteFileGather");
        return this.#build(ring, "BuildIoRingWriteFileGather", {
          op: OP.WRITE_GATHER,
          file: this.#readRef(file, "BuildIoRingWriteFileGather"),
          count,
          array: addr(segments),
          length,
          fileOffset: BigInt(fileOffset),
          writeFlags,
          userData: BigInt(userData),
          sqeFlags,
        });
      },
    };
  }

  /** A live ring, or a thrown error: a stale HIORING is an access violation on Windows. */
  #live(ring: Deno.PointerValue, call: string): FakeRing {
    const r = this.#rings.get(addr(ring));
    if (!r || r.closed) {
      this.violations.push(`${call} on a closed or unknown ring`);
      throw new Error(`fake: ${call} on a closed or unknown HIORING (access violation on Windows)`);
    }
    return r;
  }

  /** Decodes an IORING_HANDLE_REF / IORING_BUFFER_REF passed by pointer (x64 ABI). */
  #readRef(p: Deno.PointerValue, call: string, buffer = false): FakeRef {
    const a = addr(p);
    this.refAlignment.push({ call, aligned: a !== 0n && a % 16n === 0n });
    const v = viewAt(p, 16);
    const kind = v.getUint32(0, true);
    return {
      kind,
      value: v.getBigUint64(8, true),
      index: v.getUint32(8, true),
      offset: buffer ? v.getUint32(12, true) : 0,
    };
  }

  #build(
    ring: Deno.PointerValue,
    call: string,
    fields: Partial<FakeOp> & { op: number; userData: bigint },
  ): number {
    const r = this.#live(ring, call);
    this.userDatas.push(fields.userData);
    const needs = {
      [OP.WRITE]: 300,
      [OP.FLUSH]: 300,
      [OP.READ_SCATTER]: 400,
      [OP.WRITE_GATHER]: 400,
    };
    const minVersion = (needs as Record<number, number>)[fields.op] ?? 1;
    // The real code for "op newer than the ring" is undocumented; E_INVALIDARG stands in.
    if (r.version < minVersion) return E_INVALIDARG;
    if ((fields.sqeFlags ?? 0) !== 0 && r.version < 300) return E_INVALIDARG;
    for (const ref of [fields.file, fields.buffer]) {
      if (ref && ref.kind !== 0 && ref.kind !== 1) return E_INVALIDARG;
    }
    const isRegistration = fields.op === OP.REGISTER_FILES || fields.op === OP.REGISTER_BUFFERS;
    if (
      isRegistration && fields.count === 0 &&
      this.options.zeroLengthRegistration === "refusedAtBuild"
    ) {
      return E_INVALIDARG;
    }
    if (r.sq.length >= r.sqSize) return IORING_E_SUBMISSION_QUEUE_FULL;
    r.sq.push({
      ring: r.handle,
      length: 0,
      fileOffset: 0n,
      count: 0,
      array: 0n,
      opToCancel: 0n,
      writeFlags: 0,
      flushMode: 0,
      sqeFlags: 0,
      resistCancel: this.options.resistCancel,
      ...fields,
    });
    return S_OK;
  }

  #post(r: FakeRing, cqe: FakeCqe): void {
    const wasEmpty = r.cq.length === 0;
    r.cq.push(cqe);
    // Edge-triggered: signalled only on the empty → non-empty transition.
    const dropped = this.suppressSignals || (r.version === 1 && this.options.dropVersion1Signals);
    if (wasEmpty && r.event !== 0n && !dropped) {
      this.base.setEvent(r.event);
    }
  }

  #finish(r: FakeRing, op: FakeOp, result: number, information: bigint): void {
    const i = r.inFlight.indexOf(op);
    if (i < 0) return;
    r.inFlight.splice(i, 1);
    // After CloseIoRing the kernel still completes ops, but nobody can pop them.
    if (!r.closed) this.#post(r, { userData: op.userData, result, information });
  }

  /** Does a cancel on ring `cr` with ref `cancel` name an op on ring `tr` built with ref `target`? */
  #cancelMatches(
    cr: FakeRing,
    cancel: FakeRef | undefined,
    tr: FakeRing,
    target: FakeRef,
  ): boolean {
    if (!cancel) return false;
    if (this.options.cancelMatch === "file") {
      const h = this.#resolveFile(cr, cancel);
      return h !== undefined && h === this.#resolveFile(tr, target);
    }
    if (cancel.kind !== target.kind) return false;
    return cancel.kind === 0
      ? cancel.value === target.value
      : cr === tr && cancel.index === target.index;
  }

  #resolveFile(r: FakeRing, ref: FakeRef): bigint | undefined {
    if (ref.kind === 0) return ref.value;
    const h = r.files[ref.index];
    return h === undefined || h === INVALID_HANDLE_VALUE ? undefined : h;
  }

  /** Resolves a buffer ref to an address, or undefined if it is not valid for `length` bytes. */
  #resolveBuffer(r: FakeRing, ref: FakeRef, length: number): bigint | undefined {
    if (ref.kind === 0) return ref.value;
    const b = r.buffers[ref.index];
    if (!b || b.length === 0 || ref.offset + length > b.length) return undefined;
    return b.address + BigInt(ref.offset);
  }

  /** Checks a write into native memory: flags writes after CloseIoRing or into freed memory. */
  #writable(r: FakeRing, address: bigint, length: number, what: string): boolean {
    if (r.closed) this.violations.push(`${what}: write into memory after CloseIoRing`);
    if (length > 0 && !this.base.isMapped(address, length)) {
      this.violations.push(`${what}: write into unmapped (freed) memory`);
      return false; // skip it: the fake must not crash the test process
    }
    return true;
  }

  /** Performs a submitted op and posts its CQE. */
  #execute(r: FakeRing, op: FakeOp): void {
    const done = (result: number, information = 0n): void =>
      this.#finish(r, op, result, information);
    switch (op.op) {
      case OP.NOP:
        return done(S_OK);
      case OP.CANCEL: {
        const h = op.file ? this.#resolveFile(r, op.file) : undefined;
        const targets = r.inFlight.filter((t) =>
          t !== op && t.file !== undefined && this.#cancelMatches(r, op.file, r, t.file) &&
          (op.opToCancel === 0n || t.userData === op.opToCancel)
        );
        // opToCancel 0 = every op on the handle, on every ring (CancelIoEx semantics).
        const others = op.opToCancel === 0n && h !== undefined
          ? [...this.#rings.values()].filter((o) => o !== r).flatMap((o) =>
            o.inFlight.filter((t) => t.file && this.#cancelMatches(r, op.file, o, t.file))
              .map((t) => [o, t] as const)
          )
          : [];
        if (targets.length === 0 && others.length === 0) return done(HR_NOT_FOUND);
        done(S_OK);
        for (const t of targets) if (!t.resistCancel) this.#finish(r, t, E_ABORT, 0n);
        for (const [o, t] of others) if (!t.resistCancel) this.#finish(o, t, E_ABORT, 0n);
        return;
      }
      case OP.REGISTER_FILES: {
        if (op.count === 0) {
          if (this.options.zeroLengthRegistration !== "accepted") return done(E_INVALIDARG);
          r.files = [];
          return done(S_OK);
        }
        if (!this.base.isMapped(op.array, op.count * 8)) {
          this.violations.push("REGISTER_FILES: handle array freed before the op completed");
          return done(E_INVALIDARG);
        }
        const v = viewAt(Deno.UnsafePointer.create(op.array), op.count * 8);
        const table: bigint[] = [];
        for (let i = 0; i < op.count; i++) {
          const h = v.getBigUint64(i * 8, true);
          const f = this.files.get(h);
          if (h !== INVALID_HANDLE_VALUE && (!f || f.closed)) return done(E_HANDLE);
          table.push(h);
        }
        r.files = table; // replaces the previous table completely
        return done(S_OK);
      }
      case OP.REGISTER_BUFFERS: {
        if (op.count === 0) {
          if (this.options.zeroLengthRegistration !== "accepted") return done(E_INVALIDARG);
          r.buffers = [];
          return done(S_OK);
        }
        if (!this.base.isMapped(op.array, op.count * 16)) {
          this.violations.push("REGISTER_BUFFERS: info array freed before the op completed");
          return done(E_INVALIDARG);
        }
        const v = viewAt(Deno.UnsafePointer.create(op.array), op.count * 16);
        const table: { address: bigint; length: number }[] = [];
        for (let i = 0; i < op.count; i++) {
          const address = v.getBigUint64(i * 16, true); // IORING_BUFFER_INFO.Address @0
          const length = v.getUint32(i * 16 + 8, true); // IORING_BUFFER_INFO.Length @8
          const sparse = address === 0n && length === 0;
          if (!sparse && (address === 0n || length === 0 || !this.base.isMapped(address, length))) {
            return done(E_INVALIDARG);
          }
          table.push({ address, length });
        }
        r.buffers = table;
        return done(S_OK);
      }
      case OP.READ:
      case OP.WRITE: {
        const h = this.#resolveFile(r, op.file!);
        const file = h === undefined ? undefined : this.files.get(h);
        if (!file || file.closed) return done(E_HANDLE);
        const target = this.#resolveBuffer(r, op.buffer!, op.length);
        if (target === undefined) return done(E_INVALIDARG);
        if (op.length === 0) return done(S_OK, 0n);
        const at = Number(op.fileOffset);
        const what = `${op.op === OP.READ ? "read" : "write"} userData ${op.userData}`;
        if (op.op === OP.WRITE) {
          if (!this.base.isMapped(target, op.length)) {
            this.violations.push(`${what}: read from unmapped (freed) memory`);
            return done(E_INVALIDARG);
          }
          const src = new Uint8Array(
            Deno.UnsafePointerView.getArrayBuffer(Deno.UnsafePointer.create(target)!, op.length),
          );
          this.#writeFile(file, at, src);
          return done(S_OK, BigInt(op.length));
        }
        if (at >= file.data.length) return done(HR_EOF);
        const n = Math.min(op.length, file.data.length - at);
        if (this.#writable(r, target, n, what)) {
          new Uint8Array(
            Deno.UnsafePointerView.getArrayBuffer(Deno.UnsafePointer.create(target)!, n),
          ).set(file.data.subarray(at, at + n));
        }
        return done(S_OK, BigInt(n));
      }
      case OP.FLUSH: {
        const h = this.#resolveFile(r, op.file!);
        const file = h === undefined ? undefined : this.files.get(h);
        return done(!file || file.closed ? E_HANDLE : S_OK);
      }
      case OP.READ_SCATTER:
      case OP.WRITE_GATHER: {
        const h = this.#resolveFile(r, op.file!);
        const file = h === undefined ? undefined : this.files.get(h);
        if (!file || file.closed) return done(E_HANDLE);
        const page = 4096;
        if (op.count === 0 || op.length > op.count * page) return done(E_INVALIDARG);
        if (!this.base.isMapped(op.array, op.count * 8)) {
          this.violations.push("scatter/gather: segment array freed before the op completed");
          return done(E_INVALIDARG);
        }
        const segs = viewAt(Deno.UnsafePointer.create(op.array), op.count * 8);
        const at = Number(op.fileOffset);
        if (op.op === OP.READ_SCATTER && at >= file.data.length) return done(HR_EOF);
        const total = op.op === OP.READ_SCATTER
          ? Math.min(op.length, file.data.length - at)
          : op.length;
        const what = `scatter/gather userData ${op.userData}`;
        for (let i = 0, moved = 0; moved < total; i++) {
          const seg = segs.getBigUint64(i * 8, true); // FILE_SEGMENT_ELEMENT.Buffer @0
          if (seg % BigInt(page) !== 0n) return done(E_INVALIDARG);
          const n = Math.min(page, total - moved);
          if (op.op === OP.READ_SCATTER) {
            if (this.#writable(r, seg, n, what)) {
              new Uint8Array(
                Deno.UnsafePointerView.getArrayBuffer(Deno.UnsafePointer.create(seg)!, n),
              ).set(file.data.subarray(at + moved, at + moved + n));
            }
          } else {
            if (!this.base.isMapped(seg, n)) {
              this.violations.push(`${what}: read from unmapped (freed) memory`);
              return done(E_INVALIDARG);
            }
            this.#writeFile(
              file,
              at + moved,
              new Uint8Array(
                Deno.UnsafePointerView.getArrayBuffer(Deno.UnsafePointer.create(seg)!, n),
              ),
            );
          }
          moved += n;
        }
        return done(S_OK, BigInt(total));
      }
      default:
        return done(E_INVALIDARG);
    }
  }

  #writeFile(file: FakeFile, at: number, src: Uint8Array): void {
    if (at + src.length > file.data.length) {
      const grown = new Uint8Array(at + src.length);
      grown.set(file.data);
      file.data = grown;
    }
    file.data.set(src, at);
  }
}
