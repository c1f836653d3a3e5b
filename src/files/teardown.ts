/**
 * Tearing a whole file ring down, now or once drained: its registrations
 * in order (files, then buffers), then the ring itself. Every step runs
 * even when one fails; the failures are thrown together at the end.
 *
 * @module
 */

import type { Backend } from "./backend.ts";
import type { RegistrationState } from "./registrations.ts";

/** Throws nothing, the one error, or an AggregateError of them all in the order they happened. */
function throwErrors(errors: readonly unknown[], what: string): void {
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) {
    throw new AggregateError(
      errors,
      `${what}: ${errors.length} steps of the teardown failed (every step ran); ` +
        `the first: ${(errors[0] as Error)?.message ?? String(errors[0])}`,
    );
  }
}

/**
 * Disposes every live registration, then closes `ring`, now (nothing is in
 * flight). Throws the one failure, or an AggregateError of several in
 * teardown order, once every step has run.
 */
export function tearDownNow(
  registrations: readonly (RegistrationState | undefined)[],
  ring: Backend,
  what: string,
): void {
  const errors: unknown[] = [];
  for (const r of registrations) {
    if (r && !r.disposed) {
      r.disposed = true;
      try {
        r.backend.dispose();
      } catch (e) {
        errors.push(e);
      }
    }
  }
  try {
    ring.close();
  } catch (e) {
    errors.push(e);
  }
  throwErrors(errors, what);
}

/**
 * Like {@link tearDownNow}, but each step first cancels what uses it and
 * waits for those completions; the ring closes after every operation has drained.
 */
export async function tearDownDrained(
  registrations: readonly (RegistrationState | undefined)[],
  ring: Backend,
  what: string,
): Promise<void> {
  const errors: unknown[] = [];
  // Every read/write uses the files: draining them drains everything.
  for (const r of registrations) {
    if (r && !r.disposed) {
      r.disposed = true;
      try {
        await r.backend.disposeDrained();
      } catch (e) {
        errors.push(e);
      }
    }
  }
  try {
    await ring.closeDrained();
  } catch (e) {
    errors.push(e);
  }
  throwErrors(errors, what);
}
