// The portable file API (FileRing) through its Linux backend, on the real
// kernel: bytes against Deno.readFile, EOF, many files, write + flush, bad
// input (typed errors, nothing left open), disposal with reads in flight
// (a FIFO keeps a read pending for as long as a test wants), and the event
// loop staying free during a long run of reads that complete inline.

import assert from "node:assert/strict";
import {
  BusyError,
  DisposedError,
  ErrnoError,
  FileRing,
  type IoRequest,
  RegioError,
} from "../mod.ts";
import { fdCount, ignore, pattern, tempDir, within } from "./linux_util.ts";
import { FileTable } from "../src/linux/files.ts";
import { BufferTable } from "../src/linux/buffers.ts";
import { testFaults } from "../src/linux/ring_syscalls.ts";
import { ERRNO } from "../ffi/linux/abi.ts";

const SIZES = [0, 1, 4095, 4096, 4097, 8 * 1024 * 1024];
const CHUNK = 256 * 1024;
const BUFFERS = 4;

/** Reads a whole file through `ring` in CHUNK-sized pieces, BUFFERS per batch. */
async function readAll(
  ring: FileRing,
  bytes: (i: number) => Uint8Array,
  file: number,
  size: number,
): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  for (let at = 0;; at += CHUNK * BUFFERS) {
    for (let b = 0; b < BUFFERS; b++) bytes(b).fill(0xee); // stale bytes must not pass for data
    const reqs: IoRequest[] = [];
    for (let b = 0; b < BUFFERS; b++) {
      reqs.push({ file, buffer: b, length: CHUNK, position: at + b * CHUNK });
    }
    const got = await ring.readMany(reqs);
    for (let b = 0; b < BUFFERS; b++) {
      if (got[b] > 0) out.set(bytes(b).subarray(0, got[b]), at + b * CHUNK);
    }
    if (got.some((n) => n < CHUNK)) {
      // Past a short read every later chunk must be empty.
      const short = got.findIndex((n) => n < CHUNK);
      assert.ok(got.slice(short + 1).every((n) => n === 0));
      assert.equal(at + short * CHUNK + got[short], size);
      return out;
    }
  }
}

function mkfifo(path: string): void {
  const r = new Deno.Command("mkfifo", { args: [path] }).outputSync();
  assert.ok(r.success, "mkfifo");
}

Deno.test({
  name: "files: reads return exactly Deno.readFile's bytes for sizes 0/1/4095/4096/4097/8 MiB",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    const paths = SIZES.map((size, i) => {
      const p = `${dir.path}/f${size}`;
      Deno.writeFileSync(p, pattern(size, i + 1));
      return p;
    });
    await using ring = FileRing.open({ depth: 8 });
    assert.equal(ring.backend, "io_uring");
    using files = await ring.openFiles(paths);
    using pool = await ring.registerBuffers({ count: BUFFERS, size: CHUNK });
    assert.equal(files.length, SIZES.length);
    for (const [i, size] of SIZES.entries()) {
      const got = await readAll(ring, (b) => pool.bytes(b), i, size);
      assert.deepEqual(got, await Deno.readFile(paths[i]), `file of ${size} bytes`);
    }
    assert.equal(ring.inFlight, 0);
  },
});

Deno.test({
  name: "files: EOF reads 0, a read crossing EOF is short, bufferOffset places the bytes",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    const p = `${dir.path}/eof`;
    const data = pattern(5000, 9);
    Deno.writeFileSync(p, data);
    await using ring = FileRing.open({ depth: 4 });
    using _files = await ring.openFiles([p]);
    using pool = await ring.registerBuffers({ count: 2, size: 4096 });
    assert.equal(await ring.read({ file: 0, buffer: 0, length: 4096, position: 5000 }), 0);
    assert.equal(await ring.read({ file: 0, buffer: 0, length: 4096, position: 2 ** 40 }), 0);
    assert.equal(await ring.read({ file: 0, buffer: 0, length: 0, position: 0 }), 0);
    assert.equal(
      await ring.read({ file: 0, buffer: 1, bufferOffset: 100, length: 3996, position: 4096 }),
      904,
    );
    assert.deepEqual(pool.bytes(1).subarray(100, 1004), data.subarray(4096));
  },
});

