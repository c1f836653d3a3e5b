/**
 * Where a ring's completions go: promise-backed ops (through the
 * {@link OpTable}), sinks and resource-tag handlers, chosen by the high half
 * of `user_data`; the child registrations the ring owns; and the count of
 * completions still expected, which drives the wait loop. After a fatal
 * error it settles all of them at once.
 *
 * @module
 */

import { type Child, KIND, type Sink, type UseCounter } from "./ring_contracts.ts";
import { OpTable } from "./op_table.ts";

/** The handlers and children of one ring. */
export class Dispatcher {
  /** Completions still expected (ops in flight + resource tags); drives the wait loop. */
  expected = 0;

  readonly #ops = new OpTable();
  #sinks: (Sink | undefined)[] = [];
  #tagHandlers = new Map<number, () => void>();
  #nextTag = 1;
  #children = new Set<Child>();

  /** Starts tracking a promise-backed op (see `RingCore.track`). */
  track(name: string, users: (UseCounter | undefined)[]): [number, Promise<number>] {
    const tracked = this.#ops.track(name, users);
    this.expected++;
    return tracked;
  }

  /** Routes one CQE to its handler; a handler that throws is reported, not rethrown. */
  dispatch(kind: number, token: number, res: number, flags: number): void {
    try {
      if (kind === KIND.OP) {
        if (this.#ops.complete(token, res)) this.expected--;
      } else if (kind === KIND.TAG) this.#tagHandlers.get(token)?.();
      else if (kind >= KIND.FIRST_SINK) this.#sinks[kind]?.complete(token, res, flags);
    } catch (e) {
      reportError(e); // a callback's bug must not stop the reap loop
    }
  }

  /**
   * Cancels every operation that uses `user`: `cancelOp` gets each tracked
   * op's slot, and each sink cancels its own.
   */
  cancelFor(user: UseCounter, cancelOp: (slot: number) => void): void {
    this.#ops.forEachUsing(user, cancelOp);
    for (const sink of this.#sinks) sink?.cancelFor(user);
  }

  /** Operations in flight, not counting tags. */
  inFlight(): number {
    let n = this.#ops.count();
    for (const s of this.#sinks) if (s) n += s.inFlight();
    return n;
  }

  /** Adds a sink; returns its id (the high half of `user_data`). */
  addSink(sink: Sink): number {
    let id = this.#sinks.indexOf(undefined, KIND.FIRST_SINK);
    if (id < 0) id = Math.max(this.#sinks.length, KIND.FIRST_SINK);
    this.#sinks[id] = sink;
    return id;
  }

  /** Removes a sink. */
  removeSink(id: number): void {
    this.#sinks[id] = undefined;
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

  /** Adds a child registration. */
  adopt(child: Child): void {
    this.#children.add(child);
  }

  /** Forgets a child. */
  disown(child: Child): void {
    this.#children.delete(child);
  }

  /** A snapshot of the children (teardown may disown them as it goes). */
  children(): Child[] {
    return [...this.#children];
  }

  /**
   * The ring failed for good with `error` (see `RingCore`): ops are
   * abandoned and sinks fail theirs, children are abandoned (the native memory
   * they leak is reported once), nothing is expected any more; then the ops
   * reject. All bookkeeping is done before any user code runs.
   */
  fail(error: Error): void {
    const rejects = this.#ops.abandonAll();
    for (const sink of [...this.#sinks]) {
      try {
        sink?.fail?.(error);
      } catch (e) {
        reportError(e);
      }
    }
    let leaked = 0;
    for (const child of [...this.#children]) leaked += child.ringFailed();
    this.expected = 0;
    this.#tagHandlers.clear();
    if (leaked > 0) {
      console.warn(
        `regio: ${error.message}; ${leaked} bytes of native memory that its requests in flight ` +
          "may still use are leaked on purpose (never freed)",
      );
    }
    for (const reject of rejects) reject(error);
  }
}
