/**
 * An I/O ring's one completion waiter: drain, then wait on the completion
 * event (with a timeout) or a timer, while the ring is still owed
 * completions. Draining first matters: the event fires only on the CQ's
 * empty → non-empty edge. The wait is nonblocking, so the event loop runs on.
 *
 * @module
 */

import type { Kernelbase } from "../../ffi/windows/kernelbase.ts";

const WAIT_FAILED = 0xffffffff;

/** What the waiter calls back into its ring. */
export interface WaiterHooks {
  /** Pops every available completion. */
  drain(): void;
  /** True while completions are owed (the ring open, operations in flight). */
  busy(): boolean;
  /** The loop threw `error` and has stopped; the ring reports it. */
  fault(error: unknown): void;
}

/** Runs the wait loop while its ring is busy; owns the completion event. */
export class CompletionWaiter {
  readonly #k: Kernelbase;
  readonly #hooks: WaiterHooks;
  readonly #sliceMs: number;
  readonly #pollMs: number;
  readonly #event: Deno.PointerObject | null;
  #useEvent: boolean;
  #eventClosed = false;
  #stopped = false;

  #looping = false;
  /** The running loop (so no wait outlives the ring). */
  #loop: Promise<void> | undefined;
  #waiting = false;
  #pollTimer: ReturnType<typeof setTimeout> | undefined;
  #pollWake: (() => void) | undefined;

  /** `event` (or null: poll every `pollMs`) is closed by the waiter once stopped. */
  constructor(
    k: Kernelbase,
    event: Deno.PointerObject | null,
    sliceMs: number,
    pollMs: number,
    hooks: WaiterHooks,
  ) {
    this.#k = k;
    this.#event = event;
    this.#useEvent = event !== null;
    this.#sliceMs = sliceMs;
    this.#pollMs = pollMs;
    this.#hooks = hooks;
  }

  /** Starts the loop unless it is running or the ring is not busy. */
  start(): void {
    if (this.#looping || this.#stopped || !this.#hooks.busy()) return;
    this.#looping = true;
    this.#loop = this.#run();
  }

  /** Wakes a pending wait; the event is closed now, or by the wait when it returns. Runs once. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#pollTimer);
    this.#pollWake?.();
    if (this.#event !== null && this.#waiting) this.#k.SetEvent(this.#event);
    else this.#closeEvent();
  }

  /** Resolves once the loop has returned (and, if stopped, closed the event). */
  async finished(): Promise<void> {
    await this.#loop;
  }

  async #run(): Promise<void> {
    const hooks = this.#hooks;
    try {
      while (hooks.busy()) {
        hooks.drain();
        if (!hooks.busy()) break;
        if (this.#useEvent) {
          this.#waiting = true;
          let r: number;
          try {
            r = await this.#k.WaitForSingleObject_nonblocking(this.#event, this.#sliceMs);
          } finally {
            this.#waiting = false;
          }
          if (r === WAIT_FAILED) this.#useEvent = false; // fall back to polling
        } else {
          await new Promise<void>((resolve) => {
            this.#pollWake = resolve;
            this.#pollTimer = setTimeout(resolve, this.#pollMs);
          });
          this.#pollWake = undefined;
          this.#pollTimer = undefined;
        }
      }
    } catch (e) {
      hooks.fault(e);
    } finally {
      this.#looping = false;
      if (this.#stopped) this.#closeEvent();
    }
  }

  #closeEvent(): void {
    if (this.#event === null || this.#eventClosed) return;
    this.#eventClosed = true;
    this.#k.CloseHandle(this.#event);
  }
}