Deno.test({
  name: "files: 200 files read in batches match their contents",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    const n = 200;
    const paths: string[] = [];
    for (let i = 0; i < n; i++) {
      paths.push(`${dir.path}/m${i}`);
      Deno.writeFileSync(paths[i], pattern(100 + i * 37, i + 100));
    }
    const before = fdCount();
    {
      await using ring = FileRing.open({ depth: 32 });
      using files = await ring.openFiles(paths);
      using pool = await ring.registerBuffers({ count: 32, size: 16384 });
      assert.equal(files.path(7), paths[7]);
      for (let start = 0; start < n; start += 32) {
        const reqs: IoRequest[] = [];
        for (let i = start; i < Math.min(n, start + 32); i++) {
          reqs.push({ file: i, buffer: i - start, length: 16384, position: 0 });
        }
        const got = await ring.readMany(reqs);
        for (const [k, r] of reqs.entries()) {
          assert.equal(got[k], 100 + r.file * 37);
          assert.deepEqual(
            pool.bytes(r.buffer).subarray(0, got[k]),
            Deno.readFileSync(paths[r.file]),
          );
        }
      }
    }
    assert.equal(fdCount(), before, "every file closed with the ring");
  },
});

Deno.test({
  name: "files: more requests than the depth wait their turn; in flight never exceeds it",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    const p = `${dir.path}/d`;
    const data = pattern(64 * 1024, 3);
    Deno.writeFileSync(p, data);
    await using ring = FileRing.open({ depth: 4 });
    using _files = await ring.openFiles([p]);
    using pool = await ring.registerBuffers({ count: 16, size: 4096 });
    let peak = 0;
    const all = [];
    for (let i = 0; i < 16; i++) {
      all.push(ring.read({ file: 0, buffer: i, length: 4096, position: i * 4096 }));
      peak = Math.max(peak, ring.inFlight);
    }
    assert.deepEqual(
      await within(5000, Promise.all(all), "16 reads at depth 4"),
      Array(16).fill(4096),
    );
    assert.ok(peak <= 4, `peak ${peak}`);
    for (let i = 0; i < 16; i++) {
      assert.deepEqual(pool.bytes(i), data.subarray(i * 4096, (i + 1) * 4096));
    }
    assert.throws(
      () => ring.readMany(Array(5).fill({ file: 0, buffer: 0, length: 1, position: 0 })),
      RangeError,
    );
  },
});

Deno.test({
  name: "files: write, flush, then read back (ring and Deno.readFile agree)",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    const p = `${dir.path}/w`;
    await using ring = FileRing.open({ depth: 8 });
    assert.ok(ring.capabilities.write && ring.capabilities.flush);
    using _files = await ring.openFiles([p], { create: true });
    using pool = await ring.registerBuffers({ count: 4, size: 4096 });
    const data = pattern(4 * 4096 - 10, 77);
    for (let b = 0; b < 4; b++) pool.bytes(b).set(data.subarray(b * 4096, (b + 1) * 4096));
    const written = await ring.writeMany([0, 1, 2, 3].map((b) => ({
      file: 0,
      buffer: b,
      length: b === 3 ? 4086 : 4096,
      position: b * 4096,
    })));
    assert.deepEqual(written, [4096, 4096, 4096, 4086]);
    await ring.flush(0);
    assert.deepEqual(await Deno.readFile(p), data);
    for (let b = 0; b < 4; b++) pool.bytes(b).fill(0);
    assert.equal(await ring.read({ file: 0, buffer: 2, length: 4096, position: 4096 }), 4096);
    assert.deepEqual(pool.bytes(2), data.subarray(4096, 8192));
  },
});

Deno.test({
  name: "files: a bad path is an ErrnoError naming it, and nothing stays open or registered",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    const good = `${dir.path}/good`;
    Deno.writeFileSync(good, pattern(10, 1));
    const before = fdCount();
    await using ring = FileRing.open({ depth: 4 });
    const ringFds = fdCount();
    const missing = `${dir.path}/missing-file`;
    await assert.rejects(ring.openFiles([good, good, missing, good]), (e: unknown) => {
      assert.ok(e instanceof ErrnoError);
      assert.equal(e.codeName, "ENOENT");
      assert.ok(e.message.includes(missing), e.message);
      return true;
    });
    assert.equal(fdCount(), ringFds, "the files opened before the bad one are closed");
    // Nothing is registered: a new set can be opened and used.
    using _files = await ring.openFiles([good]);
    using pool = await ring.registerBuffers({ count: 1, size: 16 });
    assert.equal(await ring.read({ file: 0, buffer: 0, length: 16, position: 0 }), 10);
    assert.deepEqual(pool.bytes(0).subarray(0, 10), pattern(10, 1));
    await assert.rejects(ring.openFiles([good]), RegioError); // one set per ring
    await assert.rejects(ring.openFiles([]), RangeError);
    await assert.rejects(ring.openFiles([`${good}\0x`]), RangeError);
    await assert.rejects(ring.registerBuffers({ count: 1, size: 16 }), RegioError);
    await ring[Symbol.asyncDispose]();
    assert.equal(fdCount(), before);
  },
});

