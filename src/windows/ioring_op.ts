/**
 * One I/O ring operation as the caller sees it: built, then submitted, then
 * completed with its CQE's `{ result, information }` (or abandoned when the
 * ring closed before it was submitted). The completion can be polled
 * (`completion`) or awaited (`done`); `done` never rejects, so a failed
 * operation cannot become an unhandled rejection.
 *
 * @module
 */

import { charge, nextTurn, onNextTurn } from "../budget.ts";
import { HResultError } from "../errors.ts";

/** What an operation does. */
export type IoRingOpKind =
  | "read"
  | "write"
  | "flush"
  | "readScatter"
  | "writeGather"
  | "cancel"
  | "registerFiles"
  | "registerBuffers";

/** Where an operation is in its life. */
export type IoRingOpState = "built" | "submitted" | "completed" | "abandoned";

/** An operation's completion entry (IORING_CQE). */
export interface IoRingCompletion {
  /** The HRESULT (`ResultCode`): 0 on success, negative on failure (e.g. E_ABORT after a cancel). */
  readonly result: number;
  /** `Information`: bytes transferred for reads and writes. */
  readonly information: number;
  /** `result >= 0`. */
  readonly ok: boolean;
}

let settle: (op: IoRingOperation, state: IoRingOpState, c?: IoRingCompletion) => void;

let makeIoRingOperation: (kind: IoRingOpKind, userData: bigint, call: string) => IoRingOperation;

let watchOperation: (op: IoRingOperation, f: (c: IoRingCompletion) => void) => void;

/**
 * An operation built on an {@link IoRing}. Made by the ring's builders
 * (`read`, `write`, `cancel`, …).
 */
export class IoRingOperation {
  /** What it does. */
  readonly kind: IoRingOpKind;
  /** Its UserData: unique in the process and never 0 (0 would mean "cancel everything"). */
  readonly userData: bigint;
  /** The builder that made it, for error messages. */
  readonly call: string;
  #state: IoRingOpState = "built";
  #completion: IoRingCompletion | undefined;
  #done: Promise<IoRingCompletion> | undefined;
  #resolve: ((c: IoRingCompletion) => void) | undefined;
  #watcher: ((c: IoRingCompletion) => void) | undefined;

  static {
    settle = (op, state, c) => {
      op.#state = state;
      if (!c) return;
      op.#completion = c;
      // A watcher (the file ring) charges the budget itself, once per operation.
      op.#watcher?.(c);
      const resolve = op.#resolve;
      if (!resolve) return;
      // Charged to the shared budget: completions are often popped inline.
      if (charge()) resolve(c);
      else onNextTurn(() => resolve(c));
    };
    makeIoRingOperation = (kind, userData, call) => new IoRingOperation(kind, userData, call);
    watchOperation = (op, f) => {
      const c = op.#completion;
      if (c) queueMicrotask(() => f(c));
      else op.#watcher = f;
    };
  }

  // Made by the ring's builders.
  private constructor(kind: IoRingOpKind, userData: bigint, call: string) {
    this.kind = kind;
    this.userData = userData;
    this.call = call;
  }

  /** `"built"`, `"submitted"`, `"completed"` or `"abandoned"` (ring closed before submit). */
  get state(): IoRingOpState {
    return this.#state;
  }

  /** The completion once it has been popped; `undefined` before. */
  get completion(): IoRingCompletion | undefined {
    return this.#completion;
  }

  /** Resolves with the completion (never rejects). */
  get done(): Promise<IoRingCompletion> {
    const c = this.#completion;
    if (c) return charge() ? Promise.resolve(c) : nextTurn().then(() => c);
    this.#done ??= new Promise((resolve) => (this.#resolve = resolve));
    return this.#done;
  }

  /**
   * Resolves with the bytes transferred.
   * @throws {HResultError} when the operation failed (EOF is
   * `HRESULT_FROM_WIN32_ERROR_HANDLE_EOF`, a cancel `E_ABORT`).
   */
  async bytes(): Promise<number> {
    const c = await this.done;
    if (!c.ok) throw new HResultError(c.result, this.call);
    return c.information;
  }
}

/** @internal Marks `op` submitted (no completion). */
export function markSubmitted(op: IoRingOperation): void {
  settle(op, "submitted");
}

/** @internal Settles `op` with its completion. */
export function settleOperation(
  op: IoRingOperation,
  state: "completed" | "abandoned",
  completion: IoRingCompletion,
): void {
  settle(op, state, completion);
}

/** Makes a {@link IoRingOperation} (its constructor is not public). */
export function newIoRingOperation(
  kind: IoRingOpKind,
  userData: bigint,
  call: string,
): IoRingOperation {
  return makeIoRingOperation(kind, userData, call);
}

/**
 * Calls `f` with `op`'s completion as soon as it is popped, without going
 * through the budget: for a caller that charges the budget itself (the file
 * ring's `BatchSettler`), so an operation is charged once, not twice.
 */
export function onSettled(op: IoRingOperation, f: (c: IoRingCompletion) => void): void {
  watchOperation(op, f);
}
