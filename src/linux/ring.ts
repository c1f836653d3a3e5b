/**
 * The io_uring instance itself: it ties the pieces of one ring together and
 * keeps its lifecycle: setup, SQE preparation, batched submission (once per
 * microtask, or on the next turn of the event loop once the shared budget of
 * src/budget.ts is spent), reaping, the fatal-error state, and teardown.
 * Internal: the public face is `Uring` (uring.ts).
 *
 * The pieces: syscalls (ring_syscalls.ts), the shared mappings
 * (ring_memory.ts), SQE claiming (submission_queue.ts), where CQEs go
 * (dispatch.ts, op_table.ts), the wait loop (wait_loop.ts, eventfd_waiter.ts),
 * and what plugs into the ring (ring_contracts.ts).
 *
 * @module
 */

import { BusyError, DisposedError, ErrnoError, RegioError } from "../errors.ts";
import { libc } from "./libc.ts";
import {
  IO_URING_PARAMS,
  IO_URING_SQE,
  IORING_ASYNC_CANCEL,
  IORING_OP,
} from "../../ffi/linux/abi.ts";
import { trackLeak, untrackLeak } from "../leak.ts";
import { exhausted, onNextTurn } from "../budget.ts";
import { type Child, KIND, type Sink, type UseCounter } from "./ring_contracts.ts";
import { enter, type EnterHooks, probe, setup } from "./ring_syscalls.ts";
import { RingMemory } from "./ring_memory.ts";
import { SubmissionQueue } from "./submission_queue.ts";
import { Dispatcher } from "./dispatch.ts";
import { EventfdWaiter } from "./eventfd_waiter.ts";
import { WaitLoop } from "./wait_loop.ts";

/** Re-exported for the portable file backend, which imports them from here. */
export type { Sink, UseCounter } from "./ring_contracts.ts";

/** Options for {@link RingCore.create}. */
export interface RingOptions {
  /** SQ entries (rounded up to a power of two by the kernel). */
  entries?: number;
  /** CQ entries; at least `entries`. Defaults to 4 × entries. */
  cqEntries?: number;
  /** Setup flags to try, best first; for tests. */
  flagSets?: readonly number[];
  /** Milliseconds one wait may last before it is re-armed. */
  waitSliceMs?: number;
}

/**
 * One io_uring instance: mappings, SQ/CQ, dispatch and the wait loop.
 * Everything here runs on the JS thread that created it (SINGLE_ISSUER).
 */
export class RingCore {
  /** The ring fd. */
  readonly fd: number;
  /** Setup flags the kernel accepted. */
  readonly setupFlags: number;
  /** `params.features`. */
  readonly features: number;
  /** Actual SQ size. */
  readonly sqEntries: number;
  /** Actual CQ size. */
  readonly cqEntries: number;
  /** Per-opcode support from REGISTER_PROBE (1 = supported). */
  readonly opcodes: Uint8Array;

  readonly #memory: RingMemory;
  readonly #sq: SubmissionQueue;
  readonly #waiter: EventfdWaiter;
  readonly #loop: WaitLoop;
  readonly #dispatcher = new Dispatcher();

