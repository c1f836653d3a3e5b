/**
 * Multicast and broadcast socket options on a {@link RioUdpSocket} (ws2ipdef.h, winsock2.h): group
 * membership (any-source and source-specific), the outgoing
 * interface, the TTL / hop limit and loopback. The structs are encoded from
 * the layouts in ffi/windows/abi.ts, whose numbers and field order differ
 * from Linux's (IP_MREQ_SOURCE: the source before the interface).
 *
 * @module
 */

import { SOCKET, SOCKOPT, STRUCTS, UDP_OFFLOAD } from "../../ffi/windows/abi.ts";
import type { RioUdpSocket } from "./rio_socket.ts";

/** A group to join or leave, with addresses as network-order bytes. */
export interface RioGroupMembership {
  /** The group: 4 bytes (IPv4) or 16 (IPv6), the socket's family. */
  group: Uint8Array;
  /** IPv4: the interface's local address, or null to name it by index. */
  address: Uint8Array | null;
  /** The interface index (0: the default interface). */
  ifindex: number;
  /** Receive only this sender's datagrams (source-specific; the group's family), or null. */
  source: Uint8Array | null;
}

function v6(sock: RioUdpSocket): boolean {
  return sock.addr.hostname.includes(":");
}

/** An IPv4 interface as Winsock takes it: the address, or the index as 0.0.0.index (network order). */
function ipv4Interface(address: Uint8Array | null, ifindex: number): Uint8Array {
  if (address) return address;
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, ifindex, false);
  return b;
}

/**
 * Joins (`join`) or leaves a group: IP_ADD/DROP_MEMBERSHIP (IP_MREQ),
 * IP_ADD/DROP_SOURCE_MEMBERSHIP (IP_MREQ_SOURCE), IPV6_ADD/DROP_MEMBERSHIP
 * (IPV6_MREQ), or (IPv6 with a source) MCAST_JOIN/LEAVE_SOURCE_GROUP
 * (GROUP_SOURCE_REQ, at IPPROTO_IPV6).
 * @throws {WinsockError} from setsockopt.
 */
export function setRioMembership(sock: RioUdpSocket, join: boolean, m: RioGroupMembership): void {
  const O = SOCKOPT;
  if (v6(sock) && m.source) {
    const L = STRUCTS.GROUP_SOURCE_REQ.fields;
    const A = STRUCTS.SOCKADDR_IN6.fields;
    const b = new Uint8Array(STRUCTS.GROUP_SOURCE_REQ.size);
    const view = new DataView(b.buffer);
    view.setUint32(L.gsr_interface, m.ifindex, true);
    for (const [at, address] of [[L.gsr_group, m.group], [L.gsr_source, m.source]] as const) {
      view.setUint16(at + A.sin6_family, SOCKET.AF_INET6, true);
      b.set(address, at + A.sin6_addr);
    }
    const name = join ? O.MCAST_JOIN_SOURCE_GROUP : O.MCAST_LEAVE_SOURCE_GROUP;
    const call = join ? "MCAST_JOIN_SOURCE_GROUP" : "MCAST_LEAVE_SOURCE_GROUP";
    sock.setOption(SOCKET.IPPROTO_IPV6, name, b, `setsockopt(${call})`);
    return;
  }
  if (v6(sock)) {
    const L = STRUCTS.IPV6_MREQ;
    const b = new Uint8Array(L.size);
    b.set(m.group, L.fields.ipv6mr_multiaddr);
    new DataView(b.buffer).setUint32(L.fields.ipv6mr_interface, m.ifindex, true);
    const name = join ? O.IPV6_ADD_MEMBERSHIP : O.IPV6_DROP_MEMBERSHIP;
    const call = join ? "IPV6_ADD_MEMBERSHIP" : "IPV6_DROP_MEMBERSHIP";
    sock.setOption(SOCKET.IPPROTO_IPV6, name, b, `setsockopt(${call})`);
    return;
  }
  const iface = ipv4Interface(m.address, m.ifindex);
  if (m.source) {
    const L = STRUCTS.IP_MREQ_SOURCE;
    const b = new Uint8Array(L.size);
    b.set(m.group, L.fields.imr_multiaddr);
    b.set(m.source, L.fields.imr_sourceaddr);
    b.set(iface, L.fields.imr_interface);
    const name = join ? O.IP_ADD_SOURCE_MEMBERSHIP : O.IP_DROP_SOURCE_MEMBERSHIP;
    const call = join ? "IP_ADD_SOURCE_MEMBERSHIP" : "IP_DROP_SOURCE_MEMBERSHIP";
    sock.setOption(UDP_OFFLOAD.IPPROTO_IP, name, b, `setsockopt(${call})`);
    return;
  }
  const L = STRUCTS.IP_MREQ;
  const b = new Uint8Array(L.size);
  b.set(m.group, L.fields.imr_multiaddr);
  b.set(iface, L.fields.imr_interface);
  const name = join ? O.IP_ADD_MEMBERSHIP : O.IP_DROP_MEMBERSHIP;
  const call = join ? "IP_ADD_MEMBERSHIP" : "IP_DROP_MEMBERSHIP";
  sock.setOption(UDP_OFFLOAD.IPPROTO_IP, name, b, `setsockopt(${call})`);
}

