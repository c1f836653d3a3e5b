// Property tests of FileRing's request checks, over every bound (fast-check).
//
// Each request field (file, buffer, bufferOffset, length, position) is drawn
// at and around its bounds, and as everything else a caller can hand over:
// negatives, -0, fractions, NaN, ±Infinity, 2^53, BigInts, strings, objects,
// and requests whose getters answer differently on the second read.
// Properties:
// - a bad request is a TypeError/RangeError naming the request and the field
//   (`requests[2].length`), thrown synchronously, and changes nothing: no
//   operation in flight, nothing built or submitted, the ring still works;
// - a good one reaches the kernel with exactly the checked values, read once:
//   seen in the Windows fake's decoded I/O ring entries (file index, buffer
//   index and offset, length, file offset), and on Linux in the SQE bytes the
//   ring hands the kernel (tests/sqe_tap.ts), then read back from the files.
//
// Runs per property are in the `params(…)` calls (tests/property_util.ts:
// REGIO_FUZZ=k multiplies them; `deno task test:fuzz` sets 10).
// A failure prints fast-check's seed and path; replay it with
//   REGIO_SEED=<seed> REGIO_PATH=<path> deno test -A tests/property_files_test.ts --filter "<name>"

import assert from "node:assert/strict";
import { FileRing, type IoRequest } from "../mod.ts";
import { checkRequests } from "../src/files/requests.ts";
import { aroundBounds, fc, isIntIn, params } from "./property_util.ts";
import { installFakeWindows } from "./fakes/windows.ts";
import { openFakeHost } from "./fakes/fake_base.ts";
import { ignore, pattern, tempDir } from "./linux_util.ts";
import { SqeTap } from "./sqe_tap.ts";

openFakeHost();

const FIELDS = ["file", "buffer", "bufferOffset", "length", "position"] as const;
type Field = typeof FIELDS[number];
const ABSENT = Symbol("absent");

interface Shape {
  nFiles: number;
  count: number;
  size: number;
}

/** How a generated request is built. */
interface Spec {
  form: "plain" | "getters" | "flip" | "not-an-object";
  values: Record<Field, unknown>;
  notObject: unknown;
}

