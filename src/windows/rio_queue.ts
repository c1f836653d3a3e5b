/**
 * The RIO completion queue: batched RIODequeueCompletion into a native
 * RIORESULT array made once, and a nonblocking, time-limited wait on the
 * RIONotify event with the one-shot arming tracked (so WSAEALREADY is never
 * provoked).
 *
 * @module
 */

import { holdLoop } from "../loop_ref.ts";
import { KERNEL, RIO, STRUCTS, writeEventNotification } from "../../ffi/windows/abi.ts";
import { BusyError, checkInteger, DisposedError, RegioError } from "../errors.ts";
import { trackLeak, untrackLeak } from "../leak.ts";
import { NativeRegion } from "../memory.ts";
import { checkHandle, checkRioHandle, checkWinsockCode } from "./check.ts";
import {
  checkOpen,
  type CqState,
  INTERNAL,
  type RioChild,
  type RioContext,
} from "./rio_context.ts";
import type { RioCompletion } from "./rio_socket.ts";
import type { RioSocketQueue } from "./rio_socket_open.ts";

/** What {@link RioCompletionQueue.dequeue} returns (declared with the socket that builds it). */
export type { RioCompletion };

/** Options for `Rio.createCompletionQueue`. */
export interface RioCompletionQueueOptions {
  /** Entries, 1..RIO_MAX_CQ_SIZE (0x8000000). Every socket charges its outstanding limits to it. */
  size: number;
  /**
   * `"event"` (default): {@link RioCompletionQueue.wait} sleeps on a
   * RIONotify event off the JS thread. `"poll"`: no event; call
   * {@link RioCompletionQueue.dequeue} on your own schedule.
   */
  notify?: "event" | "poll";
  /** Most results one dequeue returns (the RIORESULT array's length); default min(size, 1024). */
  batch?: number;
}

/**
 * RIODequeueCompletion returned RIO_CORRUPT_CQ: the queue is invalid or its
 * memory is corrupt ("memory corruption or misuse"). Nothing was freed; while
 * the queue stays corrupt, disposal fails the same way and leaks rather than
 * free memory the kernel may still write.
 */
export class RioCorruptQueueError extends RegioError {
  /** Creates the error. */
  constructor() {
    super(
      "RIODequeueCompletion returned RIO_CORRUPT_CQ (0xFFFFFFFF): the completion queue is corrupt",
    );
  }
}

const R = STRUCTS.RIORESULT;
/** The notification struct sits after the results, 8-byte aligned. */
const NOTIFY_SIZE = STRUCTS.RIO_NOTIFICATION_COMPLETION.size;
let setRef: (cq: RioCompletionQueue, on: boolean) => void;

/**
 * Whether `cq`'s waits keep the process alive (what `UdpSocket.ref` /
 * `unref` set). Not part of the Windows entry point.
 */
export function refQueue(cq: RioCompletionQueue, on: boolean): void {
  setRef(cq, on);
}

/** Timeout of each wait while draining for teardown (bounded; never INFINITE). */
const DRAIN_WAIT_MS = 50;

let makeRioCompletionQueue: (
  ctx: RioContext,
  options: RioCompletionQueueOptions,
) => RioCompletionQueue;

/**
 * A RIO completion queue (RIOCreateCompletionQueue). One queue can serve
 * many sockets, for both directions; each socket charges
 * `maxOutstandingReceive + maxOutstandingSend` entries to it.
 *
 * Not thread-safe (pitfall 19): use it from one JS thread, as regio does.
 */
export class RioCompletionQueue implements RioSocketQueue, Disposable, AsyncDisposable {
  /** Entries. */
  readonly size: number;
  /** How completions are noticed. */
  readonly notify: "event" | "poll";
  /** Most results one {@link RioCompletionQueue.dequeue} returns. */
  readonly batch: number;
  /** @ignore */
  readonly [INTERNAL]: CqState;
  readonly #ctx: RioContext;
  readonly #handle: Deno.PointerObject;
  readonly #event: Deno.PointerObject | null;
  readonly #results: NativeRegion;
  readonly #resultsPtr: Deno.PointerObject;
  readonly #i32: Int32Array;
  readonly #u32: Uint32Array;
  readonly #u64: BigUint64Array;
  #backlog: RioCompletion[] = [];
  #armed = false;
  #waiting: Promise<boolean> | null = null;
  #closed = false;
  /** Whether a wait keeps the process alive (see {@link refQueue}). */
  #refed = true;
  #pendingWait: Promise<number> | null = null;