  #reaping = false;
  #submitQueued = false;
  #closing = false;
  #closed = false;
  /** Set once the ring failed for good (see #fail): nothing more is submitted or reaped. */
  #failed: Error | undefined;
  /** CQEs the kernel reported as dropped (EBADR). */
  droppedCqes = 0;
  /** Provided-buffer group ids in use. */
  readonly groupIds: Set<number> = new Set();
  readonly #enterHooks: EnterHooks = {
    makeRoom: (): boolean => {
      this.reap();
      return !this.#closing; // a callback closed the ring: its fd may be gone
    },
    dropped: (): void => {
      this.droppedCqes++; // reported once; the overflow counter has the total
    },
  };
  readonly #submitTask = (): void => {
    // A callback of this batch's inline completions may queue the next batch (a reply from
    // onMessage): once the shared budget is spent, it waits for the event loop to turn.
    if (exhausted()) return onNextTurn(this.#submitTask);
    this.#submitQueued = false;
    this.submit(); // a fatal failure settles everything (#fail); nobody here to throw to
  };

  private constructor(
    fd: number,
    params: DataView,
    opcodes: Uint8Array,
    memory: RingMemory,
    waiter: EventfdWaiter,
  ) {
    const P = IO_URING_PARAMS;
    const u32 = (o: number): number => params.getUint32(o, true);
    this.fd = fd;
    this.setupFlags = u32(P.flags);
    this.features = u32(P.features);
    this.sqEntries = u32(P.sq_entries);
    this.cqEntries = u32(P.cq_entries);
    this.opcodes = opcodes;
    this.#memory = memory;
    this.#sq = new SubmissionQueue(memory, this.sqEntries);
    this.#waiter = waiter;
    this.#loop = new WaitLoop(waiter, {
      step: (): boolean => {
        if (this.#closing || !(this.#dispatcher.expected > 0)) return false;
        this.#submitAndReap();
        return !this.#closing && this.#dispatcher.expected !== 0;
      },
      fail: (e: Error): void => this.#fail(e),
      stopped: (): void => {
        if (this.#closing && !this.#closed) this.#release();
      },
    });
    trackLeak(this, `an io_uring instance (fd ${fd})`);
  }

  /**
   * Creates a ring with the first flag set the kernel accepts, maps it,
   * probes opcodes and registers an eventfd for waiting.
   * @throws {UnsupportedError} when io_uring is blocked (EPERM) or missing (ENOSYS).
   */
  static create(options: RingOptions = {}): RingCore {
    const entries = options.entries ?? 256;
    const { fd, params } = setup(entries, options.cqEntries ?? entries * 4, options.flagSets);
    let waiter: EventfdWaiter | undefined;
    try {
      const opcodes = probe(fd);
      waiter = EventfdWaiter.create(fd, options.waitSliceMs ?? 1000);
      return new RingCore(fd, params, opcodes, new RingMemory(fd, params), waiter);
    } catch (e) {
      waiter?.close();
      libc().close(fd);
      throw e;
    }
  }

  /** True once closed (or closing). */
  get closed(): boolean {
    return this.#closing;
  }

  /** Whether the ring's wait keeps the process alive (`UdpSocket.ref` / `unref`). */
  ref(on: boolean): void {
    this.#waiter.ref(on);
  }

  /** Whether new CQEs wake the eventfd wait (off while a caller polls the ring itself). */
  eventfdSignals(on: boolean): void {
    if (!this.#closed) this.#memory.eventfdSignals(on);
  }

  /** Completions still expected: operations in flight plus resource tags. */
  get expected(): number {
    return this.#dispatcher.expected;
  }

  /** Why the ring failed for good, or undefined while it works. */
  get failure(): Error | undefined {
    return this.#failed;
  }

  /**
   * @throws {DisposedError} when the ring is closed; the fatal error (e.g. an
   *   {@link ErrnoError} from `io_uring_enter`) once it failed.
   */
  assertOpen(): void {
    if (this.#closing) throw new DisposedError("Uring");
    if (this.#failed) throw this.#failed;
  }

  // ---- SQE preparation ----

  /**
   * Claims the next SQE, zeroed, and fills the fields every op uses.
   * Returns its index in 32-bit words, for the op-specific fields.
   * Submits first when the SQ is full.
   * @throws the fatal error once the ring failed; {@link RegioError} when the
   *   SQ is full and the kernel took none (nothing is claimed either way).
   */
  prep(
    opcode: number,
    sqeFlags: number,
    fd: number,
    kind: number,
    token: number,
  ): number {
    if (this.#failed) throw this.#failed;
    const sq = this.#sq;
    if (sq.full()) {
      this.submit();
      if (this.#failed) throw this.#failed;
      if (sq.full()) {
        throw new RegioError(
          `the submission queue is full (${this.sqEntries} entries) and the kernel took none`,
        );
      }
    }
    const w = sq.claim(opcode, sqeFlags, fd, kind, token);
    if (!this.#submitQueued) {
      this.#submitQueued = true;
      queueMicrotask(this.#submitTask);
    }
    return w;
  }

  /** Writes a u64 field (a non-negative integer below 2^53) at byte `field` of SQE `w`. */
  set64(w: number, field: number, value: number): void {
    this.#sq.set64(w, field, value);
  }

  /** Writes a u32 field at byte `field` of SQE `w`. */
  set32(w: number, field: number, value: number): void {
    this.#sq.set32(w, field, value);
  }

  /** Writes a u16 field at byte `field` of SQE `w`. */
  set16(w: number, field: number, value: number): void {
    this.#sq.set16(w, field, value);
  }

  /** Prepares an ASYNC_CANCEL of the request with `user_data = (kind, token)`; its CQE is ignored. */
  prepCancel(kind: number, token: number): void {
    const w = this.prep(IORING_OP.ASYNC_CANCEL, 0, -1, KIND.IGNORE, 0);
    this.set32(w, IO_URING_SQE.addr, token);
    this.set32(w, IO_URING_SQE.addr + 4, kind);
    this.set32(w, IO_URING_SQE.op_flags, IORING_ASYNC_CANCEL.ALL);
  }

  // ---- promise-backed operations ----

  /**
   * Claims an SQE for a promise-backed op with `user_data = (OP, slot)` and
   * starts tracking it (see {@link RingCore.track}). The SQE is claimed first:
   * if `prep` throws, nothing is counted. Returns the SQE index and the promise.
   */
  prepOp(
    name: string,
    users: (UseCounter | undefined)[],
    opcode: number,
    sqeFlags: number,
    fd: number,
  ): [number, Promise<number>] {
    const w = this.prep(opcode, sqeFlags, fd, KIND.OP, 0);
    const [slot, promise] = this.track(name, users);
    this.#sq.set32(w, IO_URING_SQE.user_data, slot);
    return [w, promise];
  }

  /**
   * Starts tracking a promise-backed op: returns its slot (the `user_data`
   * token) and the promise, and counts it on each of `users`. Prefer
   * {@link RingCore.prepOp}, which cannot leave a count behind when `prep` throws.
   */
  track(name: string, users: (UseCounter | undefined)[]): [number, Promise<number>] {
    return this.#dispatcher.track(name, users);
  }

  /** Cancels every operation (tracked or a sink's) that uses `user`. */
  cancelUsersOf(user: UseCounter): void {
    this.#dispatcher.cancelFor(user, (slot) => this.prepCancel(KIND.OP, slot));
  }

  /** Cancels every request in flight (ASYNC_CANCEL ANY | ALL). */
  cancelAll(): void {
    const w = this.prep(IORING_OP.ASYNC_CANCEL, 0, -1, KIND.IGNORE, 0);
    this.set32(w, IO_URING_SQE.op_flags, IORING_ASYNC_CANCEL.ANY | IORING_ASYNC_CANCEL.ALL);
  }

  // ---- sinks, tags and children ----

  /** Adds a sink; its id goes in the high half of `user_data`. */
  addSink(sink: Sink): number {
    return this.#dispatcher.addSink(sink);
  }

  /** Removes a sink (once it expects no more completions). */
  removeSink(id: number): void {
    this.#dispatcher.removeSink(id);
  }

  /** Counts `n` more completions the wait loop must wait for (negative to uncount). */
  expect(n: number): void {
    this.#dispatcher.expected += n;
    if (n > 0) this.ensurePump();
  }

  /** A new resource tag id; `onTag` runs for each tag CQE carrying it. */
  newTag(onTag: () => void): number {
    return this.#dispatcher.newTag(onTag);
  }

  /** Forgets a tag id. */
  dropTag(tag: number): void {
    this.#dispatcher.dropTag(tag);
  }

  /** Registers a child registration, disposed with the ring. */
  adopt(child: Child): void {
    this.#dispatcher.adopt(child);
  }

  /** Forgets a child (it was disposed on its own). */
  disown(child: Child): void {
    this.#dispatcher.disown(child);
  }

  // ---- submission and completion ----

  /**
   * Publishes the prepared SQEs and enters the kernel once (with GETEVENTS,
   * so deferred task work runs and overflowed CQEs are flushed), then reaps.
   * Returns how many SQEs the kernel consumed. A fatal `io_uring_enter`
   * error does not throw here: it fails the ring (see {@link RingCore.failure}).
   */
  submit(): number {
    let consumed = 0;
    try {
      consumed = this.#submitAndReap();
    } catch (e) {
      this.#fail(e as Error);
      return 0;
    }
    this.ensurePump();
    return consumed;
  }

  #submitAndReap(): number {
    if (this.#closing || this.#failed) return 0;
    const consumed = enter(this.fd, this.#sq.publish(), this.#enterHooks);
    this.reap();
    return consumed;
  }

  /**
   * Reaps every CQE available and dispatches it. Returns how many were reaped.
   * A callback may close the ring: the loop then stops dispatching, and the
   * ring is released once the loop is done (see {@link RingCore.close}).
   */
  reap(): number {
    if (this.#reaping || this.#closed) return 0;
    this.#reaping = true;
    let n = 0;
    const m = this.#memory;
    const cq = m.cq, cqI = m.cqI, mask = m.cqMask, cqes = m.cqes, cqHead = m.cqHead;
    let head = cq[cqHead];
    let published = head;
    try {
      let tail = Atomics.load(cq, m.cqTail);
      while (head !== tail && !this.#closing) {
        do {
          const i = cqes + ((head & mask) << 2);
          const token = cq[i], kind = cq[i + 1], res = cqI[i + 2], flags = cq[i + 3];
          head = (head + 1) >>> 0;
          // Hand the entry back before its callback runs (the callback may submit, and the
          // kernel may post into it), but in one atomic store per few: each is a builtin call.
          if ((n & 7) === 7 || head === tail) Atomics.store(cq, cqHead, published = head);
          n++;
          if (!this.#failed) this.#dispatcher.dispatch(kind, token, res, flags); // #fail settled all
        } while (head !== tail && !this.#closing);
        if (this.#closing) break; // the ring is going: what is left is tags and ignored CQEs
        tail = Atomics.load(cq, m.cqTail);
        if (head === tail && this.#sq.cqOverflowed()) {
          enter(this.fd, 0, this.#enterHooks);
          tail = Atomics.load(cq, m.cqTail);
        }
      }
    } finally {
      if (published !== head) Atomics.store(cq, cqHead, head); // stopped early (closing)
      this.#reaping = false;
      // Closed from a callback with no wait loop to hand the release to: release now.
      if (this.#closing && !this.#closed && !this.#loop.running) this.#release();
    }
    if (n > 0) this.#loop.notify();
    return n;
  }

  /**
   * Resolves once `done()` is true, submitting and reaping meanwhile.
   * @throws {RegioError} when nothing in flight could ever make it true.
   */
  async until(done: () => boolean, what: string): Promise<void> {
    while (!done()) {
      this.submit();
      if (done()) return;
      if (this.#failed) {
        throw new RegioError(`io_uring: ${what} cannot finish: the ring failed`, {
          cause: this.#failed,
        });
      }
      if (!this.#loop.running) {
        throw new RegioError(`io_uring: ${what} cannot finish (nothing is in flight)`);
      }
      await this.#loop.next();
    }
  }

  // ---- waiting ----

  /** Starts the wait loop if completions are expected and none is running. */
  ensurePump(): void {
    if (!this.#loop.running && this.#dispatcher.expected > 0 && !this.#closing && !this.#failed) {
      this.#loop.start();
    }
  }

  /** Resolves when the wait loop has stopped (nothing expected, or closing). */
  idle(): Promise<void> {
    return this.#loop.idle();
  }

  // ---- fatal failure ----

  /**
   * `io_uring_enter` failed for good (or the wait loop threw): nothing more
   * can be submitted and no CQE will be reaped, so everything is settled now
   * with `error`. Promise-backed ops reject; sinks fail their ops; every count
   * drops to zero, so each object can still be closed. Registrations are
   * abandoned, not unregistered: once the ring fd is closed the kernel tears
   * down asynchronously, so memory a request in flight may still use is
   * leaked (reported once here), never freed. All bookkeeping happens before
   * any user code runs (rejections and `onError` come later).
   */
  #fail(error: Error): void {
    if (this.#failed) return;
    this.#failed = error;
    this.#dispatcher.fail(error);
    if (this.#loop.running) this.#loop.wake(); // the wait loop ends now instead of after its slice
    this.#loop.notify();
  }

  // ---- teardown ----

  /**
   * Closes the ring now. Children (registrations) are disposed first. The
   * mappings and fds are released at once, or, when the wait loop is running
   * or a completion callback closes the ring while it is being reaped, as
   * soon as that loop is done (never under it).
   * @throws {BusyError} while operations are in flight (nothing is changed).
   */
  close(): void {
    if (this.#closing) return;
    const busy = this.#dispatcher.inFlight();
    if (busy > 0) throw new BusyError("io_uring instance", busy);
    for (const child of this.#dispatcher.children()) {
      try {
        child.disposeNow();
      } catch (e) {
        // Closing the ring fd drops every registration anyway (ringClosed releases it).
        if (!(e instanceof ErrnoError)) throw e;
      }
    }
    this.#closing = true;
    if (this.#loop.running) this.#loop.wake(); // the loop releases everything when the poll returns
    else if (!this.#reaping) this.#release(); // else reap() releases once its loop is done
  }

  /** Cancels everything, waits for the final CQEs, disposes children, then closes. */
  async closeDrained(): Promise<void> {
    if (this.#closing) return this.idle();
    if (this.#dispatcher.inFlight() > 0 && !this.#failed) this.cancelAll();
    for (const child of this.#dispatcher.children()) {
      try {
        await child.disposeDrained();
      } catch (e) {
        if (!(e instanceof ErrnoError)) throw e; // as in close(): closing the fd drops it
      }
    }
    await this.until(() => this.#dispatcher.inFlight() === 0, "draining the ring");
    this.close();
    await this.idle();
  }

  #release(): void {
    this.#closed = true;
    untrackLeak(this);
    this.#memory.free();
    this.#waiter.close();
    libc().close(this.fd);
    // No op is in flight and the ring is gone: nothing can touch the memory.
    // (After a failure the registrations were abandoned instead, leaking it.)
    for (const child of this.#dispatcher.children()) child.ringClosed();
  }
}
