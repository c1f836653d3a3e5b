// NativeRegion (src/memory.ts) on Linux, backed by real mmap through libc.
// libc is opened at module load (before any test) so the resource sanitizer
// does not count the process-wide library handle against a test.

import assert from "node:assert/strict";
import { type Allocator, defaultAllocator, NativeRegion } from "../src/memory.ts";
import { BusyError, DisposedError } from "../src/errors.ts";

const linux = Deno.build.os === "linux";
if (linux) defaultAllocator();
const PAGE = linux ? defaultAllocator().pageSize : 4096;

/** An allocator wrapping another, counting calls (to see that a refused free released nothing). */
function counting(inner: Allocator): Allocator & { allocs: number; releases: number } {
  const a = {
    name: `counting(${inner.name})`,
    pageSize: inner.pageSize,
    allocs: 0,
    releases: 0,
    allocate(size: number): Deno.PointerObject {
      a.allocs++;
      return inner.allocate(size);
    },
    release(p: Deno.PointerObject, size: number): void {
      a.releases++;
      inner.release(p, size);
    },
  };
  return a;
}

/** A test that needs Linux (mmap through libc); ignored elsewhere. */
function linuxTest(name: string, fn: () => void): void {
  Deno.test({ name, ignore: !linux, fn });
}

linuxTest("NativeRegion: page-aligned, zero-filled, mapped length rounded up to pages", () => {
  assert.ok(PAGE >= 4096 && (PAGE & (PAGE - 1)) === 0, `page size ${PAGE}`);
  for (const size of [1, 100, PAGE, PAGE + 1, 3 * PAGE + 7]) {
    using r = NativeRegion.allocate(size);
    assert.equal(r.byteLength, size);
    assert.equal(r.mappedLength, Math.ceil(size / PAGE) * PAGE);
    assert.equal(r.address % BigInt(PAGE), 0n, `address of ${size}`);
    assert.equal(Deno.UnsafePointer.value(r.pointer), r.address);
    assert.equal(r.bytes.length, size);
    assert.equal(r.view.byteLength, size);
    assert.ok(r.bytes.every((b) => b === 0), `zero fill of ${size}`);
    assert.equal(r.freed, false);
    assert.equal(r.holds, 0);
  }
});

linuxTest("NativeRegion: the JS view is the native memory (zero-copy both ways)", () => {
  using r = NativeRegion.allocate(64);
  r.bytes[5] = 0xab;
  assert.equal(new Deno.UnsafePointerView(r.pointer).getUint8(5), 0xab);
  r.view.setUint32(8, 0xdeadbeef, true);
  assert.equal(new Deno.UnsafePointerView(r.pointer).getUint32(8), 0xdeadbeef);
  const s = r.slice(8, 4);
  assert.equal(s.address, r.address + 8n);
  assert.deepEqual([...s.bytes], [0xef, 0xbe, 0xad, 0xde]);
  s.bytes[0] = 1;
  assert.equal(r.bytes[8], 1);
});

linuxTest(
  "NativeRegion.allocate: zero, negative, fractional, NaN and huge lengths are RangeErrors",
  () => {
    const a = counting(defaultAllocator());
    for (const bad of [0, -1, 1.5, NaN, Infinity, 2 ** 40 + 1, "8" as unknown as number]) {
      assert.throws(() => NativeRegion.allocate(bad, { allocator: a }), RangeError, String(bad));
    }
    assert.equal(a.allocs, 0, "nothing allocated for a rejected length");
  },
);

linuxTest(
  "NativeRegion.slice: bounds-checked (negative, fractional, NaN, out of range, overflow)",
  () => {
    using r = NativeRegion.allocate(100);
    // In range, including the edges.
    assert.deepEqual([r.slice(0, 100).offset, r.slice(0, 100).length], [0, 100]);
    assert.equal(r.slice(99, 1).length, 1);
    assert.equal(r.slice(100, 0).length, 0);
    assert.equal(r.slice(40, 60).bytes.length, 60);
    const bad: [number, number][] = [
      [-1, 1],
      [0, -1],
      [1.5, 1],
      [0, 2.5],
      [NaN, 1],
      [0, NaN],
      [101, 0],
      [0, 101],
      [50, 51],
      [100, 1],
      [99, 2],
      [2 ** 53, 1],
      [1, 2 ** 53 - 1], // offset + length overflows the region, not a double
      [Infinity, 0],
      [0, Infinity],
    ];
    for (const [offset, length] of bad) {
      assert.throws(() => r.slice(offset, length), RangeError, `slice(${offset}, ${length})`);
      assert.throws(() => r.checkRange(offset, length), RangeError);
    }
    assert.throws(() => r.checkRange(0, 0, 1), RangeError, "minLength");
  },
);

