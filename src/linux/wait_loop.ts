/**
 * The one long-lived wait of a ring: while completions are expected, submit
 * and reap, then `poll` the ring's eventfd on Deno's blocking pool (the event
 * loop stays free) and go round again; reaping happens on the JS thread,
 * which is the only thread allowed to enter a DEFER_TASKRUN ring. Also the
 * promises that wait for the loop's next round of completions.
 *
 * @module
 */

import type { EventfdWaiter } from "./eventfd_waiter.ts";

/** What the loop asks of its ring. */
export interface WaitHost {
  /**
   * One round: returns false when nothing is expected (or the ring is
   * closing); else submits and reaps, and returns whether to wait for more.
   * May throw a fatal error.
   */
  step(): boolean;
  /** The loop threw `error`: fail the ring. */
  fail(error: Error): void;
  /** The loop has stopped (a closing ring is released now). */
  stopped(): void;
}

/** The wait loop of one ring and the callers waiting on its progress. */
export class WaitLoop {
  readonly #waiter: EventfdWaiter;
  readonly #host: WaitHost;
  #pump: Promise<void> | undefined;
  #waiters: (() => void)[] = [];

  /** A loop that waits on `waiter` and runs `host`'s rounds. */
  constructor(waiter: EventfdWaiter, host: WaitHost) {
    this.#waiter = waiter;
    this.#host = host;
  }

  /** True while the loop runs. */
  get running(): boolean {
    return this.#pump !== undefined;
  }

  /** Starts the loop (the caller checked it is not running). */
  start(): void {
    this.#pump = this.#run();
  }

  /** Resolves when the loop has stopped. */
  async idle(): Promise<void> {
    while (this.#pump) await this.#pump;
  }

  /** Ends the current wait now instead of after its slice. */
  wake(): void {
    this.#waiter.wake();
  }

  /** Resolves at the next {@link WaitLoop.notify}. */
  next(): Promise<void> {
    return new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  /** Wakes every caller of {@link WaitLoop.next}: completions arrived, or the loop stopped. */
  notify(): void {
    const waiters = this.#waiters;
    if (waiters.length === 0) return;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  async #run(): Promise<void> {
    await undefined; // let start() store this promise before the loop can finish
    try {
      while (this.#host.step()) {
        const ready = await this.#waiter.poll();
        if (ready > 0) this.#waiter.drain();
      }
    } catch (e) {
      this.#host.fail(e as Error);
    } finally {
      this.#pump = undefined;
      this.#host.stopped();
      this.notify();
    }
  }
}
