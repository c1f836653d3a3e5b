/**
 * tools/windows_smoke.ts, the first-contact script the windows-2025 CI job
 * runs before the test suite: one line per step with what it returned, every
 * step guarded (a throw or a hang does not hide the next), non-zero exit if
 * any failed; off Windows it says it is for Windows and exits 0. Its I/O ring
 * and FileRing steps also run here, against the Windows fake.
 */

import assert from "node:assert/strict";
import { openFakeHost } from "./fakes/fake_base.ts";
import { installFakeWindows } from "./fakes/windows.ts";
import { runSmoke, type SmokeStep, windowsSteps } from "../tools/windows_smoke.ts";

openFakeHost(); // the fake's host memory, opened before any test (resource sanitizer)

const INVALID_HANDLE_VALUE = 0xffff_ffff_ffff_ffffn;

Deno.test("smoke: one line per step; a throw or a hang does not hide the next; failures counted", async () => {
  const lines: string[] = [];
  const steps: SmokeStep[] = [
    { id: "a", name: "first", run: () => "returned 1" },
    {
      id: "b",
      name: "throws",
      run: () => {
        throw new RangeError("outer", { cause: new Error("inner") });
      },
    },
    { id: "c", name: "hangs", run: () => new Promise<string>(() => {}) },
    { id: "d", name: "async", run: () => Promise.resolve("returned 4") },
  ];
  const failed = await runSmoke(steps, { print: (l) => lines.push(l), timeoutMs: 50 });
  assert.equal(failed, 2);
  assert.equal(lines.length, 5, lines.join("\n"));
  assert.match(lines[0], /^ok +first: +returned 1$/);
  assert.match(lines[1], /^FAIL +throws: +RangeError: outer \(cause: Error: inner\)$/);
  assert.match(lines[2], /^FAIL +hangs: +timed out after 50 ms$/);
  assert.match(lines[3], /^ok +async: +returned 4$/);
  assert.equal(lines[4], "windows smoke: 2 passed, 2 failed");
});

Deno.test("smoke: the Windows steps are the ones the issue lists, in order", () => {
  assert.deepEqual(windowsSteps().map((s) => s.id), [
    "support",
    "ioring",
    "filering",
    "rio-1",
    "rio-2",
    "udpsocket",
  ]);
});

Deno.test({
  name: "smoke: off Windows it says it is for Windows and exits 0",
  ignore: Deno.build.os === "windows",
  async fn(): Promise<void> {
    const script = new URL("../tools/windows_smoke.ts", import.meta.url);
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", script.href],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(stdout);
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    assert.match(out, /is for Windows/);
    assert.match(out, new RegExp(`this is ${Deno.build.os}`));
  },
});

Deno.test("smoke: the I/O ring and FileRing steps pass against the Windows fake", async () => {
  using fake = installFakeWindows();
  // CreateFileW over the real temp file the step writes: its bytes become a fake file.
  (fake.api.kernel as { CreateFileW: unknown }).CreateFileW = (
    name: Uint16Array,
  ): Deno.PointerValue => {
    const path = String.fromCharCode(...name.subarray(0, name.indexOf(0)));
    try {
      return Deno.UnsafePointer.create(fake.ioring.addFile(Deno.readFileSync(path)));
    } catch {
      fake.base.lastError = 2;
      return Deno.UnsafePointer.create(INVALID_HANDLE_VALUE);
    }
  };
  const steps = windowsSteps().filter((s) => s.id === "ioring" || s.id === "filering");
  const lines: string[] = [];
  // The fake completes reads when driven: drive it while the steps run.
  let running = true;
  const driver = (async () => {
    while (running) {
      fake.ioring.completeAll();
      await new Promise((r) => setTimeout(r, 1));
    }
  })();
  const failed = await runSmoke(steps, { print: (l) => lines.push(l), timeoutMs: 5000 });
  running = false;
  await driver;
  assert.equal(failed, 0, lines.join("\n"));
  assert.match(lines[0], /^ok +I\/O ring create \+ capabilities: +maxVersion 400/);
  assert.match(lines[1], /^ok +FileRing registered-file read: +.*bytes match/);
  assert.deepEqual(fake.ioring.violations, []);
  assert.equal(fake.ioring.openRings, 0);
  assert.equal(fake.base.liveAllocations, 0);
});
