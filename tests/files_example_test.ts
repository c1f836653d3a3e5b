// examples/read_files.ts as a user runs it: its per-file CRC-32s and its
// random ranges must match what Deno.readFile sees; a bad path is one clear
// line and a non-zero exit, never a stack trace.

import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import { ignore, pattern, tempDir } from "./linux_util.ts";

const EXAMPLE = new URL("../examples/read_files.ts", import.meta.url).pathname;

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", EXAMPLE, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

const hex = (n: number): string => n.toString(16).padStart(8, "0");

Deno.test({
  name: "read_files example: per-file CRC-32s match Deno.readFile (odd sizes, several block sizes)",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    const sizes = [0, 1, 4095, 4096, 4097, 8 * 1024 * 1024 + 3];
    const paths = sizes.map((size, i) => {
      const p = `${dir.path}/f${i}`;
      Deno.writeFileSync(p, pattern(size, i + 11));
      return p;
    });
    for (
      const flags of [[], ["--depth", "4", "--block-size", "4k"], [
        "--depth",
        "2",
        "--block-size",
        "1000",
      ]]
    ) {
      const r = await run([...flags, ...paths]);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split("\n");
      assert.equal(lines.length, paths.length + 1, r.stdout);
      for (const [i, p] of paths.entries()) {
        const data = await Deno.readFile(p);
        assert.equal(lines[i], `${hex(crc32(data))}  ${String(data.length).padStart(12)}  ${p}`);
      }
      assert.match(lines.at(-1)!, /MiB\/s, \d+ reads\/s$/);
    }
  },
});

Deno.test({
  name: "read_files example: --random ranges hold the file's bytes at their positions",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    const p = `${dir.path}/big`;
    const data = pattern(1024 * 1024 + 100, 5);
    Deno.writeFileSync(p, data);
    const r = await run(["--random", "50", "--verbose", "--block-size", "4096", "--depth", "8", p]);
    assert.equal(r.code, 0, r.stderr);
    const ranges = r.stdout.split("\n").filter((l) => l.startsWith("range "));
    assert.equal(ranges.length, 50);
    let all = 0;
    for (const line of ranges) {
      const [, pos, len, crc] = line.split(" ");
      const at = Number(pos);
      assert.equal(at % 4096, 0);
      assert.equal(Number(len), 4096);
      const bytes = data.subarray(at, at + 4096);
      assert.equal(crc, hex(crc32(bytes)), `range at ${at}`);
      all = crc32(bytes, all);
    }
    assert.ok(r.stdout.includes(`${hex(all)}  50 ranges of 4096 bytes  ${p}`), r.stdout);
  },
});

Deno.test({
  name: "read_files example: a bad path is one line naming it and exit 1; bad flags exit 2",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    const good = `${dir.path}/good`;
    Deno.writeFileSync(good, pattern(10, 1));
    const missing = `${dir.path}/no/such/file`;
    const r = await run([good, missing]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.ok(r.stderr.includes(missing) && r.stderr.includes("ENOENT"), r.stderr);
    assert.doesNotMatch(r.stderr, /^\s+at /m);
    const bad = await run(["--depth", "3", good]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--depth must be even/);
    const none = await run([]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no files given/);
    const help = await run(["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--random N/);
  },
});
