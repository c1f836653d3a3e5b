/**
 * IoRing through the Windows fake (tests/fakes/fake_ioring.ts), which
 * follows the documented I/O ring semantics and decodes every struct at
 * literal offsets. Every test ends with no violations (no write after free or
 * after CloseIoRing, no call on a closed ring) and no leaked allocation.
 */

import assert from "node:assert/strict";
import { openFakeHost } from "./fakes/fake_base.ts";
import { type FakeWindows, installFakeWindows } from "./fakes/windows.ts";
import type { FakeIoRingOptions } from "./fakes/fake_ioring.ts";
import { OP } from "./fakes/fake_ioring.ts";
import { windowsAllocator } from "../src/windows/api.ts";
import { NativeRegion } from "../src/memory.ts";
import {
  BufferRef,
  BusyError,
  DisposedError,
  FileRef,
  HResultError,
  IoRing,
  RegioError,
  UnsupportedError,
} from "../src/windows/mod.ts";

openFakeHost(); // the fake's host memory, opened before any test (resource sanitizer)

// HRESULTs, literally (winerror.h).
const E_ABORT = 0x80004004 | 0;
const E_HANDLE = 0x80070006 | 0;
const HR_EOF = 0x80070026 | 0;
const HR_NOT_FOUND = 0x80070490 | 0;
const IORING_E_CORRUPT = 0x80460007 | 0;
const INVALID_HANDLE_VALUE = 0xffff_ffff_ffff_ffffn;
const text = new TextDecoder();

function fakeWith(ioring: FakeIoRingOptions = {}): FakeWindows {
  return installFakeWindows({ ioring });
}

function region(size: number): NativeRegion {
  return NativeRegion.allocate(size, { allocator: windowsAllocator() });
}

/** The checks every test ends with. */
function assertClean(fake: FakeWindows): void {
  assert.deepEqual(fake.ioring.violations, []);
  assert.ok(fake.ioring.refAlignment.every((r) => r.aligned), "every 16-byte ref 16-byte aligned");
  assert.ok(!fake.ioring.userDatas.includes(0n), "userData is never 0");
  assert.equal(fake.ioring.openRings, 0);
  assert.equal(fake.base.liveAllocations, 0);
}

function timeout(ms: number): Promise<"timeout"> {
  return new Promise((resolve) => setTimeout(() => resolve("timeout"), ms));
}

