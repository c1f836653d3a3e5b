// Lazy loading: every module imports on any OS without opening a library, and
// the first real use off Windows fails with one UnsupportedError that names
// what is missing, never a raw dlopen error. Modules are imported inside the
// tests (dynamic import), so an import that opened a DLL would trip the
// resource sanitizer (run with --sanitize-resources) or fail that test alone.

import assert from "node:assert/strict";
import { UnsupportedError } from "../src/errors.ts";

const windows = Deno.build.os === "windows";
const root = new URL("../", import.meta.url);

async function ffiWindowsModules(): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(new URL("ffi/windows/", root))) {
    if (e.isFile && e.name.endsWith(".ts")) out.push(`ffi/windows/${e.name}`);
  }
  return out.sort();
}

Deno.test("lazy: mod.ts, src/windows/mod.ts and every ffi/windows/*.ts import on any OS", async () => {
  const files = await ffiWindowsModules();
  // The four this layer is built from must be among them.
  for (const f of ["abi.ts", "kernelbase.ts", "rio_table.ts", "ws2_32.ts"]) {
    assert.ok(files.includes(`ffi/windows/${f}`), f);
  }
  const loaders = ["src/windows/api.ts", "src/windows/dlls.ts"];
  for (const path of ["mod.ts", "src/windows/mod.ts", ...loaders, ...files]) {
    const m = await import(new URL(path, root).href);
    assert.ok(Object.keys(m).length > 0, `${path} exports something`);
  }
  const mod = await import(new URL("mod.ts", root).href);
  assert.equal(mod.UnsupportedError, UnsupportedError, "one UnsupportedError class");
  const win = await import(new URL("src/windows/mod.ts", root).href);
  assert.equal(win.UnsupportedError, UnsupportedError);
});

function assertUnsupported(fn: () => unknown, feature: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof UnsupportedError, `expected UnsupportedError, got ${String(e)}`);
    assert.equal(e.name, "UnsupportedError");
    assert.equal(e.feature, feature);
    assert.ok(e.message.startsWith(`${feature} is not available: `), e.message);
    assert.match(e.message, /Windows/);
    assert.ok(e.message.includes(Deno.build.os), `names this OS: ${e.message}`);
    assert.equal(e.cause, undefined, "no dlopen was attempted, so no dlopen error inside");
    return true;
  });
}

Deno.test({
  name: "lazy: openKernelbase() off Windows throws UnsupportedError naming kernelbase.dll",
  ignore: windows,
  async fn(): Promise<void> {
    const { openKernelbase } = await import("../src/windows/dlls.ts");
    assertUnsupported(() => openKernelbase(), "kernelbase.dll");
    assertUnsupported(() => openKernelbase(), "kernelbase.dll"); // and again: no half-open state
  },
});

Deno.test({
  name: "lazy: openWs2() off Windows throws UnsupportedError naming ws2_32.dll",
  ignore: windows,
  async fn(): Promise<void> {
    const { openWs2 } = await import("../src/windows/dlls.ts");
    assertUnsupported(() => openWs2(), "ws2_32.dll");
  },
});

Deno.test({
  name:
    "lazy: windowsApi() without a fake throws UnsupportedError off Windows; a fake is used as is",
  ignore: windows,
  async fn(): Promise<void> {
    const { setWindowsApi, windowsAllocator, windowsApi } = await import("../src/windows/api.ts");
    assertUnsupported(() => windowsApi(), "kernelbase.dll");
    assertUnsupported(() => windowsAllocator(), "kernelbase.dll");
    // A minimal stand-in of the same shape is returned untouched, and removing it restores the error.
    const standIn = {
      kernel: {},
      ws2: {},
      rio: () => {
        throw new Error("not used");
      },
    } as unknown as Parameters<typeof setWindowsApi>[0] & object;
    setWindowsApi(standIn);
    try {
      assert.equal(windowsApi(), standIn);
    } finally {
      setWindowsApi(undefined);
    }
    assertUnsupported(() => windowsApi(), "kernelbase.dll");
  },
});

Deno.test({
  name: "lazy: on Linux, importing the Windows layer leaves the default allocator on mmap",
  ignore: Deno.build.os !== "linux",
  async fn(): Promise<void> {
    await import("../src/windows/api.ts");
    const { defaultAllocator } = await import("../src/memory.ts");
    assert.equal(defaultAllocator().name, "mmap");
  },
  // defaultAllocator() opens libc, a process-wide lazily opened singleton.
  sanitizeResources: false,
});

Deno.test({
  name:
    "lazy (Windows only): kernelbase.dll and ws2_32.dll open; I/O ring symbols are functions or null",
  ignore: !windows,
  async fn(): Promise<void> {
    const { openKernelbase, openWs2 } = await import("../src/windows/dlls.ts");
    const k = openKernelbase();
    assert.equal(typeof k.VirtualAlloc, "function");
    for (
      const name of ["CreateIoRing", "IsIoRingOpSupported", "BuildIoRingReadFileScatter"] as const
    ) {
      assert.ok(k[name] === null || typeof k[name] === "function", name);
    }
    assert.equal(openKernelbase(), k, "opened once");
    assert.equal(typeof openWs2().WSAStartup, "function");
  },
  // The libraries stay open for the process (a lazily opened singleton).
  sanitizeResources: false,
});
