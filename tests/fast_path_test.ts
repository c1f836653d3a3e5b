// Opt-in (`deno task test:fast-path`): proves that the Linux hot symbols,
// called the way the ring calls them, take Deno's fast-call path (DESIGN.md
// invariant 6). It needs V8 natives syntax and Deno's turbocall trace, which
// are internal, so it is not part of `deno task test`; without them every test
// here is skipped.

import assert from "node:assert/strict";
import { libc } from "../src/linux/libc.ts";
import { SYS } from "../ffi/linux/abi.ts";
import { linux } from "./linux_util.ts";

function nativesSyntax(): boolean {
  try {
    new Function("%GetOptimizationStatus(function () {})");
    return true;
  } catch {
    return false;
  }
}

const enabled = linux && nativesSyntax() &&
  Deno.env.get("DENO_UNSTABLE_FFI_TRACE_TURBO") === "1";

// deno-lint-ignore no-explicit-any
const internal = enabled ? (Deno as any)[(Deno as any).internal] : undefined;

/** Optimizes `call` with V8 natives, runs it once more, and returns the last fast-call target. */
function lastFastCall(call: () => unknown): string | null {
  const optimize = new Function(
    "f",
    "%PrepareFunctionForOptimization(f); f(); f(); %OptimizeFunctionOnNextCall(f); f();",
  );
  optimize(call);
  return internal.getTurbocallTarget();
}

Deno.test({
  name: "io_uring_enter, as the ring calls it, is a fast call",
  ignore: !enabled,
  fn(): void {
    const c = libc();
    // fd -1: the kernel answers EBADF at once; the call shape is what matters.
    const enter = (): unknown =>
      c.io_uring_enter(BigInt(SYS.io_uring_enter), 0xffffffff, 0, 0, 1, null, 0n);
    assert.equal(lastFastCall(() => c.getpagesize()), "getpagesize"); // baseline
    assert.equal(lastFastCall(enter), "io_uring_enter");
  },
});

Deno.test({
  name: "the same call with a number where a 64-bit value is declared is not (the check can fail)",
  ignore: !enabled,
  fn(): void {
    const c = libc();
    // The types ask for BigInts; at run time numbers are accepted too, but take the slow path.
    const untyped = c.io_uring_enter as unknown as (...args: unknown[]) => unknown;
    const slow = (): unknown => untyped(SYS.io_uring_enter, 0xffffffff, 0, 0, 1, null, 0);
    assert.equal(lastFastCall(() => c.getpagesize()), "getpagesize"); // baseline
    assert.equal(lastFastCall(slow), null, "a slow call clears the fast-call trace");
  },
});