Deno.test({
  name: "files: bad requests are RangeErrors before anything is submitted",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    const p = `${dir.path}/b`;
    Deno.writeFileSync(p, pattern(8192, 5));
    await using ring = FileRing.open({ depth: 4 });
    assert.throws(() => ring.read({ file: 0, buffer: 0, length: 1, position: 0 }), DisposedError);
    using _files = await ring.openFiles([p]);
    assert.throws(() => ring.read({ file: 0, buffer: 0, length: 1, position: 0 }), DisposedError);
    using pool = await ring.registerBuffers({ count: 2, size: 4096 });
    const ok: IoRequest = { file: 0, buffer: 1, length: 4096, position: 0 };
    const bad: [string, Partial<IoRequest>][] = [
      ["file", { file: 1 }],
      ["file", { file: -1 }],
      ["file", { file: 0.5 }],
      ["buffer", { buffer: 2 }],
      ["buffer", { buffer: NaN }],
      ["bufferOffset", { bufferOffset: 4097 }],
      ["bufferOffset", { bufferOffset: -1 }],
      ["length", { length: 4097 }],
      ["length", { bufferOffset: 1, length: 4096 }],
      ["length", { length: -1 }],
      ["length", { length: 1.5 }],
      ["position", { position: -1 }],
      ["position", { position: 2 ** 53 }],
      ["position", { position: 0.5 }],
    ];
    for (const [field, change] of bad) {
      const req = { ...ok, ...change };
      assert.throws(() => ring.read(req), (e: unknown) => {
        assert.ok(e instanceof RangeError, `${JSON.stringify(change)}: ${e}`);
        assert.ok(e.message.includes(`requests[0].${field}`), e.message);
        return true;
      });
      // One bad request in a batch stops the whole batch.
      assert.throws(() => ring.readMany([ok, ok, req]), /requests\[2\]/);
      assert.equal(ring.inFlight, 0);
    }
    assert.throws(() => ring.readMany([ok, null as unknown as IoRequest]), TypeError);
    assert.throws(() => ring.readMany("x" as unknown as IoRequest[]), TypeError);
    await assert.rejects(ring.registerBuffers({ count: 0, size: 1 }), RangeError);
    await assert.rejects(ring.registerBuffers({ count: 2 ** 16, size: 2 ** 15 }), RangeError);
    assert.throws(() => pool.bytes(2), RangeError);
    assert.throws(() => ring.flush(1), RangeError);
    assert.deepEqual(await ring.readMany([]), []);
    // Still healthy, and the buffer was never written.
    assert.deepEqual(pool.bytes(1), new Uint8Array(4096));
    assert.equal(await ring.read(ok), 4096);
    assert.deepEqual(pool.bytes(1), pattern(8192, 5).subarray(0, 4096));
    assert.throws(() => FileRing.open({ depth: 0 }), RangeError);
    assert.throws(() => FileRing.open({ depth: 4097 }), RangeError);
    assert.throws(() => FileRing.open({ backend: "epoll" as "io_uring" }), RangeError);
  },
});

Deno.test({
  name: "files: sync disposal with a read in flight is a BusyError and changes nothing",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    const fifo = `${dir.path}/fifo`;
    mkfifo(fifo);
    const before = fdCount();
    const ring = FileRing.open({ depth: 4 });
    const files = await ring.openFiles([fifo], { write: true }); // O_RDWR: open does not block
    const pool = await ring.registerBuffers({ count: 1, size: 64 });
    const read = ring.read({ file: 0, buffer: 0, length: 64, position: 0 });
    await new Promise((r) => setTimeout(r, 50)); // submitted; waits for data
    assert.equal(ring.inFlight, 1);
    assert.throws(() => ring[Symbol.dispose](), BusyError);
    assert.throws(() => files[Symbol.dispose](), BusyError);
    assert.throws(() => pool[Symbol.dispose](), BusyError);
    assert.ok(!ring.closed && !files.disposed && !pool.disposed);
    // Nothing changed: the read completes into the pool.
    const w = Deno.openSync(fifo, { write: true });
    w.writeSync(new TextEncoder().encode("through the ring"));
    w.close();
    assert.equal(await within(5000, read, "fifo read"), 16);
    assert.equal(new TextDecoder().decode(pool.bytes(0).subarray(0, 16)), "through the ring");
    pool[Symbol.dispose]();
    files[Symbol.dispose]();
    ring[Symbol.dispose]();
    await new Promise((r) => setTimeout(r, 0)); // the ring's waiter wakes and lets go
    assert.equal(fdCount(), before);
  },
});

