// Fixed files and fixed buffers on the real kernel: READ_FIXED / WRITE_FIXED
// correctness against Deno's own file I/O, bad input, disposal with
// operations in flight, and repeated create/register/dispose cycles.

import assert from "node:assert/strict";
import {
  BusyError,
  DisposedError,
  ErrnoError,
  FileFd,
  NativeRegion,
  SocketFd,
  Uring,
} from "../src/linux/mod.ts";
import { fdCount, ignore, pattern, rssKiB, tempDir, within } from "./linux_util.ts";

const SIZES = [0, 1, 4095, 4096, 4097, 8 * 1024 * 1024];
const CHUNK = 1024 * 1024; // one registered 1 MiB buffer; the 8 MiB file is read in chunks

Deno.test({
  name: "linux files: readFixed returns exactly Deno.readFile's bytes for odd sizes",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    await using ring = Uring.create();
    using region = NativeRegion.allocate(CHUNK);
    for (const [i, size] of SIZES.entries()) {
      const path = `${dir.path}/r${size}`;
      Deno.writeFileSync(path, pattern(size, i + 1));
      const expected = await Deno.readFile(path);
      using file = FileFd.open(path);
      await using files = ring.registerFiles([file.fd]);
      await using buffers = ring.registerBuffers([region]);
      const got = new Uint8Array(size);
      let at = 0;
      for (;;) {
        region.bytes.fill(0xee); // stale bytes must not pass for data
        const n = await ring.readFixed(files, 0, buffers, 0, 0, CHUNK, at);
        if (n === 0) break;
        got.set(region.bytes.subarray(0, n), at);
        at += n;
      }
      assert.equal(at, size, `bytes read for ${size}`);
      assert.deepEqual(got, expected, `contents for ${size}`);
    }
  },
});

Deno.test({
  name: "linux files: writeFixed writes what Deno.readFile reads back, at offsets",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    await using ring = Uring.create();
    using region = NativeRegion.allocate(CHUNK);
    for (const [i, size] of SIZES.entries()) {
      const path = `${dir.path}/w${size}`;
      const data = pattern(size, 100 + i);
      using file = FileFd.open(path, { write: true, create: true, truncate: true });
      await using files = ring.registerFiles([file.fd]);
      await using buffers = ring.registerBuffers([region]);
      for (let at = 0; at < size; at += CHUNK) {
        const n = Math.min(CHUNK, size - at);
        region.bytes.set(data.subarray(at, at + n), 0);
        assert.equal(await ring.writeFixed(files, 0, buffers, 0, 0, n, at), n);
      }
      assert.equal(await ring.fsync(files, 0), 0);
      assert.deepEqual(await Deno.readFile(path), data, `file of ${size} bytes`);
    }
    // A write at an offset inside the buffer and the file.
    const path = `${dir.path}/offsets`;
    using file = FileFd.open(path, { write: true, create: true, truncate: true });
    await using files = ring.registerFiles([file.fd]);
    await using buffers = ring.registerBuffers([region]);
    region.bytes.set([1, 2, 3, 4, 5], 100);
    assert.equal(await ring.writeFixed(files, 0, buffers, 0, 101, 3, 10), 3);
    assert.deepEqual(
      await Deno.readFile(path),
      new Uint8Array([...new Array(10).fill(0), 2, 3, 4]),
    );
  },
});

Deno.test({
  name: "linux files: reads past EOF give 0 bytes; a read across EOF is short",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    const path = `${dir.path}/eof`;
    Deno.writeFileSync(path, pattern(4097, 7));
    await using ring = Uring.create();
    using file = FileFd.open(path);
    using region = NativeRegion.allocate(8192);
    await using files = ring.registerFiles([file.fd]);
    await using buffers = ring.registerBuffers([region]);
    assert.equal(await ring.readFixed(files, 0, buffers, 0, 0, 100, 4097), 0);
    assert.equal(await ring.readFixed(files, 0, buffers, 0, 0, 100, 2 ** 40), 0);
    assert.equal(await ring.readFixed(files, 0, buffers, 0, 0, 8192, 4000), 97);
    assert.deepEqual(region.bytes.subarray(0, 97), pattern(4097, 7).subarray(4000));
  },
});

