/**
 * Opening the system DLLs (kernelbase.dll, ws2_32.dll): once each, lazily,
 * and only by their full System32 path, from `SystemRoot` (reference §5.9).
 * A bare name would let Deno resolve it against the working directory when
 * `--allow-ffi=<lib>` is path-scoped (denoland/deno#29246), and load a DLL
 * planted there. A refusal caused by such a grant says so and asks for plain
 * `--allow-ffi`. Off Windows every open is one `UnsupportedError`.
 *
 * The OS, environment, permission query and dlopen come from a
 * {@link DllHost}, so tests can stand in for Deno.
 *
 * @module
 */

import { UnsupportedError } from "../errors.ts";
import { type Kernelbase, kernelbaseSymbols } from "../../ffi/windows/kernelbase.ts";
import { type Ws2, ws2Symbols } from "../../ffi/windows/ws2_32.ts";

/** The system DLLs regio opens. */
export type SystemDll = "kernelbase.dll" | "ws2_32.dll";

/** What the loader needs from Deno (a stand-in in tests). */
export interface DllHost {
  /** `Deno.build.os`. */
  readonly os: string;
  /** The SystemRoot variable; `undefined` when unset, `null` when env access to it is not granted. */
  systemRoot(): string | null | undefined;
  /** Is ffi access granted for `path`, as Deno resolves it (a bare name against the working directory)? */
  ffiGranted(path: string): boolean;
  /** `Deno.dlopen`. */
  dlopen<S extends Deno.ForeignLibraryInterface>(path: string, symbols: S): Deno.DynamicLibrary<S>;
}

/** Where Windows lives unless SystemRoot says otherwise (assumed when it cannot be read). */
const DEFAULT_SYSTEM_ROOT = "C:\\Windows";

function granted(descriptor: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(descriptor).state === "granted";
  } catch {
    return false;
  }
}

/** Deno itself. Env access is queried first, so reading SystemRoot never prompts. */
const denoHost: DllHost = {
  get os(): string {
    return Deno.build.os;
  },
  systemRoot: () =>
    granted({ name: "env", variable: "SystemRoot" }) ? Deno.env.get("SystemRoot") : null,
  ffiGranted: (path) => granted({ name: "ffi", path }),
  dlopen: (path, symbols) => Deno.dlopen(path, symbols),
};

/** Throws the one error regio gives off Windows. */
function requireWindows(what: string, os: string): void {
  if (os !== "windows") {
    throw new UnsupportedError(what, `it needs Windows; this is ${os}`);
  }
}

/**
 * `%SystemRoot%\System32\<dll>`. SystemRoot must be a drive-absolute path
 * (`C:\Windows`): anything relative could resolve against the working directory.
 * @throws {UnsupportedError} when SystemRoot is unset or not drive-absolute.
 */
export function systemDllPath(dll: SystemDll, host: DllHost = denoHost): string {
  const root = host.systemRoot();
  if (root === null) return `${DEFAULT_SYSTEM_ROOT}\\System32\\${dll}`;
  if (root === undefined || !/^[A-Za-z]:[\\/]/.test(root) || /(^|[\\/])\.\.?([\\/]|$)/.test(root)) {
    const got = root === undefined
      ? "not set"
      : `${JSON.stringify(root)}, not a drive-absolute path`;
    throw new UnsupportedError(
      dll,
      `SystemRoot is ${got}; regio opens system DLLs only by their full System32 path`,
    );
  }
  return `${root.replace(/[\\/]+$/, "")}\\System32\\${dll}`;
}

/** The NotCapable regio throws when Deno refuses the DLL: it names plain `--allow-ffi`. */
function ffiRefused(dll: SystemDll, path: string, host: DllHost, cause: unknown): Error {
  // Deno resolves `--allow-ffi=kernelbase.dll` against the working directory,
  // so the bare name tests positive exactly when that grant was given.
  const pathScoped = host.ffiGranted(dll)
    ? ` --allow-ffi=${dll} was granted, and Deno resolved it against the working directory ` +
      `(<working directory>\\${dll}), a file regio never loads.`
    : "";
  return new Deno.errors.NotCapable(
    `Requires ffi access to "${path}".${pathScoped} Grant plain --allow-ffi: a path-scoped ` +
      `--allow-ffi=<lib> names a file in the working directory (denoland/deno#29246), and ` +
      `regio's pointer calls need plain --allow-ffi anyway.`,
    { cause },
  );
}

/**
 * Opens `dll` from System32 (never by a bare name).
 * @throws {UnsupportedError} off Windows, for an unusable SystemRoot, or when it cannot be opened.
 * @throws {Deno.errors.NotCapable} without plain `--allow-ffi` (the message says what to grant).
 */
export function openSystemDll<S extends Deno.ForeignLibraryInterface>(
  dll: SystemDll,
  symbols: S,
  host: DllHost = denoHost,
): Deno.DynamicLibrary<S> {
  requireWindows(dll, host.os);
  const path = systemDllPath(dll, host);
  try {
    return host.dlopen(path, symbols);
  } catch (cause) {
    if (cause instanceof Deno.errors.NotCapable) throw ffiRefused(dll, path, host, cause);
    const guessed = host.systemRoot() === null
      ? ` (SystemRoot could not be read, so ${DEFAULT_SYSTEM_ROOT} was assumed; ` +
        `grant --allow-env=SystemRoot to use the real one)`
      : "";
    throw new UnsupportedError(dll, `${path} could not be opened${guessed}`, { cause });
  }
}

let kernelbase: Deno.DynamicLibrary<typeof kernelbaseSymbols> | undefined;
let ws2: Deno.DynamicLibrary<typeof ws2Symbols> | undefined;

/** Opens kernelbase.dll on first use (it stays open); off Windows throws `UnsupportedError`. */
export function openKernelbase(): Kernelbase {
  kernelbase ??= openSystemDll("kernelbase.dll", kernelbaseSymbols);
  return kernelbase.symbols;
}

/** Opens ws2_32.dll on first use (it stays open); off Windows throws `UnsupportedError`. */
export function openWs2(): Ws2 {
  ws2 ??= openSystemDll("ws2_32.dll", ws2Symbols);
  return ws2.symbols;
}