Deno.test({
  name: "files: async disposal cancels reads in flight (ECANCELED), then closes everything",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    const fifo = `${dir.path}/fifo`;
    mkfifo(fifo);
    const before = fdCount();
    const ring = FileRing.open({ depth: 4 });
    const files = await ring.openFiles([fifo], { write: true });
    const pool = await ring.registerBuffers({ count: 2, size: 64 });
    const reads = [0, 1].map((b) => ring.read({ file: 0, buffer: b, length: 64, position: 0 }));
    const outcomes = Promise.allSettled(reads);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(ring.inFlight, 2);
    await within(5000, ring[Symbol.asyncDispose](), "async dispose");
    for (const o of await outcomes) {
      assert.equal(o.status, "rejected");
      assert.ok(
        o.reason instanceof ErrnoError && o.reason.codeName === "ECANCELED",
        String(o.reason),
      );
    }
    assert.ok(ring.closed && files.disposed && pool.disposed);
    assert.throws(() => pool.bytes(0), DisposedError);
    assert.throws(() => ring.read({ file: 0, buffer: 0, length: 1, position: 0 }), DisposedError);
    files[Symbol.dispose](); // idempotent after the ring closed them
    pool[Symbol.dispose]();
    assert.equal(fdCount(), before);
  },
});

Deno.test({
  name: "files: a FileSet's own async dispose drains its reads; the ring then takes a new set",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    const fifo = `${dir.path}/fifo`;
    mkfifo(fifo);
    const plain = `${dir.path}/plain`;
    Deno.writeFileSync(plain, pattern(64, 2));
    await using ring = FileRing.open({ depth: 4 });
    using pool = await ring.registerBuffers({ count: 1, size: 64 });
    const files = await ring.openFiles([fifo], { write: true });
    const read = ring.read({ file: 0, buffer: 0, length: 64, position: 0 });
    const outcome = read.then(() => "resolved", (e) => e);
    await new Promise((r) => setTimeout(r, 50));
    await within(5000, files[Symbol.asyncDispose](), "FileSet async dispose");
    const e = await outcome;
    assert.ok(e instanceof ErrnoError && e.codeName === "ECANCELED", String(e));
    assert.equal(pool.inFlight, 0);
    using _again = await ring.openFiles([plain]);
    assert.equal(await ring.read({ file: 0, buffer: 0, length: 64, position: 0 }), 64);
    assert.deepEqual(pool.bytes(0), pattern(64, 2));
  },
});

Deno.test({
  name: "files: a long run of inline completions leaves the event loop free (timers fire)",
  ignore,
  async fn(): Promise<void> {
    // A page-cache file on a disk filesystem: its reads complete inside the submit
    // (on tmpfs they go to io-wq), so only the ring's own yield lets timers run.
    using dir = tempDir();
    const p = `${dir.path}/hot`;
    Deno.writeFileSync(p, pattern(4 * 1024 * 1024, 4));
    Deno.readFileSync(p);
    {
      await using ring = FileRing.open({ depth: 64 });
      using _files = await ring.openFiles([p]);
      using _pool = await ring.registerBuffers({ count: 64, size: 4096 });
      const reqs = Array.from(
        { length: 64 },
        (_, i) => ({ file: 0, buffer: i, length: 4096, position: 0 }),
      );
      let ticks = 0;
      const timer = setInterval(() => ticks++, 5);
      const start = performance.now();
      let ops = 0;
      try {
        while (performance.now() - start < 400) {
          for (let i = 0; i < 64; i++) reqs[i].position = ((ops + i * 977) % 1024) * 4096;
          await ring.readMany(reqs);
          ops += 64;
        }
      } finally {
        clearInterval(timer);
      }
      const expected = (performance.now() - start) / 5;
      assert.ok(ops > 64 * 10, `only ${ops} reads`);
      assert.ok(ticks >= expected * 0.5, `timer ticked ${ticks} times, expected about ${expected}`);
    }
  },
});

