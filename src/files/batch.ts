/**
 * The file ring's batch accounting: preparing a call's operations as one
 * {@link Batch} and submitting it, how many operations are in flight (on the
 * ring, its files and its pool), each backend completion recorded into its
 * batch, and callers waiting for room within the ring's depth.
 *
 * @module
 */

import { type Backend, Batch, type Completion, type UseCount } from "./backend.ts";
import type { PoolState, SetState } from "./registrations.ts";

/** Counts a ring's operations in flight and hands finished batches on to be settled. */
export class InFlight {
  /** Most operations in flight at once. */
  readonly #depth: number;
  #count = 0;
  #roomWaiters: (() => void)[] = [];
  readonly #settle: (batch: Batch) => void;
  readonly #stopped: () => boolean;

  /**
   * @param settle Delivers a batch once its last operation has completed.
   * @param stopped True once the ring is closing: waiters for room give up waiting.
   */
  constructor(depth: number, settle: (batch: Batch) => void, stopped: () => boolean) {
    this.#depth = depth;
    this.#settle = settle;
    this.#stopped = stopped;
  }

  /** Operations in flight. */
  get count(): number {
    return this.#count;
  }

  /** The backends' {@link Completion}: records one operation's outcome and uncounts it. */
  readonly complete: Completion = (batch, index, bytes, error) => {
    batch.results[index] = bytes;
    if (error !== undefined && batch.error === undefined) batch.error = error;
    this.#count--;
    batch.files.inFlight--;
    if (batch.buffers !== undefined) batch.buffers.inFlight--;
    if (--batch.remaining === 0) this.#settle(batch);
    if (this.#roomWaiters.length > 0) this.wake();
  };

  /** Counts one more prepared operation of `batch` (on `pool` too, unless a flush). */
  #add(batch: Batch, pool: UseCount | undefined): void {
    batch.remaining++;
    batch.files.inFlight++;
    if (pool !== undefined) pool.inFlight++;
    this.#count++;
  }

  /**
   * Prepares one read (`write` false) or write per request of `checked`
   * (four numbers each, as `checkRequests` returns them), counts each, and
   * submits them together. Resolves once all have completed, to the bytes per
   * request; rejects with the first failure once all have completed.
   */
  submitIo(
    b: Backend,
    write: boolean,
    files: SetState,
    pool: PoolState,
    checked: Float64Array,
    n: number,
  ): Promise<number[]> {
    const { promise, resolve, reject } = Promise.withResolvers<number[]>();
    const batch = new Batch(n, files, pool, resolve, reject);
    try {
      for (let i = 0, k = 0; i < n; i++, k += 4) {
        const file = checked[k], at = checked[k + 1], length = checked[k + 2];
        b.prepareIo(write, files.backend, file, pool.backend, at, length, checked[k + 3], batch, i);
        this.#add(batch, pool);
      }
    } catch (e) {
      // What was prepared still completes; the batch reports this error then.
      batch.error ??= e as Error;
      if (batch.remaining === 0) return Promise.reject(e);
    }
    b.submit();
    return promise;
  }

  /** Prepares a flush of `file`, counts it and submits it; resolves once it has completed. */
  submitFlush(b: Backend, files: SetState, file: number): Promise<number[]> {
    const { promise, resolve, reject } = Promise.withResolvers<number[]>();
    const batch = new Batch(1, files, undefined, resolve, reject);
    try {
      b.prepareFlush(files.backend, file, batch, 0);
      this.#add(batch, undefined);
    } catch (e) {
      return Promise.reject(e);
    }
    b.submit();
    return promise;
  }

  /** True when `n` more operations fit within the depth now. */
  fits(n: number): boolean {
    return this.#count + n <= this.#depth;
  }

  /** Resolves once `n` more operations fit within the depth, or the ring is closing. */
  room(n: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const check = (): void => {
        if (this.fits(n) || this.#stopped()) resolve();
        else this.#roomWaiters.push(check);
      };
      check();
    });
  }

  /** Lets every waiter check again for room. */
  wake(): void {
    const waiters = this.#roomWaiters;
    this.#roomWaiters = [];
    for (const w of waiters) w();
  }
}
