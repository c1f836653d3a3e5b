/**
 * How the file ring settles finished batches: at once while the shared
 * cooperative budget (src/budget.ts) lasts, then on the next turn of the
 * event loop. Completions can arrive inside the submit that follows the
 * caller's next request — a microtask chain that would starve timers and
 * other I/O — and the budget's macrotask breaks it.
 *
 * @module
 */

import { charge, onNextTurn } from "../budget.ts";
import type { Batch } from "./backend.ts";

/** Settles a ring's finished batches in order, each operation charged to the budget. */
export class BatchSettler {
  #deferred: Batch[] = [];
  #queued = false;

  readonly #flushDeferred = (): void => {
    this.#queued = false;
    const batches = this.#deferred;
    this.#deferred = [];
    for (let i = 0; i < batches.length; i++) {
      if (!charge(batches[i].results.length)) {
        // Spent again: the rest waits for the turn after this one, still in order.
        this.#deferred = batches.slice(i).concat(this.#deferred);
        this.#queue();
        return;
      }
      settle(batches[i]);
    }
  };

  /** Settles a finished batch now, or on the next turn once the budget is spent. */
  settle(batch: Batch): void {
    if (this.#deferred.length === 0 && charge(batch.results.length)) {
      settle(batch);
      return;
    }
    this.#deferred.push(batch);
    this.#queue();
  }

  #queue(): void {
    if (this.#queued) return;
    this.#queued = true;
    onNextTurn(this.#flushDeferred);
  }
}

function settle(batch: Batch): void {
  if (batch.error !== undefined) batch.reject(batch.error);
  else batch.resolve(batch.results);
}
