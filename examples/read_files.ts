/**
 * Reads files through regio's registered files and buffers (io_uring on
 * Linux, the I/O ring on Windows) and prints a CRC-32 per file and the
 * throughput; or, with `--random N`, reads N random block-aligned ranges of
 * one file.
 *
 *   deno task files data/*.bin
 *   deno task files --random 100000 --block-size 4096 big.bin
 *
 * Reads are pipelined: the buffers are split in two halves, and one half is
 * in flight while the other's bytes are checksummed. The pipeline is planned
 * from `stat`'s sizes, then every file is read on to EOF, so files whose size
 * `stat` gets wrong (procfs, sysfs) are checksummed whole.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { crc32 } from "node:zlib";
import { FileRing, type IoRequest, RegioError } from "../mod.ts";

const USAGE = `Usage: deno task files [options] <file>...

Reads every file through a FileRing (registered files + registered buffers)
and prints "crc32  bytes  path" per file, then the throughput.

Options:
  --depth N         reads in flight (default 32; even, at least 2)
  --block-size N    bytes per read, e.g. 4096, 64k, 1m (default 128k)
  --random N        read N random block-aligned ranges of the first file instead
  --seed N          seed for --random (default 1)
  --verbose         with --random: print "range position length crc32" per read
  -h, --help        this text`;

/** Parses 4096, 64k, 1m. */
function parseSize(name: string, text: string): number {
  const m = /^(\d+)([kKmM]?)$/.exec(text);
  const n = m ? Number(m[1]) * (m[2] === "" ? 1 : /k/i.test(m[2]) ? 1024 : 1024 * 1024) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) fail(`--${name} must be a positive size, got ${text}`);
  return n;
}

function parseCount(name: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) {
    fail(`--${name} must be an integer in [${min}, ${max}], got ${text}`);
  }
  return n;
}

function fail(message: string, code = 2): never {
  console.error(`read_files: ${message}`);
  Deno.exit(code);
}

const hex = (n: number): string => n.toString(16).padStart(8, "0");

