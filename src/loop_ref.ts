/**
 * Whether a pending FFI call keeps the process alive: what `ref()` /
 * `unref()` of a socket come down to. A socket waits for completions with a
 * nonblocking FFI call (poll / WaitForSingleObject on Deno's blocking pool),
 * and a pending call holds the event loop open like any pending op.
 *
 * Deno has no public API to unref an FFI call; `Deno.Conn.unref()` itself
 * unrefs its pending read op through the runtime core's `unrefOpPromise`,
 * and this module uses the same function. Should a Deno release remove it,
 * `unref()` throws {@link UnsupportedError} instead of silently keeping the
 * process alive.
 *
 * @module
 */

import { UnsupportedError } from "./errors.ts";

interface OpRefs {
  refOpPromise(promise: Promise<unknown>): void;
  unrefOpPromise(promise: Promise<unknown>): void;
}

let refs: OpRefs | null | undefined;

/** The runtime core's op ref functions, or null where this Deno has none. */
function opRefs(): OpRefs | null {
  if (refs !== undefined) return refs;
  const key = (Deno as unknown as { internal?: symbol }).internal;
  const internal = key === undefined
    ? undefined
    : (Deno as unknown as Record<symbol, { core?: Partial<OpRefs> } | undefined>)[key];
  const core = internal?.core;
  refs = typeof core?.refOpPromise === "function" && typeof core.unrefOpPromise === "function"
    ? core as OpRefs
    : null;
  return refs;
}

/**
 * Throws unless pending calls can be unref'd here.
 * @throws {UnsupportedError} naming what is missing.
 */
export function assertCanUnref(what: string): void {
  if (opRefs() === null) {
    throw new UnsupportedError(
      `${what}.unref()`,
      "this Deno has no way to unref a pending FFI call (Deno.internal core.unrefOpPromise)",
    );
  }
}

/**
 * Makes pending call `promise` hold the event loop open (`on`) or not. A
 * promise that is not a pending op (a fake's, or one already settled) is left alone.
 */
export function holdLoop(promise: Promise<unknown>, on: boolean): void {
  const r = opRefs();
  if (r === null) return;
  if (on) r.refOpPromise(promise);
  else r.unrefOpPromise(promise);
}
