/**
 * Linux ABI facts for UDP offloads and per-datagram metadata: the socket
 * options that turn them on, the control-message (`cmsghdr`) layout, and the
 * payload structs of the cmsgs regio reads and writes (GRO/GSO segment
 * sizes, TOS / traffic class, packet info). Re-exported by abi.ts, the one
 * entry; values from `shared/reference/udp-offloads.md` §2 and the glibc /
 * kernel UAPI headers (x86_64 and aarch64 share them).
 *
 * @module
 */

/** Protocol levels and options for the offloads and metadata (`setsockopt` / cmsg level+type). */
export const UDP_OPT = {
  IPPROTO_IP: 0,
  IPPROTO_IPV6: 41,
  /** `SOL_UDP` is `IPPROTO_UDP` (17). */
  SOL_UDP: 17,
  /** SOL_SOCKET: send IPv4 datagrams without a checksum (GSO sends then fail with EINVAL). */
  SO_NO_CHECK: 11,
  /** SOL_UDP: IPv6 sends without a checksum (GSO sends then fail with EINVAL). */
  UDP_NO_CHECK6_TX: 101,
  /** SOL_UDP: accept IPv6 datagrams without a checksum. */
  UDP_NO_CHECK6_RX: 102,
  /** SOL_UDP: segment size (`u16` cmsg, or an int sticky option). */
  UDP_SEGMENT: 103,
  /** SOL_UDP: receive coalescing (int 1); each coalesced receive carries an `int` segment size. */
  UDP_GRO: 104,
  /** IPPROTO_IP: the TOS cmsg (1 byte received, `int` sent). */
  IP_TOS: 1,
  /** IPPROTO_IP: deliver `struct in_pktinfo` with each datagram. */
  IP_PKTINFO: 8,
  /** IPPROTO_IP: deliver the TOS byte with each datagram. */
  IP_RECVTOS: 13,
  /** IPPROTO_IPV6: deliver `struct in6_pktinfo` with each datagram. */
  IPV6_RECVPKTINFO: 49,
  /** IPPROTO_IPV6: the packet-info cmsg type. */
  IPV6_PKTINFO: 50,
  /** IPPROTO_IPV6: deliver the traffic class with each datagram. */
  IPV6_RECVTCLASS: 66,
  /** IPPROTO_IPV6: the traffic-class cmsg (`int` both ways). */
  IPV6_TCLASS: 67,
  /** `msg_flags`: the control area was too small for every cmsg. */
  MSG_CTRUNC: 0x8,
} as const;

/**
 * `struct cmsghdr` (16 B on LP64): `size_t cmsg_len; int cmsg_level; int cmsg_type;`,
 * data right after; every cmsg is padded to `ALIGN` (`CMSG_ALIGN`).
 */
export const CMSGHDR = {
  SIZE: 16,
  len: 0,
  level: 8,
  type: 12,
  ALIGN: 8,
} as const;

/** `struct in_pktinfo` (12 B): `int ipi_ifindex; in_addr ipi_spec_dst; in_addr ipi_addr;`. */
export const IN_PKTINFO = {
  SIZE: 12,
  ifindex: 0,
  spec_dst: 4,
  addr: 8,
} as const;

/** `struct in6_pktinfo` (20 B): `in6_addr ipi6_addr; int ipi6_ifindex;`. */
export const IN6_PKTINFO = {
  SIZE: 20,
  addr: 0,
  ifindex: 16,
} as const;

/** Limits of one segmented (GSO) send. */
export const UDP_LIMITS = {
  /** `UDP_MAX_SEGMENTS` in kernels before 6.9 (raised to 128 later): the portable floor. */
  MAX_SEGMENTS: 64,
  /** Largest IPv4 UDP payload (65,535 − 20 IP − 8 UDP). */
  MAX_PAYLOAD_V4: 65507,
  /** Largest IPv6 UDP payload without jumbograms (65,535 payload length − 8 UDP). */
  MAX_PAYLOAD_V6: 65527,
} as const;
