/**
 * Random block reads over one large file on tmpfs, measured in one run:
 *
 * - regio's portable FileRing (registered file + registered buffers, batched submissions);
 * - Deno.FsFile async `seek` + `read` (one handle per in-flight read, same depth);
 * - Deno.FsFile sync `seekSync` + `readSync` (depth 1 by nature);
 * - fio's io_uring engine at the same depth, when `fio` is on the PATH;
 * - regio's FileRing again with the cooperative budget switched off
 *   (`setSliceMs(Infinity)`, in this process): what the budget costs.
 *
 * Prints IOPS and the ratios, and checks that the event loop stays free
 * during regio's run (a setInterval timer keeps firing).
 *
 * Usage: deno task bench:files [--seconds 3] [--depth 64] [--block-size 4096]
 *        [--file-mib 256] [--dir /dev/shm] [--no-fio] [--json]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { FileRing, type IoRequest } from "../mod.ts";
import { setSliceMs } from "../src/budget.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: "1" },
    rounds: { type: "string", default: "3" },
    depth: { type: "string", default: "64" },
    "block-size": { type: "string", default: "4096" },
    "file-mib": { type: "string", default: "256" },
    lanes: { type: "string", default: "4" },
    dir: { type: "string" },
    "no-fio": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (flags.help) {
  console.log(
    `Random reads over one file: regio FileRing vs Deno.FsFile (async, sync) vs fio io_uring.

  --seconds N      measured seconds per contender and round (default 1, at most 30)
  --rounds N       rounds; contenders alternate within each, medians are reported (default 3)
  --depth N        reads in flight (default 64)
  --block-size N   bytes per read (default 4096)
  --file-mib N     size of the test file in MiB (default 256)
  --lanes N        regio: the depth is split into N batches, each resubmitted as soon as
                   it completes, so reads stay in flight while JS handles a batch (default 4)
  --dir PATH       where to create the file (default /dev/shm when it exists, else the temp dir)
  --no-fio         skip fio even if it is installed
  --json           print the results as JSON too`,
  );
  Deno.exit(0);
}

function positiveInt(name: string, text: string, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    console.error(`--${name} must be an integer in [1, ${max}], got ${text}`);
    Deno.exit(2);
  }
  return n;
}

const SECONDS = positiveInt("seconds", flags.seconds, 30);
const DEPTH = positiveInt("depth", flags.depth, 4096);
const BS = positiveInt("block-size", flags["block-size"], 1 << 20);
const FILE_BYTES = positiveInt("file-mib", flags["file-mib"], 16384) * 1024 * 1024;
const ROUNDS = positiveInt("rounds", flags.rounds, 20);
const LANES = positiveInt("lanes", flags.lanes, DEPTH);
const BLOCKS = Math.floor(FILE_BYTES / BS);
const WARMUP_MS = 200;
const TICK_MS = 10;

function shmDir(): string {
  try {
    if (Deno.statSync("/dev/shm").isDirectory) return "/dev/shm";
  } catch { /* no /dev/shm */ }
  return Deno.makeTempDirSync({ prefix: "regio_bench_" });
}

/** xorshift32: block-aligned random positions without allocation. */
function rng(seed: number): () => number {
  let x = seed | 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return ((x >>> 0) % BLOCKS) * BS;
  };
}

function createFile(path: string): void {
  using f = Deno.openSync(path, { create: true, write: true, truncate: true });
  const chunk = new Uint8Array(1 << 20);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31 + 7) & 0xff; // not all zeros
  for (let written = 0; written < FILE_BYTES; written += chunk.length) {
    f.writeSync(chunk.subarray(0, Math.min(chunk.length, FILE_BYTES - written)));
  }
}

interface Result {
  name: string;
  iops: number;
  ops: number;
  seconds: number;
  note?: string;
  /** regio only: timer ticks seen and expected during the measured run. */
  ticks?: number;
  expectedTicks?: number;
}

