/**
 * The Winsock Registered I/O function table's 13 signatures, in table order.
 * RIO functions are not exported by name: `WSAIoctl(SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER,
 * WSAID_MULTIPLE_RIO)` fills a 112-byte RIO_EXTENSION_FUNCTION_TABLE (its
 * layout and the GUID are in abi_winsock.ts), and each of its 13 entries is
 * wrapped in a `Deno.UnsafeFnPointer` with the signature declared here. The
 * query and the binding, which call Winsock and throw typed errors, live in
 * src/windows/rio_functions.ts.
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

/** The 13 names in RIO_EXTENSION_FUNCTION_TABLE order (entry i is at offset 8 + 8 * i). */
export const RIO_TABLE_NAMES: readonly (keyof typeof rioDefinitions)[] = Object.keys(
  rioDefinitions,
) as (keyof typeof rioDefinitions)[];
