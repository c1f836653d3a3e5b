/**
 * The I/O ring fake itself, held to the documented facts in
 * shared/reference/windows-api.md §1 (driven through raw symbol calls with
 * structs laid out by hand, so neither the wrapper nor the ABI module is
 * involved). The wrapper's tests are only as good as these facts.
 */

import assert from "node:assert/strict";
import { openFakeHost } from "./fakes/fake_base.ts";
import { installFakeWindows } from "./fakes/windows.ts";
import type { Kernelbase } from "../ffi/windows/kernelbase.ts";

openFakeHost(); // the fake's host memory, opened before any test (resource sanitizer)

const S_OK = 0;
const S_FALSE = 1;
const E_ABORT = 0x80004004 | 0;
const E_INVALIDARG = 0x80070057 | 0;
const HR_NOT_FOUND = 0x80070490 | 0;

/** Native scratch from the fake's own VirtualAlloc: 16-byte-aligned slots. */
function scratch(
  k: Kernelbase,
): { p: Deno.PointerObject; v: DataView; at(o: number): Deno.PointerObject } {
  const p = k.VirtualAlloc(null, 4096n, 0x3000, 0x04)!;
  return {
    p,
    v: new DataView(Deno.UnsafePointerView.getArrayBuffer(p, 4096)),
    at: (o) => Deno.UnsafePointer.offset(p, o)!,
  };
}

function create(
  k: Kernelbase,
  version: number,
  flags: bigint,
  sq: number,
  cq: number,
): { hr: number; ring: Deno.PointerValue } {
  const out = new BigUint64Array(1);
  const hr = k.CreateIoRing!(version, flags, sq, cq, Deno.UnsafePointer.of(out));
  return { hr, ring: Deno.UnsafePointer.create(out[0]) };
}

Deno.test("fake: CreateIoRing checks version, sizes and required flags; rounds SQ and CQ", () => {
  using fake = installFakeWindows({ ioring: { maxVersion: 300, maxSubmissionQueueSize: 64 } });
  const k = fake.api.kernel;
  assert.equal(create(k, 400, 0n, 8, 8).hr, 0x80460003 | 0); // VERSION_NOT_SUPPORTED
  assert.equal(create(k, 1, 1n, 8, 8).hr, 0x80460001 | 0); // unknown Required flag
  assert.equal(create(k, 1, 0xffn << 32n, 8, 8).hr, S_OK); // unknown Advisory flags are ignored
  assert.equal(create(k, 1, 0n, 65, 8).hr, 0x80460004 | 0); // SQ too big
  assert.equal(create(k, 1, 0n, 8, 131073).hr, 0x80460005 | 0); // CQ too big
  const { ring } = create(k, 300, 0n, 20, 20);
  const s = scratch(k);
  assert.equal(k.GetIoRingInfo!(ring, s.p), S_OK);
  assert.deepEqual([0, 4, 8, 12, 16].map((o) => s.v.getUint32(o, true)), [
    300,
    0,
    0xff * 0,
    32,
    64,
  ]);
  assert.deepEqual(fake.ioring.createFlags[2], { required: 0, advisory: 0xff }); // low / high halves
  k.CloseIoRing!(ring);
  k.CloseIoRing!(create(k, 1, 0xffn << 32n, 8, 8).ring);
});

Deno.test("fake: IsIoRingOpSupported is a BOOL; Pop returns S_FALSE and leaves the CQE alone", () => {
  using fake = installFakeWindows({ ioring: { maxVersion: 400 } });
  const k = fake.api.kernel;
  const { ring } = create(k, 1, 0n, 4, 8);
  assert.equal(k.IsIoRingOpSupported!(ring, 1), 1); // TRUE, not S_OK (0)
  assert.equal(k.IsIoRingOpSupported!(ring, 5), 0); // write needs version 300
  assert.equal(k.IsIoRingOpSupported!(null, 1), 0); // invalid handle: unsupported, not an error
  const s = scratch(k);
  s.v.setBigUint64(0, 0xdead_beefn, true);
  assert.equal(k.PopIoRingCompletion!(ring, s.p), S_FALSE);
  assert.equal(s.v.getBigUint64(0, true), 0xdead_beefn);
  k.CloseIoRing!(ring);
  assert.throws(() => k.PopIoRingCompletion!(ring, s.p), /access violation/); // a stale HIORING
  assert.deepEqual(fake.ioring.violations, ["PopIoRingCompletion on a closed or unknown ring"]);
});

