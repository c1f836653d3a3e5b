/**
 * The promise-backed operations of a ring, by slot (the low half of their
 * `user_data`): each slot's promise, its name for errors, and the
 * registrations it counts on (their {@link UseCounter}s), until its final CQE.
 *
 * A read of a cached file completes inside the `io_uring_enter` that
 * submitted it, so a caller awaiting one op after another would never leave
 * the microtask queue: settling a promise is charged to the shared
 * cooperative budget (src/budget.ts) and waits for the next turn of the
 * event loop once it is spent. The bookkeeping is done at once either way.
 *
 * @module
 */

import { charge, onNextTurn } from "../budget.ts";
import { ErrnoError } from "../errors.ts";
import type { UseCounter } from "./ring_contracts.ts";

/** Slots of the operations in flight; freed slots are reused. */
export class OpTable {
  #resolve: (((res: number) => void) | undefined)[] = [];
  #reject: (((e: Error) => void) | undefined)[] = [];
  #name: string[] = [];
  #users: (UseCounter | undefined)[][] = [];
  #free: number[] = [];

  /** Starts an op: returns its slot and its promise, and counts it on each of `users`. */
  track(name: string, users: (UseCounter | undefined)[]): [number, Promise<number>] {
    const slot = this.#free.pop() ?? this.#resolve.length;
    const { promise, resolve, reject } = Promise.withResolvers<number>();
    this.#resolve[slot] = resolve;
    this.#reject[slot] = reject;
    this.#name[slot] = name;
    this.#users[slot] = users;
    for (const u of users) u?.begin();
    return [slot, promise];
  }

  /**
   * The final CQE of `slot`: ends its counts, frees the slot, then resolves
   * with `res` or rejects with an {@link ErrnoError}. Returns false (and does
   * nothing) when the slot holds no op.
   */
  complete(slot: number, res: number): boolean {
    const resolve = this.#resolve[slot];
    const reject = this.#reject[slot]!;
    if (!resolve) return false;
    for (const u of this.#users[slot]) u?.end();
    const name = this.#name[slot];
    this.#release(slot);
    if (charge()) settle(resolve, reject, res, name);
    else onNextTurn(() => settle(resolve, reject, res, name));
    return true;
  }

  /**
   * Calls `fn` with the slot of each op in flight that uses `user`, checking
   * each slot as it goes (`fn` may submit, and so settle or start ops).
   */
  forEachUsing(user: UseCounter, fn: (slot: number) => void): void {
    for (let slot = 0; slot < this.#users.length; slot++) {
      if (this.#resolve[slot] && this.#users[slot].includes(user)) fn(slot);
    }
  }

  /** How many ops are in flight. */
  count(): number {
    let n = 0;
    for (const r of this.#resolve) if (r) n++;
    return n;
  }

  /**
   * Settles the bookkeeping of every op in flight (counts ended, slots freed)
   * without running user code; returns their rejects for the caller to call.
   */
  abandonAll(): ((e: Error) => void)[] {
    const rejects: ((e: Error) => void)[] = [];
    for (let slot = 0; slot < this.#resolve.length; slot++) {
      if (!this.#resolve[slot]) continue;
      for (const u of this.#users[slot]) u?.end();
      rejects.push(this.#reject[slot]!);
      this.#release(slot);
    }
    return rejects;
  }

  #release(slot: number): void {
    this.#resolve[slot] = this.#reject[slot] = undefined;
    this.#users[slot] = [];
    this.#free.push(slot);
  }
}

function settle(
  resolve: (res: number) => void,
  reject: (e: Error) => void,
  res: number,
  name: string,
): void {
  if (res >= 0) resolve(res);
  else reject(new ErrnoError(-res, name));
}
