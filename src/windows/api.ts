/**
 * The one place the Windows wrappers get their symbols from: the real DLLs,
 * opened lazily from System32 (dlls.ts), or a test fake of the same shape
 * installed with {@link setWindowsApi}. Not exported from any entry point.
 *
 * @module
 */

import type { Kernelbase } from "../../ffi/windows/kernelbase.ts";
import type { Ws2 } from "../../ffi/windows/ws2_32.ts";
import { type Allocator, setWindowsKernelSource, virtualAllocator } from "../memory.ts";
import { openKernelbase, openWs2 } from "./dlls.ts";

/** Everything the Windows wrappers call. */
export interface WindowsApi {
  /** kernelbase.dll. */
  readonly kernel: Kernelbase;
  /** ws2_32.dll. */
  readonly ws2: Ws2;
}

let installed: WindowsApi | undefined;
let real: WindowsApi | undefined;

function realApi(): WindowsApi {
  if (real) return real;
  // No RIO table here: it is only valid inside the Winsock session it came
  // from, so each `Rio` session fetches its own (rio_functions.ts).
  real = { kernel: openKernelbase(), ws2: openWs2() };
  return real;
}

/** The API in use: the installed fake, else the real DLLs (throws `UnsupportedError` off Windows). */
export function windowsApi(): WindowsApi {
  return installed ?? realApi();
}

/** Installs a fake (tests), or removes it with `undefined`. */
export function setWindowsApi(api: WindowsApi | undefined): void {
  installed = api;
}

/** A VirtualAlloc allocator over the API in use (the fake's, in tests). */
export function windowsAllocator(): Allocator {
  return virtualAllocator(windowsApi().kernel);
}

setWindowsKernelSource(() => windowsApi().kernel);
