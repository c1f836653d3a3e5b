/**
 * IoRing against the real kernelbase.dll (Windows 11 build 22000+; the
 * project's Windows CI runs windows-2025, build 26100). Skipped off Windows.
 *
 * Temp files are opened with CreateFileW + FILE_FLAG_OVERLAPPED (a
 * synchronous handle would serialise every op), registered in a file table,
 * read by index into a registered buffer table and compared with
 * Deno.readFile; then a cancel, and everything is disposed in order: tables,
 * ring (drained), regions, file handles.
 *
 * No test here asserts an exact last-error code: GetLastError is best effort
 * from Deno (reference §5.2), so a kernelbase failure is checked only for its
 * type and the call it names. HRESULTs come back directly and are asserted.
 */

import assert from "node:assert/strict";
import { windowsApi } from "../src/windows/api.ts";
import { checkHandle } from "../src/windows/check.ts";
import { KERNEL } from "../ffi/windows/abi.ts";
import { BufferRef, FileRef, IoRing, NativeRegion, Win32Error } from "../src/windows/mod.ts";
import { FileRing } from "../mod.ts";

const windows = Deno.build.os === "windows";
// Open the DLLs before the tests, so the resource sanitizer does not count them.
if (windows) windowsApi();

// HRESULTs, literally (winerror.h).
const E_ABORT = 0x80004004 | 0;
const HR_OPERATION_ABORTED = 0x800703e3 | 0;
const HR_EOF = 0x80070026 | 0;
const HR_NOT_FOUND = 0x80070490 | 0;

/** A NUL-terminated UTF-16 string for a `W` API. */
function wide(s: string): Uint16Array {
  const out = new Uint16Array(s.length + 1);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function openOverlapped(path: string): Deno.PointerObject {
  const k = windowsApi().kernel;
  return checkHandle(
    k.CreateFileW(
      wide(path),
      KERNEL.GENERIC_READ,
      KERNEL.FILE_SHARE_READ | KERNEL.FILE_SHARE_WRITE | KERNEL.FILE_SHARE_DELETE,
      null,
      KERNEL.OPEN_EXISTING,
      KERNEL.FILE_ATTRIBUTE_NORMAL | KERNEL.FILE_FLAG_OVERLAPPED,
      null,
    ),
    `CreateFileW(${path})`,
    k,
  );
}

function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

Deno.test({
  name: "IoRing on real Windows: registered handles and buffers, read by index, EOF, cancel",
  ignore: !windows,
}, async () => {
  const caps = IoRing.queryCapabilities(); // UnsupportedError before build 22000
  assert.ok(caps.maxVersion >= 1);
  const dir = await Deno.makeTempDir({ prefix: "regio_ioring_" });
  const paths = [`${dir}\\a.bin`, `${dir}\\b.bin`];
  await Deno.writeFile(paths[0], pattern(10_000, 1));
  await Deno.writeFile(paths[1], pattern(3_000, 2));
  const handles: Deno.PointerObject[] = [];
  try {
    for (const p of paths) handles.push(openOverlapped(p));
    using r0 = NativeRegion.allocate(16_384);
    using r1 = NativeRegion.allocate(4_096);
    {
      await using ring = IoRing.create({ submissionQueueSize: 8 });
      assert.equal(ring.version, caps.maxVersion);
      assert.ok(ring.submissionQueueSize >= 8);
      assert.ok(ring.completionQueueSize >= 2 * ring.submissionQueueSize);
      assert.equal(ring.isSupported("read"), true);
      assert.equal(ring.isSupported("registerFiles"), true);

      await using files = await ring.registerFiles(handles);
      await using buffers = await ring.registerBuffers([r0, r1]);
      const a = ring.read(files.index(0), buffers.slice(0, 0, 16_384), 16_384, 0);
      const b = ring.read(files.index(1), buffers.slice(1, 100, 3_000), 3_000, 0);
      assert.equal(ring.submit(), 2);
      assert.equal(await a.bytes(), 10_000); // short read: EOF inside the range
      assert.equal(await b.bytes(), 3_000);
      assert.deepEqual(r0.bytes.subarray(0, 10_000), await Deno.readFile(paths[0]));
      assert.deepEqual(r1.bytes.subarray(100, 3_100), await Deno.readFile(paths[1]));

      // At EOF: an error CQE, not 0 bytes.
      const eof = ring.read(files.index(1), buffers.slice(1, 0, 16), 16, 3_000);
      // Raw refs work alongside registered ones.
      const raw = ring.read(FileRef.raw(handles[0]), BufferRef.raw(r1.slice(0, 64)), 64, 64);
      ring.submit();
      assert.equal((await eof.done).result, HR_EOF);
      assert.equal(await raw.bytes(), 64);
      assert.deepEqual(r1.bytes.subarray(0, 64), (await Deno.readFile(paths[0])).subarray(64, 128));

      // Cancel is only a request: a cached read may win the race.
      const target = ring.read(files.index(0), buffers.slice(0), 16_384, 0);
      const cancel = ring.cancel(target);
      ring.submit();
      const [t, c] = await Promise.all([target.done, cancel.done]);
      assert.ok(
        t.ok || t.result === E_ABORT || t.result === HR_OPERATION_ABORTED,
        `target ${t.result}`,
      );
      assert.ok(c.ok || c.result === HR_NOT_FOUND, `cancel ${c.result}`);

      // Ops still in flight at close are cancelled and drained before CloseIoRing.
      ring.read(files.index(1), buffers.slice(1), 4_096, 0);
      ring.submit();
    } // buffers, files, then ring: released and closed
    assert.equal(r0.holds, 0);
    assert.equal(r1.holds, 0);
  } finally {
    const k = windowsApi().kernel;
    for (const h of handles) k.CloseHandle(h);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "IoRing on real Windows: a failed CreateFileW is a Win32Error naming the call and the path",
  ignore: !windows,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "regio_ioring_" });
  const missing = `${dir}\\missing.bin`;
  try {
    await using ring = FileRing.open({ backend: "ioring", depth: 2 });
    await assert.rejects(ring.openFiles([missing]), (e: unknown) => {
      assert.ok(e instanceof Win32Error, String(e));
      assert.equal(e.call, `CreateFileW(${missing})`);
      return true; // e.code is whatever GetLastError still held: not asserted
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