  static {
    setRef = (cq, on) => {
      if (on === cq.#refed) return;
      cq.#refed = on;
      if (cq.#pendingWait) holdLoop(cq.#pendingWait, on);
    };
    makeRioCompletionQueue = (ctx, options) => new RioCompletionQueue(ctx, options);
  }

  // Use `Rio.createCompletionQueue`.
  private constructor(ctx: RioContext, options: RioCompletionQueueOptions) {
    checkOpen(ctx, "a RioCompletionQueue");
    const size = checkInteger("size", options.size, 1, RIO.RIO_MAX_CQ_SIZE);
    const notify = options.notify ?? "event";
    if (notify !== "event" && notify !== "poll") {
      throw new TypeError(`notify must be "event" or "poll", got ${String(notify)}`);
    }
    const batch = checkInteger("batch", options.batch ?? Math.min(size, 1024), 1, size);
    const { kernel, fn, ws2 } = ctx;
    const notifyAt = batch * R.size;
    const results = NativeRegion.allocate(notifyAt + NOTIFY_SIZE, { allocator: ctx.allocator });
    let event: Deno.PointerObject | null = null;
    try {
      if (notify === "event") {
        // Manual-reset, with NotifyReset = TRUE: RIONotify itself resets it
        // when re-armed, and a signal is never consumed by a timed-out wait.
        event = checkHandle(kernel.CreateEventW(null, 1, 0, null), "CreateEventW", kernel);
        writeEventNotification(results.view, notifyAt, Deno.UnsafePointer.value(event), true);
      }
      const nc = event ? Deno.UnsafePointer.offset(results.pointer, notifyAt) : null;
      this.#handle = checkRioHandle(
        fn.RIOCreateCompletionQueue(size, nc),
        "RIOCreateCompletionQueue",
        ws2,
      );
    } catch (e) {
      if (event) kernel.CloseHandle(event);
      results.free();
      throw e;
    }
    this.size = size;
    this.notify = notify;
    this.batch = batch;
    this.#ctx = ctx;
    this.#event = event;
    this.#results = results;
    this.#resultsPtr = results.pointer;
    const buf = results.bytes.buffer;
    this.#i32 = new Int32Array(buf, 0, (batch * R.size) / 4);
    this.#u32 = new Uint32Array(buf, 0, (batch * R.size) / 4);
    this.#u64 = new BigUint64Array(buf, 0, (batch * R.size) / 8);
    this[INTERNAL] = {
      handle: this.#handle,
      size,
      charged: 0,
      outstanding: 0,
      closed: false,
      sockets: new Map(),
      attached: new Set(),
      pump: () => this.#pump(),
      idle: () => this.#idle(),
    };
    ctx.queues.add(this);
    ctx.cqStates.add(this[INTERNAL]);
    trackLeak(this, `a RioCompletionQueue of ${size} entries`);
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Requests posted on this queue's sockets and not yet dequeued. */
  get outstanding(): number {
    return this[INTERNAL].outstanding;
  }

  /** Entries not yet charged to a socket. */
  get available(): number {
    return this.size - this[INTERNAL].charged;
  }

  /** Whether a RIONotify is armed and has not fired yet (one-shot). */
  get notifyArmed(): boolean {
    return this.#armed;
  }

  #check(): void {
    if (this.#closed) throw new DisposedError("RioCompletionQueue");
  }

  /**
   * Dequeues up to `max` completions with one RIODequeueCompletion (or from
   * those already pulled in while draining). Returns `[]` when none are ready.
   * @throws {RioCorruptQueueError} on RIO_CORRUPT_CQ.
   */
  dequeue(max: number = this.batch): RioCompletion[] {
    this.#check();
    checkInteger("max", max, 1, this.batch);
    if (this.#backlog.length > 0) return this.#backlog.splice(0, max);
    return this.#dequeue(max);
  }

  #dequeue(max: number): RioCompletion[] {
    const n = this.#ctx.fn.RIODequeueCompletion(this.#handle, this.#resultsPtr, max);
    if (n === RIO.RIO_CORRUPT_CQ) throw new RioCorruptQueueError();
    const out: RioCompletion[] = [];
    const state = this[INTERNAL];
    for (let i = 0; i < n; i++) {
      const at = i * R.size;
      const status = this.#i32[(at + R.fields.Status) / 4];
      const bytes = this.#u32[(at + R.fields.BytesTransferred) / 4];
      const socket = this.#u64[(at + R.fields.SocketContext) / 8];
      const request = this.#u64[(at + R.fields.RequestContext) / 8];
      const route = state.sockets.get(socket);
      if (!route) throw new RegioError(`RIORESULT for unknown SocketContext ${socket}`);
      out.push(route(Number(request), status, bytes) as RioCompletion);
      state.outstanding--;
    }
    return out;
  }

  /** One batch into the backlog (teardown and buffer waits use this). */
  #pump(): number {
    const got = this.#dequeue(this.batch);
    for (const c of got) this.#backlog.push(c);
    return got.length;
  }

  /**
   * Waits until completions may be ready (`true`), the timeout passes or the
   * queue is closed (`false`). Arms RIONotify only when it is not already
   * armed, and waits with WaitForSingleObject on Deno's blocking pool, so the
   * event loop never blocks. Concurrent calls share one wait.
   * @throws {TypeError} on a `notify: "poll"` queue.
   */
  wait(options: { timeoutMs: number }): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    if (this.#event === null) {
      throw new TypeError('this completion queue was created with notify: "poll"; call dequeue()');
    }
    // Never INFINITE (0xFFFFFFFF): a pool thread would be pinned forever.
    const timeoutMs = checkInteger("timeoutMs", options.timeoutMs, 0, KERNEL.INFINITE - 1);
    if (this.#backlog.length > 0) return Promise.resolve(true);
    return this.#shared(timeoutMs);
  }

  #shared(timeoutMs: number): Promise<boolean> {
    return (this.#waiting ??= this.#waitEvent(timeoutMs).finally(() => {
      this.#waiting = null;
    }));
  }

  async #waitEvent(timeoutMs: number): Promise<boolean> {
    const event = this.#event!;
    const { fn, kernel } = this.#ctx;
    if (!this.#armed) {
      // One-shot: fires at once if the CQ already holds completions.
      checkWinsockCode(fn.RIONotify(this.#handle), "RIONotify");
      this.#armed = true;
    }
    const pending = kernel.WaitForSingleObject_nonblocking(event, timeoutMs);
    if (!this.#refed) holdLoop(pending, false);
    this.#pendingWait = pending;
    const r = await pending;
    this.#pendingWait = null;
    if (this.#closed) return false;
    if (r === KERNEL.WAIT_OBJECT_0) {
      this.#armed = false;
      return true;
    }
    if (r === KERNEL.WAIT_TIMEOUT) return false; // still armed: do not re-arm
    // The last error of a nonblocking call lives on a pool thread; it is lost.
    throw new RegioError(
      `WaitForSingleObject on the RIO notification event returned 0x${r.toString(16)}`,
    );
  }

  /** Bounded wait for teardown: ignores the backlog (those are already dequeued). */
  async #idle(): Promise<void> {
    if (this.#event === null) await new Promise((r) => setTimeout(r, 1));
    else await this.#shared(DRAIN_WAIT_MS);
  }

  /**
   * RIOCloseCompletionQueue, then frees the result array and the event.
   * Wakes a pending {@link RioCompletionQueue.wait} (it returns false).
   * Idempotent.
   * @throws {BusyError} while sockets still use the queue (close them first; nothing is changed).
   */
  close(): void {
    if (this.#closed) return;
    const state = this[INTERNAL];
    if (state.attached.size > 0) {
      throw new BusyError(
        "RioCompletionQueue",
        state.attached.size,
        "socket(s) still use it (close them first, or use `await using`)",
      );
    }
    const { fn, kernel } = this.#ctx;
    this.#closed = true;
    state.closed = true;
    if (this.#waiting && this.#event) kernel.SetEvent(this.#event); // wakes the waiter
    fn.RIOCloseCompletionQueue(this.#handle);
    this.#results.free();
    const event = this.#event;
    if (event) {
      // A handle must not be closed under a wait still running on a pool thread.
      if (this.#waiting) this.#waiting.finally(() => kernel.CloseHandle(event)).catch(() => {});
      else kernel.CloseHandle(event);
    }
    this.#ctx.queues.delete(this);
    this.#ctx.cqStates.delete(state);
    untrackLeak(this);
  }

  /** Same as {@link RioCompletionQueue.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Closes (and drains) every socket still using the queue, wakes and awaits
   * a pending wait, then closes.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#closed) return;
    for (const s of [...this[INTERNAL].attached] as RioChild[]) await s[Symbol.asyncDispose]();
    if (this.#waiting && this.#event) {
      this.#ctx.kernel.SetEvent(this.#event);
      await this.#waiting.catch(() => false);
    }
    this.close();
  }
}

/** Makes a {@link RioCompletionQueue} (its constructor is not public). */
export function newRioCompletionQueue(
  ctx: RioContext,
  options: RioCompletionQueueOptions,
): RioCompletionQueue {
  return makeRioCompletionQueue(ctx, options);
}