linuxTest("NativeRegion: free while retained throws BusyError and changes nothing", () => {
  const a = counting(defaultAllocator());
  const r = NativeRegion.allocate(PAGE, { allocator: a });
  const bytes = r.bytes;
  bytes[0] = 7;
  const releaseA = r.retain("RIO buffer registration");
  const releaseB = r.retain("I/O ring buffer table");
  assert.equal(r.holds, 2);
  assert.throws(() => r.free(), (e: unknown) => {
    assert.ok(e instanceof BusyError);
    assert.equal(e.inFlight, 2);
    assert.match(e.message, /RIO buffer registration/);
    assert.match(e.message, /I\/O ring buffer table/);
    return true;
  });
  assert.throws(() => r[Symbol.dispose](), BusyError);
  assert.throws(() => r.close(), BusyError);
  // Nothing changed: not freed, nothing released, the view still works.
  assert.equal(r.freed, false);
  assert.equal(a.releases, 0);
  assert.equal(bytes.length, PAGE);
  assert.equal(bytes[0], 7);
  assert.equal(new Deno.UnsafePointerView(r.pointer).getUint8(0), 7);

  releaseA();
  releaseA(); // releasing twice drops only its own hold
  assert.equal(r.holds, 1);
  assert.throws(() => r.free(), BusyError);
  releaseB();
  assert.equal(r.holds, 0);
  r.free();
  assert.equal(a.releases, 1);
  assert.equal(r.freed, true);
});

linuxTest("NativeRegion: free revokes the view, is idempotent, then DisposedError", () => {
  const a = counting(defaultAllocator());
  const r = NativeRegion.allocate(3 * PAGE, { allocator: a });
  const bytes = r.bytes;
  const view = r.view;
  const slice = r.slice(16, 16);
  const sliceBytes = slice.bytes;
  r.free();
  // Views made before free now see nothing (length 0), so JS cannot touch freed memory.
  assert.equal(bytes.length, 0);
  assert.equal(bytes.byteLength, 0);
  assert.equal(sliceBytes.length, 0);
  assert.equal(bytes[0], undefined);
  assert.throws(() => view.getUint8(0));
  // Released exactly once, with the mapped length.
  assert.equal(a.releases, 1);
  r.free();
  r.close();
  r[Symbol.dispose]();
  assert.equal(a.releases, 1, "free is idempotent");
  assert.equal(r.freed, true);
  for (
    const use of [
      () => r.pointer,
      () => r.address,
      () => r.bytes,
      () => r.view,
      () => r.slice(0, 1),
      () => r.checkRange(0, 1),
      () => r.retain("late"),
      () => slice.bytes,
    ]
  ) {
    assert.throws(use, DisposedError);
  }
});

linuxTest("NativeRegion: `using` frees at the end of the block", () => {
  const a = counting(defaultAllocator());
  let escaped: NativeRegion;
  let bytes: Uint8Array;
  {
    using r = NativeRegion.allocate(10, { allocator: a });
    escaped = r;
    bytes = r.bytes;
    assert.equal(a.allocs, 1);
    assert.equal(a.releases, 0);
  }
  assert.equal(a.releases, 1);
  assert.equal(escaped.freed, true);
  assert.equal(bytes.length, 0);
});

linuxTest("NativeRegion: `using` with a retained region throws BusyError at block end", () => {
  const a = counting(defaultAllocator());
  let leaked: NativeRegion | undefined;
  let release: (() => void) | undefined;
  assert.throws(() => {
    using r = NativeRegion.allocate(10, { allocator: a });
    leaked = r;
    release = r.retain("registration");
  }, BusyError);
  assert.equal(a.releases, 0);
  assert.equal(leaked!.freed, false);
  release!();
  leaked!.free();
  assert.equal(a.releases, 1);
});