/** Resolves `p` or "timeout" after `ms`, clearing the timer either way. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), ms)));
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

// --- availability, capabilities, create ------------------------------------

Deno.test("a Windows build without the I/O ring gets one UnsupportedError naming build 22000", () => {
  using fake = fakeWith({ available: false });
  for (const f of [() => IoRing.create(), () => IoRing.queryCapabilities()]) {
    assert.throws(f, (e: unknown) => {
      assert.ok(e instanceof UnsupportedError);
      assert.match(e.message, /Windows 11 build 22000/);
      return true;
    });
  }
  assert.equal(fake.base.liveAllocations, 0);
});

Deno.test("create: capabilities first, u64 flags, real sizes from GetIoRingInfo", () => {
  using fake = fakeWith({ maxVersion: 300, maxSubmissionQueueSize: 4096 });
  {
    using ring = IoRing.create({ submissionQueueSize: 20, completionQueueSize: 20 });
    assert.equal(ring.version, 300); // default: the OS maximum
    assert.equal(ring.submissionQueueSize, 32); // rounded up to a power of two
    assert.equal(ring.completionQueueSize, 64); // at least 2× the SQ
    assert.equal(ring.capabilities.maxVersion, 300);
    assert.equal(ring.capabilities.maxSubmissionQueueSize, 4096);
    assert.equal(ring.capabilities.completionEvent, true);
    const calls = fake.base.log.only("QueryIoRingCapabilities", "CreateIoRing", "GetIoRingInfo");
    assert.deepEqual(calls, ["QueryIoRingCapabilities", "CreateIoRing", "GetIoRingInfo"]);
  }
  {
    using _ring = IoRing.create({ skipBuilderParamChecks: true });
  }
  // Required in the low 32 bits, Advisory (SKIP_BUILDER_PARAM_CHECKS = 1) in the high 32.
  assert.deepEqual(fake.ioring.createFlags, [
    { required: 0, advisory: 0 },
    { required: 0, advisory: 1 },
  ]);
  assertClean(fake);
});

for (const maxVersion of [1, 2, 300, 400]) {
  Deno.test(`create: MaxVersion ${maxVersion} is the default version`, () => {
    using fake = fakeWith({ maxVersion });
    using ring = IoRing.create();
    assert.equal(ring.version, maxVersion);
    assert.equal(ring.isSupported("write"), maxVersion >= 300);
    assert.equal(ring.isSupported("readScatter"), maxVersion >= 400);
    ring[Symbol.dispose]();
    assertClean(fake);
  });
}

Deno.test("create: asking for more than the OS offers fails before CreateIoRing and leaves nothing", () => {
  using fake = fakeWith({
    maxVersion: 300,
    maxSubmissionQueueSize: 64,
    maxCompletionQueueSize: 128,
  });
  assert.throws(() => IoRing.create({ version: 400 }), (e: unknown) => {
    assert.ok(e instanceof UnsupportedError);
    assert.match(e.message, /up to 300/);
    return true;
  });
  assert.throws(() => IoRing.create({ version: 3 }), /IORING_VERSION_3 is 300, not 3/);
  assert.throws(() => IoRing.create({ version: 0 }), RangeError);
  assert.throws(() => IoRing.create({ submissionQueueSize: 65 }), RangeError);
  assert.throws(() => IoRing.create({ submissionQueueSize: 0 }), RangeError);
  assert.throws(() => IoRing.create({ completionQueueSize: 129 }), RangeError);
  assert.equal(fake.base.log.count("CreateIoRing"), 0);
  assertClean(fake);
});

Deno.test("create: a kernel-rejected version becomes IORING_E_VERSION_NOT_SUPPORTED, nothing left behind", () => {
  using fake = fakeWith({ maxVersion: 400 });
  // 250 is within MaxVersion but not a version the (fake) OS knows: the kernel decides.
  assert.throws(() => IoRing.create({ version: 250 }), (e: unknown) => {
    assert.ok(e instanceof HResultError);
    assert.equal(e.codeName, "IORING_E_VERSION_NOT_SUPPORTED");
    assert.equal(e.call, "CreateIoRing");
    return true;
  });
  assertClean(fake);
});

Deno.test("isSupported reads IsIoRingOpSupported as a BOOL (1 = supported)", () => {
  using fake = fakeWith({ maxVersion: 400, unsupportedOps: [OP.FLUSH] });
  using ring = IoRing.create({ version: 1 });
  assert.equal(ring.isSupported("read"), true);
  assert.equal(ring.isSupported(OP.CANCEL), true);
  assert.equal(ring.isSupported("write"), false); // a version-1 ring
  assert.equal(ring.isSupported("flush"), false);
  assert.equal(ring.isSupported(99), false); // unknown op: FALSE, not an error
  ring[Symbol.dispose]();
  assertClean(fake);
});

// --- reads -------------------------------------------------------------------

Deno.test("read through raw refs copies the file's bytes into native memory", async () => {
  using fake = fakeWith();
  const h = fake.ioring.addFile("hello, registered world");
  using buf = region(64);
  await using ring = IoRing.create();
  const a = ring.read(FileRef.raw(h), BufferRef.raw(buf), 5, 0);
  const b = ring.read(
    FileRef.raw(Deno.UnsafePointer.create(h)!),
    BufferRef.raw(buf.slice(32, 16)),
    16,
    7,
  );
  assert.equal(a.state, "built");
  assert.equal(ring.submit(), 2);
  assert.equal(a.state, "submitted");
  assert.equal(ring.inFlight, 2);
  fake.ioring.completeAll();
  assert.deepEqual(await a.done, { result: 0, information: 5, ok: true });
  assert.equal(await b.bytes(), 16);
  assert.equal(a.state, "completed");
  assert.equal(text.decode(buf.bytes.subarray(0, 5)), "hello");
  assert.equal(text.decode(buf.bytes.subarray(32, 48)), "registered world");
  assert.notEqual(a.userData, 0n);
  assert.notEqual(a.userData, b.userData);
  await ring.close();
  buf.free();
  assertClean(fake);
});

Deno.test("read by index through a registered file table and buffer table", async () => {
  using fake = fakeWith();
  const h1 = fake.ioring.addFile("first file");
  const h2 = fake.ioring.addFile("second file");
  using r0 = region(4096);
  using r1 = region(100);
  await using ring = IoRing.create();
  await using files = await ring.registerFiles([h1, null, h2]);
  await using buffers = await ring.registerBuffers([r0, null, r1]);
  assert.deepEqual(fake.ioring.fileTable(), [h1, INVALID_HANDLE_VALUE, h2]);
  assert.deepEqual(fake.ioring.bufferTable(), [
    { address: r0.address, length: 4096 },
    { address: 0n, length: 0 }, // sparse: Address 0 and Length 0
    { address: r1.address, length: 100 },
  ]);
  const a = ring.read(files.index(0), buffers.slice(0, 10, 20), 20, 0);
  const b = ring.read(files.index(2), buffers.slice(2), 100, 0);
  ring.submit();
  fake.ioring.completeAll();
  assert.equal(await a.bytes(), 10); // short read: the file has 10 bytes
  assert.equal(await b.bytes(), 11);
  assert.equal(text.decode(r0.bytes.subarray(10, 20)), "first file");
  assert.equal(text.decode(r1.bytes.subarray(0, 11)), "second file");
  assert.equal(files.length, 3);
  assert.equal(buffers.byteLength(1), 0);
  await buffers[Symbol.asyncDispose]();
  await files[Symbol.asyncDispose]();
  await ring.close();
  r0.free();
  r1.free();
  assertClean(fake);
});

Deno.test("EOF: 0x80070026 at or after the end, a short read before it, zero-length succeeds", async () => {
  using fake = fakeWith();
  const h = fake.ioring.addFile("0123456789");
  using buf = region(64);
  await using ring = IoRing.create();
  const f = FileRef.raw(h);
  const short = ring.read(f, BufferRef.raw(buf), 8, 6);
  const atEnd = ring.read(f, BufferRef.raw(buf), 8, 10);
  const after = ring.read(f, BufferRef.raw(buf), 8, 1000n);
  const zero = ring.read(f, BufferRef.raw(buf), 0, 0);
  ring.submit();
  fake.ioring.completeAll();
  assert.equal(await short.bytes(), 4);
  assert.equal((await atEnd.done).result, HR_EOF);
  assert.equal((await after.done).result, HR_EOF);
  await assert.rejects(after.bytes(), (e: unknown) => {
    assert.ok(e instanceof HResultError);
    assert.equal(e.codeName, "HRESULT_FROM_WIN32_ERROR_HANDLE_EOF");
    assert.equal(e.call, "BuildIoRingReadFile");
    return true;
  });
  assert.equal(await zero.bytes(), 0);
  await ring.close();
  buf.free();
  assertClean(fake);
});

Deno.test("-0 is 0 (Deno's FFI rejects -0 for a u32): a zero-length read, op code 0", async () => {
  using fake = fakeWith();
  const h = fake.ioring.addFile("abc");
  using buf = region(64);
  await using ring = IoRing.create();
  const zero = ring.read(FileRef.raw(h), BufferRef.raw(buf), -0, 0);
  ring.submit();
  fake.ioring.completeAll();
  assert.equal(await zero.bytes(), 0);
  assert.equal(ring.isSupported(-0), true); // IORING_OP_NOP
  await ring.close();
  buf.free();
  assertClean(fake);
});

Deno.test("bad refs are RangeErrors before any FFI call", async () => {
  using fake = fakeWith();
  const h = fake.ioring.addFile("x");
  using buf = region(64);
  await using ring = IoRing.create();
  await using files = await ring.registerFiles([h, null]);
  await using buffers = await ring.registerBuffers([buf]);
  const builds = fake.base.log.count("BuildIoRingReadFile");
  assert.throws(() => files.index(2), RangeError);
  assert.throws(() => files.index(-1), RangeError);
  assert.throws(() => files.index(1), /sparse/);
  assert.throws(() => buffers.slice(1), RangeError);
  assert.throws(() => buffers.slice(0, 65), RangeError);
  assert.throws(() => buffers.slice(0, 60, 5), RangeError);
  assert.throws(() => buffers.slice(0, 0.5), RangeError);
  assert.throws(() => buf.slice(60, 8), RangeError);
  assert.throws(() => ring.read(files.index(0), buffers.slice(0, 0, 8), 9, 0), RangeError);
  assert.throws(() => ring.read(files.index(0), buffers.slice(0), 8, -1), RangeError);
  assert.throws(() => ring.read(files.index(0), buffers.slice(0), 8, 2n ** 64n), RangeError);
  assert.throws(() => FileRef.raw(0n), RangeError);
  assert.throws(() => FileRef.raw(INVALID_HANDLE_VALUE), RangeError);
  // A wrong kind at run time (the types forbid it at compile time).
  assert.throws(
    () => ring.read(buffers.slice(0) as unknown as FileRef, buffers.slice(0), 1),
    TypeError,
  );
  assert.throws(
    () => ring.read(files.index(0), files.index(0) as unknown as BufferRef, 1),
    TypeError,
  );
  assert.equal(fake.base.log.count("BuildIoRingReadFile"), builds);
  assert.equal(ring.queued, 0);
  assert.equal(buf.holds, 1); // only the registration holds it
  await buffers[Symbol.asyncDispose]();
  await files[Symbol.asyncDispose]();
  await ring.close();
  buf.free();
  assertClean(fake);
});

Deno.test("a table of one ring cannot be used on another", async () => {
  using fake = fakeWith();
  const h = fake.ioring.addFile("x");
  using buf = region(64);
  await using a = IoRing.create();
  await using b = IoRing.create();
  await using files = await a.registerFiles([h]);
  assert.throws(() => b.read(files.index(0), BufferRef.raw(buf), 1), /another IoRing/);
  await files[Symbol.asyncDispose]();
  await b.close();
  await a.close();
  buf.free();
  assertClean(fake);
});

Deno.test("a raw buffer's region is held while its op is in flight", async () => {
  using fake = fakeWith();
  const h = fake.ioring.addFile("abc");
  const buf = region(64);
  await using ring = IoRing.create();
  const op = ring.read(FileRef.raw(h), BufferRef.raw(buf), 3, 0);
  ring.submit();
  assert.throws(() => buf.free(), BusyError);
  assert.equal(buf.freed, false);
  fake.ioring.completeAll();
  await op.done;
  buf.free();
  assert.throws(() => ring.read(FileRef.raw(h), BufferRef.raw(buf), 3, 0), DisposedError);
  await ring.close();
  assertClean(fake);
});

// --- submission ----------------------------------------------------------------

Deno.test("a full SQ is submitted and the build retried", async () => {
  using fake = fakeWith();
  const h = fake.ioring.addFile("0123456789abcdefghij");
  using buf = region(64);
  await using ring = IoRing.create({ submissionQueueSize: 2, completionQueueSize: 16 });
  assert.equal(ring.submissionQueueSize, 2);
  const ops = [0, 1, 2, 3, 4].map((i) =>
    ring.read(FileRef.raw(h), BufferRef.raw(buf.slice(i * 4, 4)), 4, i * 4)
  );
  // The 3rd and 5th builds each hit IORING_E_SUBMISSION_QUEUE_FULL and submitted first.
  assert.equal(fake.base.log.count("SubmitIoRing"), 2);
  assert.equal(ring.queued, 1);
  assert.equal(ring.inFlight, 4);
  ring.submit();
  fake.ioring.completeAll();
  assert.deepEqual(await Promise.all(ops.map((o) => o.bytes())), [4, 4, 4, 4, 4]);
  assert.equal(text.decode(buf.bytes.subarray(0, 20)), "0123456789abcdefghij");
  await ring.close();
  buf.free();
  assertClean(fake);
});

Deno.test("a CQ too full for the batch: drained once, then IORING_E_COMPLETION_QUEUE_TOO_FULL with the entry kept", async () => {
  using fake = fakeWith();
  const h = fake.ioring.addFile("0123456789abcdef");
  using buf = region(64);
  await using ring = IoRing.create({ submissionQueueSize: 1, completionQueueSize: 2 });
  assert.equal(ring.completionQueueSize, 2);
  const read = (i: number) =>
    ring.read(FileRef.raw(h), BufferRef.raw(buf.slice(i * 4, 4)), 4, i * 4);
  const a = read(0);
  const b = read(1); // SQ full: submits a
  ring.submit();
  const c = read(2);
  assert.throws(() => ring.submit(), (e: unknown) => {
    assert.ok(e instanceof HResultError);
    assert.equal(e.codeName, "IORING_E_COMPLETION_QUEUE_TOO_FULL");
    return true;
  });
  assert.equal(ring.queued, 1); // every entry stays in the SQ on error
  assert.equal(c.state, "built");
  fake.ioring.completeAll();
  assert.equal(ring.poll(), 2);
  assert.equal(ring.submit(), 1);
  fake.ioring.completeAll();
  assert.deepEqual(await Promise.all([a, b, c].map((o) => o.bytes())), [4, 4, 4]);
  await ring.close();
  buf.free();
  assertClean(fake);
});

Deno.test("submit({ wait }) waits without blocking; timeoutMs ends the wait", async () => {
  using fake = fakeWith();
  const h = fake.ioring.addFile("0123456789");
  using buf = region(64);
  await using ring = IoRing.create();
  const a = ring.read(FileRef.raw(h), BufferRef.raw(buf), 2, 0);
  const b = ring.read(FileRef.raw(h), BufferRef.raw(buf.slice(8, 8)), 2, 2);
  const waiting = ring.submit({ wait: "all" });
  setTimeout(() => fake.ioring.completeAll(), 5);
  assert.deepEqual(await waiting, { submitted: 2, completed: 2, timedOut: false });
  assert.equal(a.state, "completed");
  assert.equal(b.state, "completed");
  const c = ring.read(FileRef.raw(h), BufferRef.raw(buf), 2, 0);
  assert.deepEqual(await ring.submit({ wait: 1, timeoutMs: 20 }), {
    submitted: 1,
    completed: 0,
    timedOut: true,
  });
  fake.ioring.completeAll();
  await c.done;
  // SubmitIoRing never waits in the kernel (that would block the JS thread): the fake throws if it does.
  await ring.close();
  buf.free();
  assertClean(fake);
});

// --- completion waiting ------------------------------------------------------------

Deno.test("edge-triggered event: a completion arriving between drain and wait is not lost", async () => {
  using fake = fakeWith();
  const h = fake.ioring.addFile("race");
  using buf = region(64);
  // A 10 s wait slice: if the signal were lost, the read would take 10 s.
  await using ring = IoRing.create({ waitTimeoutMs: 10_000 });
  const op = ring.read(FileRef.raw(h), BufferRef.raw(buf), 4, 0);
  let raced = false;
  fake.ioring.onEmptyPop = () => {
    // Just after the drain saw S_FALSE, before the wait: the CQ goes empty → non-empty.
    if (raced || fake.ioring.pending().length === 0) return;
    raced = true;
    fake.ioring.completeAll();
  };
  ring.submit();
  assert.deepEqual(await within(op.done, 1000), { result: 0, information: 4, ok: true });
  assert.ok(raced);
  fake.ioring.onEmptyPop = undefined;
  await ring.close();
  buf.free();
  assertClean(fake);
});

Deno.test("completions wake the event wait (no polling delay)", async () => {
  using fake = fakeWith();
  const h = fake.ioring.addFile("wake");
  using buf = region(64);
  await using ring = IoRing.create({ waitTimeoutMs: 10_000 });
  const op = ring.read(FileRef.raw(h), BufferRef.raw(buf), 4, 0);
  ring.submit();
  await timeout(5);
  assert.equal(fake.base.log.count("WaitForSingleObject_nonblocking"), 1);
  fake.ioring.completeAll();
  assert.equal((await within(op.done, 1000)) !== "timeout", true);
  await ring.close();
  buf.free();
  assertClean(fake);
});

Deno.test("IORING_VERSION_1: timed waits still reap when the event is never signalled", async () => {
  using fake = fakeWith({ dropVersion1Signals: true });
  const h = fake.ioring.addFile("v1");
  using buf = region(64);
  await using ring = IoRing.create({ version: 1, waitTimeoutMs: 10_000 }); // capped at 50 ms on v1
  const op = ring.read(FileRef.raw(h), BufferRef.raw(buf), 2, 0);
  ring.submit();
  fake.ioring.completeAll(); // the fake drops the signal
  assert.equal(await within(op.bytes(), 1000), 2);
  await ring.close();
  buf.free();
  assertClean(fake);
});

Deno.test("no IORING_FEATURE_SET_COMPLETION_EVENT: a timer polls, no event is made", async () => {
  using fake = fakeWith({ featureFlags: 0 });
  const h = fake.ioring.addFile("poll");
  using buf = region(64);
  await using ring = IoRing.create();
  assert.equal(ring.capabilities.completionEvent, false);
  const op = ring.read(FileRef.raw(h), BufferRef.raw(buf), 4, 0);
  ring.submit();
  setTimeout(() => fake.ioring.completeAll(), 3);
  assert.equal(await within(op.bytes(), 1000), 4);
  await ring.close();
  assert.equal(fake.base.log.count("CreateEventW"), 0);
  assert.equal(fake.base.log.count("SetIoRingCompletionEvent"), 0);
  assert.equal(fake.base.log.count("WaitForSingleObject_nonblocking"), 0);
  buf.free();
  assertClean(fake);
});

Deno.test("poll() reaps synchronously; dispose wakes a pending wait, which then closes the event", async () => {
  using fake = fakeWith();
  const h = fake.ioring.addFile("poll");
  using buf = region(64);
  const ring = IoRing.create({ waitTimeoutMs: 10_000 });
  const event = fake.ioring.completionEvent();
  assert.notEqual(event, 0n);
  const op = ring.read(FileRef.raw(h), BufferRef.raw(buf), 4, 0);
  ring.submit(); // the waiter drains, then enters a 10 s wait
  assert.equal(fake.base.log.count("WaitForSingleObject_nonblocking"), 1);
  fake.ioring.suppressSignals = true; // the waiter never hears of this completion
  fake.ioring.completeAll();
  assert.equal(ring.poll(), 1);
  assert.equal(op.state, "completed");
  ring[Symbol.dispose](); // nothing in flight: closes now, and must wake the wait
  assert.equal(fake.base.log.count("CloseHandle"), 0); // not under the pending wait
  const started = performance.now();
  while (!fake.base.closedHandles.has(event) && performance.now() - started < 2000) {
    await timeout(1);
  }
  assert.ok(fake.base.closedHandles.has(event), "the woken waiter closed the event");
  assert.ok(performance.now() - started < 1000);
  assert.deepEqual(fake.base.log.only("CloseIoRing", "SetEvent", "CloseHandle"), [
    "CloseIoRing",
    "SetEvent",
    "CloseHandle",
  ]);
  buf.free();
  assertClean(fake);
});

// --- cancel ----------------------------------------------------------------------

Deno.test("cancel: the target completes with E_ABORT; no target gives ERROR_NOT_FOUND", async () => {
  using fake = fakeWith();
  const h = fake.ioring.addFile("cancel me");
  using buf = region(64);
  await using ring = IoRing.create();
  const read = ring.read(FileRef.raw(h), BufferRef.raw(buf), 6, 0);
  ring.submit();
  const cancel = ring.cancel(read);
  const q = fake.ioring.queued().find((o) => o.op === OP.CANCEL)!;
  assert.equal(q.opToCancel, read.userData); // by userData, never 0 (0 = every op on the handle)
  assert.equal(q.file?.kind, 0);
  assert.equal(q.file?.value, h);
  ring.submit();
  assert.equal((await cancel.done).result, 0);
  assert.equal((await read.done).result, E_ABORT);
  const late = ring.cancel(read); // already finished
  ring.submit();
  assert.equal((await late.done).result, HR_NOT_FOUND);
  assert.throws(() => ring.cancel(cancel), /cannot be cancelled/);
  await using other = IoRing.create();
  assert.throws(() => other.cancel(read), /not an operation of this ring/);
  await other.close();
  await ring.close();
  buf.free();
  assertClean(fake);
});

Deno.test("cancel: an op that ignores the cancel completes normally, later", async () => {
  using fake = fakeWith();
  const h = fake.ioring.addFile("stubborn");
  using buf = region(64);
  await using ring = IoRing.create();
  const read = ring.read(FileRef.raw(h), BufferRef.raw(buf), 8, 0);
  ring.submit();
  fake.ioring.pending()[0].resistCancel = true;
  const cancel = ring.cancel(read);
  ring.submit();
  assert.equal((await cancel.done).result, 0); // accepted, but only a request
  assert.equal(read.state, "submitted");
  fake.ioring.completeAll();
  assert.equal(await read.bytes(), 8);
  await ring.close();
  buf.free();
  assertClean(fake);
});

/** On scope exit, completes whatever is still in flight (declare it after the ring and tables). */
function completeOnExit(fake: FakeWindows): Disposable {
  return { [Symbol.dispose]: () => void fake.ioring.completeAll() };
}