/** A valid value for a field most of the time, anything at or around a bound otherwise. */
function fieldArbs(s: Shape, wildness: number): Record<Field, fc.Arbitrary<unknown>> {
  const mix = (valid: fc.Arbitrary<unknown>, wild: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> =>
    wildness === 0 ? valid : fc.oneof(
      { weight: 4 * wildness, arbitrary: valid },
      { weight: 1, arbitrary: wild },
    );
  const half = Math.floor(s.size / 2);
  return {
    file: mix(fc.integer({ min: 0, max: s.nFiles - 1 }), aroundBounds(0, s.nFiles - 1, s.nFiles)),
    buffer: mix(fc.integer({ min: 0, max: s.count - 1 }), aroundBounds(0, s.count - 1, s.count)),
    bufferOffset: fc.oneof(
      { weight: 2, arbitrary: fc.constant(ABSENT) },
      { weight: 3, arbitrary: fc.integer({ min: 0, max: s.size }) },
      ...(wildness === 0 ? [] : [{ weight: 1, arbitrary: aroundBounds(0, half, s.size) }]),
    ),
    length: mix(fc.integer({ min: 0, max: s.size }), aroundBounds(0, 1, s.size)),
    position: mix(
      fc.oneof(fc.integer({ min: 0, max: 256 }), fc.constantFrom(2 ** 53 - 1, 2 ** 32)),
      aroundBounds(0, 2 ** 32, 2 ** 53 - 1),
    ),
  };
}

/**
 * One request: `wildness` 0 gives only good ones; otherwise about one field
 * in 4 × wildness + 1 is drawn at or around its bounds (or the request is
 * not an object).
 */
function specArb(s: Shape, wildness = 1): fc.Arbitrary<Spec> {
  const f = fieldArbs(s, wildness);
  const forms = fc.constantFrom<Spec["form"]>("plain", "getters", "flip");
  const notObject = fc.constantFrom<unknown>(null, undefined, 0, "req", 1n, true);
  if (wildness === 0) {
    // Good by construction: the length fits after the offset.
    return fc.record({ form: forms, values: fc.record(f), notObject }).map((sp) => {
      const v = sp.values as Record<Field, number | typeof ABSENT>;
      const offset = v.bufferOffset === ABSENT ? 0 : v.bufferOffset;
      v.length = Math.min(v.length as number, s.size - offset);
      return sp;
    });
  }
  return fc.record({
    form: fc.oneof(
      { weight: 6 * wildness, arbitrary: forms },
      { weight: 1, arbitrary: fc.constant<Spec["form"]>("not-an-object") },
    ),
    values: fc.record(f),
    notObject,
  });
}

/** Counts each field's reads; a "flip" request answers -1 from the second read on. */
class Built {
  readonly reads: Record<string, number> = {};
  readonly request: unknown;
  constructor(readonly spec: Spec) {
    if (spec.form === "not-an-object") {
      this.request = spec.notObject;
      return;
    }
    const r: Record<string, unknown> = {};
    for (const k of FIELDS) {
      const v = spec.values[k];
      if (v === ABSENT) continue;
      if (spec.form === "plain") r[k] = v;
      else {
        Object.defineProperty(r, k, {
          enumerable: true,
          get: () => {
            const n = (this.reads[k] = (this.reads[k] ?? 0) + 1);
            return spec.form === "flip" && n > 1 ? -1 : v;
          },
        });
      }
    }
    this.request = r;
  }
}

type Verdict =
  | { ok: true; checked: [number, number, number, number][] }
  | { ok: false; index: number; name: string; type: "TypeError" | "RangeError" | "either" };

/**
 * What the library must answer, from the rules in its docs: the first bad
 * field wins; then, for reads, the first request whose bytes overlap an
 * earlier one's in the same buffer (empty ranges claim nothing).
 */
function verdict(specs: readonly Spec[], s: Shape, write: boolean): Verdict {
  const checked: [number, number, number, number][] = [];
  for (const [i, spec] of specs.entries()) {
    if (spec.form === "not-an-object") {
      const v = spec.notObject;
      if (typeof v !== "object" || v === null) {
        return { ok: false, index: i, name: "", type: "TypeError" };
      }
    }
    const v = spec.values;
    const offset =
      v.bufferOffset === ABSENT || v.bufferOffset === undefined || v.bufferOffset === null
        ? 0
        : v.bufferOffset;
    const bad = (name: string): Verdict => ({ ok: false, index: i, name, type: "either" });
    if (!isIntIn(v.file, 0, s.nFiles - 1)) return bad("file");
    if (!isIntIn(v.buffer, 0, s.count - 1)) return bad("buffer");
    if (!isIntIn(offset, 0, s.size)) return bad("bufferOffset");
    if (!isIntIn(v.length, 0, s.size - offset)) return bad("length");
    if (!isIntIn(v.position, 0, Number.MAX_SAFE_INTEGER)) return bad("position");
    checked.push([v.file + 0, v.buffer * s.size + offset + 0, v.length + 0, v.position + 0]);
  }
  if (!write) {
    for (let i = 0; i < checked.length; i++) {
      const [, a, n] = checked[i];
      const overlaps = checked.slice(0, i).some(([, b, m]) =>
        n > 0 && m > 0 && Math.floor(a / s.size) === Math.floor(b / s.size) && a < b + m &&
        b < a + n
      );
      if (overlaps) return { ok: false, index: i, name: "", type: "RangeError" };
    }
  }
  return { ok: true, checked };
}

function assertRejected(e: unknown, v: Verdict & { ok: false }): void {
  const want = v.name === "" ? `requests[${v.index}]` : `requests[${v.index}].${v.name}`;
  assert.ok(e instanceof TypeError || e instanceof RangeError, `a typed error, got ${e}`);
  if (v.type !== "either") {
    assert.equal(e.constructor, v.type === "TypeError" ? TypeError : RangeError);
  }
  assert.ok(e.message.includes(want), `"${e.message}" names ${want}`);
}

function assertReadOnce(built: readonly Built[]): void {
  for (const b of built) {
    for (const [k, n] of Object.entries(b.reads)) assert.ok(n <= 1, `${k} read ${n} times`);
  }
}

/** A batch of good requests, or one with a bad request or two among them. */
function batchArb(s: Shape, maxLength: number): fc.Arbitrary<Spec[]> {
  return fc.oneof(
    fc.array(specArb(s, 0), { maxLength }),
    fc.array(specArb(s, 8), { maxLength }),
    fc.array(specArb(s, 1), { maxLength }),
  );
}

/** Empties the fake's call logs (counts are taken per run). */
function clearFakeLogs(fake: ReturnType<typeof installFakeWindows>): void {
  fake.base.log.clear();
  fake.ioring.userDatas.length = 0;
  fake.ioring.refAlignment.length = 0;
}

/** Good writes stay below 4 KiB: at 2^53 - 1 one is EFBIG, or a huge (sparse) file. */
function keepWritesSmall(specs: Spec[]): void {
  for (const sp of specs) {
    if (isIntIn(sp.values.position, 4097, Number.MAX_SAFE_INTEGER)) sp.values.position = 4096;
  }
}

const shapeArb: fc.Arbitrary<Shape> = fc.record({
  nFiles: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constantFrom(1 << 20)),
  count: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.constantFrom(65536)),
  size: fc.oneof(fc.integer({ min: 1, max: 70 }), fc.constantFrom(4096, 2 ** 30)),
});