Deno.test({
  name: "files: a request is read once; a getter cannot change it after the checks",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    const p = `${dir.path}/g`;
    Deno.writeFileSync(p, pattern(8192, 6));
    await using ring = FileRing.open({ depth: 4 });
    using _files = await ring.openFiles([p]);
    using pool = await ring.registerBuffers({ count: 2, size: 4096 });
    // A request whose length grows after its first read: checked as 4096
    // bytes into buffer 0, it must not then reach into buffer 1.
    let reads = 0;
    const shifty = {
      file: 0,
      buffer: 0,
      position: 0,
      get length(): number {
        return reads++ === 0 ? 4096 : 8192;
      },
    };
    assert.equal(await ring.read(shifty), 4096);
    assert.deepEqual(pool.bytes(0), pattern(8192, 6).subarray(0, 4096));
    assert.deepEqual(pool.bytes(1), new Uint8Array(4096), "buffer 1 untouched");
  },
});

Deno.test({
  name: "files: openFiles and registerBuffers may run at the same time",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    const p = `${dir.path}/c`;
    Deno.writeFileSync(p, pattern(64, 8));
    await using ring = FileRing.open({ depth: 2 });
    const [files, pool] = await Promise.all([
      ring.openFiles([p]),
      ring.registerBuffers({ count: 1, size: 64 }),
    ]);
    using _files = files;
    using _pool = pool;
    assert.equal(await ring.read({ file: 0, buffer: 0, length: 64, position: 0 }), 64);
    assert.deepEqual(pool.bytes(0), pattern(64, 8));
    // Two of the same kind at once: the second is refused, the first goes through.
    await _pool[Symbol.asyncDispose]();
    const first = ring.registerBuffers({ count: 1, size: 64 });
    await assert.rejects(ring.registerBuffers({ count: 1, size: 64 }), RegioError);
    using _again = await first;
  },
});

Deno.test({
  name: "files: a second async dispose waits for the first to finish",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    const fifo = `${dir.path}/fifo`;
    mkfifo(fifo);
    const before = fdCount();
    const ring = FileRing.open({ depth: 2 });
    await ring.openFiles([fifo], { write: true });
    await ring.registerBuffers({ count: 1, size: 64 });
    let settled = false;
    const read = ring.read({ file: 0, buffer: 0, length: 64, position: 0 })
      .catch(() => {}).finally(() => settled = true);
    await new Promise((r) => setTimeout(r, 50));
    const first = ring[Symbol.asyncDispose]();
    await within(5000, ring[Symbol.asyncDispose](), "second async dispose");
    assert.ok(settled, "the read was drained before the second dispose resolved");
    assert.equal(ring.inFlight, 0);
    assert.equal(fdCount(), before, "files and ring closed");
    await first;
    await read;
  },
});

/**
 * The seam for a failed unregister: the next `close()` of any instance of
 * `cls` throws `error` and changes nothing (the table stays registered; the
 * ring's own teardown unregisters it later).
 */
function failNextClose(cls: typeof FileTable | typeof BufferTable, error: Error): void {
  const proto = cls.prototype as unknown as Record<string, unknown>;
  Object.defineProperty(proto, "close", {
    configurable: true,
    value(): never {
      delete proto.close; // back to Registration.prototype.close
      throw error;
    },
  });
}

Deno.test({
  name:
    "files: FileSet.close when unregistering fails still closes the files, then throws that error",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    const paths = [0, 1].map((i) => `${dir.path}/f${i}`);
    for (const p of paths) Deno.writeFileSync(p, pattern(10, 1));
    const before = fdCount();
    {
      await using ring = FileRing.open({ depth: 2 });
      const files = await ring.openFiles(paths);
      const open = fdCount();
      const failure = new ErrnoError(5, "io_uring_register(IORING_UNREGISTER_FILES)"); // EIO
      failNextClose(FileTable, failure);
      assert.throws(() => files.close(), (e: unknown) => e === failure);
      assert.equal(fdCount(), open - 2, "both files closed all the same");
      assert.ok(files.disposed);
      files.close(); // nothing left to do
      // The old table is still registered (the ring's teardown unregisters it).
      await assert.rejects(
        ring.openFiles(paths),
        ErrnoError,
        "EBUSY: the old table is still there",
      );
    }
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(fdCount(), before);
  },
});

