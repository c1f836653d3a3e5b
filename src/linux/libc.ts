/**
 * Opens libc for the Linux backend on first use, and reads errno.
 * Off Linux, or without `--allow-ffi`, {@link libc} throws one clear error
 * instead of a raw `dlopen` failure.
 *
 * @module
 */

import { type Libc, libcSymbols } from "../../ffi/linux/libc.ts";
import { UnsupportedError } from "../errors.ts";

let lib: Deno.DynamicLibrary<typeof libcSymbols> | undefined;

/**
 * Opens libc on first use. Off Linux, or without `--allow-ffi`, throws one
 * clear error instead of a raw `dlopen` failure.
 */
export function libc(): Libc {
  if (lib) return lib.symbols;
  if (Deno.build.os !== "linux") {
    throw new UnsupportedError(
      "The Linux backend (libc.so.6)",
      `it needs Linux; this is ${Deno.build.os}`,
    );
  }
  try {
    lib = Deno.dlopen("libc.so.6", libcSymbols);
  } catch (cause) {
    if (cause instanceof Deno.errors.NotCapable || cause instanceof Deno.errors.PermissionDenied) {
      throw cause;
    }
    throw new UnsupportedError("libc.so.6", "it could not be opened (glibc is required)", {
      cause,
    });
  }
  return lib.symbols;
}

let errnoView: Int32Array | undefined;

/** Reads errno of this thread; call it as the very next statement after the failing call. */
export function errno(): number {
  if (!errnoView) {
    const p = libc().__errno_location();
    errnoView = new Int32Array(Deno.UnsafePointerView.getArrayBuffer(p!, 4));
  }
  return errnoView[0];
}
