/**
 * Control messages for UDP through RIO, the one place they are encoded and
 * decoded on Windows: a control slice (RIOReceiveEx / RIOSendEx
 * `pControlContext`) is a `RIO_CMSG_BUFFER` — a ULONG `TotalLength` that
 * counts itself — then `WSACMSGHDR`s from `RIO_CMSG_BASE_SIZE` (8), each
 * aligned to 8 with its data at +16. Reading finds the URO segment size
 * (`UDP_COALESCED_INFO`), the ECN codepoint (`IP_ECN` / `IPV6_ECN`) and the
 * packet info (`IN_PKTINFO` / `IN6_PKTINFO`: address first, then the
 * interface); writing makes the `UDP_SEND_MSG_SIZE` (USO), ECN and packet
 * info cmsgs of a send. Layouts and values come from ffi/windows/abi.ts;
 * everything works on native memory through a `DataView`, allocation-free.
 *
 * The layout of RIO's control slices is MsQuic's (its removed RIO
 * datapath); Microsoft's RIO pages do not document it (reference §5.10).
 *
 * @module
 */

import {
  SOCKET,
  STRUCTS,
  UDP_OFFLOAD,
  WSA_CMSG,
  wsaCmsgLen,
  wsaCmsgSpace,
} from "../../ffi/windows/abi.ts";
import { formatIpv6 } from "../../ffi/inet.ts";
import type { ReceiveControl } from "../receive_control.ts";

const HDR = STRUCTS.WSACMSGHDR.fields;
const HDR_SIZE = STRUCTS.WSACMSGHDR.size;
const BASE = WSA_CMSG.RIO_BASE_SIZE;
const IN4 = STRUCTS.IN_PKTINFO;
const IN6 = STRUCTS.IN6_PKTINFO;
const O = UDP_OFFLOAD;
const IPPROTO_UDP = SOCKET.IPPROTO_UDP;
const IPPROTO_IPV6 = SOCKET.IPPROTO_IPV6;

function hdrAlign(n: number): number {
  return (n + WSA_CMSG.HDR_ALIGN - 1) & ~(WSA_CMSG.HDR_ALIGN - 1);
}

/** Room of a receive's control slice: the base, UDP_COALESCED_INFO, IP_ECN, IN6_PKTINFO, spare. */
export const RECEIVE_CONTROL_ROOM = 128;

/** Room of a send's control slice: the base, UDP_SEND_MSG_SIZE, IP_ECN and IN6_PKTINFO. */
export const SEND_CONTROL_ROOM: number = BASE + wsaCmsgSpace(4) + wsaCmsgSpace(4) +
  wsaCmsgSpace(IN6.size);

/**
 * Walks the control slice of `room` bytes at `offset` (what RIOReceiveEx
 * filled) and fills `out`. A `TotalLength` below the base or beyond the
 * slice reads as "no control data"; unknown cmsgs are skipped; a malformed
 * `cmsg_len` ends the walk.
 */
export function readReceiveControl(
  view: DataView,
  offset: number,
  room: number,
  out: ReceiveControl,
): void {
  out.segment = 0;
  out.ecn = 0;
  out.pktinfo = -1;
  const total = view.getUint32(offset + STRUCTS.RIO_CMSG_BUFFER.fields.TotalLength, true);
  if (total < BASE || total > room) return;
  const end = offset + total;
  let at = offset + BASE;
  while (at + HDR_SIZE <= end) {
    // cmsg_len is a SIZE_T; the high word is zero for any real cmsg.
    const len = view.getUint32(at + HDR.cmsg_len, true);
    if (len < HDR_SIZE || at + len > end || view.getUint32(at + 4, true) !== 0) return;
    const level = view.getInt32(at + HDR.cmsg_level, true);
    const type = view.getInt32(at + HDR.cmsg_type, true);
    const data = at + WSA_CMSG.DATA_OFFSET;
    const n = len - WSA_CMSG.DATA_OFFSET;
    if (level === IPPROTO_UDP && type === O.UDP_COALESCED_INFO && n >= 4) {
      out.segment = view.getUint32(data, true);
    } else if (
      ((level === O.IPPROTO_IP && type === O.IP_ECN) ||
        (level === IPPROTO_IPV6 && type === O.IPV6_ECN)) && n >= 4
    ) {
      out.ecn = view.getInt32(data, true) & 3;
    } else if (level === O.IPPROTO_IP && type === O.IP_PKTINFO && n >= IN4.size) {
      out.pktinfo = data;
      out.pktinfoFamily = 4;
    } else if (level === IPPROTO_IPV6 && type === O.IPV6_PKTINFO && n >= IN6.size) {
      out.pktinfo = data;
      out.pktinfoFamily = 6;
    }
    at += hdrAlign(len);
  }
}