// Whether a cancel's raw-handle ref matches an op issued through a registered
// index is UNCONFIRMED (reference §5.5): the fake matches either by the
// underlying file or only by the exact ref, and every test runs under both.
for (const cancelMatch of ["file", "exactRef"] as const) {
  Deno.test(`cancel (matched by ${cancelMatch}): an op on a registered file is cancelled through the same index`, async () => {
    using fake = fakeWith({ cancelMatch });
    const h0 = fake.ioring.addFile("zero");
    const h1 = fake.ioring.addFile("one, cancelled");
    using buf = region(64);
    await using ring = IoRing.create();
    await using files = await ring.registerFiles([h0, h1]);
    using _ = completeOnExit(fake); // a failed assertion must not leave the disposals hanging
    const read = ring.read(files.index(1), BufferRef.raw(buf), 8, 0);
    const raw = ring.read(FileRef.raw(h1), BufferRef.raw(buf.slice(32, 8)), 8, 0);
    ring.submit();
    const cancel = ring.cancel(read);
    const rawCancel = ring.cancel(raw);
    const [q, qRaw] = fake.ioring.queued().filter((o) => o.op === OP.CANCEL);
    assert.equal(q.opToCancel, read.userData);
    assert.deepEqual([q.file?.kind, q.file?.index], [1, 1], "a registered ref, index 1");
    assert.deepEqual([qRaw.file?.kind, qRaw.file?.value], [0, h1], "a raw ref for a raw op");
    ring.submit();
    const targets = Promise.all([read.done, raw.done]);
    if (await within(targets, 2000) === "timeout") fake.ioring.completeAll(); // a cancel missed
    const [r, rr] = await targets;
    assert.deepEqual([(await cancel.done).result, r.result], [0, E_ABORT], "registered op");
    assert.deepEqual([(await rawCancel.done).result, rr.result], [0, E_ABORT], "raw op");
    await files[Symbol.asyncDispose]();
    await ring.close();
    buf.free();
    assertClean(fake);
  });

  Deno.test(`cancel (matched by ${cancelMatch}): \`await using\` on the ring ends registered-file ops and finishes`, async () => {
    using fake = fakeWith({ cancelMatch, zeroLengthRegistration: "accepted" });
    const h = fake.ioring.addFile("in flight at close");
    using buf = region(64);
    let read: Promise<number> | undefined;
    const scope = async (): Promise<void> => {
      await using ring = IoRing.create();
      const files = await ring.registerFiles([h]);
      read = ring.read(files.index(0), BufferRef.raw(buf), 8, 0).bytes();
      read.catch(() => {});
      ring.submit();
    }; // the ring closes here: cancel, drain, CloseIoRing
    const closing = scope();
    const outcome = await within(closing, 2000);
    if (outcome === "timeout") {
      fake.ioring.completeAll(); // let the hung close finish, so the test can fail cleanly
      await closing;
    }
    assert.notEqual(outcome, "timeout", "the ring's close must not wait for a cancel that missed");
    await assert.rejects(read!, (e: unknown) => e instanceof HResultError && e.code === E_ABORT);
    assert.equal(buf.holds, 0);
    buf.free();
    assertClean(fake); // no violation: nothing was freed or closed under the kernel
  });

  Deno.test(`cancel (matched by ${cancelMatch}): a table's async dispose cancels its ops and finishes`, async () => {
    using fake = fakeWith({ cancelMatch, zeroLengthRegistration: "accepted" });
    const h = fake.ioring.addFile("table ops");
    using buf = region(64);
    await using ring = IoRing.create();
    const files = await ring.registerFiles([h]);
    using _ = completeOnExit(fake); // a failed assertion must not leave the disposals hanging
    const mine = ring.read(files.index(0), BufferRef.raw(buf), 4, 0);
    ring.submit();
    const disposing = files[Symbol.asyncDispose]();
    const outcome = await within(disposing, 2000);
    if (outcome === "timeout") {
      fake.ioring.completeAll();
      await disposing;
    }
    assert.notEqual(outcome, "timeout", "the table's drain must not wait for a cancel that missed");
    assert.equal((await mine.done).result, E_ABORT);
    assert.deepEqual(fake.ioring.fileTable(), []);
    await ring.close();
    buf.free();
    assertClean(fake);
  });
}

