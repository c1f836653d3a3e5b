// Helpers shared by the Linux io_uring integration tests (tests/linux_*_test.ts).
// Importing this opens libc at module load, before any test runs, so the
// resource sanitizer does not count the process-wide library handle.

import { libc } from "../src/linux/libc.ts";

/** True on Linux, where these tests run against the real kernel. */
export const linux = Deno.build.os === "linux";
if (linux) libc();

/** `ignore` for Deno.test: the tests need Linux. */
export const ignore = !linux;

/** Number of open fds of this process. */
export function fdCount(): number {
  let n = 0;
  for (const _ of Deno.readDirSync("/proc/self/fd")) n++;
  return n;
}

/** Resident set size in KiB. */
export function rssKiB(): number {
  const m = /VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/self/status"));
  return m ? Number(m[1]) : 0;
}

/** Deterministic pseudo-random bytes (so a failing offset is reproducible). */
export function pattern(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed | 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A temp dir removed by `using`. */
export function tempDir(): { path: string } & Disposable {
  const path = linux ? Deno.makeTempDirSync({ prefix: "regio_linux_" }) : "";
  return { path, [Symbol.dispose]: () => Deno.removeSync(path, { recursive: true }) };
}

/** Rejects after `ms` (clearing its timer when `promise` settles first). */
export async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The drops column of /proc/net/udp for the socket bound to 127.0.0.1:`port`, or null when absent. */
export function procDrops(port: number): number | null {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  for (const line of Deno.readTextFileSync("/proc/net/udp").split("\n").slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols[1] === local) return Number(cols[cols.length - 1]);
  }
  return null;
}
