// examples/read_files.ts must not trust stat (issue 10, point 4): procfs files
// stat as 0 bytes and sysfs attributes as 4096, yet hold other lengths. Each is
// read to EOF, and its CRC-32 equals zlib's over the bytes Deno.readFile sees.

import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import { ignore } from "./linux_util.ts";

const EXAMPLE = new URL("../examples/read_files.ts", import.meta.url).pathname;
const hex = (n: number): string => n.toString(16).padStart(8, "0");

// Files whose contents do not change while the test runs (unlike /proc/cpuinfo's MHz).
const CANDIDATES = [
  "/proc/version", // stat 0
  "/proc/filesystems", // stat 0, several 64-byte reads
  "/sys/kernel/mm/transparent_hugepage/enabled", // stat 4096, ~20 bytes
  "/sys/devices/system/cpu/online", // stat 4096, a few bytes
];

function wrongSize(path: string): boolean {
  try {
    return Deno.statSync(path).size !== Deno.readFileSync(path).length;
  } catch {
    return false;
  }
}

const paths = CANDIDATES.filter(wrongSize);

Deno.test({
  name: "read_files example: procfs/sysfs files whose stat size is wrong are read to EOF",
  ignore: ignore || paths.length === 0,
  async fn(): Promise<void> {
    for (const flags of [[], ["--depth", "2", "--block-size", "64"]]) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", EXAMPLE, ...flags, ...paths],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      const lines = stdout.trim().split("\n");
      for (const [i, p] of paths.entries()) {
        const data = Deno.readFileSync(p);
        assert.ok(data.length > 0, p);
        assert.equal(lines[i], `${hex(crc32(data))}  ${String(data.length).padStart(12)}  ${p}`);
      }
    }
  },
});
