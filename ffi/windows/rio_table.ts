/**
 * The Winsock Registered I/O function table. RIO functions are not exported
 * by name: `WSAIoctl(SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER,
 * WSAID_MULTIPLE_RIO)` fills a 112-byte RIO_EXTENSION_FUNCTION_TABLE, and each
 * of its 13 entries is wrapped once in a `Deno.UnsafeFnPointer`.
 *
 * Every call through an `UnsafeFnPointer` takes Deno's slow path (~1.4 µs),
 * so the wrappers batch: one RIODequeueCompletion per batch, RIO_MSG_DEFER
 * plus one commit per batch of sends and receives.
 *
 * Opaque RIO handles (RIO_CQ, RIO_RQ) are `pointer`. RIO_BUFFERID, SOCKET and
 * the PVOID contexts are declared `usize` (same x64 register class) so they
 * travel as BigInts: a buffer ID can then be compared with
 * RIO_INVALID_BUFFERID (0xFFFFFFFF zero-extended) and written into RIO_BUF.
 *
 * @module
 */

import { RIO, STRUCTS, WSAID_MULTIPLE_RIO } from "./abi.ts";
import { KERNEL, RIO as RIO_CONST, SOCKET } from "./abi.ts";
import type { Kernelbase } from "./kernelbase.ts";
import type { Ws2 } from "./ws2_32.ts";
import { UnsupportedError, WinsockError } from "../../src/errors.ts";

/** The 13 RIO functions, in RIO_EXTENSION_FUNCTION_TABLE order. */
export const rioDefinitions = {
  RIOReceive: {
    parameters: [
      "pointer", // RIO_RQ SocketQueue
      "pointer", // PRIO_BUF pData
      "u32", // ULONG DataBufferCount
      "u32", // DWORD Flags
      "usize", // PVOID RequestContext
    ],
    result: "i32", // BOOL
  },
  RIOReceiveEx: {
    parameters: [
      "pointer", // RIO_RQ SocketQueue
      "pointer", // PRIO_BUF pData
      "u32", // ULONG DataBufferCount
      "pointer", // PRIO_BUF pLocalAddress
      "pointer", // PRIO_BUF pRemoteAddress
      "pointer", // PRIO_BUF pControlContext
      "pointer", // PRIO_BUF pFlags
      "u32", // DWORD Flags
      "usize", // PVOID RequestContext
    ],
    result: "i32", // int (TRUE / FALSE)
  },
  RIOSend: {
    parameters: [
      "pointer", // RIO_RQ SocketQueue
      "pointer", // PRIO_BUF pData
      "u32", // ULONG DataBufferCount
      "u32", // DWORD Flags
      "usize", // PVOID RequestContext
    ],
    result: "i32", // BOOL
  },
  RIOSendEx: {
    parameters: [
      "pointer", // RIO_RQ SocketQueue
      "pointer", // PRIO_BUF pData
      "u32", // ULONG DataBufferCount
      "pointer", // PRIO_BUF pLocalAddress (reserved, NULL)
      "pointer", // PRIO_BUF pRemoteAddress
      "pointer", // PRIO_BUF pControlContext
      "pointer", // PRIO_BUF pFlags
      "u32", // DWORD Flags
      "usize", // PVOID RequestContext
    ],
    result: "i32", // BOOL
  },
  RIOCloseCompletionQueue: {
    parameters: [
      "pointer", // RIO_CQ CQ
    ],
    result: "void", // VOID
  },
  RIOCreateCompletionQueue: {
    parameters: [
      "u32", // DWORD QueueSize
      "pointer", // PRIO_NOTIFICATION_COMPLETION NotificationCompletion (optional)
    ],
    result: "pointer", // RIO_CQ (RIO_INVALID_CQ = NULL on failure)
  },
  RIOCreateRequestQueue: {
    parameters: [
      "usize", // SOCKET Socket
      "u32", // ULONG MaxOutstandingReceive
      "u32", // ULONG MaxReceiveDataBuffers (must be 1)
      "u32", // ULONG MaxOutstandingSend
      "u32", // ULONG MaxSendDataBuffers (must be 1)
      "pointer", // RIO_CQ ReceiveCQ
      "pointer", // RIO_CQ SendCQ
      "usize", // PVOID SocketContext
    ],
    result: "pointer", // RIO_RQ (RIO_INVALID_RQ = NULL on failure)
  },
  RIODequeueCompletion: {
    parameters: [
      "pointer", // RIO_CQ CQ
      "pointer", // PRIORESULT Array
      "u32", // ULONG ArraySize
    ],
    result: "u32", // ULONG count, or RIO_CORRUPT_CQ (0xFFFFFFFF)
  },
  RIODeregisterBuffer: {
    parameters: [
      "usize", // RIO_BUFFERID BufferId
    ],
    result: "void", // VOID
  },
  RIONotify: {
    parameters: [
      "pointer", // RIO_CQ CQ
    ],
    result: "i32", // INT: the error code itself (0, WSAEINVAL, WSAEALREADY)
  },
  RIORegisterBuffer: {
    parameters: [
      "pointer", // PCHAR DataBuffer
      "u32", // DWORD DataLength
    ],
    result: "usize", // RIO_BUFFERID (RIO_INVALID_BUFFERID = 0xFFFFFFFF on failure)
  },
  RIOResizeCompletionQueue: {
    parameters: [
      "pointer", // RIO_CQ CQ
      "u32", // DWORD QueueSize
    ],
    result: "i32", // BOOL
  },
  RIOResizeRequestQueue: {
    parameters: [
      "pointer", // RIO_RQ RQ
      "u32", // DWORD MaxOutstandingReceive
      "u32", // DWORD MaxOutstandingSend
    ],
    result: "i32", // BOOL
  },
} as const satisfies Record<string, Deno.UnsafeCallbackDefinition>;