Deno.test("fake: the completion event fires only on the CQ's empty → non-empty edge", () => {
  using fake = installFakeWindows();
  const k = fake.api.kernel;
  const { ring } = create(k, 2, 0n, 4, 8);
  const event = k.CreateEventW(null, 1, 0, null); // manual-reset, to count edges
  assert.equal(k.SetIoRingCompletionEvent!(ring, event), S_OK);
  const s = scratch(k);
  // Zero-count file registrations: three CQEs (E_INVALIDARG by default).
  for (const ud of [1n, 2n, 3n]) {
    assert.equal(k.BuildIoRingRegisterFileHandles!(ring, 0, null, ud), S_OK);
  }
  k.SubmitIoRing!(ring, 0, 0, null);
  assert.equal(k.WaitForSingleObject(event, 0), 0); // signalled once
  k.ResetEvent(event);
  assert.equal(k.PopIoRingCompletion!(ring, s.p), S_OK);
  assert.equal(s.v.getBigUint64(0, true), 1n); // UserData @0
  assert.equal(s.v.getInt32(8, true), E_INVALIDARG); // ResultCode @8
  k.BuildIoRingRegisterFileHandles!(ring, 0, null, 4n);
  k.SubmitIoRing!(ring, 0, 0, null);
  assert.equal(k.WaitForSingleObject(event, 0), 0x102); // CQ was not empty: no new edge
  while (k.PopIoRingCompletion!(ring, s.p) === S_OK) { /* drain */ }
  k.BuildIoRingRegisterFileHandles!(ring, 0, null, 5n);
  k.SubmitIoRing!(ring, 0, 0, null);
  assert.equal(k.WaitForSingleObject(event, 0), 0); // empty → non-empty again
  k.CloseIoRing!(ring);
  k.CloseHandle(event);
});

Deno.test("fake: cancel by userData, none found, and 0 = every op on the handle on every ring", () => {
  using fake = installFakeWindows();
  const k = fake.api.kernel;
  const h = fake.ioring.addFile("data");
  const a = create(k, 1, 0n, 8, 16).ring;
  const b = create(k, 1, 0n, 8, 16).ring;
  const s = scratch(k);
  // IORING_HANDLE_REF raw @0 (Kind 0, Handle @8); IORING_BUFFER_REF raw @16 (Address @24).
  s.v.setUint32(0, 0, true);
  s.v.setBigUint64(8, h, true);
  s.v.setUint32(16, 0, true);
  s.v.setBigUint64(24, Deno.UnsafePointer.value(s.p) + 1024n, true);
  for (const [ring, ud] of [[a, 10n], [a, 11n], [b, 20n]] as const) {
    assert.equal(k.BuildIoRingReadFile!(ring, s.at(0), s.at(16), 4, 0n, ud, 0), S_OK);
    k.SubmitIoRing!(ring, 0, 0, null);
  }
  k.BuildIoRingCancelRequest!(a, s.at(0), 10n, 100n);
  k.BuildIoRingCancelRequest!(a, s.at(0), 99n, 101n);
  k.SubmitIoRing!(a, 0, 0, null);
  const results = new Map<bigint, number>();
  const pop = (ring: Deno.PointerValue): void => {
    while (k.PopIoRingCompletion!(ring, s.at(64)) === S_OK) {
      results.set(s.v.getBigUint64(64, true), s.v.getInt32(72, true));
    }
  };
  pop(a);
  assert.equal(results.get(10n), E_ABORT);
  assert.equal(results.get(100n), S_OK);
  assert.equal(results.get(101n), HR_NOT_FOUND);
  assert.equal(results.has(11n), false);
  k.BuildIoRingCancelRequest!(a, s.at(0), 0n, 102n); // 0: everything on h, ring b included
  k.SubmitIoRing!(a, 0, 0, null);
  pop(a);
  pop(b);
  assert.equal(results.get(11n), E_ABORT);
  assert.equal(results.get(20n), E_ABORT);
  assert.ok(fake.ioring.refAlignment.every((r) => r.aligned));
  k.CloseIoRing!(a);
  k.CloseIoRing!(b);
  assert.deepEqual(fake.ioring.violations, []);
});

