// The portable file API (FileRing) through its Windows backend, driven by the
// Windows fake (tests/fakes/): CreateFileW with FILE_FLAG_OVERLAPPED, reads by
// index into the registered buffer, EOF (an error CQE on Windows) read as 0,
// write/flush gated on IORING_VERSION 300 through `capabilities`, and
// disposal: BusyError with reads in flight, every op drained before CloseIoRing.
//
// The fake does not fake CreateFileW; this file adds it (fakeFiles below):
// paths map to the fake's in-memory files.

import assert from "node:assert/strict";
import { addr, openFakeHost } from "./fakes/fake_base.ts";
import {
  BusyError,
  DisposedError,
  FileRing,
  HResultError,
  type IoRequest,
  UnsupportedError,
  Win32Error,
} from "../mod.ts";
import { type FakeWindows, installFakeWindows } from "./fakes/windows.ts";
import { setSliceMs } from "../src/budget.ts";
import { threadMs } from "./thread_clock.ts";
import type { FakeIoRingOptions } from "./fakes/fake_ioring.ts";

openFakeHost(); // the fake's host memory, opened before any test (resource sanitizer)

const INVALID_HANDLE_VALUE = 0xffff_ffff_ffff_ffffn;
const GENERIC_READ = 0x80000000, GENERIC_WRITE = 0x40000000;
const OPEN_EXISTING = 3, OPEN_ALWAYS = 4;
const FILE_FLAG_OVERLAPPED = 0x40000000;
const E_ABORT = 0x80004004 | 0;
const E_HANDLE = 0x80070006 | 0;
const enc = new TextEncoder();

interface CreateCall {
  path: string;
  access: number;
  disposition: number;
  flags: number;
  handle: bigint | undefined;
}

/**
 * The fake plus a CreateFileW over its in-memory files: every open of a path
 * gets a fresh handle onto that path's bytes (as on Windows).
 */
function fakeFiles(
  files: Record<string, string | Uint8Array>,
  ioring: FakeIoRingOptions = {},
): FakeWindows & { creates: CreateCall[]; dataOf(path: string): Uint8Array } {
  const fake = installFakeWindows({ ioring });
  const contents = new Map<string, Uint8Array>();
  for (const [path, data] of Object.entries(files)) {
    contents.set(path, typeof data === "string" ? enc.encode(data) : data);
  }
  const last = new Map<string, bigint>();
  const creates: CreateCall[] = [];
  (fake.api.kernel as { CreateFileW: unknown }).CreateFileW = (
    name: BufferSource,
    access: number,
    _share: number,
    _sa: unknown,
    disposition: number,
    flags: number,
  ): Deno.PointerValue => {
    fake.base.log.record("CreateFileW");
    const u16 = new Uint16Array(
      ArrayBuffer.isView(name) ? name.buffer : name,
      ArrayBuffer.isView(name) ? name.byteOffset : 0,
    );
    const path = String.fromCharCode(...u16.subarray(0, u16.indexOf(0)));
    const prior = last.get(path);
    const data = prior !== undefined ? fake.ioring.files.get(prior)!.data : contents.get(path) ??
      (disposition === OPEN_ALWAYS ? new Uint8Array() : undefined);
    const h = data === undefined ? undefined : fake.ioring.addFile(data);
    if (h !== undefined) last.set(path, h);
    creates.push({ path, access, disposition, flags, handle: h });
    if (h === undefined) {
      fake.base.lastError = 2; // ERROR_FILE_NOT_FOUND
      return Deno.UnsafePointer.create(INVALID_HANDLE_VALUE);
    }
    return Deno.UnsafePointer.create(h);
  };
  const dataOf = (path: string): Uint8Array => fake.ioring.files.get(last.get(path)!)!.data;
  return Object.assign(fake, { creates, dataOf });
}

/** The checks every test ends with: nothing wrong on real Windows, nothing left. */
function assertClean(fake: ReturnType<typeof fakeFiles>): void {
  assert.deepEqual(fake.ioring.violations, []);
  assert.equal(fake.ioring.openRings, 0);
  assert.equal(fake.base.liveAllocations, 0);
  for (const c of fake.creates) {
    if (c.handle !== undefined) {
      assert.ok(fake.ioring.files.get(c.handle)!.closed, `${c.path} closed`);
    }
  }
}

/** Lets submissions and the fake's event wake-ups run. */
function ticks(n = 5): Promise<void> {
  return new Promise((resolve) => {
    const step = (k: number): void => void (k === 0 ? resolve() : setTimeout(() => step(k - 1), 0));
    step(n);
  });
}

