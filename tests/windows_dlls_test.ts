/**
 * Loading the system DLLs (reference §5.9): kernelbase.dll and ws2_32.dll
 * are opened by their full System32 path, from SystemRoot, so a DLL planted
 * in the working directory is never loaded; a failure caused by a
 * path-scoped `--allow-ffi=<lib>` (which Deno resolves against the working
 * directory, denoland/deno#29246) says so and asks for plain `--allow-ffi`.
 *
 * The loader takes its OS, environment, permission query and dlopen as a
 * {@link DllHost}, so every case runs here with a stand-in.
 */

import assert from "node:assert/strict";
import { type DllHost, openSystemDll, systemDllPath } from "../src/windows/dlls.ts";
import { kernelbaseSymbols } from "../ffi/windows/kernelbase.ts";
import { ws2Symbols } from "../ffi/windows/ws2_32.ts";
import { UnsupportedError } from "../src/errors.ts";

/** A host that records every dlopen; `open` decides what each returns or throws. */
function host(
  over: Partial<DllHost> & { open?: (path: string) => unknown } = {},
): DllHost & { opened: string[] } {
  const opened: string[] = [];
  return {
    os: "windows",
    systemRoot: () => "C:\\Windows",
    ffiGranted: () => false,
    ...over,
    opened,
    dlopen<S extends Deno.ForeignLibraryInterface>(
      path: string,
      _symbols: S,
    ): Deno.DynamicLibrary<S> {
      opened.push(path);
      const lib = over.open ? over.open(path) : { symbols: {}, close: () => {} };
      return lib as Deno.DynamicLibrary<S>;
    },
  };
}

Deno.test("dlls: kernelbase.dll and ws2_32.dll are opened by their full System32 path from SystemRoot", () => {
  const h = host({ systemRoot: () => "D:\\WinRoot" });
  openSystemDll("kernelbase.dll", kernelbaseSymbols, h);
  openSystemDll("ws2_32.dll", ws2Symbols, h);
  assert.deepEqual(h.opened, [
    "D:\\WinRoot\\System32\\kernelbase.dll",
    "D:\\WinRoot\\System32\\ws2_32.dll",
  ]);
  // A trailing separator does not double up.
  assert.equal(
    systemDllPath("kernelbase.dll", host({ systemRoot: () => "C:\\Windows\\" })),
    "C:\\Windows\\System32\\kernelbase.dll",
  );
});

Deno.test("dlls: a bare or relative name never reaches dlopen (that is what loads a planted DLL)", () => {
  for (
    const root of [
      undefined,
      "",
      "Windows",
      "C:Windows",
      "\\Windows",
      ".\\Windows",
      "..\\x",
      "\\\\server\\share",
    ]
  ) {
    const h = host({ systemRoot: () => root });
    assert.throws(() => openSystemDll("kernelbase.dll", kernelbaseSymbols, h), (e: unknown) => {
      assert.ok(e instanceof UnsupportedError, String(e));
      assert.equal(e.feature, "kernelbase.dll");
      assert.match(e.message, /SystemRoot/);
      return true;
    });
    assert.deepEqual(h.opened, [], `SystemRoot ${JSON.stringify(root)}: nothing opened`);
  }
});

Deno.test("dlls: without env access to SystemRoot, the default C:\\Windows is assumed (still a full path)", () => {
  const h = host({ systemRoot: () => null });
  openSystemDll("ws2_32.dll", ws2Symbols, h);
  assert.deepEqual(h.opened, ["C:\\Windows\\System32\\ws2_32.dll"]);
  // If that guess fails, the error says how to let regio read SystemRoot.
  const failing = host({
    systemRoot: () => null,
    open: () => {
      throw new Error("The specified module could not be found. (os error 126)");
    },
  });
  assert.throws(() => openSystemDll("ws2_32.dll", ws2Symbols, failing), (e: unknown) => {
    assert.ok(e instanceof UnsupportedError);
    assert.match(e.message, /C:\\Windows\\System32\\ws2_32\.dll/);
    assert.match(e.message, /--allow-env=SystemRoot/);
    assert.ok(e.cause instanceof Error);
    return true;
  });
});

Deno.test("dlls: off Windows, one UnsupportedError and no dlopen", () => {
  const h = host({ os: "linux" });
  assert.throws(() => openSystemDll("kernelbase.dll", kernelbaseSymbols, h), (e: unknown) => {
    assert.ok(e instanceof UnsupportedError);
    assert.equal(e.message, "kernelbase.dll is not available: it needs Windows; this is linux");
    return true;
  });
  assert.deepEqual(h.opened, []);
});