/** A progress line on stderr when it is a terminal, at most 5 times a second. */
class Progress {
  readonly #tty = Deno.stderr.isTerminal();
  readonly #start = performance.now();
  #last = 0;
  constructor(readonly total: number) {}
  update(done: number): void {
    if (!this.#tty) return;
    const now = performance.now();
    if (now - this.#last < 200) return;
    this.#last = now;
    const mib = done / 2 ** 20, secs = (now - this.#start) / 1000;
    const line = `  ${mib.toFixed(1)} of ${(this.total / 2 ** 20).toFixed(1)} MiB, ` +
      `${(mib / secs).toFixed(0)} MiB/s`;
    Deno.stderr.writeSync(new TextEncoder().encode(`\r${line}\x1b[K`));
  }
  clear(): void {
    if (this.#tty) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[K"));
  }
}

/** Whole files, in order; two halves of the buffers alternate so reads overlap checksumming. */
async function readWhole(
  ring: FileRing,
  paths: string[],
  depth: number,
  block: number,
): Promise<void> {
  using _files = await ring.openFiles(paths); // a bad path fails here, naming it
  using pool = await ring.registerBuffers({ count: depth, size: block });
  const sizes = await Promise.all(paths.map(async (p) => (await Deno.stat(p)).size));
  const total = sizes.reduce((a, b) => a + b, 0);
  const half = depth / 2;
  const crcs = paths.map(() => 0);
  const lengths = paths.map(() => 0);
  const progress = new Progress(total);
  let done = 0;
  // The chunks to read, in file order: [file, position].
  let file = 0, position = 0;
  const nextChunks = (firstBuffer: number): IoRequest[] => {
    const reqs: IoRequest[] = [];
    while (reqs.length < half && file < paths.length) {
      if (position >= sizes[file]) {
        file++;
        position = 0;
        continue;
      }
      reqs.push({ file, buffer: firstBuffer + reqs.length, length: block, position });
      position += block;
    }
    return reqs;
  };
  const consume = (reqs: IoRequest[], got: number[]): void => {
    for (let i = 0; i < reqs.length; i++) {
      const r = reqs[i];
      // After a short read the chunks planned beyond it left a gap: the tail below rereads them.
      if (r.position !== lengths[r.file]) continue;
      crcs[r.file] = crc32(pool.bytes(r.buffer).subarray(0, got[i]), crcs[r.file]);
      lengths[r.file] += got[i];
      done += got[i];
    }
  };
  const start = performance.now();
  const first = [0, half]; // first buffer of each half
  const reqs = [nextChunks(0), nextChunks(half)];
  const pending = [ring.readMany(reqs[0]), ring.readMany(reqs[1])];
  // Chunks are handed out in order, so taking the halves in turn keeps each file's bytes in order.
  for (let k = 0; reqs[k].length > 0; k ^= 1) {
    const got = await pending[k];
    consume(reqs[k], got);
    progress.update(done);
    reqs[k] = nextChunks(first[k]);
    pending[k] = ring.readMany(reqs[k]);
  }
  await Promise.all(pending);
  // stat's size is only the plan: procfs says 0, sysfs 4096, a file may grow. Read on to EOF.
  for (let f = 0; f < paths.length; f++) {
    for (;;) {
      const n = await ring.read({ file: f, buffer: 0, length: block, position: lengths[f] });
      if (n === 0) break;
      crcs[f] = crc32(pool.bytes(0).subarray(0, n), crcs[f]);
      lengths[f] += n;
      done += n;
    }
  }
  progress.clear();
  const secs = (performance.now() - start) / 1000;
  for (let i = 0; i < paths.length; i++) {
    // A file that changed size while being read is reported as read.
    console.log(`${hex(crcs[i])}  ${String(lengths[i]).padStart(12)}  ${paths[i]}`);
  }
  report(done, secs, Math.ceil(done / block));
}

/** N random block-aligned ranges of one file, depth reads per submission. */
async function readRandom(
  ring: FileRing,
  path: string,
  n: number,
  depth: number,
  block: number,
  seed: number,
  verbose: boolean,
): Promise<void> {
  using _files = await ring.openFiles([path]);
  using pool = await ring.registerBuffers({ count: depth, size: block });
  const blocks = Math.floor((await Deno.stat(path)).size / block);
  if (blocks === 0) throw new RangeError(`${path} is smaller than one block (${block} bytes)`);
  let x = seed | 0 || 1;
  const next = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return ((x >>> 0) % blocks) * block;
  };
  const progress = new Progress(n * block);
  const reqs: IoRequest[] = [];
  let crc = 0, done = 0;
  const start = performance.now();
  for (let issued = 0; issued < n;) {
    reqs.length = 0;
    for (let i = 0; i < depth && issued < n; i++, issued++) {
      reqs.push({ file: 0, buffer: i, length: block, position: next() });
    }
    const got = await ring.readMany(reqs);
    for (let i = 0; i < reqs.length; i++) {
      const bytes = pool.bytes(i).subarray(0, got[i]);
      crc = crc32(bytes, crc);
      if (verbose) console.log(`range ${reqs[i].position} ${got[i]} ${hex(crc32(bytes))}`);
      done += got[i];
    }
    progress.update(done);
  }
  progress.clear();
  const secs = (performance.now() - start) / 1000;
  console.log(`${hex(crc)}  ${n} ranges of ${block} bytes  ${path}`);
  report(done, secs, n);
}

function report(bytes: number, secs: number, reads: number): void {
  const mib = bytes / 2 ** 20;
  console.log(
    `${mib.toFixed(1)} MiB in ${secs.toFixed(3)} s: ${
      (mib / Math.max(secs, 1e-9)).toFixed(1)
    } MiB/s, ` +
      `${Math.round(reads / Math.max(secs, 1e-9))} reads/s`,
  );
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: Deno.args,
      allowPositionals: true,
      options: {
        depth: { type: "string", default: "32" },
        "block-size": { type: "string", default: "128k" },
        random: { type: "string" },
        seed: { type: "string", default: "1" },
        verbose: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    fail(`${(e as Error).message}\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (positionals.length === 0) fail(`no files given\n${USAGE}`);
  const depth = parseCount("depth", values.depth, 2, 4096);
  if (depth % 2 !== 0) fail(`--depth must be even, got ${depth}`);
  const block = parseSize("block-size", values["block-size"]);
  if (block * depth > 2 ** 30) fail("--depth × --block-size must be at most 1 GiB");

  await using ring = FileRing.open({ depth });
  if (values.random !== undefined) {
    const n = parseCount("random", values.random, 1, Number.MAX_SAFE_INTEGER);
    const seed = parseCount("seed", values.seed, 1, 0x7fffffff);
    await readRandom(ring, positionals[0], n, depth, block, seed, values.verbose);
  } else {
    await readWhole(ring, positionals, depth, block);
  }
}

try {
  await main();
} catch (e) {
  // Expected failures (a bad path, a kernel refusal) get one line, not a stack trace.
  if (e instanceof RegioError || e instanceof Deno.errors.NotFound || e instanceof RangeError) {
    fail((e as Error).message, 1);
  }
  if (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable) {
    fail((e as Error).message, 1);
  }
  throw e;
}