/** Completes what is in flight as the kernel would, until `p` settles. */
async function drive<T>(fake: FakeWindows, p: Promise<T>): Promise<T> {
  let settled = false;
  const watched = p.finally(() => (settled = true));
  for (let i = 0; i < 200 && !settled; i++) {
    fake.ioring.completeAll();
    await ticks(1);
  }
  return watched;
}

Deno.test("windows fake: reads by index land in the registered buffers; files opened OVERLAPPED", async () => {
  const fake = fakeFiles({ "C:\\data\\a.bin": "alpha-contents", "C:\\data\\b.bin": "bravo" });
  try {
    const ring = FileRing.open({ backend: "ioring", depth: 8 });
    assert.equal(ring.backend, "ioring");
    assert.deepEqual(
      [ring.capabilities.write, ring.capabilities.flush],
      [true, true],
      ring.capabilities.detail,
    );
    const files = await ring.openFiles(["C:\\data\\a.bin", "C:\\data\\b.bin"]);
    const pool = await ring.registerBuffers({ count: 4, size: 32 });
    for (const c of fake.creates) {
      assert.equal(c.access, GENERIC_READ);
      assert.equal(c.disposition, OPEN_EXISTING);
      assert.ok((c.flags & FILE_FLAG_OVERLAPPED) !== 0, "FILE_FLAG_OVERLAPPED");
    }
    // The kernel's tables hold exactly these handles and one buffer of count × size.
    assert.deepEqual(fake.ioring.fileTable(), fake.creates.map((c) => c.handle));
    assert.equal(fake.ioring.bufferTable().length, 1);
    assert.equal(fake.ioring.bufferTable()[0].length, 128);
    const reqs: IoRequest[] = [
      { file: 0, buffer: 2, length: 5, position: 6 },
      { file: 1, buffer: 3, bufferOffset: 4, length: 5, position: 0 },
    ];
    const before = fake.base.log.count("SubmitIoRing");
    const many = ring.readMany(reqs);
    assert.equal(fake.base.log.count("SubmitIoRing"), before + 1, "one submission per batch");
    assert.equal(fake.ioring.pending().length, 2);
    // Registered refs (kind 1) by index, with the pool offset inside the one registered buffer.
    const [a, b] = fake.ioring.pending();
    assert.deepEqual([a.file!.kind, a.file!.index, a.buffer!.kind, a.buffer!.offset], [
      1,
      0,
      1,
      64,
    ]);
    assert.deepEqual([b.file!.kind, b.file!.index, b.buffer!.kind, b.buffer!.offset], [
      1,
      1,
      1,
      100,
    ]);
    assert.deepEqual(await drive(fake, many), [5, 5]);
    const text = new TextDecoder();
    assert.equal(text.decode(pool.bytes(2).subarray(0, 5)), "conte");
    assert.equal(text.decode(pool.bytes(3).subarray(4, 9)), "bravo");
    pool[Symbol.dispose]();
    files[Symbol.dispose]();
    ring[Symbol.dispose]();
    await ticks();
    assertClean(fake);
  } finally {
    fake[Symbol.dispose]();
  }
});

Deno.test("windows fake: EOF (0x80070026) reads as 0; a read crossing EOF is short; other errors are HResultErrors", async () => {
  const fake = fakeFiles({ "f": "0123456789" });
  try {
    await using ring = FileRing.open({ backend: "ioring", depth: 4 });
    using _files = await ring.openFiles(["f"]);
    using pool = await ring.registerBuffers({ count: 2, size: 16 });
    assert.equal(await drive(fake, ring.read({ file: 0, buffer: 0, length: 16, position: 10 })), 0);
    assert.equal(await drive(fake, ring.read({ file: 0, buffer: 0, length: 16, position: 99 })), 0);
    assert.equal(await drive(fake, ring.read({ file: 0, buffer: 1, length: 16, position: 7 })), 3);
    assert.equal(new TextDecoder().decode(pool.bytes(1).subarray(0, 3)), "789");
    const failing = ring.read({ file: 0, buffer: 0, length: 4, position: 0 });
    const op = fake.ioring.pending()[0];
    fake.ioring.complete(op.userData, { result: E_HANDLE });
    await assert.rejects(failing, (e: unknown) => {
      assert.ok(e instanceof HResultError);
      assert.equal(e.code, E_HANDLE);
      assert.equal(e.call, "BuildIoRingReadFile");
      return true;
    });
    // A failed op in a batch: the batch rejects with it once every op has completed.
    const batch = ring.readMany([
      { file: 0, buffer: 0, length: 2, position: 0 },
      { file: 0, buffer: 1, length: 2, position: 2 },
    ]);
    const [x, y] = fake.ioring.pending();
    fake.ioring.complete(x.userData, { result: E_HANDLE });
    let settled = false;
    batch.catch(() => {}).finally(() => (settled = true));
    await ticks();
    assert.equal(settled, false, "waits for the second op");
    fake.ioring.complete(y.userData);
    await assert.rejects(batch, HResultError);
    assert.equal(ring.inFlight, 0);
  } finally {
    fake[Symbol.dispose]();
  }
});