/** The RIO functions as callables (the real table, or a test fake of the same shape). */
export type RioFunctions = {
  readonly [K in keyof typeof rioDefinitions]: Deno.UnsafeFnPointer<
    (typeof rioDefinitions)[K]
  >["call"];
};

const NAMES = Object.keys(rioDefinitions) as (keyof typeof rioDefinitions)[];

/**
 * Asks Winsock for the RIO table and returns its 13 function addresses in
 * table order. Creates (and closes) a plain UDP socket for the ioctl; the
 * caller must have called WSAStartup.
 */
export function queryRioTable(kernel: Kernelbase, ws2: Ws2): bigint[] {
  const T = STRUCTS.RIO_EXTENSION_FUNCTION_TABLE;
  // guid (16) | table (112) | bytesReturned (4), all in native memory.
  const size = 16 + T.size + 8;
  const mem = kernel.VirtualAlloc(
    null,
    BigInt(size),
    KERNEL.MEM_COMMIT | KERNEL.MEM_RESERVE,
    KERNEL.PAGE_READWRITE,
  );
  if (!mem) {
    throw new UnsupportedError("Registered I/O (RIO)", "VirtualAlloc failed for the RIO table");
  }
  try {
    const buf = Deno.UnsafePointerView.getArrayBuffer(mem, size);
    const bytes = new Uint8Array(buf);
    bytes.set(WSAID_MULTIPLE_RIO, 0);
    const view = new DataView(buf);
    view.setUint32(16 + T.fields.cbSize, T.size, true);
    const s = ws2.WSASocketW(
      SOCKET.AF_INET,
      SOCKET.SOCK_DGRAM,
      SOCKET.IPPROTO_UDP,
      null,
      0,
      RIO_CONST.WSA_FLAG_OVERLAPPED,
    );
    if (s === 0xffff_ffff_ffff_ffffn) {
      const code = ws2.WSAGetLastError();
      throw new UnsupportedError(
        "Registered I/O (RIO)",
        "no socket could be created for the RIO ioctl",
        {
          cause: new WinsockError(code, "WSASocketW"),
        },
      );
    }
    let rc: number, code = 0;
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
      if (rc !== 0) code = ws2.WSAGetLastError();
    } finally {
      ws2.closesocket(s);
    }
    if (rc !== 0) {
      throw new UnsupportedError(
        "Registered I/O (RIO)",
        "WSAIoctl(SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER, WSAID_MULTIPLE_RIO) failed " +
          "(RIO needs Windows 8 or later and no layered service provider that hides it)",
        { cause: new WinsockError(code, "WSAIoctl") },
      );
    }
    const addresses = NAMES.map((name) => view.getBigUint64(16 + T.fields[name], true));
    bytes.fill(0);
    buf.transfer(0);
    if (addresses.some((a) => a === 0n)) {
      throw new UnsupportedError(
        "Registered I/O (RIO)",
        "WSAIoctl returned a RIO table with a NULL entry",
      );
    }
    return addresses;
  } finally {
    kernel.VirtualFree(mem, 0n, KERNEL.MEM_RELEASE);
  }
}

/** Wraps each table address once in a `Deno.UnsafeFnPointer` with its exact signature. */
export function bindRioTable(addresses: readonly bigint[]): RioFunctions {
  const out: Record<string, unknown> = {};
  NAMES.forEach((name, i) => {
    const fn = new Deno.UnsafeFnPointer(
      Deno.UnsafePointer.create(addresses[i])!,
      rioDefinitions[name],
    );
    out[name] = fn.call.bind(fn);
  });
  return out as unknown as RioFunctions;
}
