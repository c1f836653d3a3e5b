/**
 * The command-line plumbing the examples share: strict flag parsing and a
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

/** Parses `Deno.args` strictly against `options`; a bad flag is a {@link UsageError}. */
export function parseFlags(options: ParseArgsOptionsConfig): Flags {
  try {
    return parseArgs({ args: Deno.args, options, strict: true, allowPositionals: false })
      .values as Flags;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
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