Deno.test({
  name: "linux files: 64 files and 8 buffers at once, one batch, each read lands in its slice",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    const N = 64;
    const fds: FileFd[] = [];
    try {
      for (let i = 0; i < N; i++) {
        const path = `${dir.path}/m${i}`;
        Deno.writeFileSync(path, pattern(1000 + i, 500 + i));
        fds.push(FileFd.open(path));
      }
      await using ring = Uring.create({ entries: 32 }); // fewer SQEs than ops: the SQ refills
      const regions = Array.from({ length: 8 }, () => NativeRegion.allocate(8 * 2048));
      try {
        await using files = ring.registerFiles(fds.map((f) => f.fd));
        await using buffers = ring.registerBuffers(regions);
        const reads = fds.map((_, i) =>
          ring.readFixed(files, i, buffers, i % 8, (i >> 3) * 2048, 2048, 0)
        );
        assert.deepEqual(await Promise.all(reads), fds.map((_, i) => 1000 + i));
        for (let i = 0; i < N; i++) {
          const at = (i >> 3) * 2048;
          assert.deepEqual(
            regions[i % 8].bytes.subarray(at, at + 1000 + i),
            pattern(1000 + i, 500 + i),
          );
        }
      } finally {
        for (const r of regions) r.free();
      }
    } finally {
      for (const f of fds) f.close();
    }
  },
});

Deno.test({
  name:
    "linux files: bad input is a typed error, checked before the kernel, leaving nothing behind",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    const path = `${dir.path}/bad`;
    Deno.writeFileSync(path, pattern(100, 3));
    const fdsBefore = fdCount();
    await using ring = Uring.create();
    using file = FileFd.open(path);
    using region = NativeRegion.allocate(4096);

    // libc would stop at the NUL and open another file: /tmp/x\0y must not open /tmp/x.
    assert.throws(() => FileFd.open(`${path}\0.other`), TypeError);
    assert.throws(() => ring.registerFiles([]), RangeError);
    assert.throws(() => ring.registerFiles([1.5]), RangeError);
    assert.throws(() => ring.registerFiles([-3]), RangeError);
    assert.throws(() => ring.registerBuffers([]), RangeError);
    assert.throws(() => NativeRegion.allocate(0), RangeError);
    {
      const freed = NativeRegion.allocate(4096);
      freed.free();
      assert.throws(() => ring.registerBuffers([freed]), DisposedError);
    }
    // A closed fd: the kernel says EBADF, and no table is left behind.
    const closed = FileFd.open(path);
    const stale = closed.fd;
    closed.close();
    assert.throws(
      () => ring.registerFiles([stale]),
      (e) => e instanceof ErrnoError && e.codeName === "EBADF" && /REGISTER_FILES2/.test(e.call),
    );

    await using files = ring.registerFiles([file.fd, -1]); // would be EBUSY if a table leaked
    await using buffers = ring.registerBuffers([region]);
    const bad: [string, () => Promise<number>][] = [
      ["unknown file index", () => ring.readFixed(files, 2, buffers, 0, 0, 10, 0)],
      ["empty slot", () => ring.readFixed(files, 1, buffers, 0, 0, 10, 0)],
      ["negative file index", () => ring.readFixed(files, -1, buffers, 0, 0, 10, 0)],
      ["fractional file index", () => ring.readFixed(files, 0.5, buffers, 0, 0, 10, 0)],
      ["unknown buffer index", () => ring.readFixed(files, 0, buffers, 1, 0, 10, 0)],
      ["slice past the buffer", () => ring.readFixed(files, 0, buffers, 0, 4090, 7, 0)],
      ["offset past the buffer", () => ring.readFixed(files, 0, buffers, 0, 4097, 0, 0)],
      ["negative offset", () => ring.readFixed(files, 0, buffers, 0, -1, 10, 0)],
      ["fractional length", () => ring.writeFixed(files, 0, buffers, 0, 0, 1.5, 0)],
      ["negative length", () => ring.writeFixed(files, 0, buffers, 0, 0, -1, 0)],
      ["negative file offset", () => ring.readFixed(files, 0, buffers, 0, 0, 10, -1)],
      ["NaN file offset", () => ring.readFixed(files, 0, buffers, 0, 0, 10, NaN)],
      ["unsafe file offset", () => ring.readFixed(files, 0, buffers, 0, 0, 10, 2 ** 53)],
      ["fsync of an empty slot", () => ring.fsync(files, 1)],
    ];
    for (const [what, call] of bad) {
      assert.throws(call, RangeError, what);
      assert.equal(ring.inFlight, 0, `${what}: nothing was submitted`);
    }
    assert.throws(() => files.update(2, file.fd), RangeError);
    assert.throws(() => files.update(0, 0.5), RangeError);
    // Reading into a read-only file through WRITE_FIXED fails in the completion.
    await assert.rejects(
      ring.writeFixed(files, 0, buffers, 0, 0, 10, 0),
      (e) =>
        e instanceof ErrnoError && e.codeName === "EBADF" && e.call === "IORING_OP_WRITE_FIXED",
    );
    // The region cannot be freed while registered.
    assert.throws(() => region.free(), BusyError);
    assert.equal(region.holds, 1);

    // A disposed table refuses further use.
    files.close();
    assert.throws(() => ring.readFixed(files, 0, buffers, 0, 0, 10, 0), DisposedError);
    assert.throws(() => files.update(0, file.fd), DisposedError);
    buffers.close();
    assert.equal(region.holds, 0, "the region is released once unregistered");
    assert.throws(() => ring.readFixed(files, 0, buffers, 0, 0, 10, 0), DisposedError);
    files.close(); // idempotent
    buffers.close();
    await files[Symbol.asyncDispose]();
    file.close();
    await ring[Symbol.asyncDispose]();
    assert.throws(() => ring.registerFiles([0]), DisposedError);
    assert.equal(fdCount(), fdsBefore, "no fd left open");
  },
});

