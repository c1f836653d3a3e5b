/**
 * Last-error codes are best effort from Deno (reference §5.2): nothing
 * captures GetLastError after a foreign call, and runtime code may run before
 * the wrapper reads it. So no control flow may depend on it, and every
 * kernelbase failure must still be a typed error naming the call when the
 * code is lost (0) or replaced by an unrelated one (ERROR_IO_PENDING).
 *
 * HRESULTs (the I/O ring) are returned directly and do not depend on it.
 */

import assert from "node:assert/strict";
import { openFakeHost } from "./fakes/fake_base.ts";
import type { FakeKernelOptions } from "./fakes/fake_kernel.ts";
import { type FakeWindows, installFakeWindows } from "./fakes/windows.ts";
import { windowsAllocator } from "../src/windows/api.ts";
import { FileRing, HResultError, NativeRegion, RegioError, Win32Error } from "../mod.ts";
import { IoRing } from "../src/windows/mod.ts";

openFakeHost(); // the fake's host memory, opened before any test (resource sanitizer)

const INVALID_HANDLE_VALUE = 0xffff_ffff_ffff_ffffn;
const ERROR_FILE_NOT_FOUND = 2;
const ERROR_IO_PENDING = 997;
const MODES = ["kept", "zero", "unrelated"] as const;
type Mode = (typeof MODES)[number];

/** What GetLastError reports under `mode` when the failing call set `code`. */
function reported(mode: Mode, code: number): number {
  return mode === "kept" ? code : mode === "zero" ? 0 : ERROR_IO_PENDING;
}

/** Asserts `e` is a Win32Error naming `call` and carrying what GetLastError said. */
function isWin32(e: unknown, call: RegExp, code: number): true {
  assert.ok(e instanceof Win32Error, `expected a Win32Error, got ${String(e)}`);
  assert.match(e.call, call);
  assert.ok(e.message.startsWith(`${e.call} failed`), e.message);
  assert.equal(e.code, code, "the code GetLastError reported, as is");
  if (code === 0) {
    assert.doesNotMatch(e.message, /ERROR_SUCCESS/, "a lost code is not called success");
    assert.match(e.message, /lost/, e.message);
  }
  return true;
}

/** The fake plus a CreateFileW that opens the names in `files` and fails others (ERROR_FILE_NOT_FOUND). */
function fakeWithFiles(kernel: FakeKernelOptions, files: Record<string, string>): FakeWindows {
  const fake = installFakeWindows({ kernel });
  (fake.api.kernel as { CreateFileW: unknown }).CreateFileW = (
    name: Uint16Array,
  ): Deno.PointerValue => {
    fake.base.log.record("CreateFileW");
    const path = String.fromCharCode(...name.subarray(0, name.indexOf(0)));
    const data = files[path];
    if (data !== undefined) return Deno.UnsafePointer.create(fake.ioring.addFile(data));
    fake.base.lastError = ERROR_FILE_NOT_FOUND;
    return Deno.UnsafePointer.create(INVALID_HANDLE_VALUE);
  };
  return fake;
}

function assertNothingLeft(fake: FakeWindows): void {
  assert.deepEqual(fake.ioring.violations, []);
  assert.equal(fake.ioring.openRings, 0);
  assert.equal(fake.base.liveAllocations, 0);
}

for (const mode of MODES) {
  Deno.test(`last error ${mode}: IoRing.create when CreateEventW fails is a Win32Error naming it; nothing left`, () => {
    using fake = installFakeWindows({ kernel: { lastError: mode, fail: ["CreateEventW"] } });
    assert.throws(() => IoRing.create(), (e) => isWin32(e, /^CreateEventW$/, reported(mode, 1450)));
    assertNothingLeft(fake);
  });

  Deno.test(`last error ${mode}: IoRing.create when VirtualAlloc fails is a Win32Error naming it`, () => {
    using fake = installFakeWindows({ kernel: { lastError: mode, fail: ["VirtualAlloc"] } });
    assert.throws(() => IoRing.create(), (e) => isWin32(e, /^VirtualAlloc\(/, reported(mode, 8)));
    assert.equal(fake.base.log.count("CreateIoRing"), 0);
    assertNothingLeft(fake);
  });

  Deno.test(`last error ${mode}: a failed VirtualFree is a Win32Error naming it`, () => {
    const kernel: FakeKernelOptions = { lastError: mode };
    using fake = installFakeWindows({ kernel });
    const region = NativeRegion.allocate(4096, { allocator: windowsAllocator() });
    kernel.fail = ["VirtualFree"];
    assert.throws(() => region.free(), (e: unknown) => {
      assert.ok(e instanceof RegioError && e.message.startsWith("freeing a NativeRegion failed"));
      return isWin32(e.cause, /^VirtualFree$/, reported(mode, 87));
    });
    assert.equal(fake.base.liveAllocations, 0); // the fake released it all the same
  });

  Deno.test(`last error ${mode}: FileRing.openFiles on a missing file is a Win32Error naming CreateFileW and the path`, async () => {
    using fake = fakeWithFiles({ lastError: mode }, { "a.bin": "alpha" });
    {
      await using ring = FileRing.open({ backend: "ioring", depth: 4 });
      await assert.rejects(
        ring.openFiles(["a.bin", "C:\\missing.bin"]),
        (e) =>
          isWin32(e, /^CreateFileW\(C:\\missing\.bin\)$/, reported(mode, ERROR_FILE_NOT_FOUND)),
      );
      assert.equal(fake.base.log.count("BuildIoRingRegisterFileHandles"), 0);
      assert.ok([...fake.ioring.files.values()].every((f) => f.closed), "a.bin was closed again");
    }
    assertNothingLeft(fake);
  });

  Deno.test(`last error ${mode}: a failed CloseHandle at FileRing close is a Win32Error naming it; the ring is closed`, async () => {
    const kernel: FakeKernelOptions = { lastError: mode };
    using fake = fakeWithFiles(kernel, { "a.bin": "alpha" });
    const ring = FileRing.open({ backend: "ioring", depth: 4 });
    await ring.openFiles(["a.bin"]);
    kernel.fail = ["CloseHandle"];
    assert.throws(() => ring.close(), (e) => isWin32(e, /^CloseHandle$/, reported(mode, 5)));
    kernel.fail = [];
    assert.ok(ring.closed);
    assertNothingLeft(fake);
  });

  Deno.test(`last error ${mode}: I/O ring failures are HRESULTs, returned directly`, () => {
    using fake = installFakeWindows({ kernel: { lastError: mode } });
    assert.throws(() => IoRing.create({ version: 5 }), (e) => {
      assert.ok(e instanceof HResultError, String(e));
      assert.equal(e.call, "CreateIoRing");
      assert.equal(e.codeName, "IORING_E_VERSION_NOT_SUPPORTED");
      return true;
    });
    assertNothingLeft(fake);
  });
}

Deno.test("Win32Error: a code of 0 is reported as lost, not as ERROR_SUCCESS; others keep their name", () => {
  const lost = new Win32Error(0, "CloseHandle");
  assert.equal(lost.message, "CloseHandle failed (GetLastError read 0: the error code was lost)");
  assert.equal(lost.code, 0);
  assert.equal(lost.call, "CloseHandle");
  const kept = new Win32Error(ERROR_FILE_NOT_FOUND, "CreateFileW(x)");
  assert.equal(kept.message, "CreateFileW(x) failed: ERROR_FILE_NOT_FOUND (2)");
});
