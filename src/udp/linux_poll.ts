/**
 * The Linux engine's busy polling: while traffic flows, the ring is polled
 * from `setImmediate` instead of waiting for the eventfd. A wake-up through
 * Deno's blocking pool costs tens of microseconds, a poll one
 * `io_uring_enter`; timers and other I/O still run between polls. After
 * {@link SPIN_IDLE} empty polls in a row the ring's own eventfd wait takes
 * over again.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import type { Uring } from "../linux/uring.ts";

/** Polls in a row that may find nothing before the socket goes back to waiting on the eventfd. */
const SPIN_IDLE = 64;

/** Polls one ring while its completions keep coming. */
export class RingPoller {
  readonly #ring: Uring;
  readonly #stopped: () => boolean;
  readonly #failed: (error: Error) => void;
  #completions = 0; // datagrams and send completions seen
  #polling = false;
  #idlePolls = 0;
  #refed = true;
  readonly #poll = (): void => {
    if (this.#stopped()) {
      this.#polling = false;
      return;
    }
    const before = this.#completions;
    try {
      this.#ring.submit();
    } catch (e) {
      this.#polling = false;
      this.#failed(e as Error);
      return;
    }
    this.#idlePolls = this.#completions === before ? this.#idlePolls + 1 : 0;
    if (this.#idlePolls < SPIN_IDLE) this.#pollSoon();
    else this.#polling = false;
  };

  /**
   * Polls `ring` until `stopped()`; a failed submit stops polling and goes
   * to `failed`.
   */
  constructor(ring: Uring, stopped: () => boolean, failed: (error: Error) => void) {
    this.#ring = ring;
    this.#stopped = stopped;
    this.#failed = failed;
  }

  /** A send completed (a poll that reaps one is not idle). */
  sent(): void {
    this.#completions++;
  }

  /** A datagram arrived: counted, and polling starts if it is off. */
  received(): void {
    this.#completions++;
    if (!this.#polling) this.#startPolling();
  }

  /** Whether the polls may keep the process alive (an unref'd socket's must not). */
  ref(on: boolean): void {
    this.#refed = on;
  }

  #startPolling(): void {
    this.#polling = true;
    this.#idlePolls = 0;
    this.#pollSoon();
  }

  #pollSoon(): void {
    const next = setImmediate(this.#poll);
    if (!this.#refed) next.unref(); // traffic alone must not keep an unref'd socket's process alive
  }
}
