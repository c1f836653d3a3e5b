/**
 * Typed errors shared by every layer of regio.
 *
 * Each kernel convention has its own class so callers can branch on
 * `instanceof`: HRESULTs (I/O ring), Winsock codes (RIO), Win32 last-error
 * codes (kernelbase BOOL/handle APIs) and errnos (Linux). Each carries the
 * numeric `code`, its symbolic `codeName` and the `call` that failed.
 *
 * @module
 */

import { HRESULT, WIN32_ERROR, WSA_ERROR } from "../ffi/windows/abi.ts";
import { ERRNO } from "../ffi/linux/abi.ts";

function reverse(table: Record<string, number>): Map<number, string> {
  const map = new Map<number, string>();
  for (const [name, value] of Object.entries(table)) {
    if (!map.has(value)) map.set(value, name);
  }
  return map;
}

let hresultNames: Map<number, string> | undefined;
let wsaNames: Map<number, string> | undefined;
let win32Names: Map<number, string> | undefined;
let errnoNames: Map<number, string> | undefined;

/** Base class of every error regio throws on purpose. */
export class RegioError extends Error {
  /** Creates the error; `options.cause` is kept as the standard `cause`. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Formats an HRESULT as the usual unsigned hex, e.g. `0x80460002`. */
export function hex32(value: number): string {
  return "0x" + (value >>> 0).toString(16).toUpperCase().padStart(8, "0");
}

/**
 * A failed HRESULT from an I/O ring call (or found in a completion entry).
 *
 * @example
 * ```ts
 * import { HResultError } from "@regio/regio";
 * const e = new HResultError(-2142896126, "BuildIoRingReadFile");
 * e.codeName; // "IORING_E_SUBMISSION_QUEUE_FULL"
 * ```
 */
export class HResultError extends RegioError {
  /** The HRESULT as a signed 32-bit integer. */
  readonly code: number;
  /** The SDK name of the HRESULT, or its hex form when unknown. */
  readonly codeName: string;
  /** The API call that returned it. */
  readonly call: string;
  /** Creates the error for `code` returned by `call`. */
  constructor(code: number, call: string) {
    const hr = code | 0;
    hresultNames ??= reverse(HRESULT);
    const codeName = hresultNames.get(hr) ?? hex32(hr);
    super(`${call} failed: ${codeName} (${hex32(hr)})`);
    this.code = hr;
    this.codeName = codeName;
    this.call = call;
  }
}

/**
 * A Winsock error code (from `WSAGetLastError`, a direct return or a
 * RIORESULT status). A RIORESULT status may be a Win32 code (its code space
 * is undocumented), so a code Winsock has no name for is named from the
 * Win32 table (`ERROR_MORE_DATA`, `ERROR_PORT_UNREACHABLE` …).
 */
export class WinsockError extends RegioError {
  /** The Winsock code, e.g. 10022. */
  readonly code: number;
  /** Its name, e.g. `WSAEINVAL`. */
  readonly codeName: string;
  /** The API call that failed. */
  readonly call: string;
  /** Creates the error for `code` reported by `call`; `detail` is appended to the message. */
  constructor(code: number, call: string, detail?: string) {
    wsaNames ??= reverse(WSA_ERROR);
    win32Names ??= reverse(WIN32_ERROR);
    const codeName = wsaNames.get(code) ?? (code !== 0 ? win32Names.get(code) : undefined) ??
      `WSA error ${code}`;
    super(`${call} failed: ${codeName} (${code})${detail ? `: ${detail}` : ""}`);
    this.code = code;
    this.codeName = codeName;
    this.call = call;
  }
}

/**
 * A Win32 error code from `GetLastError` after a BOOL or handle API failed.
 * The code is best effort: Deno reads it with a separate call after the
 * failing one, and runtime code may run in between, so it can be 0 (lost)
 * or unrelated. The failure itself, and `call`, are certain.
 */
export class Win32Error extends RegioError {
  /** The Win32 code, e.g. 6 (0 when it was lost). */
  readonly code: number;
  /** Its name, e.g. `ERROR_INVALID_HANDLE`. */
  readonly codeName: string;
  /** The API call that failed. */
  readonly call: string;
  /** Creates the error for `code` reported by `call`. */
  constructor(code: number, call: string) {
    win32Names ??= reverse(WIN32_ERROR);
    const codeName = win32Names.get(code) ?? `Win32 error ${code}`;
    // A failed call never sets 0: the code was lost before GetLastError ran.
    super(
      code === 0
        ? `${call} failed (GetLastError read 0: the error code was lost)`
        : `${call} failed: ${codeName} (${code})`,
    );
    this.code = code;
    this.codeName = codeName;
    this.call = call;
  }
}

/** A Linux errno from a libc call or a negative `cqe.res`. */
export class ErrnoError extends RegioError {
  /** The errno, e.g. 16. */
  readonly code: number;
  /** Its name, e.g. `EBUSY` (every asm-generic errno has one), or `errno N` when unknown. */
  readonly codeName: string;
  /** The call that failed. */
  readonly call: string;
  /**
   * Creates the error for `errno` from `call`; `hint` says what to do about it.
   * An `EMFILE` / `ENFILE` error carries no stack frames (its message names the
   * call): Deno formats a stack lazily, and with no fd free it cannot reread a
   * module's cached source map, so it transpiles the module again on the main
   * thread, where stacker's first stack probe needs `/proc/self/maps` and
   * panics (Deno 2.9.6) instead of reporting the error.
   */
  constructor(errno: number, call: string, hint?: string) {
    errnoNames ??= reverse(ERRNO);
    const name = errnoNames.get(errno);
    const codeName = name ?? `errno ${errno}`;
    const shown = name ? `${name} (${errno})` : codeName;
    const limit = Error.stackTraceLimit;
    if (errno === ERRNO.EMFILE || errno === ERRNO.ENFILE) Error.stackTraceLimit = 0;
    super(`${call} failed: ${shown}${hint ? `. ${hint}` : ""}`);
    Error.stackTraceLimit = limit;
    this.code = errno;
    this.codeName = codeName;
    this.call = call;
  }
}

/** The platform, OS build or kernel lacks something regio needs; `message` names it. */
export class UnsupportedError extends RegioError {
  /** What is missing, e.g. `"I/O ring (kernelbase.dll CreateIoRing)"`. */
  readonly feature: string;
  /** Creates the error: `feature` is what is missing, `needed` what would provide it. */
  constructor(feature: string, needed: string, options?: ErrorOptions) {
    super(`${feature} is not available: ${needed}`, options);
    this.feature = feature;
  }
}

/**
 * A resource cannot be released yet because the kernel may still use it.
 * Nothing was changed; wait for the operations (or use `await using`) and retry.
 */
export class BusyError extends RegioError {
  /** What was being released. */
  readonly resource: string;
  /** How many operations (or holders) still use it. */
  readonly inFlight: number;
  /** Creates the error for `resource` with `inFlight` users left. */
  constructor(resource: string, inFlight: number, what = "operation(s) in flight") {
    super(
      `${resource} is busy: ${inFlight} ${what}; nothing was released ` +
        `(wait for them, or use \`await using\` / \`await close()\`)`,
    );
    this.resource = resource;
    this.inFlight = inFlight;
  }
}

/** An object was used after it was disposed or closed. */
export class DisposedError extends RegioError {
  /** Creates the error for the named resource. */
  constructor(resource: string) {
    super(`${resource} has been disposed`);
  }
}

/**
 * Checks that `value` is an integer in `[min, max]`, or throws a `RangeError`
 * naming the argument. Every offset, length and index goes through this
 * before any FFI call. Returns the value, with `-0` normalised to `0`.
 */
export function checkInteger(name: string, value: number, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${String(value)}`);
  }
  // -0 passes the checks above, but Deno's integer FFI types reject it.
  return value === 0 ? 0 : value;
}
