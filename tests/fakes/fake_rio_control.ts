/**
 * The RIO control slices as the Winsock fake reads and writes them
 * (RIOSendEx / RIOReceiveEx `pControlContext`), at offsets written literally
 * here, never through ffi/windows/abi.ts or src/windows/cmsg.ts:
 *
 *   RIO_CMSG_BUFFER: 0 ULONG TotalLength (counts the whole buffer, itself
 *   included); the first WSACMSGHDR at RIO_CMSG_BASE_SIZE = 8.
 *   WSACMSGHDR (x64): 0 SIZE_T cmsg_len (8 bytes), 8 INT level, 12 INT type,
 *   data at 16; the next header at cmsg + align8(cmsg_len).
 *   Levels IPPROTO_IP 0, IPPROTO_UDP 17, IPPROTO_IPV6 41; types
 *   UDP_SEND_MSG_SIZE 2 / UDP_COALESCED_INFO 3 (DWORD), IP_PKTINFO /
 *   IPV6_PKTINFO 19 (IN_PKTINFO { 0 addr[4]; 4 ULONG ifindex }, IN6_PKTINFO
 *   { 0 addr[16]; 16 ULONG ifindex }), IP_ECN / IPV6_ECN 50 (INT).
 *
 * The layouts are the reference's (udp-offloads.md §3, windows-api.md §5.10);
 * it gives no numbers, so those are ws2def.h / ws2ipdef.h (mingw-w64) and,
 * for the two mingw-w64 lacks (UDP_SEND_MSG_SIZE, UDP_COALESCED_INFO), windows-sys.
 */

const IPPROTO_IP = 0;
const IPPROTO_UDP = 17;
const IPPROTO_IPV6 = 41;
const UDP_SEND_MSG_SIZE = 2;
const UDP_COALESCED_INFO = 3;
const IP_PKTINFO = 19; // IPV6_PKTINFO too
const IP_ECN = 50; // IPV6_ECN too
const BASE = 8;
const HDR = 16;

const align8 = (n: number): number => (n + 7) & ~7;

/** What a send's control slice asked for. */
export interface SendControl {
  /** UDP_SEND_MSG_SIZE, or 0. */
  segment: number;
  /** IP_ECN / IPV6_ECN, or 0. */
  ecn: number;
  /** The source address of IP_PKTINFO (4 bytes) / IPV6_PKTINFO (16), or null. */
  source: Uint8Array | null;
}

/**
 * Decodes a send's control slice (`bytes`, the whole RIO_BUF). Returns the
 * request, or the reason it is malformed: control data outside the slice
 * it was given, a length that does not add up, an unknown cmsg.
 */
export function readSendControl(bytes: Uint8Array): SendControl | string {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: SendControl = { segment: 0, ecn: 0, source: null };
  if (bytes.length < 4) return `a control slice of ${bytes.length} bytes has no TotalLength`;
  const total = v.getUint32(0, true);
  if (total > bytes.length) {
    return `TotalLength ${total} runs past the ${bytes.length}-byte control slice it was given`;
  }
  if (total < BASE) return `TotalLength ${total} is below RIO_CMSG_BASE_SIZE (8)`;
  let at = BASE;
  while (at < total) {
    if (at + HDR > total) return `a partial WSACMSGHDR at ${at} (TotalLength ${total})`;
    const len = Number(v.getBigUint64(at, true));
    if (len < HDR || at + len > total) {
      return `cmsg_len ${len} at ${at} runs outside TotalLength ${total}`;
    }
    const level = v.getInt32(at + 8, true);
    const type = v.getInt32(at + 12, true);
    const data = at + HDR;
    const n = len - HDR;
    if (level === IPPROTO_UDP && type === UDP_SEND_MSG_SIZE && n === 4) {
      out.segment = v.getUint32(data, true);
    } else if ((level === IPPROTO_IP || level === IPPROTO_IPV6) && type === IP_ECN && n === 4) {
      out.ecn = v.getInt32(data, true);
    } else if (level === IPPROTO_IP && type === IP_PKTINFO && n === 8) {
      out.source = bytes.slice(data, data + 4);
    } else if (level === IPPROTO_IPV6 && type === IP_PKTINFO && n === 20) {
      out.source = bytes.slice(data, data + 16);
    } else {
      return `unknown send cmsg level ${level} type ${type} (${n} data bytes)`;
    }
    at += align8(len);
  }
  return out;
}

/** What a receive's control slice gets. */
export interface ReceiveMetadata {
  /** The receiving socket's family: the level of the ECN cmsg. */
  family: 4 | 6;
  /** UDP_COALESCED_INFO segment size, or 0 for none. */
  segment: number;
  /** The codepoint, or null when ECN reception is off. */
  ecn: number | null;
  /** The destination address and its family's cmsg (4: IP_PKTINFO, 6: IPV6_PKTINFO), or null. */
  pktinfo: { family: 4 | 6; address: Uint8Array; ifindex: number } | null;
}

/** The room {@link writeReceiveControl} needs. */
export function receiveControlSize(m: ReceiveMetadata): number {
  let n = BASE;
  if (m.segment > 0) n += HDR + 8;
  if (m.ecn !== null) n += HDR + 8;
  if (m.pktinfo) n += m.pktinfo.family === 4 ? HDR + 8 : HDR + 24;
  return n;
}

/** Writes a received datagram's control data into `bytes` (the slice); the caller checked the room. */
export function writeReceiveControl(bytes: Uint8Array, m: ReceiveMetadata): void {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  bytes.fill(0);
  let at = BASE;
  const cmsg = (level: number, type: number, n: number): number => {
    v.setBigUint64(at, BigInt(HDR + n), true);
    v.setInt32(at + 8, level, true);
    v.setInt32(at + 12, type, true);
    const data = at + HDR;
    at += align8(HDR + n);
    return data;
  };
  if (m.segment > 0) v.setUint32(cmsg(IPPROTO_UDP, UDP_COALESCED_INFO, 4), m.segment, true);
  const level = m.family === 6 ? IPPROTO_IPV6 : IPPROTO_IP;
  if (m.ecn !== null) v.setInt32(cmsg(level, IP_ECN, 4), m.ecn, true);
  if (m.pktinfo) {
    const p = m.pktinfo;
    const data = cmsg(p.family === 4 ? IPPROTO_IP : IPPROTO_IPV6, IP_PKTINFO, p.address.length + 4);
    bytes.set(p.address, data);
    v.setUint32(data + p.address.length, p.ifindex, true);
  }
  v.setUint32(0, at, true); // TotalLength
}