for (const cancelMatch of ["file", "exactRef"] as const) {
  Deno.test(`fake: a cancel matched by ${cancelMatch} — raw vs registered refs to one file`, () => {
    using fake = installFakeWindows({ ioring: { cancelMatch } });
    const k = fake.api.kernel;
    const h = fake.ioring.addFile("data");
    const ring = create(k, 1, 0n, 8, 16).ring;
    const s = scratch(k);
    // The handle array @2048: one entry, h.
    s.v.setBigUint64(2048, h, true);
    assert.equal(k.BuildIoRingRegisterFileHandles!(ring, 1, s.at(2048), 1n), S_OK);
    k.SubmitIoRing!(ring, 0, 0, null);
    const raw = (): Deno.PointerObject => {
      s.v.setUint32(0, 0, true); // IORING_REF_RAW, Handle @8
      s.v.setBigUint64(8, h, true);
      return s.at(0);
    };
    const registered = (): Deno.PointerObject => {
      s.v.setUint32(0, 1, true); // IORING_REF_REGISTERED, Index @8
      s.v.setBigUint64(8, 0n, true);
      return s.at(0);
    };
    s.v.setUint32(16, 0, true); // a raw buffer ref @16 (Address @24)
    s.v.setBigUint64(24, Deno.UnsafePointer.value(s.p) + 1024n, true);
    assert.equal(k.BuildIoRingReadFile!(ring, registered(), s.at(16), 4, 0n, 10n, 0), S_OK);
    assert.equal(k.BuildIoRingReadFile!(ring, raw(), s.at(16), 4, 0n, 11n, 0), S_OK);
    k.SubmitIoRing!(ring, 0, 0, null);
    // Crossed kinds: a raw ref for the registered op, a registered ref for the raw one.
    k.BuildIoRingCancelRequest!(ring, raw(), 10n, 100n);
    k.BuildIoRingCancelRequest!(ring, registered(), 11n, 101n);
    k.SubmitIoRing!(ring, 0, 0, null);
    const results = new Map<bigint, number>();
    const pop = (): void => {
      while (k.PopIoRingCompletion!(ring, s.at(64)) === S_OK) {
        results.set(s.v.getBigUint64(64, true), s.v.getInt32(72, true));
      }
    };
    pop();
    const crossed = cancelMatch === "file" ? S_OK : HR_NOT_FOUND;
    assert.deepEqual([results.get(100n), results.get(101n)], [crossed, crossed]);
    // The same kind of ref always matches.
    k.BuildIoRingCancelRequest!(ring, registered(), 10n, 102n);
    k.BuildIoRingCancelRequest!(ring, raw(), 11n, 103n);
    k.SubmitIoRing!(ring, 0, 0, null);
    pop();
    if (cancelMatch === "exactRef") {
      assert.deepEqual([results.get(102n), results.get(103n)], [0, 0]);
    }
    assert.deepEqual([results.get(10n), results.get(11n)], [E_ABORT, E_ABORT]);
    k.CloseIoRing!(ring);
    assert.deepEqual(fake.ioring.violations, []);
  });
}

Deno.test("fake: a zero-count registration accepted, refused at build, refused at completion", () => {
  for (const outcome of ["accepted", "refusedAtBuild", "refusedAtCompletion"] as const) {
    using fake = installFakeWindows({ ioring: { zeroLengthRegistration: outcome } });
    const k = fake.api.kernel;
    const ring = create(k, 1, 0n, 8, 16).ring;
    const s = scratch(k);
    const files = k.BuildIoRingRegisterFileHandles!(ring, 0, null, 1n);
    const buffers = k.BuildIoRingRegisterBuffers!(ring, 0, null, 2n);
    const built = outcome === "refusedAtBuild" ? E_INVALIDARG : S_OK;
    assert.deepEqual([files, buffers], [built, built], outcome);
    k.SubmitIoRing!(ring, 0, 0, null);
    const results: number[] = [];
    while (k.PopIoRingCompletion!(ring, s.at(64)) === S_OK) results.push(s.v.getInt32(72, true));
    const expected = {
      accepted: [S_OK, S_OK],
      refusedAtBuild: [],
      refusedAtCompletion: [E_INVALIDARG, E_INVALIDARG],
    };
    assert.deepEqual(results, expected[outcome], outcome);
    k.CloseIoRing!(ring);
  }
});
