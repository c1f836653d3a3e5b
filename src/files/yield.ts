/**
 * The file ring's yield rule: finished batches are settled at once until a
 * stretch of deliveries has run for {@link YIELD_AFTER_MS}; after that they
 * wait for a macrotask (`setImmediate`), so timers and other I/O get a turn.
 * The ring's whole yield policy is this module.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import type { Batch } from "./backend.ts";

/** Longest stretch of completions delivered before the event loop gets a turn. */
const YIELD_AFTER_MS = 2;

/** Settles a ring's finished batches, yielding to the event loop when a stretch runs long. */
export class BatchSettler {
  #sliceStart = 0;
  #deferred: Batch[] = [];
  #yieldQueued = false;

  readonly #flushDeferred = (): void => {
    this.#yieldQueued = false;
    this.#sliceStart = performance.now();
    const batches = this.#deferred;
    this.#deferred = [];
    for (const b of batches) settle(b);
  };

  /** Settles a finished batch, yielding to the event loop first when this stretch ran long. */
  settle(batch: Batch): void {
    if (performance.now() - this.#sliceStart < YIELD_AFTER_MS && this.#deferred.length === 0) {
      settle(batch);
      return;
    }
    // Completions can arrive inside the submit that follows the caller's next
    // request (a microtask chain that would starve timers and I/O); a macrotask breaks it.
    this.#deferred.push(batch);
    if (!this.#yieldQueued) {
      this.#yieldQueued = true;
      setImmediate(this.#flushDeferred);
    }
  }
}

function settle(batch: Batch): void {
  if (batch.error !== undefined) batch.reject(batch.error);
  else batch.resolve(batch.results);
}