// --- registration semantics ------------------------------------------------------

Deno.test("registering again replaces the previous table; the old object goes inert", async () => {
  using fake = fakeWith();
  const h1 = fake.ioring.addFile("one");
  const h2 = fake.ioring.addFile("two");
  await using ring = IoRing.create();
  const first = await ring.registerFiles([h1]);
  const ref = first.index(0);
  const second = await ring.registerFiles([h2, h1]);
  assert.deepEqual(fake.ioring.fileTable(), [h2, h1]);
  assert.equal(first.live, false);
  assert.equal(second.live, true);
  assert.throws(() => first.index(0), DisposedError);
  using buf = region(8);
  assert.throws(() => ring.read(ref, BufferRef.raw(buf), 1), DisposedError);
  const registrations = fake.base.log.count("BuildIoRingRegisterFileHandles");
  first[Symbol.dispose](); // must not unregister its successor
  assert.equal(fake.base.log.count("BuildIoRingRegisterFileHandles"), registrations);
  assert.deepEqual(fake.ioring.fileTable(), [h2, h1]);
  await second[Symbol.asyncDispose]();
  await ring.close();
  buf.free();
  assertClean(fake);
});

Deno.test("replacing a table with ops in flight is a BusyError and changes nothing", async () => {
  using fake = fakeWith();
  const h = fake.ioring.addFile("busy");
  using buf = region(8);
  await using ring = IoRing.create();
  await using files = await ring.registerFiles([h]);
  const op = ring.read(files.index(0), BufferRef.raw(buf), 4, 0);
  ring.submit();
  const changes = (): number =>
    fake.base.log.only("VirtualAlloc", "BuildIoRingRegisterFileHandles", "SubmitIoRing").length;
  const before = changes();
  await assert.rejects(ring.registerFiles([h]), BusyError);
  assert.throws(() => files[Symbol.dispose](), BusyError);
  assert.equal(changes(), before);
  assert.equal(ring.queued, 0);
  assert.equal(files.live, true);
  assert.equal(files.inFlight, 1);
  fake.ioring.completeAll();
  await op.done;
  assert.equal(files.inFlight, 0);
  await files[Symbol.asyncDispose]();
  await ring.close();
  buf.free();
  assertClean(fake);
});

