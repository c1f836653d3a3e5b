/**
 * Leak reporting for owning objects. The registry only reports: a finalizer
 * must never deregister or free, because JS reachability says nothing about
 * whether the kernel still uses the memory.
 *
 * @module
 */

const registry = new FinalizationRegistry<string>((what) => {
  console.warn(`regio: ${what} was garbage-collected without being closed (leaked)`);
});

/** Reports `what` if `owner` is collected before `untrackLeak(owner)`. */
export function trackLeak(owner: object, what: string): void {
  registry.register(owner, what, owner);
}

/** Stops reporting `owner`; call it when the owner is closed. */
export function untrackLeak(owner: object): void {
  registry.unregister(owner);
}
