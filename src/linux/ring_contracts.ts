/**
 * What plugs into a ring: the `user_data` encoding that routes each CQE to
 * its handler ({@link KIND}), the {@link Sink}s that receive completions, the
 * {@link UseCounter}s that count the operations using a registration, and the
 * {@link Child} registrations the ring owns and tears down with it.
 *
 * `user_data` is two u32 halves, so no BigInt is made per operation: the high
 * half names a handler ({@link KIND} or a sink id), the low half is that
 * handler's token.
 *
 * @module
 */

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
