/**
 * Getting the RIO function table from Winsock and binding it: one
 * `WSAIoctl(SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER, WSAID_MULTIPLE_RIO)`
 * on a plain UDP socket fills the 112-byte RIO_EXTENSION_FUNCTION_TABLE in
 * native memory, and each of its 13 addresses is wrapped in a
 * `Deno.UnsafeFnPointer` with its signature from ffi/windows/rio_table.ts.
 *
 * A table is valid only inside the Winsock session (WSAStartup … the
 * WSACleanup that balances it) it was fetched in: the functions live in
 * mswsock.dll, which the last WSACleanup may unload. Callers fetch one per
 * session and never keep it past that session (see rio.ts).
 *
 * @module
 */

import { INVALID_SOCKET, RIO, SOCKET, STRUCTS, WSAID_MULTIPLE_RIO } from "../../ffi/windows/abi.ts";
import type { Kernelbase } from "../../ffi/windows/kernelbase.ts";
import { RIO_TABLE_NAMES, rioDefinitions, type RioFunctions } from "../../ffi/windows/rio_table.ts";
import type { Ws2 } from "../../ffi/windows/ws2_32.ts";
import { UnsupportedError, type WinsockError } from "../errors.ts";
import { NativeRegion, virtualAllocator } from "../memory.ts";
import { lastWinsockError } from "./check.ts";

/**
 * Asks Winsock for the RIO table and returns its 13 function addresses in
 * table order. Creates (and closes) a plain UDP socket for the ioctl; the
 * caller must have called WSAStartup.
 */
export function queryRioTable(kernel: Kernelbase, ws2: Ws2): bigint[] {
  const T = STRUCTS.RIO_EXTENSION_FUNCTION_TABLE;
  // guid (16) | table (112) | bytesReturned (4), all in native memory.
  const size = 16 + T.size + 8;
  // Through NativeRegion, so the JS view is revoked before the pages go, on every path.
  let region: NativeRegion;
  try {
    region = NativeRegion.allocate(size, { allocator: virtualAllocator(kernel) });
  } catch (cause) {
    throw new UnsupportedError("Registered I/O (RIO)", "VirtualAlloc failed for the RIO table", {
      cause,
    });
  }
  try {
    const mem = region.pointer;
    region.bytes.set(WSAID_MULTIPLE_RIO, 0);
    const view = region.view;
    view.setUint32(16 + T.fields.cbSize, T.size, true);
    const s = ws2.WSASocketW(
      SOCKET.AF_INET,
      SOCKET.SOCK_DGRAM,
      SOCKET.IPPROTO_UDP,
      null,
      0,
      RIO.WSA_FLAG_OVERLAPPED,
    );
    if (s === INVALID_SOCKET) {
      throw new UnsupportedError(
        "Registered I/O (RIO)",
        "no socket could be created for the RIO ioctl",
        { cause: lastWinsockError(ws2, "WSASocketW") },
      );
    }
    let rc: number;
    let failure: WinsockError | undefined;
    try {
      rc = ws2.WSAIoctl(
        s,
        RIO.SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER,
        mem,
        16,
        Deno.UnsafePointer.offset(mem, 16),
        T.size,
        Deno.UnsafePointer.offset(mem, 16 + T.size),
        null,
        null,
      );
      if (rc !== 0) failure = lastWinsockError(ws2, "WSAIoctl");
    } finally {
      ws2.closesocket(s);
    }
    if (rc !== 0) {
      throw new UnsupportedError(
        "Registered I/O (RIO)",
        "WSAIoctl(SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER, WSAID_MULTIPLE_RIO) failed " +
          "(RIO needs Windows 8 or later and no layered service provider that hides it)",
        { cause: failure },
      );
    }
    const addresses = RIO_TABLE_NAMES.map((name) => view.getBigUint64(16 + T.fields[name], true));
    if (addresses.some((a) => a === 0n)) {
      throw new UnsupportedError(
        "Registered I/O (RIO)",
        "WSAIoctl returned a RIO table with a NULL entry",
      );
    }
    return addresses;
  } finally {
    region.free();
  }
}

/** Wraps each table address once in a `Deno.UnsafeFnPointer` with its exact signature. */
export function bindRioTable(addresses: readonly bigint[]): RioFunctions {
  const out: Record<string, unknown> = {};
  RIO_TABLE_NAMES.forEach((name, i) => {
    const fn = new Deno.UnsafeFnPointer(
      Deno.UnsafePointer.create(addresses[i])!,
      rioDefinitions[name],
    );
    out[name] = fn.call.bind(fn);
  });
  return out as unknown as RioFunctions;
}

/**
 * The RIO functions of the current Winsock session: {@link queryRioTable}
 * then {@link bindRioTable}. Call it after WSAStartup, once per session, and
 * drop the result before the matching WSACleanup.
 */
export function openRioFunctions(kernel: Kernelbase, ws2: Ws2): RioFunctions {
  return bindRioTable(queryRioTable(kernel, ws2));
}
