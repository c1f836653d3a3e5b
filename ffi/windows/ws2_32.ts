/**
 * The ws2_32.dll symbol table (Winsock 2); src/windows/dlls.ts opens it
 * (lazily, by its System32 path).
 * SOCKET is UINT_PTR, so it is declared `usize` and travels as a BigInt.
 * Functions that fail through `SOCKET_ERROR` / `INVALID_SOCKET` leave their
 * code in `WSAGetLastError`, which must be the very next call.
 *
 * @module
 */

/** The ws2_32.dll symbols regio binds. */
export const ws2Symbols = {
  WSAStartup: {
    parameters: [
      "u16", // WORD wVersionRequested (MAKEWORD(2,2) = 0x0202)
      "buffer", // LPWSADATA lpWSAData (408 bytes on x64)
    ],
    result: "i32", // int: the error code itself (0 = OK)
  },
  WSACleanup: { parameters: [], result: "i32" }, // int WSACleanup(void)
  WSASocketW: {
    parameters: [
      "i32", // int af
      "i32", // int type
      "i32", // int protocol
      "pointer", // LPWSAPROTOCOL_INFOW lpProtocolInfo (NULL)
      "u32", // GROUP g (0)
      "u32", // DWORD dwFlags
    ],
    result: "usize", // SOCKET (INVALID_SOCKET = ~0 on failure)
  },
  bind: {
    parameters: [
      "usize", // SOCKET s
      "pointer", // const struct sockaddr* name
      "i32", // int namelen
    ],
    result: "i32", // int (0 / SOCKET_ERROR)
  },
  connect: {
    parameters: [
      "usize", // SOCKET s
      "pointer", // const struct sockaddr* name
      "i32", // int namelen
    ],
    result: "i32", // int (0 / SOCKET_ERROR)
  },
  getsockname: {
    parameters: [
      "usize", // SOCKET s
      "pointer", // struct sockaddr* name
      "pointer", // int* namelen (in/out)
    ],
    result: "i32", // int (0 / SOCKET_ERROR)
  },
  setsockopt: {
    parameters: [
      "usize", // SOCKET s
      "i32", // int level
      "i32", // int optname
      "pointer", // const char* optval
      "i32", // int optlen
    ],
    result: "i32", // int (0 / SOCKET_ERROR)
  },
  WSAIoctl: {
    parameters: [
      "usize", // SOCKET s
      "u32", // DWORD dwIoControlCode
      "pointer", // LPVOID lpvInBuffer
      "u32", // DWORD cbInBuffer
      "pointer", // LPVOID lpvOutBuffer
      "u32", // DWORD cbOutBuffer
      "pointer", // LPDWORD lpcbBytesReturned
      "pointer", // LPWSAOVERLAPPED lpOverlapped (NULL)
      "pointer", // LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine (NULL)
    ],
    result: "i32", // int (0 / SOCKET_ERROR)
  },
  closesocket: {
    parameters: [
      "usize", // SOCKET s
    ],
    result: "i32", // int (0 / SOCKET_ERROR)
  },
  WSAGetLastError: { parameters: [], result: "i32" }, // int WSAGetLastError(void)
  sendto: {
    parameters: [
      "usize", // SOCKET s
      "pointer", // const char* buf
      "i32", // int len
      "i32", // int flags
      "pointer", // const struct sockaddr* to
      "i32", // int tolen
    ],
    result: "i32", // int bytes sent, or SOCKET_ERROR
  },
  recvfrom: {
    parameters: [
      "usize", // SOCKET s
      "pointer", // char* buf
      "i32", // int len
      "i32", // int flags
      "pointer", // struct sockaddr* from
      "pointer", // int* fromlen (in/out)
    ],
    result: "i32", // int bytes received, or SOCKET_ERROR
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** The opened ws2_32.dll symbols (the real DLL, or a test fake of the same shape). */
export type Ws2 = Deno.DynamicLibrary<typeof ws2Symbols>["symbols"];
