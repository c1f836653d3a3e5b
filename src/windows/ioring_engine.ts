/**
 * An I/O ring's submission and completion engine: the ring's record of the
 * operations it has built, SubmitIoRing, popping and settling completions,
 * waits on them (through the one {@link CompletionWaiter}), and
 * cancel-and-drain. The {@link IoRing} owns one and keeps the public surface.
 *
 * userData is unique in the process and never 0 (a cancel of 0 cancels every
 * op on the handle, on every ring).
 *
 * @module
 */

import { checkInteger, HResultError, RegioError } from "../errors.ts";
import type { NativeRegion } from "../memory.ts";
import { HRESULT } from "../../ffi/windows/abi.ts";
import { checkHResult } from "./check.ts";
import type { RingKernel } from "./ioring_kernel.ts";
import type { Memory, RingScratch } from "./ioring_memory.ts";
import {
  type IoRingCompletion,
  type IoRingOperation,
  type IoRingOpKind,
  markSubmitted,
  newIoRingOperation,
  settleOperation,
} from "./ioring_op.ts";
import type { SubmitResult, SubmitWaitOptions } from "./ioring_options.ts";
import {
  type BufferTable,
  type FileHandleTable,
  type FileRef,
  tableState,
} from "./ioring_tables.ts";
import { CompletionWaiter } from "./ioring_waiter.ts";

const MAX_U32 = 0xffff_ffff;
const ABANDONED: IoRingCompletion = { result: HRESULT.E_ABORT, information: 0, ok: false };

// Unique in the process (cancel targets are matched by userData), never 0.
let nextUserData = 0n;

/**
 * Which engine built an operation, and what a cancel of it needs: `file` is
 * the ref it was built with (none for registrations). Kept for the op's
 * lifetime, so a cancel of a finished op can still be built.
 */
const owners = new WeakMap<
  IoRingOperation,
  { engine: RingEngine; file: FileRef | undefined; cancellable: boolean }
>();

/** The ring's record of one operation it has built (a cancel's needs are in `owners`). */
export interface Pending {
  /** The operation handed to the caller. */
  readonly op: IoRingOperation;
  /** The tables its refs name (their in-flight counts include it). */
  readonly tables: readonly (FileHandleTable | BufferTable)[];
  /** True once SubmitIoRing took it. */
  submitted: boolean;
  /** Drops holds, table counts and per-op memory; runs exactly once. */
  release(): void;
  /** Runs after the op settles (registrations use it to drop buffer holds). */
  after?(c: IoRingCompletion): void;
}

/** What {@link RingEngine.build} needs to build one SQE. */
export interface BuildRequest {
  /** The operation's kind. */
  kind: IoRingOpKind;
  /** The Build… call, for errors. */
  call: string;
  /** The file ref the op was built with (none for registrations): what a cancel of it names. */
  file: FileRef | undefined;
  /** Can it be the target of a cancel? */
  cancellable: boolean;
  /** Calls the builder with `userData`; returns its HRESULT. May run twice (SQ full). */
  invoke: (userData: bigint) => number;
  /** Tables the op uses: counted in flight until it settles. */
  tables?: readonly (FileHandleTable | BufferTable)[];
  /** Regions the op uses raw: held until it settles. */
  regions?: readonly NativeRegion[];
  /** Per-op native memory: freed when it settles (or the build fails). */
  memory?: Memory;
  /** Runs after the op settles. */
  after?: (c: IoRingCompletion) => void;
}

/** Builds, submits and reaps a ring's operations. */
export class RingEngine {
  readonly #k: RingKernel;
  readonly #ring: Deno.PointerObject;
  readonly #scratch: RingScratch;
  readonly #waiter: CompletionWaiter;

  readonly #ops = new Map<bigint, Pending>();
  #queue: Pending[] = [];
  #inFlight = 0;
  readonly #listeners = new Set<() => void>();

  /** Set when the completion waiter failed; reported by the next call on the ring. */
  #fault: unknown;
  #torn = false;