Deno.test("property: checkRequests accepts exactly the good requests, reads each field once, returns the checked values", () => {
  fc.assert(
    fc.property(
      shapeArb.chain((s) => fc.tuple(fc.constant(s), fc.array(specArb(s), { maxLength: 4 }))),
      ([s, specs]) => {
        const built = specs.map((sp) => new Built(sp));
        const v = verdict(specs, s, true); // checkRequests checks fields; overlaps are the ring's
        let got: Float64Array | undefined;
        try {
          got = checkRequests(
            built.map((b) => b.request) as IoRequest[],
            s.nFiles,
            s.count,
            s.size,
          );
        } catch (e) {
          if (v.ok) throw new Error(`a good batch was refused: ${e}`);
          assertRejected(e, v);
        }
        if (got) {
          assert.ok(v.ok, `a bad batch passed (${!v.ok && `requests[${v.index}].${v.name}`})`);
          assert.deepEqual([...got], v.checked.flat());
          assert.ok(got.every((x) => !Object.is(x, -0)), "no -0 reaches the FFI");
        }
        assertReadOnce(built);
      },
    ),
    params(60_000),
  );
});

// ---- through the whole ring: the Windows fake's decoded entries ----

const OP_READ = 1, OP_WRITE = 5; // the fake's op codes
const FILE_BYTES = [0, 1, 100, 300];

Deno.test("property: FileRing on the Windows fake: bad batches change nothing; good ones reach the I/O ring as checked", async () => {
  using fake = installFakeWindows();
  const shape: Shape = { nFiles: 4, count: 4, size: 64 };
  const depth = 6;
  const paths = FILE_BYTES.map((_, i) => `C:\\p${i}`);
  const handles = FILE_BYTES.map((n, i) => fake.ioring.addFile(pattern(n, i + 1)));
  let opened = 0;
  (fake.api.kernel as { CreateFileW: unknown }).CreateFileW = (): Deno.PointerValue =>
    Deno.UnsafePointer.create(handles[opened++]);
  await using ring = FileRing.open({ backend: "ioring", depth });
  using files = await ring.openFiles(paths, { write: true });
  using pool = await ring.registerBuffers({ count: shape.count, size: shape.size });
  const log = fake.base.log;
  const builds = (): number =>
    log.count("BuildIoRingReadFile") + log.count("BuildIoRingWriteFile") +
    log.count("SubmitIoRing");

  await fc.assert(
    fc.asyncProperty(
      fc.boolean(),
      batchArb(shape, depth + 1),
      async (write, specs) => {
        if (write) keepWritesSmall(specs);
        const built = specs.map((sp) => new Built(sp));
        const requests = built.map((b) => b.request) as IoRequest[];
        clearFakeLogs(fake); // they grow with every call: counts would cost O(runs)
        const before = [
          ring.inFlight,
          files.inFlight,
          pool.inFlight,
          builds(),
          fake.ioring.pending().length,
        ];
        const v: Verdict = specs.length > depth
          ? { ok: false, index: -1, name: "", type: "RangeError" }
          : verdict(specs, shape, write);
        let p: Promise<number[]> | undefined;
        try {
          p = write ? ring.writeMany(requests) : ring.readMany(requests);
        } catch (e) {
          assert.ok(!v.ok, `a good batch was refused: ${e}`);
          if (v.index === -1) assert.match(String(e), /RangeError: number of requests/);
          else assertRejected(e, v);
        }
        assertReadOnce(built);
        if (!p) {
          assert.deepEqual(
            [ring.inFlight, files.inFlight, pool.inFlight, builds(), fake.ioring.pending().length],
            before,
            "a refused batch changes nothing",
          );
          return;
        }
        if (!v.ok) throw new assert.AssertionError({ message: "a bad batch was accepted" });
        const checked = v.checked;
        const ops = fake.ioring.pending();
        assert.equal(ops.length, checked.length);
        const expected: number[] = [];
        for (const [i, op] of ops.entries()) {
          const [file, at, length, position] = checked[i];
          assert.deepEqual(
            [
              op.op,
              op.file?.kind,
              op.file?.index,
              op.buffer?.kind,
              op.buffer?.index,
              op.buffer?.offset,
              op.length,
              op.fileOffset,
            ],
            [write ? OP_WRITE : OP_READ, 1, file, 1, 0, at, length, BigInt(position)],
            `request ${i} as the kernel sees it`,
          );
          const size = fake.ioring.files.get(handles[file])!.data.length;
          expected.push(write ? length : Math.max(0, Math.min(length, size - position)));
        }
        fake.ioring.completeAll();
        assert.deepEqual(await p, expected);
        assert.equal(ring.inFlight, 0);
      },
    ),
    params(10_000),
  );
  // Still works: a plain read lands where it should.
  const p = ring.read({ file: 3, buffer: 1, bufferOffset: 3, length: 5, position: 2 });
  fake.ioring.completeAll();
  assert.equal(await p, 5);
  assert.deepEqual(
    pool.bytes(1).subarray(3, 8),
    fake.ioring.files.get(handles[3])!.data.subarray(2, 7),
  );
  assert.deepEqual(fake.ioring.violations, []);
});

