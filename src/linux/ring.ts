/**
 * The io_uring instance itself: setup with the best flags the kernel accepts,
 * the SQ/CQ/SQE mappings, SQE preparation, batched submission, reaping with
 * dispatch by `user_data`, and the wait loop that keeps the event loop free.
 * Internal: the public face is `Uring` (uring.ts).
 *
 * `user_data` is two u32 halves, so no BigInt is made per operation: the high
 * half names a handler ({@link KIND} or a sink id), the low half is that
 * handler's token.
 *
 * @module
 */

import { BusyError, DisposedError, ErrnoError, RegioError, UnsupportedError } from "../errors.ts";
import { errno, libc } from "../../ffi/linux/libc.ts";
import {
  EFD,
  ERRNO,
  IO_CQRING_OFFSETS,
  IO_SQRING_OFFSETS,
  IO_URING_CQE,
  IO_URING_PARAMS,
  IO_URING_PROBE,
  IO_URING_SQE,
  IORING_ASYNC_CANCEL,
  IORING_ENTER,
  IORING_FEAT,
  IORING_OFF,
  IORING_OP,
  IORING_REGISTER,
  IORING_SETUP,
  IORING_SQ,
  POLL,
  SYS,
} from "../../ffi/linux/abi.ts";
import { mmapAllocator, NativeRegion } from "../memory.ts";
import { trackLeak, untrackLeak } from "../leak.ts";
import { check } from "./check.ts";
import { withArgs } from "./scratch.ts";

/** Handler kinds in the high half of `user_data`; sink ids start at {@link KIND.FIRST_SINK}. */
export const KIND = {
  /** Completions nobody waits for (e.g. fire-and-forget cancels). */
  IGNORE: 0,
  /** A promise-backed operation; the low half is its slot. */
  OP: 1,
  /** A resource-tag CQE; the low half is the registration's tag id. */
  TAG: 2,
  FIRST_SINK: 16,
} as const;

/** Receives the completions whose `user_data` high half is its id. */
export interface Sink {
  /** One CQE: `token` is the low half of `user_data`. */
  complete(token: number, res: number, flags: number): void;
  /** Its operations still waiting for a final CQE. */
  inFlight(): number;
  /** Queues cancels for its operations that use `user` (a registration being drained). */
  cancelFor(user: UseCounter): void;
  /**
   * The ring failed for good: settle every operation in flight now (ending
   * their counts, as their final CQEs would) and report `error` later (not
   * from inside this call). No CQE is dispatched to the sink afterwards.
   */
  fail?(error: Error): void;
}

/** Something that counts the operations using it (a registration). */
export interface UseCounter {
  /** One more operation in flight. */
  begin(): void;
  /** One operation finished (its final CQE arrived). */
  end(): void;
}

/** A registration owned by the ring (file table, buffer table, buffer ring). */
export interface Child {
  /** Sync dispose: throws BusyError with ops in flight. */
  disposeNow(): void;
  /** Async dispose: cancel, drain, unregister, wait for tags. */
  disposeDrained(): Promise<void>;
  /** The ring fd is gone: release what still waits for tag CQEs. */
  ringClosed(): void;
  /**
   * The ring failed for good (no CQE will ever be reaped): reach a closed
   * state without unregistering and without freeing memory a request in
   * flight may still use. Returns the bytes of native memory left leaked.
   */
  ringFailed(): number;
}

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

const S = IORING_SETUP;
/** Setup flag sets tried in order (the reference's recommendation, then fallbacks). */
const SETUP_FLAG_SETS: readonly number[] = [
  S.SINGLE_ISSUER | S.DEFER_TASKRUN | S.NO_SQARRAY | S.CQSIZE,
  S.SINGLE_ISSUER | S.DEFER_TASKRUN | S.CQSIZE,
  S.COOP_TASKRUN | S.TASKRUN_FLAG | S.CQSIZE,
  S.CQSIZE,
  0,
];

const SYS_SETUP = BigInt(SYS.io_uring_setup);
const SYS_ENTER = BigInt(SYS.io_uring_enter);
const SYS_REGISTER = BigInt(SYS.io_uring_register);
const TWO32 = 4294967296;

/**
 * @internal Fault injection, for tests only (never set outside them): when a
 * hook returns a non-zero errno, the call fails with it without reaching the
 * kernel. `enter` sees how many SQEs would be submitted; `register` the opcode.
 */