Deno.test("windows fake: below IORING_VERSION 300, capabilities say no write/flush and the calls refuse up front", async () => {
  const fake = fakeFiles({ "f": "data" }, { maxVersion: 2 });
  try {
    await using ring = FileRing.open({ backend: "ioring", depth: 4 });
    assert.deepEqual([ring.capabilities.write, ring.capabilities.flush], [false, false]);
    assert.match(ring.capabilities.detail, /IORING_VERSION 2\b/);
    using _files = await ring.openFiles(["f"], { write: true });
    using _pool = await ring.registerBuffers({ count: 1, size: 8 });
    const builds = fake.base.log.calls.length;
    assert.throws(
      () => ring.write({ file: 0, buffer: 0, length: 4, position: 0 }),
      UnsupportedError,
    );
    assert.throws(() => ring.writeMany([]), UnsupportedError);
    assert.throws(() => ring.flush(0), UnsupportedError);
    assert.equal(fake.base.log.calls.length, builds, "no call reached the kernel");
    assert.equal(ring.inFlight, 0);
    // Reads still work.
    assert.equal(await drive(fake, ring.read({ file: 0, buffer: 0, length: 8, position: 0 })), 4);
  } finally {
    fake[Symbol.dispose]();
  }
});

Deno.test("windows fake: version 300 writes through the registered buffer and flushes", async () => {
  const fake = fakeFiles({}, { maxVersion: 300 });
  try {
    await using ring = FileRing.open({ backend: "ioring", depth: 4 });
    assert.ok(ring.capabilities.write && ring.capabilities.flush);
    using _files = await ring.openFiles(["new.bin"], { create: true });
    assert.equal(fake.creates[0].access, (GENERIC_READ | GENERIC_WRITE) >>> 0); // a u32
    assert.equal(fake.creates[0].disposition, OPEN_ALWAYS);
    using pool = await ring.registerBuffers({ count: 2, size: 8 });
    pool.bytes(1).set(enc.encode("written!"));
    assert.equal(await drive(fake, ring.write({ file: 0, buffer: 1, length: 8, position: 4 })), 8);
    await drive(fake, ring.flush(0));
    assert.equal(fake.base.log.count("BuildIoRingFlushFile"), 1);
    const data = fake.dataOf("new.bin");
    assert.equal(new TextDecoder().decode(data.subarray(4)), "written!");
  } finally {
    fake[Symbol.dispose]();
  }
});

Deno.test("windows fake: a bad path is a Win32Error naming it; handles opened before it are closed, nothing registered", async () => {
  const fake = fakeFiles({ "a": "1", "b": "2" });
  try {
    await using ring = FileRing.open({ backend: "ioring", depth: 4 });
    await assert.rejects(ring.openFiles(["a", "b", "C:\\missing.bin"]), (e: unknown) => {
      assert.ok(e instanceof Win32Error);
      assert.equal(e.codeName, "ERROR_FILE_NOT_FOUND");
      assert.ok(e.message.includes("C:\\missing.bin"), e.message);
      return true;
    });
    assert.equal(fake.creates.length, 3);
    for (const c of fake.creates.slice(0, 2)) assert.ok(fake.ioring.files.get(c.handle!)!.closed);
    assert.equal(fake.base.log.count("BuildIoRingRegisterFileHandles"), 0);
    // Bad requests: RangeErrors before any builder runs.
    using _files = await ring.openFiles(["a"]);
    using _pool = await ring.registerBuffers({ count: 1, size: 8 });
    const builds = fake.base.log.count("BuildIoRingReadFile");
    assert.throws(() => ring.read({ file: 1, buffer: 0, length: 1, position: 0 }), RangeError);
    assert.throws(() => ring.read({ file: 0, buffer: 0, length: 9, position: 0 }), RangeError);
    assert.throws(() => ring.read({ file: 0, buffer: 0, length: 1, position: -1 }), RangeError);
    assert.equal(fake.base.log.count("BuildIoRingReadFile"), builds);
  } finally {
    fake[Symbol.dispose]();
  }
  assertClean(fake);
});