/** IP_MULTICAST_IF (an address, or 0.0.0.index) / IPV6_MULTICAST_IF (an index), each a DWORD. */
export function setRioMulticastInterface(
  sock: RioUdpSocket,
  address: Uint8Array | null,
  ifindex: number,
): void {
  if (v6(sock)) {
    sock.setOption(
      SOCKET.IPPROTO_IPV6,
      SOCKOPT.IPV6_MULTICAST_IF,
      ifindex,
      "setsockopt(IPV6_MULTICAST_IF)",
    );
  } else {
    const b = ipv4Interface(address, ifindex);
    sock.setOption(
      UDP_OFFLOAD.IPPROTO_IP,
      SOCKOPT.IP_MULTICAST_IF,
      b,
      "setsockopt(IP_MULTICAST_IF)",
    );
  }
}

/** IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS (a DWORD, 0–255). */
export function setRioMulticastTtl(sock: RioUdpSocket, ttl: number): void {
  if (v6(sock)) {
    sock.setOption(
      SOCKET.IPPROTO_IPV6,
      SOCKOPT.IPV6_MULTICAST_HOPS,
      ttl,
      "setsockopt(IPV6_MULTICAST_HOPS)",
    );
  } else {
    sock.setOption(
      UDP_OFFLOAD.IPPROTO_IP,
      SOCKOPT.IP_MULTICAST_TTL,
      ttl,
      "setsockopt(IP_MULTICAST_TTL)",
    );
  }
}

/**
 * IP_MULTICAST_LOOP / IPV6_MULTICAST_LOOP (a DWORD). On Windows it applies
 * to the receiving socket: off, this socket does not get what this host
 * sends to its groups.
 */
export function setRioMulticastLoopback(sock: RioUdpSocket, on: boolean): void {
  const v = on ? 1 : 0;
  if (v6(sock)) {
    sock.setOption(
      SOCKET.IPPROTO_IPV6,
      SOCKOPT.IPV6_MULTICAST_LOOP,
      v,
      "setsockopt(IPV6_MULTICAST_LOOP)",
    );
  } else {
    sock.setOption(
      UDP_OFFLOAD.IPPROTO_IP,
      SOCKOPT.IP_MULTICAST_LOOP,
      v,
      "setsockopt(IP_MULTICAST_LOOP)",
    );
  }
}

/** SO_BROADCAST (a DWORD): whether sends to IPv4 broadcast addresses are allowed. */
export function setRioBroadcast(sock: RioUdpSocket, on: boolean): void {
  sock.setOption(SOCKET.SOL_SOCKET, SOCKOPT.SO_BROADCAST, on ? 1 : 0, "setsockopt(SO_BROADCAST)");
}