Deno.test("a rejected registration is an HResultError and no table", async () => {
  using fake = fakeWith();
  await using ring = IoRing.create();
  await assert.rejects(ring.registerFiles([0x4242n]), (e: unknown) => {
    assert.ok(e instanceof HResultError);
    assert.equal(e.code, E_HANDLE);
    assert.equal(e.call, "BuildIoRingRegisterFileHandles");
    return true;
  });
  await assert.rejects(ring.registerFiles([]), RangeError);
  await assert.rejects(ring.registerBuffers([]), RangeError);
  await ring.close();
  assertClean(fake);
});

Deno.test("a rejected buffer registration releases its regions at once", async () => {
  using fake = fakeWith();
  // Memory the fake's VirtualAlloc never handed out: REGISTER_BUFFERS rejects it.
  using foreign = NativeRegion.allocate(4096, { allocator: openFakeHost() });
  using kept = region(64);
  await using ring = IoRing.create();
  const live = await ring.registerBuffers([kept]);
  await assert.rejects(ring.registerBuffers([foreign]), (e: unknown) => {
    assert.ok(e instanceof HResultError);
    assert.equal(e.call, "BuildIoRingRegisterBuffers");
    return true;
  });
  // The kernel never took the rejected regions: nothing may keep them held.
  assert.equal(foreign.holds, 0);
  foreign.free();
  // The previous registration is still the kernel's (UNCONFIRMED whether a
  // failed one replaces it), so its regions stay held until the ring closes.
  assert.equal(live.live, false);
  assert.equal(kept.holds, 1);
  await ring.close();
  assert.equal(kept.holds, 0);
  kept.free();
  assertClean(fake);
});

