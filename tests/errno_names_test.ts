// Every Linux errno has its symbolic name (issue 10, point 3): ERRNO holds the
// whole asm-generic table, and ErrnoError's message reads `EISDIR (21)`, never
// `errno 21 (21)`.

import assert from "node:assert/strict";
import { ErrnoError } from "../src/errors.ts";
import { ERRNO } from "../ffi/linux/abi.ts";

/** `#define NAME value` lines of the asm-generic errno headers, aliases resolved. */
function headerTable(): Map<string, number> | undefined {
  const table = new Map<string, number>();
  for (const file of ["errno-base.h", "errno.h"]) {
    let text: string;
    try {
      text = Deno.readTextFileSync(`/usr/include/asm-generic/${file}`);
    } catch {
      return undefined;
    }
    for (const m of text.matchAll(/^#define\s+(E\w+)\s+(\w+)/gm)) {
      table.set(m[1], /^\d+$/.test(m[2]) ? Number(m[2]) : table.get(m[2])!);
    }
  }
  return table;
}

const headers = headerTable();

Deno.test({
  name: "ERRNO is exactly the asm-generic table (<asm-generic/errno*.h>)",
  ignore: headers === undefined,
  fn(): void {
    assert.deepEqual(Object.fromEntries(Object.entries(ERRNO)), Object.fromEntries(headers!));
  },
});

Deno.test("ERRNO: 133 names, every number from 1 to 133 except the unused 41 and 58", () => {
  const entries = Object.entries(ERRNO);
  assert.equal(entries.length, 133);
  const values = new Set<number>(entries.map(([, v]) => v));
  for (let n = 1; n <= 133; n++) assert.equal(values.has(n), n !== 41 && n !== 58, `errno ${n}`);
});

Deno.test("ErrnoError: every errno gets its name in codeName and message", () => {
  const aliases = new Set(["EWOULDBLOCK", "EDEADLOCK"]);
  for (const [name, value] of Object.entries(ERRNO)) {
    if (aliases.has(name)) continue;
    const e = new ErrnoError(value, "call");
    assert.equal(e.codeName, name);
    assert.equal(e.message, `call failed: ${name} (${value})`);
  }
});

Deno.test("ErrnoError: the errnos a new user hit, by name (written literally)", () => {
  const cases: [number, string][] = [
    [20, "ENOTDIR"],
    [21, "EISDIR"],
    [36, "ENAMETOOLONG"],
    [40, "ELOOP"],
    [11, "EAGAIN"], // not its alias EWOULDBLOCK
    [35, "EDEADLK"], // not its alias EDEADLOCK
    [133, "EHWPOISON"],
  ];
  for (const [code, name] of cases) {
    assert.equal(new ErrnoError(code, "openat").message, `openat failed: ${name} (${code})`);
  }
});

Deno.test("ErrnoError: an unknown errno says its number once", () => {
  const e = new ErrnoError(4095, "syscall");
  assert.equal(e.codeName, "errno 4095");
  assert.equal(e.message, "syscall failed: errno 4095");
});