Deno.test("dlls: a path-scoped --allow-ffi=<lib> is named, with the fix (plain --allow-ffi)", () => {
  const h = host({
    // Deno resolved `--allow-ffi=kernelbase.dll` to <cwd>\kernelbase.dll: the bare name is granted.
    ffiGranted: (path) => path === "kernelbase.dll",
    open: (path) => {
      throw new Deno.errors.NotCapable(
        `Requires ffi access to "${path}", run again with the --allow-ffi flag`,
      );
    },
  });
  assert.throws(() => openSystemDll("kernelbase.dll", kernelbaseSymbols, h), (e: unknown) => {
    assert.ok(e instanceof Deno.errors.NotCapable, String(e));
    assert.match(e.message, /--allow-ffi=kernelbase\.dll/);
    assert.match(e.message, /working directory/);
    assert.match(e.message, /denoland\/deno#29246/);
    assert.match(e.message, /plain --allow-ffi/);
    assert.match(e.message, /C:\\Windows\\System32\\kernelbase\.dll/);
    assert.ok(e.cause instanceof Deno.errors.NotCapable, "Deno's own error is the cause");
    return true;
  });
  assert.deepEqual(h.opened, ["C:\\Windows\\System32\\kernelbase.dll"], "only the full path");
});

Deno.test("dlls: no ffi permission at all still points at plain --allow-ffi", () => {
  const h = host({
    open: (path) => {
      throw new Deno.errors.NotCapable(`Requires ffi access to "${path}"`);
    },
  });
  assert.throws(() => openSystemDll("ws2_32.dll", ws2Symbols, h), (e: unknown) => {
    assert.ok(e instanceof Deno.errors.NotCapable);
    assert.match(e.message, /plain --allow-ffi/);
    assert.doesNotMatch(e.message, /--allow-ffi=ws2_32\.dll was granted/);
    return true;
  });
});

Deno.test("dlls: any other dlopen failure is an UnsupportedError naming the full path, with the cause", () => {
  const h = host({
    open: () => {
      throw new Error("boom");
    },
  });
  assert.throws(() => openSystemDll("kernelbase.dll", kernelbaseSymbols, h), (e: unknown) => {
    assert.ok(e instanceof UnsupportedError);
    assert.equal(e.feature, "kernelbase.dll");
    assert.match(e.message, /C:\\Windows\\System32\\kernelbase\.dll could not be opened/);
    assert.equal((e.cause as Error).message, "boom");
    return true;
  });
});

Deno.test("dlls: README's Permissions section states the loading rule and the --allow-ffi=<lib> pitfall", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const section = readme.slice(readme.indexOf("## Permissions"));
  const permissions = section.slice(0, section.indexOf("\n## ", 1));
  assert.match(permissions, /System32/);
  assert.match(permissions, /SystemRoot/);
  assert.match(permissions, /working directory/);
  assert.match(permissions, /denoland\/deno#29246/);
  assert.match(permissions, /plain `--allow-ffi`/);
});

/** Runs the script `code` (written into `cwd`) in a fresh Deno with `flags`, in `cwd`. */
async function runIn(
  cwd: string,
  flags: string[],
  code: string,
): Promise<{ ok: boolean; out: string }> {
  const script = `${cwd}\\load.ts`;
  await Deno.writeTextFile(script, code);
  const { success, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...flags, script],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { ok: success, out: dec.decode(stdout) + dec.decode(stderr) };
}

Deno.test({
  name: "dlls (Windows only): a kernelbase.dll planted in the working directory is never loaded",
  ignore: Deno.build.os !== "windows",
  async fn(): Promise<void> {
    const dir = await Deno.makeTempDir({ prefix: "regio_planted_" });
    try {
      // Not a DLL at all: loading it would fail, so success proves the System32 one was opened.
      await Deno.writeTextFile(`${dir}\\kernelbase.dll`, "planted");
      await Deno.writeTextFile(`${dir}\\ws2_32.dll`, "planted");
      const dlls = new URL("../src/windows/dlls.ts", import.meta.url).href;
      const code = `import { openKernelbase, openWs2 } from ${JSON.stringify(dlls)};
        console.log(typeof openKernelbase().VirtualAlloc, typeof openWs2().WSAStartup);`;
      const plain = await runIn(dir, ["--allow-ffi", "--allow-env=SystemRoot"], code);
      assert.ok(plain.ok, plain.out);
      assert.match(plain.out, /function function/);
      // The path-scoped grant names the planted file; regio refuses and says why.
      const scoped = await runIn(dir, ["--allow-ffi=kernelbase.dll", "--allow-env"], code);
      assert.equal(scoped.ok, false, scoped.out);
      assert.match(scoped.out, /--allow-ffi=kernelbase\.dll was granted/);
      assert.match(scoped.out, /plain --allow-ffi/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
