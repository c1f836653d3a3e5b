/**
 * Type-level pins for the I/O ring refs: a wrong ref kind must not
 * type-check. `deno check` (and `deno test`, which checks first) fails if any
 * `@ts-expect-error` line below stops being an error.
 */

import assert from "node:assert/strict";
import { openFakeHost } from "./fakes/fake_base.ts";
import { installFakeWindows } from "./fakes/windows.ts";
import { windowsAllocator } from "../src/windows/api.ts";
import {
  BufferRef,
  type BufferTable,
  type FileHandleTable,
  FileRef,
  IoRing,
  type IoRingOperation,
  NativeRegion,
} from "../src/windows/mod.ts";

openFakeHost(); // the fake's host memory, opened before any test (resource sanitizer)

/** Never called: only type-checked. */
function _typeChecks(
  ring: IoRing,
  files: FileHandleTable,
  buffers: BufferTable,
  region: NativeRegion,
  op: IoRingOperation,
): void {
  const file = files.index(0);
  const buffer = buffers.slice(0, 0, 16);
  ring.read(file, buffer, 16, 0);
  ring.read(FileRef.raw(1n), BufferRef.raw(region), 16, 0n);

  // @ts-expect-error a buffer ref where a file ref is expected
  ring.read(buffer, buffer, 16, 0);
  // @ts-expect-error a file ref where a buffer ref is expected
  ring.read(file, file, 16, 0);
  // @ts-expect-error refs swapped
  ring.write(buffer, file, 16, 0);
  // @ts-expect-error a raw region is not a ref: wrap it with BufferRef.raw
  ring.read(file, region, 16, 0);
  // @ts-expect-error a raw handle is not a ref: wrap it with FileRef.raw
  ring.read(1n, buffer, 16, 0);
  // @ts-expect-error a buffer ref is not a file ref for flush
  ring.flush(buffer);
  // @ts-expect-error scatter takes page slices, not buffer refs
  ring.readScatter(file, [buffer], 16, 0);
  // @ts-expect-error a buffer table is not a file table: it has no index()
  buffers.index(0);
  // @ts-expect-error a file table has no slice()
  files.slice(0);
  // @ts-expect-error cancel takes an operation, not a ref
  ring.cancel(file);
  // @ts-expect-error unknown op name
  ring.isSupported("send");
  // @ts-expect-error flush modes are named
  ring.flush(file, { mode: 1 });
  // @ts-expect-error a FileRef is not structurally a BufferRef
  const _b: BufferRef = file;
  // @ts-expect-error and the other way round
  const _f: FileRef = buffer;
  // @ts-expect-error the plain submit returns a count, not a promise
  const _p: Promise<unknown> = ring.submit();
  const _r: Promise<unknown> = ring.submit({ wait: 1 });
  void op;
}

Deno.test("the ref kinds are told apart at run time too", async () => {
  using fake = installFakeWindows();
  const h = fake.ioring.addFile("x");
  using region = NativeRegion.allocate(64, { allocator: windowsAllocator() });
  await using ring = IoRing.create();
  const file = FileRef.raw(h);
  const buffer = BufferRef.raw(region);
  assert.equal(FileRef.is(file), true);
  assert.equal(FileRef.is(buffer), false);
  assert.equal(BufferRef.is(buffer), true);
  assert.equal(BufferRef.is(file), false);
  assert.equal(BufferRef.is({ ...buffer }), false); // a look-alike is not a ref
  assert.throws(() => ring.read(buffer as unknown as FileRef, buffer, 1), TypeError);
  assert.throws(() => ring.read(file, file as unknown as BufferRef, 1), TypeError);
  assert.equal(fake.base.log.count("BuildIoRingReadFile"), 0);
  await ring.close();
  region.free();
  assert.equal(fake.base.liveAllocations, 0);
});