// A zero-count registration: accepted (the header), refused by the builder, or
// refused by its completion (win-ioring-rs). UNCONFIRMED which (reference
// §5.4): both refusals must end in the same all-sparse table, remembered.
const ZERO_COUNT = ["accepted", "refusedAtBuild", "refusedAtCompletion"] as const;
const SPARSE_BUFFER = { address: 0n, length: 0 };

for (const outcome of ZERO_COUNT) {
  Deno.test(`table release when a zero-count registration is ${outcome}: same fallback, remembered`, async () => {
    using fake = fakeWith({ zeroLengthRegistration: outcome });
    const h = fake.ioring.addFile("z");
    using r0 = region(64);
    using r1 = region(64);
    await using ring = IoRing.create();
    const files = await ring.registerFiles([h, h]);
    const buffers = await ring.registerBuffers([r0, r1]);
    const calls = fake.ioring.registrationCalls;
    calls.length = 0;
    await files[Symbol.asyncDispose]();
    await buffers[Symbol.asyncDispose]();
    assert.equal(fake.ioring.pending().length, 0); // nothing left in flight
    if (outcome === "accepted") {
      assert.deepEqual(fake.ioring.fileTable(), []);
      assert.deepEqual(fake.ioring.bufferTable(), []);
      // One zero-count registration each, with a NULL array.
      assert.deepEqual(calls, [
        { kind: "files", count: 0, nullArray: true },
        { kind: "buffers", count: 0, nullArray: true },
      ]);
    } else {
      // Zero count was refused, so an all-sparse table of the same size replaced it.
      assert.deepEqual(fake.ioring.fileTable(), [INVALID_HANDLE_VALUE, INVALID_HANDLE_VALUE]);
      assert.deepEqual(fake.ioring.bufferTable(), [SPARSE_BUFFER, SPARSE_BUFFER]);
      // The ring remembered: the buffer release went straight to all-sparse.
      assert.deepEqual(calls.map((c) => `${c.kind} ${c.count}`), [
        "files 0",
        "files 2",
        "buffers 2",
      ]);
    }
    // Remembered for every later release on the ring, too.
    calls.length = 0;
    const again = await ring.registerFiles([h]);
    await again[Symbol.asyncDispose]();
    assert.deepEqual(calls.map((c) => `${c.kind} ${c.count}`), [
      "files 1",
      outcome === "accepted" ? "files 0" : "files 1",
    ]);
    // Either way the regions are free to go once the release completed.
    assert.equal(r0.holds, 0);
    assert.equal(r1.holds, 0);
    r0.free();
    r1.free();
    await ring.close();
    assertClean(fake);
  });

  Deno.test(`sync table dispose when a zero-count registration is ${outcome}: queued, same fallback`, async () => {
    using fake = fakeWith({ zeroLengthRegistration: outcome });
    const h = fake.ioring.addFile("z");
    using r0 = region(64);
    await using ring = IoRing.create();
    const files = await ring.registerFiles([h]);
    const buffers = await ring.registerBuffers([r0]);
    files[Symbol.dispose]();
    buffers[Symbol.dispose]();
    assert.equal(files.live, false);
    assert.throws(() => r0.free(), BusyError); // held until the release completes
    await ring.submit({ wait: "all" });
    // A refusal at completion learns only now: its sparse retry goes with the next submit.
    await ring.submit({ wait: "all" });
    const refused = outcome !== "accepted";
    assert.deepEqual(fake.ioring.fileTable(), refused ? [INVALID_HANDLE_VALUE] : []);
    assert.deepEqual(fake.ioring.bufferTable(), refused ? [SPARSE_BUFFER] : []);
    assert.equal(ring.queued, 0);
    assert.equal(r0.holds, 0);
    r0.free();
    await ring.close();
    assertClean(fake);
  });
}

Deno.test("sync table dispose queues the release; regions stay held until it completes", async () => {
  using fake = fakeWith({ zeroLengthRegistration: "accepted" });
  using r0 = region(64);
  await using ring = IoRing.create();
  const buffers = await ring.registerBuffers([r0]);
  buffers[Symbol.dispose]();
  buffers[Symbol.dispose](); // idempotent
  assert.equal(buffers.live, false);
  assert.throws(() => buffers.slice(0), DisposedError);
  assert.equal(ring.queued, 1); // the release, sent with the next submit
  assert.throws(() => r0.free(), BusyError);
  await ring.submit({ wait: "all" });
  assert.deepEqual(fake.ioring.bufferTable(), []);
  assert.equal(r0.holds, 0);
  r0.free();
  await ring.close();
  assertClean(fake);
});

Deno.test("registration arrays live in native memory until the registration completes", async () => {
  using fake = fakeWith({ registrationsCompleteAtSubmit: false });
  const h = fake.ioring.addFile("late");
  await using ring = IoRing.create();
  const pending = ring.registerFiles([h]);
  await timeout(1);
  assert.equal(ring.inFlight, 1);
  assert.throws(() => ring[Symbol.dispose](), BusyError); // the array is still the kernel's
  fake.ioring.completeAll(); // reads the array now: a freed one would be a violation
  const files = await pending;
  assert.deepEqual(fake.ioring.fileTable(), [h]);
  files[Symbol.dispose](); // queues the release
  const closing = ring.close(); // submits it, then waits for it
  assert.equal(ring.inFlight, 1);
  fake.ioring.completeAll();
  await closing;
  assertClean(fake);
});

// --- disposal --------------------------------------------------------------------