Deno.test("windows fake: sync dispose with reads in flight is a BusyError; nothing is closed", async () => {
  const fake = fakeFiles({ "f": "abcdef" });
  try {
    const ring = FileRing.open({ backend: "ioring", depth: 4 });
    const files = await ring.openFiles(["f"]);
    const pool = await ring.registerBuffers({ count: 1, size: 8 });
    const read = ring.read({ file: 0, buffer: 0, length: 6, position: 0 });
    assert.throws(() => ring[Symbol.dispose](), BusyError);
    assert.throws(() => files[Symbol.dispose](), BusyError);
    assert.throws(() => pool[Symbol.dispose](), BusyError);
    assert.equal(fake.base.log.count("CloseIoRing"), 0);
    assert.equal(fake.base.log.count("CloseHandle"), 0);
    assert.equal(await drive(fake, read), 6);
    assert.equal(new TextDecoder().decode(pool.bytes(0).subarray(0, 6)), "abcdef");
    ring[Symbol.dispose](); // closes the set and the pool it still has
    assert.ok(files.disposed && pool.disposed);
    assert.throws(() => pool.bytes(0), DisposedError);
    await ticks();
    assertClean(fake);
  } finally {
    fake[Symbol.dispose]();
  }
});

Deno.test("windows fake: async dispose drains every op before CloseIoRing, then frees", async () => {
  const fake = fakeFiles({ "f": "late data" }, { resistCancel: true });
  try {
    const ring = FileRing.open({ backend: "ioring", depth: 4 });
    await ring.openFiles(["f"]);
    const pool = await ring.registerBuffers({ count: 2, size: 16 });
    const reads = [0, 1].map((b) => ring.read({ file: 0, buffer: b, length: 9, position: 0 }));
    const closing = ring[Symbol.asyncDispose]();
    await ticks(10);
    // The ops ignore the cancel: the ring must wait, with its memory still mapped.
    assert.equal(fake.base.log.count("CloseIoRing"), 0);
    assert.ok(fake.base.log.count("BuildIoRingCancelRequest") >= 2);
    assert.equal(ring.inFlight, 2);
    fake.ioring.completeAll(); // late completions write into the registered buffer
    await drive(fake, closing);
    assert.deepEqual(await Promise.all(reads), [9, 9]);
    const log = fake.base.log.calls;
    assert.equal(fake.base.log.count("CloseIoRing"), 1);
    assert.ok(log.lastIndexOf("PopIoRingCompletion") < log.indexOf("CloseIoRing"), "drained first");
    assert.ok(log.lastIndexOf("CloseHandle") >= 0);
    assert.ok(ring.closed && pool.disposed);
    assertClean(fake);
  } finally {
    fake[Symbol.dispose]();
  }
});

// FileRing reads go through registered file indexes; whether a cancel by raw
// handle would match them is UNCONFIRMED (reference §5.5), so both ways.
for (const cancelMatch of ["file", "exactRef"] as const) {
  Deno.test(`windows fake: async dispose cancels reads (E_ABORT) when the kernel honours the cancel (matched by ${cancelMatch})`, async () => {
    const fake = fakeFiles({ "f": "abc" }, { cancelMatch });
    try {
      const ring = FileRing.open({ backend: "ioring", depth: 4 });
      await ring.openFiles(["f"]);
      await ring.registerBuffers({ count: 1, size: 8 });
      const read = ring.read({ file: 0, buffer: 0, length: 3, position: 0 });
      const outcome = read.then(() => undefined, (e) => e);
      // The fake performs cancels at submit: nothing to drive, unless a cancel missed.
      const disposing = ring[Symbol.asyncDispose]();
      let finished = false;
      void disposing.then(() => (finished = true), () => (finished = true));
      for (let i = 0; i < 100 && !finished; i++) await ticks(1);
      const alone = finished;
      if (!alone) await drive(fake, disposing); // so a failing test still cleans up
      assert.ok(alone, "the dispose finished without the read being completed for it");
      const e = await outcome;
      assert.ok(e instanceof HResultError && e.code === E_ABORT, String(e));
      assertClean(fake);
    } finally {
      fake[Symbol.dispose]();
    }
  });
}

/**
 * Makes the next CloseHandle of `handle` report ERROR_ACCESS_DENIED (5); the
 * handle is closed all the same, so the test can still check nothing is left.
 */
