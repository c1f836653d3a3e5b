/**
 * Deno's FFI argument checks, applied to the fake: a real symbol call throws
 * `TypeError: Invalid FFI u32 type` for `-0`, a fraction, a negative or
 * out-of-range number, or a BigInt, where a plain JS function would accept
 * it. Wrapping every fake symbol with the checks its declaration implies
 * makes such an argument fail a test here instead of on Windows.
 *
 * Only the declared parameter *types* come from ffi/windows/*.ts (they are
 * what is under test); no layout or constant does.
 */

type Definitions = Readonly<Record<string, { readonly parameters: readonly unknown[] }>>;

const RANGES: Record<string, [number, number]> = {
  u32: [0, 0xffff_ffff],
  i32: [-0x8000_0000, 0x7fff_ffff],
};

function show(value: unknown): string {
  return Object.is(value, -0) ? "-0" : String(value);
}

function check(type: unknown, value: unknown, where: string): void {
  const range = typeof type === "string" ? RANGES[type] : undefined;
  if (range) {
    const ok = typeof value === "number" && Number.isInteger(value) && !Object.is(value, -0) &&
      value >= range[0] && value <= range[1];
    if (!ok) throw new TypeError(`Invalid FFI ${type} type (${where}: ${show(value)})`);
  } else if (type === "u64" || type === "usize" || type === "i64" || type === "isize") {
    if (typeof value !== "bigint" && !Number.isInteger(value)) {
      throw new TypeError(`Invalid FFI ${type} type (${where}: ${show(value)})`);
    }
  } else if (type === "pointer") {
    if (value !== null && typeof value !== "object") {
      throw new TypeError(`Invalid FFI pointer type (${where}: ${show(value)})`);
    }
  }
}

/** Wraps each function of `symbols` so its arguments are checked as Deno's FFI would. */
export function withFfiArgChecks<T extends object>(definitions: Definitions, symbols: T): T {
  const out: Record<string, unknown> = { ...(symbols as Record<string, unknown>) };
  for (const [name, fn] of Object.entries(symbols)) {
    const def = definitions[name];
    if (typeof fn !== "function" || !def) continue;
    out[name] = (...args: unknown[]): unknown => {
      def.parameters.forEach((type, i) => check(type, args[i], `${name} argument ${i}`));
      return fn.apply(symbols, args);
    };
  }
  return out as T;
}