Deno.test("sync dispose with ops in flight throws BusyError and changes nothing", async () => {
  using fake = fakeWith();
  const h = fake.ioring.addFile("in flight");
  using buf = region(64);
  const ring = IoRing.create();
  const op = ring.read(FileRef.raw(h), BufferRef.raw(buf), 9, 0);
  ring.submit();
  const before = fake.base.log.calls.length;
  assert.throws(() => ring[Symbol.dispose](), (e: unknown) => {
    assert.ok(e instanceof BusyError);
    assert.equal(e.inFlight, 1);
    return true;
  });
  assert.equal(fake.base.log.count("CloseIoRing"), 0);
  assert.equal(fake.base.log.calls.length, before);
  assert.equal(ring.closed, false);
  fake.ioring.completeAll();
  assert.equal(await op.bytes(), 9); // the ring still works
  ring[Symbol.dispose]();
  buf.free();
  assertClean(fake);
});

Deno.test("async close cancels and drains every submitted op before CloseIoRing", async () => {
  using fake = fakeWith();
  const h = fake.ioring.addFile("0123456789");
  using buf = region(64);
  const ring = IoRing.create();
  const files = await ring.registerFiles([h]);
  const a = ring.read(files.index(0), BufferRef.raw(buf), 4, 0);
  const b = ring.read(FileRef.raw(h), BufferRef.raw(buf.slice(8, 8)), 4, 4);
  ring.submit();
  const c = ring.read(FileRef.raw(h), BufferRef.raw(buf.slice(16, 8)), 4, 4); // built, not submitted
  await ring.close();
  for (const op of [a, b, c]) assert.equal((await op.done).result, E_ABORT);
  assert.equal(ring.closed, true);
  const log = fake.base.log.calls;
  assert.ok(log.lastIndexOf("PopIoRingCompletion") < log.indexOf("CloseIoRing"));
  assert.equal(fake.base.log.count("BuildIoRingCancelRequest"), 3);
  assert.equal(buf.holds, 0);
  files[Symbol.dispose](); // the ring closed: nothing to release
  buf.free();
  assertClean(fake);
});

Deno.test("async close waits for ops that complete after the cancel; nothing is freed before", async () => {
  using fake = fakeWith({ resistCancel: true });
  const h = fake.ioring.addFile("late data");
  using buf = region(64);
  const ring = IoRing.create();
  const buffers = await ring.registerBuffers([buf]);
  const op = ring.read(FileRef.raw(h), buffers.slice(0, 0, 16), 9, 0);
  ring.submit();
  const closing = ring.close();
  assert.equal(ring.close(), closing); // one close
  assert.throws(() => ring.read(FileRef.raw(h), BufferRef.raw(buf), 1), DisposedError);
  await timeout(5);
  assert.equal(fake.base.log.count("CloseIoRing"), 0);
  assert.equal(op.state, "submitted");
  assert.throws(() => ring[Symbol.dispose](), BusyError);
  assert.equal(buf.holds, 1);
  fake.ioring.completeAll(); // the late completion writes into the registered buffer
  await closing;
  assert.equal(await op.bytes(), 9);
  assert.equal(text.decode(buf.bytes.subarray(0, 9)), "late data");
  assert.equal(fake.base.log.count("CloseIoRing"), 1);
  assert.equal(buf.holds, 0);
  assert.equal(buffers.live, false);
  await ring.close(); // idempotent
  ring[Symbol.dispose]();
  assert.equal(fake.base.log.count("CloseIoRing"), 1);
  buf.free();
  assertClean(fake);
});

Deno.test("a failing PopIoRingCompletion makes close reject, freeing nothing, instead of hanging", async () => {
  using fake = fakeWith();
  const h = fake.ioring.addFile("abc");
  const buf = region(64);
  const ring = IoRing.create();
  const op = ring.read(FileRef.raw(h), BufferRef.raw(buf), 3, 0);
  ring.submit();
  const k = fake.api.kernel as { PopIoRingCompletion: unknown };
  const pop = k.PopIoRingCompletion;
  k.PopIoRingCompletion = (): number => IORING_E_CORRUPT;
  const outcome = await within(ring.close().then(() => "closed", (e: unknown) => e), 2000);
  assert.ok(outcome instanceof RegioError, `close settled with ${String(outcome)}`);
  assert.ok(outcome.cause instanceof HResultError);
  assert.equal(outcome.cause.code, IORING_E_CORRUPT);
  // Nothing was released under the kernel.
  assert.equal(fake.base.log.count("CloseIoRing"), 0);
  assert.equal(ring.closed, false);
  assert.throws(() => buf.free(), BusyError);
  assert.equal(op.state, "submitted");
  // Once popping works again, close can finish the job.
  k.PopIoRingCompletion = pop;
  await ring.close();
  assert.equal((await op.done).result, E_ABORT);
  buf.free();
  assertClean(fake);
});

Deno.test("the fake catches a wrapper that closes early: a late write is a violation", () => {
  // Guards the guard: drive the fake directly like a careless wrapper would.
  using fake = fakeWith();
  const h = fake.ioring.addFile("late");
  using buf = region(64);
  const k = fake.api.kernel;
  const out = new BigUint64Array(1);
  assert.equal(k.CreateIoRing!(1, 0n, 4, 8, Deno.UnsafePointer.of(out)), 0);
  const ring = Deno.UnsafePointer.create(out[0]);
  const ref = region(64);
  const v = ref.view;
  v.setUint32(0, 0, true);
  v.setBigUint64(8, h, true);
  v.setUint32(16, 0, true);
  v.setBigUint64(24, buf.address, true);
  const fileRef = ref.pointer;
  const bufRef = Deno.UnsafePointer.offset(ref.pointer, 16);
  assert.equal(k.BuildIoRingReadFile!(ring, fileRef, bufRef, 4, 0n, 7n, 0), 0);
  assert.equal(k.SubmitIoRing!(ring, 0, 0, null), 0);
  assert.equal(k.CloseIoRing!(ring), 0); // neither cancels nor waits
  buf.free();
  fake.ioring.completeAll();
  assert.deepEqual(fake.ioring.violations, [
    "CloseIoRing with 1 op(s) in flight",
    "read userData 7: write into memory after CloseIoRing",
    "read userData 7: write into unmapped (freed) memory",
  ]);
  ref.free();
});