function failCloseOnce(fake: FakeWindows, handle: bigint): void {
  const kernel = fake.api.kernel as { CloseHandle: (h: Deno.PointerValue) => number };
  const original = kernel.CloseHandle;
  kernel.CloseHandle = (h) => {
    const ok = original(h);
    if (addr(h) !== handle) return ok;
    kernel.CloseHandle = original;
    fake.base.lastError = 5;
    return 0;
  };
}

for (const how of ["sync", "async"] as const) {
  Deno.test(`windows fake: ${how} ring dispose frees the buffers when closing a file fails, then reports it`, async () => {
    const fake = fakeFiles({ "f": "abc" });
    try {
      const ring = FileRing.open({ backend: "ioring", depth: 4 });
      const files = await ring.openFiles(["f"]);
      const pool = await ring.registerBuffers({ count: 1, size: 8 });
      failCloseOnce(fake, fake.creates[0].handle!);
      const isCloseFailure = (e: unknown): boolean =>
        e instanceof Win32Error && e.call === "CloseHandle" && e.code === 5;
      if (how === "sync") assert.throws(() => ring.close(), isCloseFailure);
      else {
        const outcome = ring[Symbol.asyncDispose]().then(() => undefined, (e: unknown) => e);
        assert.ok(isCloseFailure(await drive(fake, outcome)));
      }
      assert.ok(ring.closed && files.disposed && pool.disposed);
      ring.close(); // done: a second close does nothing
      await ticks();
      assertClean(fake); // the buffer registration's memory too
    } finally {
      fake[Symbol.dispose]();
    }
  });
}

Deno.test("windows fake: sync close while an async dispose drains is a BusyError; the drain finishes alone", async () => {
  const fake = fakeFiles({ "f": "abc" });
  try {
    const ring = FileRing.open({ backend: "ioring", depth: 4 });
    await ring.openFiles(["f"]);
    await ring.registerBuffers({ count: 1, size: 8 });
    // Nothing in flight, but the drain waits for the kernel to release the tables.
    const closing = ring[Symbol.asyncDispose]();
    assert.throws(() => ring.close(), BusyError);
    assert.throws(() => ring[Symbol.dispose](), BusyError);
    assert.equal(fake.base.log.count("CloseIoRing"), 0, "the ring is not closed under the drain");
    await drive(fake, closing);
    assert.equal(fake.base.log.count("CloseIoRing"), 1);
    ring.close(); // closed by the drain: nothing to do
    assert.deepEqual(fake.ioring.violations, []);
    assertClean(fake);
  } finally {
    fake[Symbol.dispose]();
  }
});

Deno.test("windows fake: no I/O ring on this build is one UnsupportedError, nothing left behind", () => {
  const fake = fakeFiles({}, { available: false });
  try {
    assert.throws(() => FileRing.open({ backend: "ioring" }), (e: unknown) => {
      assert.ok(e instanceof UnsupportedError);
      assert.match(e.message, /22000/);
      return true;
    });
    assertClean(fake);
  } finally {
    fake[Symbol.dispose]();
  }
});

Deno.test("windows fake: 40,000 reads completing inside their submit leave a timer running (budget on; off starves it)", async () => {
  const fake = fakeFiles({ "f": new Uint8Array(4096) }, { opsCompleteAtSubmit: true });
  try {
    await using ring = FileRing.open({ backend: "ioring", depth: 8 });
    using _files = await ring.openFiles(["f"]);
    using _pool = await ring.registerBuffers({ count: 1, size: 16 });
    const run = async (): Promise<number> => {
      let last = threadMs(), gap = 0;
      const timer = setInterval(() => {
        const now = threadMs();
        gap = Math.max(gap, now - last);
        last = now;
      }, 10);
      try {
        for (let i = 0; i < 40_000; i++) {
          await ring.read({ file: 0, buffer: 0, length: 16, position: 0 });
        }
        return Math.max(gap, threadMs() - last);
      } finally {
        clearInterval(timer);
      }
    };
    const was = setSliceMs(Infinity);
    let unbudgeted: number;
    try {
      unbudgeted = await run();
    } finally {
      setSliceMs(was);
    }
    const budgeted = await run();
    // Gaps in the JS thread's CPU time on Linux (tests/thread_clock.ts). The
    // negative control shows the reads really complete inline here.
    assert.ok(unbudgeted > 100, `without the budget the longest gap was only ${unbudgeted} ms`);
    assert.ok(budgeted <= 50, `longest timer gap ${budgeted.toFixed(1)} ms`);
  } finally {
    fake[Symbol.dispose]();
  }
});