// ---- on the real kernel: the SQE bytes, then the bytes read ----

const IORING_OP_READ_FIXED = 4, IORING_OP_WRITE_FIXED = 5, IOSQE_FIXED_FILE = 1;

Deno.test({
  name:
    "property: FileRing on io_uring: bad batches submit nothing; good ones are the SQEs the kernel reads",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    using tap = new SqeTap();
    const shape: Shape = { nFiles: 3, count: 4, size: 64 };
    const depth = 8;
    const model = [0, 70, 200].map((n, i) => pattern(n, 10 + i));
    const paths = model.map((data, i) => {
      const path = `${dir.path}/f${i}`;
      Deno.writeFileSync(path, data);
      return path;
    });
    const ring = tap.tapNew(() => FileRing.open({ depth }));
    assert.equal(tap.rings, 1, "the ring's fd was found");
    try {
      using files = await ring.openFiles(paths, { write: true });
      using pool = await ring.registerBuffers({ count: shape.count, size: shape.size });
      const base = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(pool.bytes(0))));
      tap.take();
      await fc.assert(
        fc.asyncProperty(
          fc.boolean(),
          batchArb(shape, depth),
          fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }),
          async (write, specs, fill) => {
            if (write) keepWritesSmall(specs);
            for (let b = 0; b < shape.count; b++) pool.bytes(b).fill(fill[b]);
            const built = specs.map((sp) => new Built(sp));
            const requests = built.map((b) => b.request) as IoRequest[];
            const v = verdict(specs, shape, write);
            let p: Promise<number[]> | undefined;
            try {
              p = write ? ring.writeMany(requests) : ring.readMany(requests);
            } catch (e) {
              assert.ok(!v.ok, `a good batch was refused: ${e}`);
              assertRejected(e, v);
            }
            assertReadOnce(built);
            if (!p) {
              await Promise.resolve(); // the ring submits at the end of the tick
              assert.deepEqual([ring.inFlight, files.inFlight, pool.inFlight], [0, 0, 0]);
              assert.deepEqual(tap.take(), [], "nothing reached the kernel");
              return;
            }
            if (!v.ok) throw new assert.AssertionError({ message: "a bad batch was accepted" });
            const results = await p;
            const sqes = tap.take();
            assert.equal(sqes.length, v.checked.length, "one SQE per request");
            for (const [i, [file, at, length, position]] of v.checked.entries()) {
              const q = sqes[i];
              assert.deepEqual(
                [q.opcode, q.flags & IOSQE_FIXED_FILE, q.fd, q.off, q.addr, q.len, q.bufIndex],
                [
                  write ? IORING_OP_WRITE_FIXED : IORING_OP_READ_FIXED,
                  IOSQE_FIXED_FILE,
                  file,
                  BigInt(position),
                  base + BigInt(at),
                  length,
                  0,
                ],
                `request ${i}'s SQE`,
              );
            }
            // What the kernel did with them, against the model of the files.
            const region = new Uint8Array(
              pool.bytes(0).buffer,
              pool.bytes(0).byteOffset,
              shape.count * shape.size,
            );
            for (const [i, [file, at, length, position]] of v.checked.entries()) {
              // Operations of one batch run in no set order: skip what another one overlaps.
              const overlapped = v.checked.some(([f, a, l, pos], j) =>
                j !== i &&
                (write
                  ? f === file && pos < position + length && position < pos + l
                  : a < at + length && at < a + l)
              );
              if (write) {
                assert.equal(results[i], length, `request ${i}: bytes written`);
                const disk = Deno.readFileSync(paths[file]);
                if (!overlapped) {
                  assert.deepEqual(
                    disk.subarray(position, position + length),
                    region.subarray(at, at + length),
                  );
                }
              } else {
                const data = model[file];
                const n = Math.max(0, Math.min(length, data.length - position));
                assert.equal(results[i], n, `request ${i}: bytes read`);
                if (!overlapped) {
                  assert.deepEqual(
                    region.subarray(at, at + n),
                    data.subarray(position, position + n),
                  );
                }
              }
            }
            if (write) {
              for (const [file] of v.checked) model[file] = Deno.readFileSync(paths[file]);
            }
          },
        ),
        params(600),
      );
      for (const [i, path] of paths.entries()) {
        assert.deepEqual(Deno.readFileSync(path), model[i], `file ${i} as the model says`);
      }
    } finally {
      await ring[Symbol.asyncDispose]();
    }
  },
});