Deno.test({
  name: "linux files: slots update in place; a closed original fd stays readable through its slot",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    Deno.writeFileSync(`${dir.path}/a`, new TextEncoder().encode("alpha"));
    Deno.writeFileSync(`${dir.path}/b`, new TextEncoder().encode("bravo"));
    await using ring = Uring.create();
    using region = NativeRegion.allocate(4096);
    await using files = ring.registerFiles([-1, -1]);
    await using buffers = ring.registerBuffers([region]);
    {
      using a = FileFd.open(`${dir.path}/a`);
      files.update(1, a.fd);
    } // closed here; the slot keeps its own reference
    const text = (n: number): string => new TextDecoder().decode(region.bytes.subarray(0, n));
    assert.equal(text(await ring.readFixed(files, 1, buffers, 0, 0, 100, 0)), "alpha");
    using b = FileFd.open(`${dir.path}/b`);
    files.update(1, b.fd);
    assert.equal(files.fd(1), b.fd);
    assert.equal(text(await ring.readFixed(files, 1, buffers, 0, 0, 100, 0)), "bravo");
    files.update(1, -1);
    assert.throws(() => ring.readFixed(files, 1, buffers, 0, 0, 100, 0), RangeError);
  },
});

Deno.test({
  name:
    "linux files: dispose with a read in flight — sync refuses and changes nothing; async cancels and drains",
  ignore,
  async fn(): Promise<void> {
    await using ring = Uring.create();
    // A read from an idle UDP socket stays in flight until cancelled.
    using sock = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    using region = NativeRegion.allocate(4096);
    const files = ring.registerFiles([sock.fd]);
    const buffers = ring.registerBuffers([region]);
    const pending = ring.readFixed(files, 0, buffers, 0, 0, 100, 0);
    const outcome = pending.then(() => "resolved", (e) => e);
    ring.submit();
    assert.equal(ring.inFlight, 1);

    assert.throws(() => buffers.close(), (e) => e instanceof BusyError && e.inFlight === 1);
    assert.throws(() => buffers[Symbol.dispose](), BusyError);
    assert.throws(() => files[Symbol.dispose](), BusyError);
    assert.throws(() => ring.close(), BusyError);
    assert.throws(() => region.free(), BusyError);
    // Nothing changed: both tables are live, the op is still in flight.
    assert.equal(buffers.disposed, false);
    assert.equal(files.disposed, false);
    assert.equal(buffers.inFlight, 1);
    assert.equal(files.inFlight, 1);
    assert.equal(region.holds, 1);
    assert.equal(ring.closed, false);
    assert.equal(await Promise.race([outcome, Promise.resolve("pending")]), "pending");

    await within(5000, buffers[Symbol.asyncDispose](), "async dispose");
    const error = await outcome;
    assert.ok(error instanceof ErrnoError, `the read was cancelled, got ${error}`);
    assert.equal(error.codeName, "ECANCELED");
    assert.equal(buffers.disposed, true);
    assert.equal(region.holds, 0, "released only after the drain and the tag completion");
    assert.equal(files.inFlight, 0);
    await files[Symbol.asyncDispose]();
    await files[Symbol.asyncDispose](); // double dispose is a no-op
    files.close();
    buffers.close();
  },
});