Deno.test({
  name: "files: ring close runs every step when several fail: an AggregateError in teardown order",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    const path = `${dir.path}/f`;
    Deno.writeFileSync(path, pattern(10, 1));
    const before = fdCount();
    const ring = FileRing.open({ depth: 2 });
    const files = await ring.openFiles([path]);
    const pool = await ring.registerBuffers({ count: 1, size: 16 });
    const filesFailure = new ErrnoError(5, "io_uring_register(IORING_UNREGISTER_FILES)");
    const poolFailure = new ErrnoError(5, "io_uring_register(IORING_UNREGISTER_BUFFERS)");
    failNextClose(FileTable, filesFailure);
    failNextClose(BufferTable, poolFailure);
    assert.throws(() => ring.close(), (e: unknown) => {
      assert.ok(e instanceof AggregateError, String(e));
      assert.deepEqual(e.errors, [filesFailure, poolFailure]);
      return true;
    });
    assert.ok(ring.closed && files.disposed && pool.disposed);
    ring.close(); // closed: nothing to do
    await new Promise((r) => setTimeout(r, 0)); // the ring's waiter wakes and lets go
    assert.equal(fdCount(), before, "file, ring and eventfd closed");
  },
});

for (const teardown of ["close", "async dispose"] as const) {
  Deno.test({
    name:
      `files: after a fatal io_uring_enter every read rejects with it, and ${teardown} completes`,
    ignore,
    async fn(): Promise<void> {
      using dir = tempDir();
      const fifo = `${dir.path}/fifo`;
      mkfifo(fifo);
      const before = fdCount();
      const warn = console.warn;
      const warnings: string[] = [];
      console.warn = (...args: unknown[]) => void warnings.push(args.join(" "));
      const fatal = (e: unknown): boolean =>
        e instanceof ErrnoError && e.codeName === "ENXIO" && e.call === "io_uring_enter";
      try {
        const ring = FileRing.open({ depth: 4 });
        try {
          const files = await ring.openFiles([fifo], { write: true }); // reads wait for data
          const pool = await ring.registerBuffers({ count: 4, size: 64 });
          const req = (b: number): IoRequest => ({ file: 0, buffer: b, length: 64, position: 0 });
          const many = ring.readMany([req(0), req(1)]).then(() => "resolved", (e) => e);
          const one = ring.read(req(2)).then(() => "resolved", (e) => e);
          await new Promise((r) => setTimeout(r, 50)); // submitted; waiting for data
          assert.equal(ring.inFlight, 3);
          testFaults.enter = () => ERRNO.ENXIO;
          let last: Promise<unknown>;
          try {
            // Its submission (at the end of this tick) is where io_uring_enter fails.
            last = ring.read(req(3)).then(() => "resolved", (e) => e);
            const outcomes = await within(3000, Promise.all([many, one, last]), "the reads");
            for (const o of outcomes) assert.ok(fatal(o), String(o));
          } finally {
            delete testFaults.enter;
          }
          assert.equal(ring.inFlight, 0);
          assert.equal(files.inFlight + pool.inFlight, 0);
          // New work gets the same error, and leaves nothing counted.
          const after = await within(3000, ring.read(req(0)).catch((e) => e), "a later read");
          assert.ok(fatal(after), String(after));
          assert.equal(ring.inFlight, 0);
          if (teardown === "close") ring.close();
          else await within(3000, ring[Symbol.asyncDispose](), "async dispose");
          assert.ok(ring.closed && files.disposed && pool.disposed);
          assert.throws(() => pool.bytes(0), DisposedError);
        } finally {
          delete testFaults.enter;
          if (!ring.closed) {
            try {
              ring.close();
            } catch { /* the assertions above already failed */ }
          }
        }
        // The ring's waiter wakes on a blocking-pool thread and lets go of
        // the eventfd; on a loaded machine that can take more than one tick.
        for (let i = 0; i < 200 && fdCount() !== before; i++) {
          await new Promise((r) => setTimeout(r, 10));
        }
        assert.equal(fdCount(), before, "files, ring and eventfd closed");
        assert.equal(warnings.length, 1, `leak reported once: ${warnings.join("\n")}`);
        assert.match(warnings[0], /ENXIO.*bytes of native memory.*leaked/);
      } finally {
        console.warn = warn;
      }
    },
  });
}
