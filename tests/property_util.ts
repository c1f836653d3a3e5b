// Shared by the property tests (tests/property_*_test.ts): fast-check (the one
// test-only dependency, pinned here), how many runs each property gets, how a
// failure is replayed, and the arbitraries for "a value at or around a bound".
//
// Runs: each property names its run count for `deno task test` (114,200 in
// all: 70,600 in property_files_test.ts, 43,600 in property_udp_test.ts, a few
// seconds); REGIO_FUZZ=k multiplies every count by k (`deno task test:fuzz`
// sets 10: 1,142,000 cases, about 40 s on two cores).
//
// Replaying a failure: fast-check's error names the seed and the path of the
// shrunk counterexample ("seed: 1234, path: \"56:7:8\""); run the same file with
// REGIO_SEED=1234 REGIO_PATH=56:7:8 (e.g. `REGIO_SEED=1234 REGIO_PATH=56:7:8
// deno test -A tests/property_files_test.ts --filter "<test name>"`) and the
// failing case runs first, alone. Without REGIO_PATH the whole run of that
// seed is repeated.

// Pinned here, not in deno.json's "imports": the published package's config stays free of it.
// deno-lint-ignore no-import-prefix
import fc from "npm:fast-check@4.10.2";

export { fc };

const env = (name: string): string | undefined => Deno.env.get(name) || undefined;

/** The multiplier REGIO_FUZZ sets (1 without it). */
export const FUZZ: number = Math.max(1, Number(env("REGIO_FUZZ") ?? 1) || 1);

/**
 * fast-check parameters for a property that gets `runs` runs in `deno task
 * test` (times {@link FUZZ}), with the seed and path of REGIO_SEED /
 * REGIO_PATH when replaying.
 */
export function params<T>(runs: number): fc.Parameters<T> {
  const numRuns = runs * FUZZ;
  const seed = env("REGIO_SEED");
  const path = env("REGIO_PATH");
  return {
    numRuns,
    ...(seed !== undefined ? { seed: Number(seed) } : {}),
    ...(path !== undefined ? { path } : {}),
  };
}

/**
 * Numbers at and around `bounds` (each ±1, ±0.5), and everything else a field
 * can be handed: -0, NaN, ±Infinity, 2^53 ± 1, huge and tiny numbers, BigInts,
 * strings of numbers, null, undefined, objects, arrays, booleans.
 */
export function aroundBounds(...bounds: number[]): fc.Arbitrary<unknown> {
  const near = bounds.flatMap((b) => [b - 1, b - 0.5, b, b + 0.5, b + 1]);
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...near) },
    { weight: 2, arbitrary: fc.integer({ min: -3, max: Math.max(...bounds, 0) + 3 }) },
    {
      weight: 2,
      arbitrary: fc.constantFrom<unknown>(
        -0,
        NaN,
        Infinity,
        -Infinity,
        2 ** 31,
        2 ** 32,
        2 ** 53,
        2 ** 53 - 1,
        2 ** 53 + 2,
        -(2 ** 53),
        Number.MAX_VALUE,
        Number.MIN_VALUE,
        Number.EPSILON,
        1e300,
      ),
    },
    {
      weight: 1,
      arbitrary: fc.oneof(
        fc.bigInt({ min: -2n, max: 2n ** 64n }),
        fc.constantFrom<unknown>(0n, 1n),
      ),
    },
    {
      weight: 1,
      arbitrary: fc.oneof(
        fc.constantFrom<unknown>("0", "1", "", " 1", "0x10", "1e3", "NaN"),
        fc.integer({ min: -2, max: 64 }).map(String),
      ),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom<unknown>(
        null,
        undefined,
        true,
        false,
        {},
        [],
        [1],
        { valueOf: () => 1 },
        new Number(1),
      ),
    },
  );
}

/** True for what the library must accept as an integer index/length: a number, integral, in range. */
export function isIntIn(v: unknown, min: number, max: number): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= min && v <= max;
}