Deno.test({
  name: "linux files: ring async dispose cancels in-flight ops and releases every registration",
  ignore,
  async fn(): Promise<void> {
    using sock = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    using region = NativeRegion.allocate(4096);
    const ring = Uring.create();
    const files = ring.registerFiles([sock.fd]);
    const buffers = ring.registerBuffers([region]);
    const reads = [0, 1, 2].map(() =>
      ring.readFixed(files, 0, buffers, 0, 0, 10, 0).catch((e) => e)
    );
    const cancelled = ring.cancel(files, 0); // explicit cancel of everything on the slot
    assert.equal(await cancelled, 3);
    for (const e of await Promise.all(reads)) assert.equal((e as ErrnoError).codeName, "ECANCELED");
    const more = ring.readFixed(files, 0, buffers, 0, 0, 10, 0).catch((e) => e);
    await within(5000, ring[Symbol.asyncDispose](), "ring async dispose");
    assert.equal((await more).codeName, "ECANCELED");
    assert.equal(files.disposed, true);
    assert.equal(buffers.disposed, true);
    assert.equal(region.holds, 0);
    ring.close(); // idempotent
    await ring[Symbol.asyncDispose]();
  },
});

Deno.test({
  name: "linux files: 1000 create/register/read/dispose cycles keep fd count and RSS flat",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    const path = `${dir.path}/cycle`;
    Deno.writeFileSync(path, pattern(3000, 9));
    const cycle = async (): Promise<void> => {
      await using ring = Uring.create({ entries: 8 });
      using file = FileFd.open(path);
      using region = NativeRegion.allocate(4096);
      await using files = ring.registerFiles([file.fd]);
      await using buffers = ring.registerBuffers([region]);
      assert.equal(await ring.readFixed(files, 0, buffers, 0, 0, 4096, 0), 3000);
    };
    for (let i = 0; i < 50; i++) await cycle(); // warm up (JIT, allocator)
    const fds = fdCount();
    const rss = rssKiB();
    const started = performance.now();
    for (let i = 0; i < 1000; i++) await cycle();
    const elapsed = performance.now() - started;
    assert.equal(fdCount(), fds, "fd count after 1000 cycles");
    const grown = rssKiB() - rss;
    assert.ok(grown < 16 * 1024, `RSS grew by ${grown} KiB over 1000 cycles`);
    assert.ok(elapsed < 60_000, `1000 cycles took ${elapsed} ms`);
  },
});
