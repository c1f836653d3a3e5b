/**
 * The command-line plumbing the examples share: strict flag parsing, API
 * errors translated into the flag that caused them, address formatting, and a
 * `main` runner that turns a bad command line into its usage text and exit
 * code 2.
 *
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";

/** A bad command line: printed without a stack trace, exit code 2. */
export class UsageError extends Error {}

/** Flag values by name (no positionals). */
export type Flags = Record<string, string | boolean | undefined>;

/**
 * Parses `args` strictly against `options`; a bad flag is a {@link UsageError}.
 * A string flag followed by a negative number (`--slot-size -1`) takes it as
 * its value, so the flag's own check reports it instead of node's "ambiguous".
 */
export function parseFlags(options: ParseArgsOptionsConfig, args = Deno.args): Flags {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i].startsWith("--") ? args[i].slice(2) : undefined;
    const next = args[i + 1];
    if (name && options[name]?.type === "string" && next !== undefined && /^-\d/.test(next)) {
      joined.push(`--${name}=${next}`);
      i++;
    } else {
      joined.push(args[i]);
    }
  }
  try {
    return parseArgs({ args: joined, options, strict: true, allowPositionals: false })
      .values as Flags;
  } catch (e) {
    const ambiguous = /^Option '(--[\w-]+)[^']*' argument is ambiguous/.exec((e as Error).message);
    if (ambiguous) {
      const flag = ambiguous[1];
      throw new UsageError(`${flag} needs a value (for one starting with "-", write ${flag}=-…)`);
    }
    throw new UsageError((e as Error).message);
  }
}

/**
 * Turns the `TypeError` / `RangeError` an API call threw for a bad option into
 * a {@link UsageError} naming the flag it came from: `fields` maps option
 * names (`receiveBufferSize`) to flags (`--rcvbuf`). Other errors are returned
 * as they are.
 */
export function flagError(e: unknown, fields: Record<string, string>): unknown {
  if (!(e instanceof TypeError || e instanceof RangeError)) return e;
  const m = /^(\w+)\b/.exec(e.message);
  const flag = m ? fields[m[1]] : undefined;
  return new UsageError(flag ? flag + e.message.slice(m![1].length) : e.message);
}

/** `host:port`, with an IPv6 host in brackets: `[fe80::1]:0`. */
export function formatAddress(hostname: string, port: number): string {
  return `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
}

/** Runs `main` and exits with its code; a {@link UsageError} prints `name: message` and `usage`. */
export async function runMain(
  name: string,
  usage: string,
  main: () => Promise<number>,
): Promise<never> {
  try {
    Deno.exit(await main());
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`${name}: ${e.message}\n\n${usage}`);
      Deno.exit(2);
    }
    throw e;
  }
}