/** Runs `step` (which performs `perStep` reads) for warm-up then SECONDS; returns IOPS. */
async function timed(
  name: string,
  perStep: number,
  step: () => Promise<void> | void,
): Promise<Result> {
  const warmEnd = performance.now() + WARMUP_MS;
  while (performance.now() < warmEnd) await step();
  let ops = 0;
  const start = performance.now();
  const end = start + SECONDS * 1000;
  while (performance.now() < end) {
    await step();
    ops += perStep;
  }
  const seconds = (performance.now() - start) / 1000;
  return { name, iops: ops / seconds, ops, seconds };
}

async function benchRegio(
  path: string,
): Promise<Result & { ticks: number; expectedTicks: number }> {
  await using ring = FileRing.open({ depth: DEPTH });
  using _files = await ring.openFiles([path]);
  using _pool = await ring.registerBuffers({ count: DEPTH, size: BS });
  const next = rng(0x9e3779b9);
  const per = Math.floor(DEPTH / LANES);
  // Requests are made once and reused: only their positions change.
  const lanes: IoRequest[][] = [];
  for (let b = 0; b < LANES; b++) {
    lanes.push(Array.from({ length: per }, (_, i) => ({
      file: 0,
      buffer: b * per + i,
      length: BS,
      position: 0,
    })));
  }
  const refill = (reqs: IoRequest[]): IoRequest[] => {
    for (let i = 0; i < reqs.length; i++) reqs[i].position = next();
    return reqs;
  };
  // Each lane keeps one batch in flight: LANES lanes share the depth.
  const lane = async (reqs: IoRequest[], until: number): Promise<number> => {
    let ops = 0;
    while (performance.now() < until) {
      await ring.readMany(refill(reqs));
      ops += reqs.length;
    }
    return ops;
  };
  const warm = performance.now() + WARMUP_MS;
  await Promise.all(lanes.map((r) => lane(r, warm)));
  let ticks = 0;
  const timer = setInterval(() => ticks++, TICK_MS);
  const start = performance.now();
  const counts = await Promise.all(lanes.map((r) => lane(r, start + SECONDS * 1000)));
  const seconds = (performance.now() - start) / 1000;
  clearInterval(timer);
  const ops = counts.reduce((a, b) => a + b, 0);
  return {
    name: "regio FileRing",
    iops: ops / seconds,
    ops,
    seconds,
    note: `${ring.backend}, ${LANES} lanes × ${per} reads per readMany`,
    ticks,
    expectedTicks: Math.floor(seconds * 1000 / TICK_MS),
  };
}

/** {@link benchRegio} with the cooperative budget off: reads settle inline for as long as they come. */
async function benchRegioNoBudget(
  path: string,
): Promise<Result & { ticks: number; expectedTicks: number }> {
  const was = setSliceMs(Infinity);
  try {
    return { ...await benchRegio(path), name: NO_BUDGET };
  } finally {
    setSliceMs(was);
  }
}

async function benchAsync(path: string): Promise<Result> {
  const handles = Array.from({ length: DEPTH }, () => Deno.openSync(path, { read: true }));
  try {
    const bufs = handles.map(() => new Uint8Array(BS));
    const next = rng(0x1234567);
    const one = async (i: number): Promise<void> => {
      await handles[i].seek(next(), Deno.SeekMode.Start);
      await handles[i].read(bufs[i]);
    };
    // DEPTH concurrent seek+read pairs, one per handle (a handle has one position).
    const r = await timed(`Deno.FsFile async, depth ${DEPTH}`, DEPTH, async () => {
      await Promise.all(handles.map((_, i) => one(i)));
    });
    r.note = `${DEPTH} handles, seek + read each`;
    return r;
  } finally {
    for (const h of handles) h.close();
  }
}

async function benchAsyncOne(path: string): Promise<Result> {
  using f = await Deno.open(path, { read: true });
  const buf = new Uint8Array(BS);
  const next = rng(0x2468ace);
  const r = await timed("Deno.FsFile async, depth 1", 1, async () => {
    await f.seek(next(), Deno.SeekMode.Start);
    await f.read(buf);
  });
  r.note = "await seek, await read: the plain loop";
  return r;
}

