/**
 * The cooperative budget (DESIGN invariant 5): one per JS thread, shared by
 * every path whose work can complete inline — `UdpSocket` sends, replies and
 * receives, `FileRing` completions.
 *
 * io_uring often completes a send or a cached read inside the
 * `io_uring_enter` that submitted it, so a caller that awaits one operation
 * after another never leaves the microtask queue: timers, other sockets and
 * other I/O would wait until the whole backlog is done. As in tokio's
 * cooperative scheduling, each piece of inline work is {@link charge}d
 * against a slice of time; once the slice is spent, callers wait for
 * {@link nextTurn} (a macrotask, `setImmediate`) before going on.
 *
 * A slice starts with the first charge after the event loop turned, and
 * ends when it turns again — by itself (a marker immediate queued at the
 * slice's start notices) or because a caller waited for it. So a program
 * that does a little work per turn never waits, and one that floods waits
 * once per {@link SLICE_MS}.
 *
 * @module
 */

import { setImmediate } from "node:timers";

/** Longest stretch of inline work (ms) before the event loop gets a turn. */
export const SLICE_MS = 1;
/** Units charged between two looks at the clock (a unit is one datagram or one operation). */
const CHECK_EVERY = 16;

let sliceMs = SLICE_MS;
let open = false; // a slice is running: charges since the loop last turned
let start = 0;
let sinceCheck = 0;
let spent = false;
let turn: PromiseWithResolvers<void> | undefined;
let waiting: (() => void)[] = [];

/** Runs as a macrotask queued when a slice opens: the event loop has turned. */
function onTurn(): void {
  open = false;
  spent = false;
  sinceCheck = 0;
  const t = turn;
  turn = undefined;
  const w = waiting;
  if (w.length > 0) {
    waiting = [];
    for (const f of w) f();
  }
  t?.resolve();
}

/**
 * Counts `units` of inline work against the running slice.
 * @returns true while the slice lasts (go on inline); false once it is
 *   spent (wait for {@link nextTurn}, or defer with {@link onNextTurn}).
 */
export function charge(units = 1): boolean {
  if (!open) {
    open = true;
    start = performance.now();
    sinceCheck = 0;
    setImmediate(onTurn);
  }
  if (spent) return false;
  sinceCheck += units;
  if (sinceCheck < CHECK_EVERY) return true;
  sinceCheck = 0;
  spent = performance.now() - start >= sliceMs;
  return !spent;
}

/** True once the running slice is spent (without charging anything). */
export function exhausted(): boolean {
  return spent;
}

/** Resolves on the next turn of the event loop (one promise shared by every waiter). */
export function nextTurn(): Promise<void> {
  if (!open) charge(0); // queue the marker that ends the slice
  return (turn ??= Promise.withResolvers<void>()).promise;
}

/** Runs `f` on the next turn of the event loop, before the waiters of {@link nextTurn} resume. */
export function onNextTurn(f: () => void): void {
  if (!open) charge(0);
  waiting.push(f);
}

/**
 * Sets the slice length; `Infinity` turns the budget off. For benchmarks
 * that measure what the budget costs, not for applications.
 * @returns the previous value.
 */
export function setSliceMs(ms: number): number {
  if (!(ms > 0)) throw new RangeError(`slice must be a positive number of ms, got ${ms}`);
  const was = sliceMs;
  sliceMs = ms;
  return was;
}