export const testFaults: {
  enter?: (toSubmit: number) => number;
  register?: (opcode: number) => number;
} = {};

/** What a fatal `io_uring_enter` errno means (io_uring.md §5.7). */
const ENTER_HINTS: Readonly<Record<number, string>> = {
  [ERRNO.ENXIO]: "The ring is being torn down",
  [ERRNO.EBADFD]: "The ring is disabled",
  [ERRNO.EOWNERDEAD]: "The SQPOLL thread died",
  [ERRNO.EEXIST]: "The ring was entered from a thread other than its creator's",
};

/** `io_uring_register` through `syscall`; returns the result or throws. */
export function register(
  fd: number,
  opcode: number,
  arg: bigint,
  nrArgs: number,
  callName: string,
  hint?: string,
): number {
  const fault = testFaults.register?.(opcode) ?? 0;
  if (fault !== 0) throw new ErrnoError(fault, `io_uring_register(${callName})`, hint);
  const r = libc().syscall(SYS_REGISTER, BigInt(fd), BigInt(opcode), arg, BigInt(nrArgs), 0n, 0n);
  if (r === -1n) throw new ErrnoError(errno(), `io_uring_register(${callName})`, hint);
  return Number(r);
}

/** Why setup failed with EPERM, and what to do about it. */
function permissionHint(): string {
  let disabled = "";
  try {
    disabled = Deno.readTextFileSync("/proc/sys/kernel/io_uring_disabled").trim();
  } catch { /* not readable: say nothing about it */ }
  const sysctl = disabled === "1" || disabled === "2"
    ? `kernel.io_uring_disabled is ${disabled}; set it to 0 (or join kernel.io_uring_group)`
    : "a seccomp profile (Docker ≥ 25 / containerd / Podman defaults) blocks the io_uring syscalls; " +
      "run with a profile that allows io_uring_setup/enter/register (e.g. --security-opt seccomp=unconfined)";
  return `io_uring_setup was refused (EPERM): ${sysctl}`;
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

  readonly #ringMap: NativeRegion;
  readonly #cqMap: NativeRegion;
  readonly #sqeMap: NativeRegion;
  readonly #own: NativeRegion; // pollfd, eventfd counter, cancel scratch
  readonly #sq: Uint32Array;
  readonly #cq: Uint32Array;
  readonly #cqI: Int32Array;
  readonly #sqe8: Uint8Array;
  readonly #sqe16: Uint16Array;
  readonly #sqe32: Uint32Array;
  readonly #sqeI: Int32Array;
  readonly #sqHead: number;
  readonly #sqTail: number;
  readonly #sqFlags: number;
  readonly #sqMask: number;
  readonly #cqHead: number;
  readonly #cqTail: number;
  readonly #cqMask: number;
  readonly #cqes: number;
  readonly #eventfd: number;
  readonly #pollPtr: Deno.PointerObject;
  readonly #counterPtr: Deno.PointerObject;
  readonly #own32: Int32Array;
  readonly #own16: Int16Array;
  readonly #waitSliceMs: number;

  #tail = 0; // next SQE to fill (local copy of the SQ tail)
  #reaping = false;
  #submitQueued = false;
  #pump: Promise<void> | undefined;
  #closing = false;
  #closed = false;
  /** Set once the ring failed for good (see #fail): nothing more is submitted or reaped. */
  #failed: Error | undefined;
  /** Completions still expected (ops in flight + resource tags); drives the wait loop. */
  #expected = 0;
  /** CQEs the kernel reported as dropped (EBADR). */
  droppedCqes = 0;

  // Promise-backed operations, by slot.
  #opResolve: (((res: number) => void) | undefined)[] = [];
  #opReject: (((e: Error) => void) | undefined)[] = [];
  #opName: string[] = [];
  #opUsers: (UseCounter | undefined)[][] = [];
  #freeSlots: number[] = [];

  #sinks: (Sink | undefined)[] = [];
  #tagHandlers = new Map<number, () => void>();
  #nextTag = 1;
  #children = new Set<Child>();
  /** Provided-buffer group ids in use. */
  readonly groupIds: Set<number> = new Set();
  #waiters: (() => void)[] = [];
  readonly #submitTask = (): void => {
    this.#submitQueued = false;
    this.submit(); // a fatal failure settles everything (#fail); nobody here to throw to
  };

  private constructor(
    fd: number,
    params: DataView,
    opcodes: Uint8Array,
    eventfd: number,
    waitSliceMs: number,
  ) {
    const P = IO_URING_PARAMS, SQO = IO_SQRING_OFFSETS, CQO = IO_CQRING_OFFSETS;
    const u32 = (o: number): number => params.getUint32(o, true);
    this.fd = fd;
    this.setupFlags = u32(P.flags);
    this.features = u32(P.features);
    this.sqEntries = u32(P.sq_entries);
    this.cqEntries = u32(P.cq_entries);
    this.opcodes = opcodes;
    this.#eventfd = eventfd;
    this.#waitSliceMs = waitSliceMs;

    const sq = (k: number): number => u32(P.sq_off + k);
    const cq = (k: number): number => u32(P.cq_off + k);
    const noArray = (this.setupFlags & S.NO_SQARRAY) !== 0;
    const sqSize = noArray ? 0 : sq(SQO.array) + this.sqEntries * 4;
    const cqSize = cq(CQO.cqes) + this.cqEntries * IO_URING_CQE.SIZE;
    const single = (this.features & IORING_FEAT.SINGLE_MMAP) !== 0;
    const ringSize = single ? Math.max(sqSize, cqSize) : Math.max(sqSize, sq(SQO.flags) + 4);
    const maps: NativeRegion[] = [];
    try {
      this.#ringMap = NativeRegion.allocate(ringSize, {
        allocator: mmapAllocator({ fd, offset: IORING_OFF.SQ_RING }),
      });
      maps.push(this.#ringMap);
      this.#cqMap = single ? this.#ringMap : NativeRegion.allocate(cqSize, {
        allocator: mmapAllocator({ fd, offset: IORING_OFF.CQ_RING }),
      });
      if (!single) maps.push(this.#cqMap);
      this.#sqeMap = NativeRegion.allocate(this.sqEntries * IO_URING_SQE.SIZE, {
        allocator: mmapAllocator({ fd, offset: IORING_OFF.SQES }),
      });
      maps.push(this.#sqeMap);
      this.#own = NativeRegion.allocate(64);
    } catch (e) {
      for (const m of maps.reverse()) m.free();
      throw e;
    }
    const ringBuf = this.#ringMap.bytes.buffer;
    this.#sq = new Uint32Array(ringBuf);
    this.#cq = new Uint32Array(this.#cqMap.bytes.buffer);
    this.#cqI = new Int32Array(this.#cqMap.bytes.buffer);
    this.#sqHead = sq(SQO.head) >>> 2;
    this.#sqTail = sq(SQO.tail) >>> 2;
    this.#sqFlags = sq(SQO.flags) >>> 2;
    this.#sqMask = this.#sq[sq(SQO.ring_mask) >>> 2];
    this.#cqHead = cq(CQO.head) >>> 2;
    this.#cqTail = cq(CQO.tail) >>> 2;
    this.#cqMask = this.#cq[cq(CQO.ring_mask) >>> 2];
    this.#cqes = cq(CQO.cqes) >>> 2;
    if (!noArray) {
      // Identity index array, filled once (as liburing does).
      const array = sq(SQO.array) >>> 2;
      for (let i = 0; i < this.sqEntries; i++) this.#sq[array + i] = i;
    }
    this.#tail = Atomics.load(this.#sq, this.#sqTail);
    const sqeBuf = this.#sqeMap.bytes.buffer;
    this.#sqe8 = new Uint8Array(sqeBuf);
    this.#sqe16 = new Uint16Array(sqeBuf);
    this.#sqe32 = new Uint32Array(sqeBuf);
    this.#sqeI = new Int32Array(sqeBuf);
    this.#own32 = new Int32Array(this.#own.bytes.buffer);
    this.#own16 = new Int16Array(this.#own.bytes.buffer);
    this.#pollPtr = this.#own.pointer;
    this.#counterPtr = Deno.UnsafePointer.offset(this.#own.pointer, 16)!;
    this.#own32[POLL.fd >>> 2] = eventfd;
    this.#own16[POLL.events >>> 1] = POLL.POLLIN;
    trackLeak(this, `an io_uring instance (fd ${fd})`);
  }

  /**
   * Creates a ring with the first flag set the kernel accepts, maps it,
   * probes opcodes and registers an eventfd for waiting.
   * @throws {UnsupportedError} when io_uring is blocked (EPERM) or missing (ENOSYS).
   */
  static create(options: RingOptions = {}): RingCore {
    const c = libc();
    const entries = options.entries ?? 256;
    const cqEntries = options.cqEntries ?? entries * 4;
    let fd = -1;
    let lastErr = 0;
    const params = withArgs(IO_URING_PARAMS.SIZE, (args) => {
      for (const flags of options.flagSets ?? SETUP_FLAG_SETS) {
        args.bytes.fill(0, 0, IO_URING_PARAMS.SIZE);
        args.view.setUint32(IO_URING_PARAMS.flags, flags, true);
        args.view.setUint32(IO_URING_PARAMS.cq_entries, cqEntries, true);
        const r = c.syscall(SYS_SETUP, BigInt(entries), args.address, 0n, 0n, 0n, 0n);
        if (r >= 0n) {
          fd = Number(r);
          return new DataView(args.bytes.slice(0, IO_URING_PARAMS.SIZE).buffer);
        }
        lastErr = errno();
        if (lastErr !== ERRNO.EINVAL) break; // only EINVAL means "try fewer flags"
      }
      return undefined;
    });
    if (!params) {
      const cause = new ErrnoError(lastErr, "io_uring_setup");
      if (lastErr === ERRNO.EPERM) {
        throw new UnsupportedError("io_uring", permissionHint(), { cause });
      }
      if (lastErr === ERRNO.ENOSYS) {
        throw new UnsupportedError("io_uring", "this kernel has no io_uring (Linux 6.1+ needed)", {
          cause,
        });
      }
      throw cause;
    }
    let eventfd = -1;
    try {
      const opcodes = probe(fd);
      eventfd = check(c.eventfd(0, EFD.NONBLOCK | EFD.CLOEXEC), "eventfd");
      withArgs(4, (args) => {
        args.view.setInt32(0, eventfd, true);
        register(fd, IORING_REGISTER.EVENTFD, args.address, 1, "REGISTER_EVENTFD");
      });
      return new RingCore(fd, params, opcodes, eventfd, options.waitSliceMs ?? 1000);
    } catch (e) {
      if (eventfd >= 0) c.close(eventfd);
      c.close(fd);
      throw e;
    }
  }

  /** True once closed (or closing). */
  get closed(): boolean {
    return this.#closing;
  }

  /** Completions still expected: operations in flight plus resource tags. */
  get expected(): number {
    return this.#expected;
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
    if (((this.#tail - Atomics.load(this.#sq, this.#sqHead)) >>> 0) >= this.sqEntries) {
      this.submit();
      if (this.#failed) throw this.#failed;
      if (((this.#tail - Atomics.load(this.#sq, this.#sqHead)) >>> 0) >= this.sqEntries) {
        throw new RegioError(
          `the submission queue is full (${this.sqEntries} entries) and the kernel took none`,
        );
      }
    }
    const w = ((this.#tail & this.#sqMask) * IO_URING_SQE.SIZE) >>> 2;
    this.#sqe32.fill(0, w, w + (IO_URING_SQE.SIZE >>> 2));
    const b = w << 2;
    this.#sqe8[b + IO_URING_SQE.opcode] = opcode;
    this.#sqe8[b + IO_URING_SQE.flags] = sqeFlags;
    this.#sqeI[w + (IO_URING_SQE.fd >>> 2)] = fd;
    this.#sqe32[w + (IO_URING_SQE.user_data >>> 2)] = token;
    this.#sqe32[w + (IO_URING_SQE.user_data >>> 2) + 1] = kind;
    this.#tail = (this.#tail + 1) >>> 0;
    if (!this.#submitQueued) {
      this.#submitQueued = true;
      queueMicrotask(this.#submitTask);
    }
    return w;
  }

  /** Writes a u64 field (a non-negative integer below 2^53) at byte `field` of SQE `w`. */
  set64(w: number, field: number, value: number): void {
    const i = w + (field >>> 2);
    this.#sqe32[i] = value >>> 0;
    this.#sqe32[i + 1] = Math.floor(value / TWO32) >>> 0;
  }

  /** Writes a u32 field at byte `field` of SQE `w`. */
  set32(w: number, field: number, value: number): void {
    this.#sqe32[w + (field >>> 2)] = value;
  }

  /** Writes a u16 field at byte `field` of SQE `w`. */
  set16(w: number, field: number, value: number): void {
    this.#sqe16[(w << 1) + (field >>> 1)] = value;
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
    this.#sqe32[w + (IO_URING_SQE.user_data >>> 2)] = slot;
    return [w, promise];
  }

  /**
   * Starts tracking a promise-backed op: returns its slot (the `user_data`
   * token) and the promise, and counts it on each of `users`. Prefer
   * {@link RingCore.prepOp}, which cannot leave a count behind when `prep` throws.
   */
  track(name: string, users: (UseCounter | undefined)[]): [number, Promise<number>] {
    const slot = this.#freeSlots.pop() ?? this.#opResolve.length;
    const { promise, resolve, reject } = Promise.withResolvers<number>();
    this.#opResolve[slot] = resolve;
    this.#opReject[slot] = reject;
    this.#opName[slot] = name;
    this.#opUsers[slot] = users;
    for (const u of users) u?.begin();
    this.#expected++;
    return [slot, promise];
  }

  /** Cancels every operation (tracked or a sink's) that uses `user`. */
  cancelUsersOf(user: UseCounter): void {
    for (let slot = 0; slot < this.#opUsers.length; slot++) {
      if (this.#opResolve[slot] && this.#opUsers[slot].includes(user)) {
        this.prepCancel(KIND.OP, slot);
      }
    }
    for (const sink of this.#sinks) sink?.cancelFor(user);
  }

  /** Cancels every request in flight (ASYNC_CANCEL ANY | ALL). */
  cancelAll(): void {
    const w = this.prep(IORING_OP.ASYNC_CANCEL, 0, -1, KIND.IGNORE, 0);
    this.set32(w, IO_URING_SQE.op_flags, IORING_ASYNC_CANCEL.ANY | IORING_ASYNC_CANCEL.ALL);
  }

  #completeOp(slot: number, res: number): void {
    const resolve = this.#opResolve[slot];
    const reject = this.#opReject[slot]!;
    if (!resolve) return;
    for (const u of this.#opUsers[slot]) u?.end();
    this.#opResolve[slot] = this.#opReject[slot] = undefined;
    this.#opUsers[slot] = [];
    this.#freeSlots.push(slot);
    this.#expected--;
    if (res >= 0) resolve(res);
    else reject(new ErrnoError(-res, this.#opName[slot]));
  }

  // ---- sinks, tags and children ----

  /** Adds a sink; its id goes in the high half of `user_data`. */
  addSink(sink: Sink): number {
    let id = this.#sinks.indexOf(undefined, KIND.FIRST_SINK);
    if (id < 0) id = Math.max(this.#sinks.length, KIND.FIRST_SINK);
    this.#sinks[id] = sink;
    return id;
  }

  /** Removes a sink (once it expects no more completions). */
  removeSink(id: number): void {
    this.#sinks[id] = undefined;
  }

  /** Counts `n` more completions the wait loop must wait for (negative to uncount). */
  expect(n: number): void {
    this.#expected += n;
    if (n > 0) this.ensurePump();
  }

  /** A new resource tag id; `onTag` runs for each tag CQE carrying it. */
  newTag(onTag: () => void): number {
    const tag = this.#nextTag++;
    this.#tagHandlers.set(tag, onTag);
    return tag;
  }

  /** Forgets a tag id. */
  dropTag(tag: number): void {
    this.#tagHandlers.delete(tag);
  }

  /** Registers a child registration, disposed with the ring. */
  adopt(child: Child): void {
    this.#children.add(child);
  }

  /** Forgets a child (it was disposed on its own). */
  disown(child: Child): void {
    this.#children.delete(child);
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
    Atomics.store(this.#sq, this.#sqTail, this.#tail);
    const toSubmit = (this.#tail - Atomics.load(this.#sq, this.#sqHead)) >>> 0;
    const consumed = this.#enter(toSubmit);
    this.reap();
    return consumed;
  }

  #enter(toSubmit: number): number {
    const c = libc();
    for (let attempt = 0;; attempt++) {
      const fault = testFaults.enter?.(toSubmit) ?? 0;
      const r = fault !== 0
        ? -1n
        : c.io_uring_enter(SYS_ENTER, this.fd, toSubmit, 0, IORING_ENTER.GETEVENTS, null, 0n);
      if (r >= 0n) return Number(r);
      const e = fault !== 0 ? fault : errno();
      if (e === ERRNO.EINTR || e === ERRNO.ETIME) continue;
      if (e === ERRNO.EBADR) {
        this.droppedCqes++; // reported once; the overflow counter has the total
        continue;
      }
      if ((e === ERRNO.EAGAIN || e === ERRNO.EBUSY) && attempt < 8) {
        // Out of request memory or an overflow backlog: make room, then retry.
        this.reap();
        if (this.#closing) return 0; // a callback closed the ring: its fd may be gone
        continue;
      }
      if (e === ERRNO.EAGAIN || e === ERRNO.EBUSY) return 0; // the wait loop retries
      // Anything else is fatal (§5.7 lists no way to retry it): the caller fails the ring.
      throw new ErrnoError(
        e,
        "io_uring_enter",
        `${ENTER_HINTS[e] ?? "Unexpected"}; the ring is unusable: close it`,
      );
    }
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
    try {
      const cq = this.#cq, cqI = this.#cqI, mask = this.#cqMask;
      let head = cq[this.#cqHead];
      let tail = Atomics.load(cq, this.#cqTail);
      while (head !== tail && !this.#closing) {
        do {
          const i = this.#cqes + ((head & mask) << 2);
          const token = cq[i], kind = cq[i + 1], res = cqI[i + 2], flags = cq[i + 3];
          head = (head + 1) >>> 0;
          Atomics.store(cq, this.#cqHead, head);
          n++;
          this.#dispatch(kind, token, res, flags);
        } while (head !== tail && !this.#closing);
        if (this.#closing) break; // the ring is going: what is left is tags and ignored CQEs
        tail = Atomics.load(cq, this.#cqTail);
        if (head === tail && (Atomics.load(this.#sq, this.#sqFlags) & IORING_SQ.CQ_OVERFLOW)) {
          this.#enter(0);
          tail = Atomics.load(cq, this.#cqTail);
        }
      }
    } finally {
      this.#reaping = false;
      // Closed from a callback with no wait loop to hand the release to: release now.
      if (this.#closing && !this.#closed && !this.#pump) this.#release();
    }
    if (n > 0) this.#notify();
    return n;
  }

  #notify(): void {
    const waiters = this.#waiters;
    if (waiters.length === 0) return;
    this.#waiters = [];
    for (const wake of waiters) wake();
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
      if (!this.#pump) {
        throw new RegioError(`io_uring: ${what} cannot finish (nothing is in flight)`);
      }
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  #dispatch(kind: number, token: number, res: number, flags: number): void {
    if (this.#failed) return; // everything was settled by #fail
    try {
      if (kind === KIND.OP) this.#completeOp(token, res);
      else if (kind === KIND.TAG) this.#tagHandlers.get(token)?.();
      else if (kind >= KIND.FIRST_SINK) this.#sinks[kind]?.complete(token, res, flags);
    } catch (e) {
      reportError(e); // a callback's bug must not stop the reap loop
    }
  }

  // ---- waiting ----

  /** Starts the wait loop if completions are expected and none is running. */
  ensurePump(): void {
    if (!this.#pump && this.#expected > 0 && !this.#closing && !this.#failed) {
      this.#pump = this.#run();
    }
  }

  /** Resolves when the wait loop has stopped (nothing expected, or closing). */
  async idle(): Promise<void> {
    while (this.#pump) await this.#pump;
  }

  /**
   * The one long-lived wait: `poll` on the eventfd runs on Deno's blocking
   * pool (the event loop stays free); reaping then happens here on the JS
   * thread, which is the only thread allowed to enter a DEFER_TASKRUN ring.
   */
  async #run(): Promise<void> {
    const c = libc();
    await undefined; // let ensurePump store this promise before the loop can finish
    try {
      while (!this.#closing && this.#expected > 0) {
        this.#submitAndReap();
        if (this.#closing || this.#expected === 0) break;
        this.#own16[POLL.revents >>> 1] = 0;
        const ready = await c.poll_nonblocking(this.#pollPtr, 1n, this.#waitSliceMs);
        // Clear the counter (nonblocking fd; EAGAIN when already 0 is fine).
        if (ready > 0 && !this.#closed) c.read(this.#eventfd, this.#counterPtr, 8n);
      }
    } catch (e) {
      this.#fail(e as Error);
    } finally {
      this.#pump = undefined;
      if (this.#closing && !this.#closed) this.#release();
      this.#notify();
    }
  }

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
    const rejects: ((e: Error) => void)[] = [];
    for (let slot = 0; slot < this.#opResolve.length; slot++) {
      if (!this.#opResolve[slot]) continue;
      for (const u of this.#opUsers[slot]) u?.end();
      rejects.push(this.#opReject[slot]!);
      this.#opResolve[slot] = this.#opReject[slot] = undefined;
      this.#opUsers[slot] = [];
      this.#freeSlots.push(slot);
    }
    for (const sink of [...this.#sinks]) {
      try {
        sink?.fail?.(error);
      } catch (e) {
        reportError(e);
      }
    }
    let leaked = 0;
    for (const child of [...this.#children]) leaked += child.ringFailed();
    this.#expected = 0;
    this.#tagHandlers.clear();
    if (leaked > 0) {
      console.warn(
        `regio: ${error.message}; ${leaked} bytes of native memory that its requests in flight ` +
          "may still use are leaked on purpose (never freed)",
      );
    }
    for (const reject of rejects) reject(error);
    if (this.#pump) this.#wake(); // the wait loop ends now instead of after its slice
    this.#notify();
  }

  /** Wakes the waiter (one eventfd write). */
  #wake(): void {
    new BigUint64Array(this.#own.bytes.buffer, 16, 1)[0] = 1n;
    libc().write(this.#eventfd, this.#counterPtr, 8n);
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
    const busy = this.#inFlight();
    if (busy > 0) throw new BusyError("io_uring instance", busy);
    for (const child of [...this.#children]) {
      try {
        child.disposeNow();
      } catch (e) {
        // Closing the ring fd drops every registration anyway (ringClosed releases it).
        if (!(e instanceof ErrnoError)) throw e;
      }
    }
    this.#closing = true;
    if (this.#pump) this.#wake(); // the loop releases everything when the poll returns
    else if (!this.#reaping) this.#release(); // else reap() releases once its loop is done
  }

  /** Cancels everything, waits for the final CQEs, disposes children, then closes. */
  async closeDrained(): Promise<void> {
    if (this.#closing) return this.idle();
    if (this.#inFlight() > 0 && !this.#failed) this.cancelAll();
    for (const child of [...this.#children]) {
      try {
        await child.disposeDrained();
      } catch (e) {
        if (!(e instanceof ErrnoError)) throw e; // as in close(): closing the fd drops it
      }
    }
    await this.until(() => this.#inFlight() === 0, "draining the ring");
    this.close();
    await this.idle();
  }

  /** Operations in flight, not counting tags. */
  #inFlight(): number {
    let n = 0;
    for (const r of this.#opResolve) if (r) n++;
    return n + this.#sinkOps();
  }

  #sinkOps(): number {
    let n = 0;
    for (const s of this.#sinks) if (s) n += s.inFlight();
    return n;
  }

  #release(): void {
    this.#closed = true;
    const c = libc();
    untrackLeak(this);
    this.#sqeMap.free();
    if (this.#cqMap !== this.#ringMap) this.#cqMap.free();
    this.#ringMap.free();
    c.close(this.#eventfd);
    c.close(this.fd);
    this.#own.free();
    // No op is in flight and the ring is gone: nothing can touch the memory.
    // (After a failure the registrations were abandoned instead, leaking it.)
    for (const child of [...this.#children]) child.ringClosed();
  }
}

/** REGISTER_PROBE: which opcodes this kernel supports. */
function probe(fd: number): Uint8Array {
  const P = IO_URING_PROBE;
  const ops = new Uint8Array(P.MAX_OPS);
  withArgs(P.SIZE + P.MAX_OPS * P.OP_SIZE, (args) => {
    register(fd, IORING_REGISTER.PROBE, args.address, P.MAX_OPS, "REGISTER_PROBE");
    const len = args.bytes[P.ops_len];
    for (let i = 0; i < len; i++) {
      const at = P.ops + i * P.OP_SIZE;
      if (args.view.getUint16(at + P.op_flags, true) & P.OP_SUPPORTED) {
        ops[args.bytes[at + P.op_op]] = 1;
      }
    }
  });
  return ops;
}