/** The address in the packet info at `offset` (`ipi_addr` / `ipi6_addr`, both at 0). */
export function pktinfoAddress(view: DataView, offset: number, family: 4 | 6): string {
  if (family === 4) {
    const a = offset + IN4.fields.ipi_addr;
    return `${view.getUint8(a)}.${view.getUint8(a + 1)}.${view.getUint8(a + 2)}.${
      view.getUint8(a + 3)
    }`;
  }
  const a = view.byteOffset + offset + IN6.fields.ipi6_addr;
  return formatIpv6(new Uint8Array(view.buffer, a, 16).slice());
}

function header(view: DataView, at: number, level: number, type: number, n: number): number {
  view.setUint32(at + HDR.cmsg_len, wsaCmsgLen(n), true);
  view.setUint32(at + HDR.cmsg_len + 4, 0, true);
  view.setInt32(at + HDR.cmsg_level, level, true);
  view.setInt32(at + HDR.cmsg_type, type, true);
  return at + WSA_CMSG.DATA_OFFSET;
}

function zero(view: DataView, from: number, to: number): void {
  for (let i = from; i < to; i++) view.setUint8(i, 0);
}

/**
 * Writes the `RIO_CMSG_BUFFER` header of a control slice at `at` whose
 * cmsgs take `cmsgBytes` (what the writers below returned, summed): the
 * padding after TotalLength is zeroed. Returns TotalLength, the length the
 * control RIO_BUF should name.
 */
export function writeControlHeader(view: DataView, at: number, cmsgBytes: number): number {
  const total = BASE + cmsgBytes;
  view.setUint32(at + STRUCTS.RIO_CMSG_BUFFER.fields.TotalLength, total, true);
  zero(view, at + STRUCTS.RIO_CMSG_BUFFER.size, at + BASE);
  return total;
}

/** Where the first cmsg of the control slice at `at` goes (`RIO_CMSG_BASE_SIZE` in). */
export function firstCmsg(at: number): number {
  return at + BASE;
}

/** Writes an `IPPROTO_UDP / UDP_SEND_MSG_SIZE` cmsg (DWORD segment size) at `at`; returns its room. */
export function writeSendMsgSize(view: DataView, at: number, segment: number): number {
  const data = header(view, at, IPPROTO_UDP, O.UDP_SEND_MSG_SIZE, 4);
  view.setUint32(data, segment, true);
  const space = wsaCmsgSpace(4);
  zero(view, data + 4, at + space);
  return space;
}

/** Writes an `IP_ECN` (IPv4) or `IPV6_ECN` (IPv6) cmsg, an INT, at `at`; returns its room. */
export function writeEcn(view: DataView, at: number, family: 4 | 6, ecn: number): number {
  const data = family === 4
    ? header(view, at, O.IPPROTO_IP, O.IP_ECN, 4)
    : header(view, at, IPPROTO_IPV6, O.IPV6_ECN, 4);
  view.setInt32(data, ecn, true);
  const space = wsaCmsgSpace(4);
  zero(view, data + 4, at + space);
  return space;
}

/**
 * Writes the packet info that makes a reply leave from the address a
 * datagram arrived at, copied from the received packet info at `from`:
 * the address and its interface (as MsQuic did), or all zero (no
 * preference) for an IPv6 multicast address, which cannot be a source.
 */
export function writeReplyPktinfo(
  view: DataView,
  at: number,
  family: 4 | 6,
  from: number,
): number {
  if (family === 4) {
    const data = header(view, at, O.IPPROTO_IP, O.IP_PKTINFO, IN4.size);
    const f = IN4.fields;
    view.setUint32(data + f.ipi_addr, view.getUint32(from + f.ipi_addr, true), true);
    view.setUint32(data + f.ipi_ifindex, view.getUint32(from + f.ipi_ifindex, true), true);
    const space = wsaCmsgSpace(IN4.size);
    zero(view, data + IN4.size, at + space);
    return space;
  }
  const data = header(view, at, IPPROTO_IPV6, O.IPV6_PKTINFO, IN6.size);
  const f = IN6.fields;
  const multicast = view.getUint8(from + f.ipi6_addr) === 0xff;
  for (let i = 0; i < 16; i += 4) {
    const w = multicast ? 0 : view.getUint32(from + f.ipi6_addr + i, true);
    view.setUint32(data + f.ipi6_addr + i, w, true);
  }
  const ifindex = multicast ? 0 : view.getUint32(from + f.ipi6_ifindex, true);
  view.setUint32(data + f.ipi6_ifindex, ifindex, true);
  const space = wsaCmsgSpace(IN6.size);
  zero(view, data + IN6.size, at + space);
  return space;
}
