/**
 * Windows ABI facts for UDP offloads and per-datagram metadata through RIO:
 * the socket options that turn them on (URO, packet info, ECN reception),
 * the control-message types, `WSACMSGHDR` and its alignment rules
 * (mswsock.h `WSA_CMSG_*`), the cmsg payloads `IN_PKTINFO` / `IN6_PKTINFO`
 * (address **first**, then the interface: the reverse of Linux's
 * `in_pktinfo`), and `RIO_CMSG_BUFFER`, the header of a RIOSendEx /
 * RIOReceiveEx control slice. Re-exported by ffi/windows/abi.ts.
 *
 * Sources: reference/udp-offloads.md §3 (layouts), mingw-w64 ws2ipdef.h /
 * ws2tcpip.h / mswsock.h (IP_PKTINFO, IPV6_PKTINFO, IP_ECN, IPV6_ECN,
 * IP_TOS, WSACMSGHDR, IN_PKTINFO, IN6_PKTINFO, checked by `deno task
 * abi:mingw`). mingw-w64 lacks UDP_SEND_MSG_SIZE, UDP_RECV_MAX_COALESCED_SIZE,
 * UDP_COALESCED_INFO, IP_RECVECN, IPV6_RECVECN and RIO_CMSG_BUFFER, and the
 * reference writes none of their values out: they are taken from the
 * win32metadata-generated windows-sys bindings (Win32::Networking::WinSock)
 * and, for RIO_CMSG_BUFFER, from copies of the SDK's mswsock.h in public
 * code (MsQuic's RIO datapath used it) [3P].
 *
 * @module
 */

import type { StructLayout } from "./abi_common.ts";

/** Levels, socket options and cmsg types of the offloads and metadata (ws2ipdef.h). */
export const UDP_OFFLOAD = {
  /** Level of IP_PKTINFO / IP_ECN / IP_RECVECN / IP_TOS. */
  IPPROTO_IP: 0,
  /** IPPROTO_IP: the TOS byte (not used: ECN has its own option on Windows). */
  IP_TOS: 3,
  /** IPPROTO_IP / IPPROTO_IPV6: deliver (and, on send, take) packet info; same value at both levels. */
  IP_PKTINFO: 19,
  /** IPPROTO_IPV6 packet info (IN6_PKTINFO). */
  IPV6_PKTINFO: 19,
  /** cmsg type carrying the ECN codepoint (an INT), both ways. */
  IP_ECN: 50,
  /** IPPROTO_IPV6 ECN cmsg type. */
  IPV6_ECN: 50,
  /** Socket option: deliver IP_ECN with each datagram (Windows 11 / Server 2022+) [3P windows-sys]. */
  IP_RECVECN: 50,
  /** IPPROTO_IPV6 counterpart of IP_RECVECN [3P windows-sys]. */
  IPV6_RECVECN: 50,
  /** IPPROTO_UDP: USO segment size, a DWORD (socket option or per-send cmsg) [3P windows-sys]. */
  UDP_SEND_MSG_SIZE: 2,
  /** IPPROTO_UDP socket option: URO, the largest coalesced receive (DWORD; 0 = off) [3P windows-sys]. */
  UDP_RECV_MAX_COALESCED_SIZE: 3,
  /** IPPROTO_UDP cmsg type on a coalesced receive: the segment size (DWORD) [3P windows-sys]. */
  UDP_COALESCED_INFO: 3,
} as const;

/** The offload structs, x64 layouts (part of `STRUCTS`). */
export const UDP_STRUCTS = {
  /** `{ SIZE_T cmsg_len; INT cmsg_level; INT cmsg_type; }`, data at WSA_CMSG_DATA (16). */
  WSACMSGHDR: { size: 16, align: 8, fields: { cmsg_len: 0, cmsg_level: 8, cmsg_type: 12 } },
  /** `{ IN_ADDR ipi_addr; ULONG ipi_ifindex; }`: address first (Linux puts ifindex first). */
  IN_PKTINFO: { size: 8, align: 4, fields: { ipi_addr: 0, ipi_ifindex: 4 } },
  /** `{ IN6_ADDR ipi6_addr; ULONG ipi6_ifindex; }`. */
  IN6_PKTINFO: { size: 20, align: 4, fields: { ipi6_addr: 0, ipi6_ifindex: 16 } },
  /** `{ ULONG TotalLength; }` then WSACMSGHDRs from RIO_CMSG_BASE_SIZE; TotalLength counts the base. */
  RIO_CMSG_BUFFER: { size: 4, align: 4, fields: { TotalLength: 0 } },
} as const satisfies Record<string, StructLayout>;

/**
 * The x64 results of mswsock.h's cmsg macros (TYPE_ALIGNMENT(WSACMSGHDR) and
 * MAX_NATURAL_ALIGNMENT are both 8 there): what `WSA_CMSG_SPACE`,
 * `WSA_CMSG_LEN`, `WSA_CMSG_DATA` and `RIO_CMSG_BASE_SIZE` are built from.
 */
export const WSA_CMSG = {
  /** `WSA_CMSGHDR_ALIGN`: each cmsg starts at a multiple of this. */
  HDR_ALIGN: 8,
  /** `WSA_CMSGDATA_ALIGN`: the alignment of the data and of `WSA_CMSG_SPACE`. */
  DATA_ALIGN: 8,
  /** `WSA_CMSG_DATA(cmsg) - cmsg`: `WSA_CMSGDATA_ALIGN(sizeof(WSACMSGHDR))`. */
  DATA_OFFSET: 16,
  /** `RIO_CMSG_BASE_SIZE` = `WSA_CMSGHDR_ALIGN(sizeof(RIO_CMSG_BUFFER))`: the first cmsg's offset. */
  RIO_BASE_SIZE: 8,
} as const;

/** Limits regio puts on one USO send (Windows documents none it could take instead). */
export const USO_LIMITS = {
  /** Segments per send: regio's portable floor (Linux's UDP_MAX_SEGMENTS), not a Windows limit. */
  MAX_SEGMENTS: 64,
  /** Largest IPv4 UDP payload (65,535 − 20 IP − 8 UDP). */
  MAX_PAYLOAD_V4: 65507,
  /** Largest IPv6 UDP payload without jumbograms (65,535 − 8 UDP). */
  MAX_PAYLOAD_V6: 65527,
} as const;

/** `WSA_CMSG_SPACE(n)`: the room one cmsg with `n` data bytes takes. */
export function wsaCmsgSpace(n: number): number {
  const a = WSA_CMSG.DATA_ALIGN;
  const h = WSA_CMSG.HDR_ALIGN;
  return (UDP_STRUCTS.WSACMSGHDR.size + ((n + h - 1) & ~(h - 1)) + a - 1) & ~(a - 1);
}

/** `WSA_CMSG_LEN(n)`: the `cmsg_len` of a cmsg with `n` data bytes. */
export function wsaCmsgLen(n: number): number {
  return WSA_CMSG.DATA_OFFSET + n;
}
