/**
 * What a RIORESULT.Status means for a datagram request. Which code space RIO
 * reports in is undocumented (reference §5.3, UNCONFIRMED): MsQuic fed RIO
 * statuses to the same handler as its IOCP path, which expects Win32 codes,
 * while msquic#3323 saw Winsock codes. So each meaning accepts both
 * spellings, and a caller branches on the meaning, never on one code.
 *
 * @module
 */

import { WIN32_ERROR, WSA_ERROR } from "../../ffi/windows/abi.ts";

/**
 * - `ok`: the request completed (status 0).
 * - `truncated`: a datagram longer than the receive buffer; the buffer holds its first bytes.
 * - `unreachable`: an ICMP error from an earlier send (port, host, network or protocol unreachable).
 * - `cancelled`: the request was aborted because its socket was closed.
 * - `error`: anything else.
 */
export type RioStatusKind = "ok" | "truncated" | "unreachable" | "cancelled" | "error";

const KINDS = new Map<number, RioStatusKind>([
  [0, "ok"],
  [WSA_ERROR.WSAEMSGSIZE, "truncated"],
  [WIN32_ERROR.ERROR_MORE_DATA, "truncated"],
  [WSA_ERROR.WSAECONNRESET, "unreachable"],
  [WSA_ERROR.WSAENETUNREACH, "unreachable"],
  [WSA_ERROR.WSAEHOSTUNREACH, "unreachable"],
  [WIN32_ERROR.ERROR_NETWORK_UNREACHABLE, "unreachable"],
  [WIN32_ERROR.ERROR_HOST_UNREACHABLE, "unreachable"],
  [WIN32_ERROR.ERROR_PROTOCOL_UNREACHABLE, "unreachable"],
  [WIN32_ERROR.ERROR_PORT_UNREACHABLE, "unreachable"],
  // WSA_OPERATION_ABORTED and ERROR_OPERATION_ABORTED are both 995.
  [WSA_ERROR.WSA_OPERATION_ABORTED, "cancelled"],
  // MsQuic treated WSAENOTSOCK like an abort at shutdown: the socket is gone.
  [WSA_ERROR.WSAENOTSOCK, "cancelled"],
]);

/** The meaning of a RIORESULT.Status, in either code space. */
export function rioStatusKind(status: number): RioStatusKind {
  return KINDS.get(status) ?? "error";
}
