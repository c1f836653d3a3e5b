/**
 * Control messages (`cmsghdr`) for UDP on Linux, the one place they are
 * encoded and decoded: reading the GRO segment size, the TOS / traffic
 * class and the packet info out of a received control area, and writing the
 * UDP_SEGMENT, IP_TOS / IPV6_TCLASS and IP_PKTINFO / IPV6_PKTINFO cmsgs of a
 * send. Layouts and values come from ffi/linux/abi.ts; everything works on
 * native memory through a `DataView`, allocation-free.
 *
 * @module
 */

import { CMSGHDR, IN6_PKTINFO, IN_PKTINFO, UDP_OPT } from "../../ffi/linux/abi.ts";
import { formatIpv6 } from "../../ffi/inet.ts";
import type { ReceiveControl } from "../receive_control.ts";

/** `CMSG_ALIGN(n)`. */
function cmsgAlign(n: number): number {
  return (n + CMSGHDR.ALIGN - 1) & ~(CMSGHDR.ALIGN - 1);
}

/** `CMSG_SPACE(n)`: the room one cmsg with `n` data bytes takes. */
function cmsgSpace(n: number): number {
  return CMSGHDR.SIZE + cmsgAlign(n);
}

/** Room to reserve for every cmsg a receive may carry (GRO, TOS/TCLASS, PKTINFO) plus spare. */
export const RECEIVE_CONTROL_ROOM = 128;

/** Room for the cmsgs of one send (UDP_SEGMENT, TOS/TCLASS, PKTINFO). */
export const SEND_CONTROL_ROOM = cmsgSpace(2) + cmsgSpace(4) + cmsgSpace(IN6_PKTINFO.SIZE);

/**
 * Walks the `length` bytes of control data at `offset` (what the kernel
 * wrote, `io_uring_recvmsg_out.controllen`) and fills `out`. Unknown cmsgs
 * are skipped; a malformed length ends the walk.
 */
export function readReceiveControl(
  view: DataView,
  offset: number,
  length: number,
  out: ReceiveControl,
): void {
  out.segment = 0;
  out.ecn = 0;
  out.pktinfo = -1;
  const end = offset + length;
  let at = offset;
  while (at + CMSGHDR.SIZE <= end) {
    // cmsg_len is a size_t; the high word is zero for any real cmsg.
    const len = view.getUint32(at + CMSGHDR.len, true);
    if (len < CMSGHDR.SIZE || at + len > end || view.getUint32(at + 4, true) !== 0) return;
    const level = view.getInt32(at + CMSGHDR.level, true);
    const type = view.getInt32(at + CMSGHDR.type, true);
    const data = at + CMSGHDR.SIZE;
    const n = len - CMSGHDR.SIZE;
    if (level === UDP_OPT.SOL_UDP && type === UDP_OPT.UDP_GRO && n >= 4) {
      out.segment = view.getInt32(data, true);
    } else if (level === UDP_OPT.IPPROTO_IP && type === UDP_OPT.IP_TOS && n >= 1) {
      out.ecn = view.getUint8(data) & 3;
    } else if (level === UDP_OPT.IPPROTO_IPV6 && type === UDP_OPT.IPV6_TCLASS && n >= 4) {
      out.ecn = view.getInt32(data, true) & 3;
    } else if (
      level === UDP_OPT.IPPROTO_IP && type === UDP_OPT.IP_PKTINFO && n >= IN_PKTINFO.SIZE
    ) {
      out.pktinfo = data;
      out.pktinfoFamily = 4;
    } else if (
      level === UDP_OPT.IPPROTO_IPV6 && type === UDP_OPT.IPV6_PKTINFO && n >= IN6_PKTINFO.SIZE
    ) {
      out.pktinfo = data;
      out.pktinfoFamily = 6;
    }
    at += cmsgAlign(len);
  }
}