  /** `event` (or null: poll every `pollMs`) goes to the waiter, which closes it. */
  constructor(
    k: RingKernel,
    ring: Deno.PointerObject,
    scratch: RingScratch,
    event: Deno.PointerObject | null,
    sliceMs: number,
    pollMs: number,
  ) {
    this.#k = k;
    this.#ring = ring;
    this.#scratch = scratch;
    this.#waiter = new CompletionWaiter(k, event, sliceMs, pollMs, {
      drain: () => this.drain(),
      busy: () => !this.#torn && this.#inFlight > 0,
      fault: (e) => {
        this.#fault = e;
        this.#notify(); // waits on the ring end now, not never
      },
    });
  }

  /** True once {@link RingEngine.teardown} ran. */
  get torn(): boolean {
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

  /** True once the completion waiter failed (until {@link RingEngine.forgetFault}). */
  get faulted(): boolean {
    return this.#fault !== undefined;
  }

  /** The error that reports the waiter's failure. */
  faultError(): RegioError {
    return new RegioError("the IoRing's completion waiter failed", { cause: this.#fault });
  }

  /** Clears the fault if `e` is the error that reported it (so a retried close starts afresh). */
  forgetFault(e: unknown): void {
    if (e instanceof RegioError && e.cause === this.#fault) this.#fault = undefined;
  }

  // --- build ----------------------------------------------------------------

  /** Builds one SQE (retrying once after a submit if the SQ is full) and records it. */
  build(b: BuildRequest): IoRingOperation {
    const userData = ++nextUserData;
    let hr: number;
    try {
      hr = b.invoke(userData);
      if (hr === HRESULT.IORING_E_SUBMISSION_QUEUE_FULL) {
        this.submitNow(); // make room, then build again (the refs are rewritten)
        hr = b.invoke(userData);
      }
      checkHResult(hr, b.call);
    } catch (e) {
      b.memory?.free();
      throw e;
    }
    const op = newIoRingOperation(b.kind, userData, b.call);
    owners.set(op, { engine: this, file: b.file, cancellable: b.cancellable });
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

  /**
   * Builds a cancel request for `target`, an op of this engine.
   * @throws {RangeError} if `target` is not a cancellable op of this engine.
   */
  cancel(target: IoRingOperation): IoRingOperation {
    const o = owners.get(target);
    if (!o || o.engine !== this) {
      throw new RangeError("cancel: the target is not an operation of this ring");
    }
    if (!o.cancellable || !o.file) {
      throw new RangeError(`cancel: a ${target.kind} cannot be cancelled`);
    }
    return this.#buildCancel(target.userData, o.file);
  }

  /**
   * A cancel names its target's file with the same kind of ref the target was
   * built with: whether a raw handle matches an op issued through a
   * registered index is UNCONFIRMED (reference §5.5). A registered target's
   * table stays registered while the target is in flight (replacing or
   * releasing it waits for its ops), and the cancel counts on it too. Once
   * the table is gone the target has finished, and a raw ref finds nothing
   * either way.
   */
  #buildCancel(userData: bigint, file: FileRef): IoRingOperation {
    const k = this.#k;
    const table = file.table && tableState(file.table).current ? file.table : undefined;
    return this.build({
      kind: "cancel",
      call: "BuildIoRingCancelRequest",
      file,
      cancellable: false,
      tables: table ? [table] : [],
      invoke: (ud) => {
        if (table) this.#scratch.writeRefs(file);
        else this.#scratch.writeRawFile(file.handle);
        return k.BuildIoRingCancelRequest(this.#ring, this.#scratch.fileRef, userData, ud);
      },
    });
  }

  // --- submit and reap -----------------------------------------------------

  /**
   * SubmitIoRing with no wait: never blocks the JS thread, so the undocumented
   * timeout HRESULT of a waiting submit never arises. On any error every entry
   * stays in the SQ (documented). A full CQ is drained once and retried.
   */
  submitNow(): number {
    if (this.#queue.length === 0) return 0;
    let hr = this.#k.SubmitIoRing(this.#ring, 0, 0, this.#scratch.submitted);
    if (hr === HRESULT.IORING_E_COMPLETION_QUEUE_TOO_FULL) {
      this.drain();
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

  /**
   * After a submit of `submitted` entries: waits (without blocking the event
   * loop) for `wait` completions or `timeoutMs`.
   */
  waitFor(submitted: number, options: SubmitWaitOptions): Promise<SubmitResult> {
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

  /** Pops until S_FALSE, settling each op; returns how many were popped. */
  drain(): number {
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
  nextCompletion(): Promise<void> {
    return new Promise((resolve, reject) => {
      const l = (): void => {
        this.#listeners.delete(l);
        if (this.#fault === undefined) resolve();
        else reject(this.faultError());
      };
      if (this.#fault !== undefined) return l();
      this.#listeners.add(l);
      this.#waiter.start();
    });
  }

  /** Submits, cancels and drains every op that `filter` picks. */
  async cancelAndDrain(filter: (p: Pending) => boolean): Promise<void> {
    if (this.#torn) return;
    // Entries in the SQ cannot be taken back: submit them so they can be cancelled.
    while (this.#queue.some(filter)) await this.#submitPatiently();
    const targets = [...this.#ops.values()].filter(filter).map((p) => p.op);
    const cancels: IoRingOperation[] = [];
    for (const op of targets) {
      const o = owners.get(op)!;
      if (o.cancellable && o.file && op.state === "submitted") {
        cancels.push(this.#buildCancel(op.userData, o.file));
      }
    }
    await this.#submitPatiently();
    // The cancels too: one may name the table a caller is about to release.
    const waited = [...targets, ...cancels];
    // Not `await op.done`: that would never settle if the waiter fails.
    while (waited.some((op) => op.completion === undefined)) await this.nextCompletion();
  }

  /** {@link RingEngine.submitNow}, waiting for completions while the CQ is too full to take more. */
  async #submitPatiently(): Promise<void> {
    for (;;) {
      try {
        this.submitNow();
        return;
      } catch (e) {
        const full = e instanceof HResultError &&
          e.code === HRESULT.IORING_E_COMPLETION_QUEUE_TOO_FULL && this.#inFlight > 0;
        if (!full) throw e;
        await this.nextCompletion();
      }
    }
  }

  // --- teardown -------------------------------------------------------------

  /**
   * With nothing in flight: calls `closeRing` (CloseIoRing), then abandons
   * the unsubmitted entries, which the kernel never saw. Returns its HRESULT.
   */
  teardown(closeRing: () => number): number {
    this.#torn = true;
    const abandoned = this.#queue;
    this.#queue = [];
    const hr = closeRing();
    for (const p of abandoned) {
      this.#ops.delete(p.op.userData);
      this.#settle(p, "abandoned", ABANDONED);
    }
    return hr;
  }

  /** After {@link RingEngine.teardown}: stops the waiter (a pending wait is woken). */
  stop(): void {
    // A pending wait closes the event itself when it returns.
    this.#waiter.stop();
  }

  /** Wakes every listener (the ring has closed). */
  wake(): void {
    this.#notify();
  }

  /** Resolves once the waiter's loop has returned (and closed the event). */
  finished(): Promise<void> {
    return this.#waiter.finished();
  }
}
