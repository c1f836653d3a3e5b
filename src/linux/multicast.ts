/**
 * Multicast and broadcast socket options on a {@link SocketFd} (ip(7), ipv6(7), socket(7)): group
 * membership (any-source and source-specific), the outgoing
 * interface, the TTL / hop limit and loopback of sent datagrams. The
 * structs are encoded from the layouts in ffi/linux/abi.ts.
 *
 * @module
 */

import {
  GROUP_SOURCE_REQ,
  IP_MREQ_SOURCE,
  IP_MREQN,
  IPV6_MREQ,
  SOCK,
  SOCKADDR_IN6,
  SOCKOPT,
} from "../../ffi/linux/abi.ts";
import type { SocketFd } from "./socket.ts";

/** A group to join or leave, with addresses as network-order bytes. */
export interface GroupMembership {
  /** The group: 4 bytes (IPv4) or 16 (IPv6), the socket's family. */
  group: Uint8Array;
  /** IPv4 only: the local address of the interface (null: by index, or the default). */
  address: Uint8Array | null;
  /** The interface index (0: the kernel picks by route). */
  ifindex: number;
  /** Receive only this sender's datagrams (source-specific; the group's family), or null. */
  source: Uint8Array | null;
}

function v6(sock: SocketFd): boolean {
  return sock.family === SOCK.AF_INET6;
}

/**
 * Joins (`join`) or leaves a group: IP_ADD/DROP_MEMBERSHIP with an
 * `ip_mreqn`, IP_ADD/DROP_SOURCE_MEMBERSHIP with an `ip_mreq_source`,
 * IPV6_ADD/DROP_MEMBERSHIP with an `ipv6_mreq`, or (IPv6 with a source)
 * MCAST_JOIN/LEAVE_SOURCE_GROUP with a `group_source_req`.
 * @throws {TypeError} for a source with an interface index (ip_mreq_source names the interface by address);
 *   {@link ErrnoError} from `setsockopt` (e.g. EADDRINUSE for a second join, EADDRNOTAVAIL to leave an any-source group not joined, EINVAL a source-specific one).
 */
export function setMembership(sock: SocketFd, join: boolean, m: GroupMembership): void {
  const O = SOCKOPT;
  if (v6(sock) && m.source) {
    const G = GROUP_SOURCE_REQ;
    const b = new Uint8Array(G.SIZE);
    const view = new DataView(b.buffer);
    view.setUint32(G.interface, m.ifindex, true);
    for (const [at, address] of [[G.group, m.group], [G.source, m.source]] as const) {
      view.setUint16(at + SOCKADDR_IN6.family, SOCK.AF_INET6, true);
      b.set(address, at + SOCKADDR_IN6.addr);
    }
    const name = join ? O.MCAST_JOIN_SOURCE_GROUP : O.MCAST_LEAVE_SOURCE_GROUP;
    const call = join ? "MCAST_JOIN_SOURCE_GROUP" : "MCAST_LEAVE_SOURCE_GROUP";
    sock.setOption(O.IPPROTO_IPV6, name, b, call);
    return;
  }
  if (v6(sock)) {
    const b = new Uint8Array(IPV6_MREQ.SIZE);
    b.set(m.group, IPV6_MREQ.multiaddr);
    new DataView(b.buffer).setUint32(IPV6_MREQ.ifindex, m.ifindex, true);
    const name = join ? O.IPV6_ADD_MEMBERSHIP : O.IPV6_DROP_MEMBERSHIP;
    sock.setOption(O.IPPROTO_IPV6, name, b, join ? "IPV6_ADD_MEMBERSHIP" : "IPV6_DROP_MEMBERSHIP");
    return;
  }
  if (m.source) {
    if (m.ifindex !== 0) {
      throw new TypeError("a source-specific IPv4 membership names its interface by address");
    }
    const b = new Uint8Array(IP_MREQ_SOURCE.SIZE);
    b.set(m.group, IP_MREQ_SOURCE.multiaddr);
    if (m.address) b.set(m.address, IP_MREQ_SOURCE.interface);
    b.set(m.source, IP_MREQ_SOURCE.sourceaddr);
    const name = join ? O.IP_ADD_SOURCE_MEMBERSHIP : O.IP_DROP_SOURCE_MEMBERSHIP;
    const call = join ? "IP_ADD_SOURCE_MEMBERSHIP" : "IP_DROP_SOURCE_MEMBERSHIP";
    sock.setOption(O.IPPROTO_IP, name, b, call);
    return;
  }
  const b = mreqn(m.group, m.address, m.ifindex);
  const name = join ? O.IP_ADD_MEMBERSHIP : O.IP_DROP_MEMBERSHIP;
  sock.setOption(O.IPPROTO_IP, name, b, join ? "IP_ADD_MEMBERSHIP" : "IP_DROP_MEMBERSHIP");
}

function mreqn(group: Uint8Array | null, address: Uint8Array | null, ifindex: number): Uint8Array {
  const b = new Uint8Array(IP_MREQN.SIZE);
  if (group) b.set(group, IP_MREQN.multiaddr);
  if (address) b.set(address, IP_MREQN.address);
  new DataView(b.buffer).setInt32(IP_MREQN.ifindex, ifindex, true);
  return b;
}

/**
 * The interface multicast datagrams leave by: IP_MULTICAST_IF with an
 * `ip_mreqn` (address or index), or IPV6_MULTICAST_IF with an index.
 * @throws {ErrnoError} from `setsockopt`.
 */
export function setMulticastInterface(
  sock: SocketFd,
  address: Uint8Array | null,
  ifindex: number,
): void {
  if (v6(sock)) {
    sock.setOption(SOCKOPT.IPPROTO_IPV6, SOCKOPT.IPV6_MULTICAST_IF, ifindex, "IPV6_MULTICAST_IF");
  } else {
    const b = mreqn(null, address, ifindex);
    sock.setOption(SOCKOPT.IPPROTO_IP, SOCKOPT.IP_MULTICAST_IF, b, "IP_MULTICAST_IF");
  }
}

/** IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS (0–255) for sent multicast datagrams. */
export function setMulticastTtl(sock: SocketFd, ttl: number): void {
  if (v6(sock)) {
    sock.setOption(SOCKOPT.IPPROTO_IPV6, SOCKOPT.IPV6_MULTICAST_HOPS, ttl, "IPV6_MULTICAST_HOPS");
  } else {
    sock.setOption(SOCKOPT.IPPROTO_IP, SOCKOPT.IP_MULTICAST_TTL, ttl, "IP_MULTICAST_TTL");
  }
}

/** IP_MULTICAST_LOOP / IPV6_MULTICAST_LOOP: whether this host's own members get what it sends. */
export function setMulticastLoopback(sock: SocketFd, on: boolean): void {
  const v = on ? 1 : 0;
  if (v6(sock)) {
    sock.setOption(SOCKOPT.IPPROTO_IPV6, SOCKOPT.IPV6_MULTICAST_LOOP, v, "IPV6_MULTICAST_LOOP");
  } else {
    sock.setOption(SOCKOPT.IPPROTO_IP, SOCKOPT.IP_MULTICAST_LOOP, v, "IP_MULTICAST_LOOP");
  }
}

/** SO_BROADCAST: whether sends to IPv4 broadcast addresses are allowed. */
export function setBroadcast(sock: SocketFd, on: boolean): void {
  sock.setOption(SOCK.SOL_SOCKET, SOCKOPT.SO_BROADCAST, on ? 1 : 0, "SO_BROADCAST");
}