/** The destination address in the packet info at `offset` (`ipi_addr` / `ipi6_addr`). */
export function pktinfoAddress(view: DataView, offset: number, family: 4 | 6): string {
  if (family === 4) {
    const a = offset + IN_PKTINFO.addr;
    return `${view.getUint8(a)}.${view.getUint8(a + 1)}.${view.getUint8(a + 2)}.${
      view.getUint8(a + 3)
    }`;
  }
  const a = view.byteOffset + offset + IN6_PKTINFO.addr;
  return formatIpv6(new Uint8Array(view.buffer, a, 16).slice());
}

function header(view: DataView, at: number, level: number, type: number, n: number): number {
  view.setUint32(at + CMSGHDR.len, CMSGHDR.SIZE + n, true);
  view.setUint32(at + CMSGHDR.len + 4, 0, true);
  view.setInt32(at + CMSGHDR.level, level, true);
  view.setInt32(at + CMSGHDR.type, type, true);
  return at + CMSGHDR.SIZE;
}

function zero(view: DataView, from: number, to: number): void {
  for (let i = from; i < to; i++) view.setUint8(i, 0);
}

/** Writes a `SOL_UDP/UDP_SEGMENT` cmsg (`u16` segment size) at `at`; returns the room it took. */
export function writeSegment(view: DataView, at: number, segment: number): number {
  const data = header(view, at, UDP_OPT.SOL_UDP, UDP_OPT.UDP_SEGMENT, 2);
  view.setUint16(data, segment, true);
  const space = cmsgSpace(2);
  zero(view, data + 2, at + space);
  return space;
}

/** Writes an `IP_TOS` (IPv4) or `IPV6_TCLASS` (IPv6) cmsg, an `int`, at `at`; returns its room. */
export function writeTrafficClass(view: DataView, at: number, family: 4 | 6, tos: number): number {
  const data = family === 4
    ? header(view, at, UDP_OPT.IPPROTO_IP, UDP_OPT.IP_TOS, 4)
    : header(view, at, UDP_OPT.IPPROTO_IPV6, UDP_OPT.IPV6_TCLASS, 4);
  view.setInt32(data, tos, true);
  const space = cmsgSpace(4);
  zero(view, data + 4, at + space);
  return space;
}

/**
 * Writes the packet info that makes a reply leave from the address a
 * datagram arrived at, from the received packet info at `from`. IPv4:
 * `ipi_spec_dst` = the received `ipi_spec_dst` (the local address the
 * kernel matched, the destination itself for unicast), `ipi_ifindex` 0.
 * IPv6: the received address and interface, or all zero (no preference)
 * when it was a multicast address, which cannot be a source.
 */
export function writeReplyPktinfo(
  view: DataView,
  at: number,
  family: 4 | 6,
  from: number,
): number {
  if (family === 4) {
    const data = header(view, at, UDP_OPT.IPPROTO_IP, UDP_OPT.IP_PKTINFO, IN_PKTINFO.SIZE);
    view.setInt32(data + IN_PKTINFO.ifindex, 0, true);
    view.setUint32(data + IN_PKTINFO.spec_dst, view.getUint32(from + IN_PKTINFO.spec_dst), false);
    view.setUint32(data + IN_PKTINFO.addr, 0, true);
    const space = cmsgSpace(IN_PKTINFO.SIZE);
    zero(view, data + IN_PKTINFO.SIZE, at + space);
    return space;
  }
  const data = header(view, at, UDP_OPT.IPPROTO_IPV6, UDP_OPT.IPV6_PKTINFO, IN6_PKTINFO.SIZE);
  const multicast = view.getUint8(from + IN6_PKTINFO.addr) === 0xff;
  for (let i = 0; i < 16; i += 4) {
    const w = multicast ? 0 : view.getUint32(from + IN6_PKTINFO.addr + i, true);
    view.setUint32(data + IN6_PKTINFO.addr + i, w, true);
  }
  const ifindex = multicast ? 0 : view.getInt32(from + IN6_PKTINFO.ifindex, true);
  view.setInt32(data + IN6_PKTINFO.ifindex, ifindex, true);
  const space = cmsgSpace(IN6_PKTINFO.SIZE);
  zero(view, data + IN6_PKTINFO.SIZE, at + space);
  return space;
}
