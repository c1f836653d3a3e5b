/**
 * `deno task abi`: prints the Windows ABI module (ffi/windows/abi.ts) as JSON,
 * with the SDK names: every struct's size, alignment and field offsets, every
 * numeric constant, the 64-bit sentinels as hex strings and the RIO GUID.
 * Needs no permissions.
 *
 * @module
 */

import {
  CONSTANTS,
  INVALID_HANDLE_VALUE,
  INVALID_SOCKET,
  STRUCTS,
  WSAID_MULTIPLE_RIO,
} from "../ffi/windows/abi.ts";

/** `{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}` from in-memory GUID bytes (Data1..3 little-endian). */
function guidText(b: readonly number[]): string {
  const h = (i: number): string => b[i].toString(16).padStart(2, "0");
  const r = (...idx: number[]): string => idx.map(h).join("");
  return `{${r(3, 2, 1, 0)}-${r(5, 4)}-${r(7, 6)}-${r(8, 9)}-${r(10, 11, 12, 13, 14, 15)}}`;
}

/** The JSON document `deno task abi` prints. */
export function abiJson(): Record<string, unknown> {
  const hex64 = (v: bigint): string => "0x" + v.toString(16).toUpperCase().padStart(16, "0");
  return {
    structs: STRUCTS,
    constants: {
      ...CONSTANTS,
      INVALID_HANDLE_VALUE: hex64(INVALID_HANDLE_VALUE),
      INVALID_SOCKET: hex64(INVALID_SOCKET),
    },
    guids: {
      WSAID_MULTIPLE_RIO: {
        text: guidText(WSAID_MULTIPLE_RIO),
        bytes: WSAID_MULTIPLE_RIO.map((x) => x.toString(16).padStart(2, "0")).join(""),
      },
    },
  };
}

if (import.meta.main) console.log(JSON.stringify(abiJson(), null, 2));
