/**
 * Linux socket options and structs for connected, port-sharing, broadcast
 * and multicast UDP (`<netinet/in.h>`, `<asm-generic/socket.h>`; ip(7),
 * ipv6(7), socket(7)). Re-exported by abi.ts, the one entry point.
 *
 * @module
 */

/**
 * Socket options for connected, port-sharing, broadcast and multicast UDP
 * (`<netinet/in.h>`, `<asm-generic/socket.h>`; ip(7), ipv6(7), socket(7)).
 * They differ from Windows' (ws2ipdef.h): never share these with the RIO side.
 */
export const SOCKOPT = {
  IPPROTO_IP: 0,
  IPPROTO_IPV6: 41,
  SO_BROADCAST: 6,
  IP_MULTICAST_IF: 32,
  IP_MULTICAST_TTL: 33,
  IP_MULTICAST_LOOP: 34,
  IP_ADD_MEMBERSHIP: 35,
  IP_DROP_MEMBERSHIP: 36,
  IP_ADD_SOURCE_MEMBERSHIP: 39,
  IP_DROP_SOURCE_MEMBERSHIP: 40,
  IPV6_MULTICAST_IF: 17,
  IPV6_MULTICAST_HOPS: 18,
  IPV6_MULTICAST_LOOP: 19,
  IPV6_ADD_MEMBERSHIP: 20,
  IPV6_DROP_MEMBERSHIP: 21,
  MCAST_JOIN_SOURCE_GROUP: 46,
  MCAST_LEAVE_SOURCE_GROUP: 47,
} as const;

/** `struct ip_mreqn` (12 B): group, local address, interface index (ip(7)). */
export const IP_MREQN = {
  SIZE: 12,
  multiaddr: 0,
  address: 4,
  ifindex: 8,
} as const;

/**
 * `struct ip_mreq_source` (12 B). Linux puts the interface before the
 * source; Windows' struct of the same name has them the other way round.
 */
export const IP_MREQ_SOURCE = {
  SIZE: 12,
  multiaddr: 0,
  interface: 4,
  sourceaddr: 8,
} as const;

/** `struct ipv6_mreq` (20 B): group, then the interface index. */
export const IPV6_MREQ = {
  SIZE: 20,
  multiaddr: 0,
  ifindex: 16,
} as const;

/**
 * `struct group_source_req` (264 B; RFC 3678): the interface index, then
 * the group and the source, each a `sockaddr_storage` (128 B, 8-aligned).
 */
export const GROUP_SOURCE_REQ = {
  SIZE: 264,
  interface: 0,
  group: 8,
  source: 136,
} as const;