Deno.test("sync dispose abandons entries that were never submitted", async () => {
  using fake = fakeWith();
  const h = fake.ioring.addFile("never");
  using buf = region(64);
  const ring = IoRing.create();
  const op = ring.read(FileRef.raw(h), BufferRef.raw(buf), 4, 0);
  ring[Symbol.dispose]();
  assert.equal(op.state, "abandoned");
  assert.equal((await op.done).result, E_ABORT);
  assert.equal(fake.base.log.count("SubmitIoRing"), 0);
  assert.equal(buf.holds, 0);
  buf.free();
  assertClean(fake);
});

Deno.test("use after dispose is a DisposedError; dispose is idempotent", async () => {
  using fake = fakeWith();
  const h = fake.ioring.addFile("x");
  using buf = region(64);
  const ring = IoRing.create();
  const files = await ring.registerFiles([h]);
  ring[Symbol.dispose]();
  ring[Symbol.dispose]();
  await ring.close();
  assert.equal(fake.base.log.count("CloseIoRing"), 1);
  assert.equal(fake.base.log.count("CloseHandle"), 1);
  assert.throws(() => ring.read(FileRef.raw(h), BufferRef.raw(buf), 1), DisposedError);
  assert.throws(() => ring.submit(), DisposedError);
  assert.throws(() => ring.poll(), DisposedError);
  assert.throws(() => ring.isSupported("read"), DisposedError);
  await assert.rejects(ring.registerFiles([h]), DisposedError);
  assert.throws(() => files.index(0), DisposedError);
  files[Symbol.dispose]();
  await files[Symbol.asyncDispose]();
  buf.free();
  assertClean(fake);
});

Deno.test("a table's async dispose cancels its own ops first", async () => {
  using fake = fakeWith({ zeroLengthRegistration: "accepted" });
  const h = fake.ioring.addFile("table ops");
  using buf = region(64);
  await using ring = IoRing.create();
  const files = await ring.registerFiles([h]);
  const mine = ring.read(files.index(0), BufferRef.raw(buf), 4, 0);
  const other = ring.read(FileRef.raw(h), BufferRef.raw(buf.slice(32, 8)), 4, 0);
  ring.submit();
  // The raw-handle read shares the handle, but the cancel names its userData.
  await files[Symbol.asyncDispose]();
  assert.equal((await mine.done).result, E_ABORT);
  assert.equal(other.state, "submitted");
  assert.deepEqual(fake.ioring.fileTable(), []);
  fake.ioring.completeAll();
  assert.equal(await other.bytes(), 4);
  await ring.close();
  buf.free();
  assertClean(fake);
});

// --- version gating --------------------------------------------------------------

Deno.test("write/flush need version 300 and scatter/gather 400: UnsupportedError before any call", async () => {
  {
    using fake = fakeWith({ maxVersion: 400 });
    const h = fake.ioring.addFile("x");
    using buf = region(64);
    using ring = IoRing.create({ version: 2 });
    const f = FileRef.raw(h);
    assert.throws(() => ring.write(f, BufferRef.raw(buf), 1), /IORING_VERSION 300\+/);
    assert.throws(() => ring.flush(f), /IORING_VERSION 300\+/);
    assert.throws(() => ring.readScatter(f, [], 1), /IORING_VERSION 400\+/);
    assert.throws(
      () => ring.read(f, BufferRef.raw(buf), 1, 0, { drainPreceding: true }),
      UnsupportedError,
    );
    assert.equal(fake.base.log.count("BuildIoRingWriteFile"), 0);
    assert.equal(ring.queued, 0);
    ring[Symbol.dispose]();
    buf.free();
    assertClean(fake);
  }
  {
    // An OS at MaxVersion 300 whose kernelbase lacks the l1-1-2 builders.
    using fake = fakeWith({ maxVersion: 300 });
    const h = fake.ioring.addFile("x");
    using buf = region(4096);
    using ring = IoRing.create();
    assert.throws(() => ring.readScatter(FileRef.raw(h), [buf.slice(0, 4096)], 1), (e: unknown) => {
      assert.ok(e instanceof UnsupportedError);
      assert.match(e.message, /BuildIoRingReadFileScatter/);
      assert.match(e.message, /26100/);
      return true;
    });
    ring[Symbol.dispose]();
    buf.free();
    assertClean(fake);
  }
  await Promise.resolve();
});

Deno.test("version 300: write, flush with DRAIN_PRECEDING_OPS", async () => {
  using fake = fakeWith({ maxVersion: 300 });
  const h = fake.ioring.addFile("........");
  using buf = region(64);
  buf.bytes.set(new TextEncoder().encode("WRITE"));
  await using ring = IoRing.create();
  const w = ring.write(FileRef.raw(h), BufferRef.raw(buf), 5, 2, { writeThrough: true });
  const f = ring.flush(FileRef.raw(h), { mode: "data", drainPreceding: true });
  const [qw, qf] = fake.ioring.queued();
  assert.equal(qw.writeFlags, 1);
  assert.equal(qf.flushMode, 1);
  assert.equal(qf.sqeFlags, 1);
  ring.submit();
  fake.ioring.completeAll();
  assert.equal(await w.bytes(), 5);
  assert.equal((await f.done).result, 0);
  assert.equal(text.decode(fake.ioring.files.get(h)!.data), "..WRITE.");
  await ring.close();
  buf.free();
  assertClean(fake);
});

Deno.test("version 400: scatter read and gather write over whole pages", async () => {
  using fake = fakeWith({ maxVersion: 400 });
  const data = new Uint8Array(6000).map((_, i) => i % 251);
  const h = fake.ioring.addFile(data);
  using pages = region(3 * 4096);
  await using ring = IoRing.create();
  const segs = [pages.slice(8192, 4096), pages.slice(0, 4096)]; // out of order on purpose
  assert.throws(() => ring.readScatter(FileRef.raw(h), [pages.slice(1, 4096)], 10), RangeError);
  assert.throws(() => ring.readScatter(FileRef.raw(h), segs, 8193), RangeError);
  const r = ring.readScatter(FileRef.raw(h), segs, 8192, 0);
  ring.submit();
  fake.ioring.completeAll();
  assert.equal(await r.bytes(), 6000);
  assert.deepEqual(pages.bytes.subarray(8192, 12288), data.subarray(0, 4096));
  assert.deepEqual(pages.bytes.subarray(0, 6000 - 4096), data.subarray(4096));
  const out = fake.ioring.addFile("");
  const g = ring.writeGather(FileRef.raw(out), [pages.slice(8192, 4096)], 100, 0);
  ring.submit();
  fake.ioring.completeAll();
  assert.equal(await g.bytes(), 100);
  assert.deepEqual(fake.ioring.files.get(out)!.data, data.subarray(0, 100));
  await ring.close();
  pages.free();
  assertClean(fake);
});
