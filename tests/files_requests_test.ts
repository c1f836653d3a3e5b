// What a FileRing user is told about calls the ring's state cannot serve: a
// read before openFiles / registerBuffers says what is missing (not
// "disposed"); two reads in flight into the same bytes of a buffer are
// refused with a RangeError before anything is submitted.

import assert from "node:assert/strict";
import { DisposedError, FileRing, type IoRequest } from "../mod.ts";
import { ignore, pattern, tempDir, within } from "./linux_util.ts";

Deno.test({
  name: "files: a read before openFiles / registerBuffers says what is missing, not 'disposed'",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    const p = `${dir.path}/a`;
    Deno.writeFileSync(p, pattern(10, 1));
    await using ring = FileRing.open({ depth: 2 });
    const req = { file: 0, buffer: 0, length: 1, position: 0 };
    assert.throws(
      () => ring.read(req),
      (e: unknown) =>
        e instanceof DisposedError && /no open files.*openFiles/.test(e.message) &&
        !/has been disposed/.test(e.message),
    );
    using _files = await ring.openFiles([p]);
    assert.throws(
      () => ring.read(req),
      (e: unknown) =>
        e instanceof DisposedError && /no registered buffers.*registerBuffers/.test(e.message) &&
        !/has been disposed/.test(e.message),
    );
  },
});

function mkfifo(path: string): void {
  const r = new Deno.Command("mkfifo", { args: [path] }).outputSync();
  assert.ok(r.success, "mkfifo");
}

/** A read of `length` bytes at the start of file 0 into `buffer` at `bufferOffset`. */
function r(buffer: number, bufferOffset: number, length: number): IoRequest {
  return { file: 0, buffer, bufferOffset, length, position: 0 };
}

Deno.test({
  name:
    "files: two reads in flight into the same bytes of a buffer are a RangeError; nothing is submitted",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    const fifo = `${dir.path}/fifo`;
    mkfifo(fifo);
    const ring = FileRing.open({ depth: 8 });
    try {
      const files = await ring.openFiles([fifo], { write: true }); // reads wait for data
      const pool = await ring.registerBuffers({ count: 2, size: 64 });
      // In one call: overlapping ranges of buffer 0.
      assert.throws(
        () => ring.readMany([r(0, 0, 32), r(1, 0, 64), r(0, 31, 2)]),
        (e: unknown) =>
          e instanceof RangeError && /requests\[2\]/.test(e.message) &&
          /requests\[0\]/.test(e.message),
      );
      assert.equal(ring.inFlight, 0, "nothing was submitted");
      // Across calls: a read in flight into bytes 0..32 of buffer 0.
      const first = ring.read(r(0, 0, 32)).catch((e) => e);
      await new Promise((res) => setTimeout(res, 20));
      assert.equal(ring.inFlight, 1);
      assert.throws(() => ring.read(r(0, 16, 1)), RangeError);
      assert.throws(() => ring.readMany([r(0, 0, 64)]), RangeError);
      assert.equal(ring.inFlight, 1, "nothing more was submitted");
      // Touching ranges, other buffers and empty reads are fine.
      const more = [ring.read(r(0, 32, 32)), ring.read(r(1, 0, 64)), ring.read(r(0, 0, 0))]
        .map((p) => p.catch((e) => e));
      assert.equal(ring.inFlight, 4);
      await within(5000, ring[Symbol.asyncDispose](), "async dispose");
      await Promise.all([first, ...more]);
      files[Symbol.dispose]();
      pool[Symbol.dispose]();
    } finally {
      await ring[Symbol.asyncDispose]();
    }
  },
});

Deno.test({
  name: "files: the same range may be read again once the first read has resolved",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    const p = `${dir.path}/a`;
    Deno.writeFileSync(p, pattern(4096, 3));
    await using ring = FileRing.open({ depth: 4 });
    using _files = await ring.openFiles([p]);
    using _pool = await ring.registerBuffers({ count: 1, size: 4096 });
    const req = { file: 0, buffer: 0, length: 4096, position: 0 };
    for (let i = 0; i < 3; i++) assert.equal(await ring.read(req), 4096);
  },
});

/** What `call` throws synchronously, or null when it returns a promise (then handled here). */
function thrown(call: () => Promise<unknown>): unknown {
  try {
    call().catch(() => {});
    return null;
  } catch (e) {
    return e;
  }
}

Deno.test({
  name:
    "files: an overlapping read is a synchronous RangeError when the ring is full too; a read that fits waits",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    const fifo = `${dir.path}/fifo`;
    mkfifo(fifo);
    const ring = FileRing.open({ depth: 2 });
    try {
      const files = await ring.openFiles([fifo], { write: true }); // reads wait for data
      const pool = await ring.registerBuffers({ count: 2, size: 64 });
      const first = ring.readMany([r(0, 0, 32), r(1, 32, 32)]).catch((e) => e);
      await new Promise((res) => setTimeout(res, 20));
      assert.equal(ring.inFlight, 2, "the ring is full");
      // Overlapping a read in flight: thrown now, not after waiting for room.
      const e = thrown(() => ring.read(r(0, 16, 1)));
      assert.ok(e instanceof RangeError, `read: a synchronous RangeError, got ${e}`);
      assert.match(e.message, /a read still in flight/);
      const many = thrown(() => ring.readMany([r(0, 31, 2)]));
      assert.ok(many instanceof RangeError, `readMany: a synchronous RangeError, got ${many}`);
      // Overlapping another request of the same call, which would have to wait: the same.
      const own = thrown(() => ring.readMany([r(1, 0, 8), r(1, 4, 8)]));
      assert.ok(own instanceof RangeError, `same call: a synchronous RangeError, got ${own}`);
      assert.match(own.message, /requests\[0\] of this call/);
      // A read that overlaps nothing waits for room, and claims nothing while it waits.
      const waiting = ring.read(r(1, 0, 8)).catch((e) => e);
      const alsoWaiting = ring.read(r(1, 0, 8)).catch((e) => e);
      assert.equal(ring.inFlight, 2, "nothing more was submitted");
      await within(5000, ring[Symbol.asyncDispose](), "async dispose");
      for (const p of [first, waiting, alsoWaiting]) assert.ok(!(await p instanceof RangeError));
      files[Symbol.dispose]();
      pool[Symbol.dispose]();
    } finally {
      await ring[Symbol.asyncDispose]();
    }
  },
});