async function benchSync(path: string): Promise<Result> {
  using f = Deno.openSync(path, { read: true });
  const buf = new Uint8Array(BS);
  const next = rng(0x7654321);
  const r = await timed("Deno.FsFile sync", 256, () => {
    for (let i = 0; i < 256; i++) {
      f.seekSync(next(), Deno.SeekMode.Start);
      f.readSync(buf);
    }
  });
  r.note = "seekSync + readSync (blocks the event loop)";
  return r;
}

async function hasFio(): Promise<boolean> {
  try {
    const out = await new Deno.Command("fio", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return out.success;
  } catch {
    return false;
  }
}

async function benchFio(path: string): Promise<Result | undefined> {
  const args = [
    "--name=randread",
    `--filename=${path}`,
    "--ioengine=io_uring",
    "--invalidate=0",
    "--direct=0",
    "--rw=randread",
    `--bs=${BS}`,
    `--iodepth=${DEPTH}`,
    `--size=${FILE_BYTES}`,
    "--time_based",
    `--ramp_time=${WARMUP_MS}ms`,
    `--runtime=${SECONDS}`,
    "--output-format=json",
  ];
  const out = await new Deno.Command("fio", { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    console.error(`fio failed: ${new TextDecoder().decode(out.stderr).trim()}`);
    return undefined;
  }
  const text = new TextDecoder().decode(out.stdout);
  const json = JSON.parse(text.slice(text.indexOf("{")));
  const read = json.jobs[0].read;
  return {
    name: "fio io_uring",
    iops: read.iops,
    ops: read.total_ios,
    seconds: read.runtime / 1000,
    note: `fio ${json["fio version"]}, iodepth ${DEPTH}, default batching`,
  };
}

const NO_BUDGET = "regio FileRing, budget off";
const fmt = (n: number): string => Math.round(n).toLocaleString("en-US");
const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;

const dir = flags.dir ?? shmDir();
const path = `${dir}/regio_bench_files_${Deno.pid}.bin`;
const cpuModel = (() => {
  try {
    return /model name\s*:\s*(.*)/.exec(Deno.readTextFileSync("/proc/cpuinfo"))?.[1] ?? "?";
  } catch {
    return "?";
  }
})();
console.log(
  `bench:files: random ${BS}-byte reads at depth ${DEPTH} over a ${FILE_BYTES / 2 ** 20} MiB ` +
    `file in ${dir}; ${ROUNDS} rounds × ${SECONDS} s per contender (+${WARMUP_MS} ms warm-up)`,
);
console.log(
  `machine: ${navigator.hardwareConcurrency} cores (${cpuModel}), ${Deno.build.os} ` +
    `${Deno.osRelease()}, Deno ${Deno.version.deno}`,
);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

createFile(path);
const removeFile = (): void => {
  try {
    Deno.removeSync(path);
  } catch { /* already gone */ }
};
const onSigint = (): void => {
  removeFile();
  Deno.exit(130);
};
Deno.addSignalListener("SIGINT", onSigint);
try {
  const useFio = !flags["no-fio"] && await hasFio();
  const contenders: { name: string; run: () => Promise<Result | undefined> }[] = [
    { name: "regio FileRing", run: () => benchRegio(path) },
    { name: NO_BUDGET, run: () => benchRegioNoBudget(path) },
    { name: "fio io_uring", run: () => useFio ? benchFio(path) : Promise.resolve(undefined) },
    { name: `Deno.FsFile async, depth ${DEPTH}`, run: () => benchAsync(path) },
    { name: "Deno.FsFile async, depth 1", run: () => benchAsyncOne(path) },
    { name: "Deno.FsFile sync", run: () => benchSync(path) },
  ];
  // Contenders alternate within each round, so drift on a shared machine hits them alike.
  const runs = new Map<string, Result[]>(contenders.map((c) => [c.name, []]));
  let ticks = 0, expectedTicks = 0, ticksOff = 0, expectedOff = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    const line: string[] = [];
    for (const c of contenders) {
      const r = await c.run();
      if (!r) continue;
      runs.get(c.name)!.push(r);
      if (c.name === NO_BUDGET) {
        ticksOff += r.ticks ?? 0;
        expectedOff += r.expectedTicks ?? 0;
      } else {
        ticks += r.ticks ?? 0;
        expectedTicks += r.expectedTicks ?? 0;
      }
      const short = c.name === NO_BUDGET ? "no budget" : c.name.split(",")[0];
      line.push(`${short.replace("Deno.FsFile ", "")} ${fmt(r.iops)}`);
    }
    if (Deno.stdout.isTerminal()) console.log(`  round ${round}: ${line.join(", ")}`);
  }

  const iops = (name: string): number | undefined => {
    const rs = runs.get(name)!;
    return rs.length ? median(rs.map((r) => r.iops)) : undefined;
  };
  const width = Math.max(...contenders.map((c) => c.name.length));
  console.log("");
  for (const c of contenders) {
    const rs = runs.get(c.name)!;
    if (rs.length === 0) {
      console.log(
        `${c.name.padEnd(width)}  skipped (${flags["no-fio"] ? "--no-fio" : "fio not on PATH"})`,
      );
      continue;
    }
    const xs = rs.map((r) => r.iops);
    console.log(
      `${c.name.padEnd(width)}  ${fmt(median(xs)).padStart(9)} IOPS median ` +
        `(${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}; ${rs[0].note ?? ""})`,
    );
  }
  const regio = iops("regio FileRing")!;
  const asyncDeep = iops(`Deno.FsFile async, depth ${DEPTH}`)!;
  const asyncOne = iops("Deno.FsFile async, depth 1")!;
  const sync = iops("Deno.FsFile sync")!;
  const fio = iops("fio io_uring");
  const noBudget = iops(NO_BUDGET)!;
  console.log("");
  console.log(`regio/async (depth 1)     ${ratio(regio, asyncOne)}   target ≥ 20×`);
  console.log(`regio/async (depth ${DEPTH})`.padEnd(26) + `${ratio(regio, asyncDeep)}`);
  console.log(`regio/sync                ${ratio(regio, sync)}`);
  if (fio !== undefined) {
    console.log(`regio/fio                 ${ratio(regio, fio)}   target ≥ 0.8×`);
  }
  // The two regio runs of a round are back to back: their ratio is the least noisy measure.
  const on = runs.get("regio FileRing")!, off = runs.get(NO_BUDGET)!;
  const perRound = on.map((r, i) => r.iops / off[i].iops);
  console.log(
    `regio budget on/off       ${ratio(regio, noBudget)}   (not a target: what the budget costs; ` +
      `per round ${perRound.map((x) => x.toFixed(2)).join(", ")}, median ${
        median(perRound).toFixed(2)
      }×)`,
  );
  console.log(
    `event loop during regio:  ${ticks} of ${expectedTicks} expected ${TICK_MS} ms timer ticks fired`,
  );
  console.log(
    `  … with the budget off:  ${ticksOff} of ${expectedOff} expected ticks fired`,
  );
  if (flags.json) {
    console.log(JSON.stringify({
      blockSize: BS,
      depth: DEPTH,
      fileBytes: FILE_BYTES,
      dir,
      rounds: ROUNDS,
      seconds: SECONDS,
      medians: Object.fromEntries(contenders.map((c) => [c.name, iops(c.name) ?? null])),
      runs: Object.fromEntries(runs),
      ticks: { seen: ticks, expected: expectedTicks },
      ticksBudgetOff: { seen: ticksOff, expected: expectedOff },
    }));
  }
} finally {
  Deno.removeSignalListener("SIGINT", onSigint);
  removeFile();
}
