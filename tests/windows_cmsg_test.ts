// The Windows control-message module (src/windows/cmsg.ts) against bytes
// written out literally here from the layouts (udp-offloads.md §3, mswsock.h):
// RIO_CMSG_BUFFER = ULONG TotalLength (counting itself) + 4 bytes padding,
// then WSACMSGHDRs { SIZE_T cmsg_len (u64); INT level; INT type } with the
// data at +16, each cmsg padded to 8. Levels: IPPROTO_IP 0, IPPROTO_UDP 17,
// IPPROTO_IPV6 41. Types: UDP_SEND_MSG_SIZE 2, UDP_COALESCED_INFO 3,
// IP_PKTINFO / IPV6_PKTINFO 19, IP_ECN / IPV6_ECN 50.

import assert from "node:assert/strict";
import { ReceiveControl } from "../src/receive_control.ts";
import {
  firstCmsg,
  pktinfoAddress,
  readReceiveControl,
  RECEIVE_CONTROL_ROOM,
  SEND_CONTROL_ROOM,
  writeControlHeader,
  writeEcn,
  writeReplyPktinfo,
  writeSendMsgSize,
} from "../src/windows/cmsg.ts";

function bytes(...parts: number[][]): Uint8Array {
  return new Uint8Array(parts.flat());
}
const u32 = (v: number): number[] => [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24];
const u64 = (v: number): number[] => [...u32(v), 0, 0, 0, 0];
/** A WSACMSGHDR: len, level, type. */
const hdr = (len: number, level: number, type: number): number[] => [
  ...u64(len),
  ...u32(level),
  ...u32(type),
];

// A coalesced IPv4 receive: UDP_COALESCED_INFO 1200, IP_ECN 3 (CE), IP_PKTINFO 127.0.0.2 on if 1.
const RECEIVED_V4 = bytes(
  u32(8 + 24 + 24 + 24), // TotalLength = 80
  [0, 0, 0, 0], // padding to RIO_CMSG_BASE_SIZE
  hdr(20, 17, 3), // WSA_CMSG_LEN(4) = 20, IPPROTO_UDP, UDP_COALESCED_INFO
  u32(1200),
  [0, 0, 0, 0], // to WSA_CMSG_SPACE(4) = 24
  hdr(20, 0, 50), // IPPROTO_IP, IP_ECN
  u32(3),
  [0, 0, 0, 0],
  hdr(24, 0, 19), // WSA_CMSG_LEN(8) = 24, IP_PKTINFO
  [127, 0, 0, 2], // ipi_addr first (Linux: ifindex first)
  u32(1), // ipi_ifindex
);

Deno.test("windows cmsg: a coalesced IPv4 receive: segment, ECN and packet info", () => {
  const v = new DataView(RECEIVED_V4.buffer);
  const c = new ReceiveControl();
  readReceiveControl(v, 0, RECEIVED_V4.length, c);
  assert.deepEqual([c.segment, c.ecn, c.pktinfo, c.pktinfoFamily], [1200, 3, 8 + 24 + 24 + 16, 4]);
  assert.equal(pktinfoAddress(v, c.pktinfo, 4), "127.0.0.2");
});

Deno.test("windows cmsg: an IPv6 receive (IPV6_ECN, IN6_PKTINFO), no segment info", () => {
  const b = bytes(
    u32(8 + 24 + 40),
    [0, 0, 0, 0],
    hdr(20, 41, 50), // IPPROTO_IPV6, IPV6_ECN
    u32(1),
    [0, 0, 0, 0],
    hdr(36, 41, 19), // WSA_CMSG_LEN(20) = 36, IPV6_PKTINFO
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], // ::1
    u32(1),
    [0, 0, 0, 0], // to WSA_CMSG_SPACE(20) = 40
  );
  const v = new DataView(b.buffer);
  const c = new ReceiveControl();
  readReceiveControl(v, 0, b.length, c);
  assert.deepEqual([c.segment, c.ecn, c.pktinfo, c.pktinfoFamily], [0, 1, 8 + 24 + 16, 6]);
  assert.equal(pktinfoAddress(v, c.pktinfo, 6), "::1");
});

Deno.test("windows cmsg: a bad TotalLength or cmsg_len reads as nothing (no garbage)", () => {
  const c = new ReceiveControl();
  const copy = (): Uint8Array => RECEIVED_V4.slice();
  // TotalLength beyond the slice: nothing is trusted.
  let b = copy();
  readReceiveControl(new DataView(b.buffer), 0, 72, c);
  assert.deepEqual([c.segment, c.ecn, c.pktinfo], [0, 0, -1]);
  // TotalLength below the base (an untouched, zeroed slice): nothing.
  b = new Uint8Array(RECEIVE_CONTROL_ROOM);
  readReceiveControl(new DataView(b.buffer), 0, b.length, c);
  assert.deepEqual([c.segment, c.ecn, c.pktinfo], [0, 0, -1]);
  // A cmsg_len running past TotalLength ends the walk before that cmsg.
  b = copy();
  b[8 + 24] = 200;
  readReceiveControl(new DataView(b.buffer), 0, b.length, c);
  assert.deepEqual([c.segment, c.ecn, c.pktinfo], [1200, 0, -1]);
  // A nonzero high word of the SIZE_T cmsg_len ends it too.
  b = copy();
  b[8 + 4] = 1;
  readReceiveControl(new DataView(b.buffer), 0, b.length, c);
  assert.deepEqual([c.segment, c.ecn, c.pktinfo], [0, 0, -1]);
  // An unknown cmsg is skipped.
  b = copy();
  b[8 + 12] = 99; // type 99 instead of UDP_COALESCED_INFO
  readReceiveControl(new DataView(b.buffer), 0, b.length, c);
  assert.deepEqual([c.segment, c.ecn, c.pktinfo !== -1], [0, 3, true]);
});

Deno.test("windows cmsg: a USO reply train from a wildcard IPv4 socket, byte-exact", () => {
  const b = new Uint8Array(8 + SEND_CONTROL_ROOM).fill(0xee); // dirty memory
  b.set(RECEIVED_V4.subarray(72, 80), 0); // a received IN_PKTINFO at 0: 127.0.0.2, if 1
  const v = new DataView(b.buffer);
  const at = 8;
  let p = firstCmsg(at);
  p += writeSendMsgSize(v, p, 1200);
  p += writeEcn(v, p, 4, 2);
  p += writeReplyPktinfo(v, p, 4, 0);
  const total = writeControlHeader(v, at, p - firstCmsg(at));
  assert.equal(total, 80);
  assert.deepEqual(
    b.subarray(at, at + total),
    bytes(
      u32(80),
      [0, 0, 0, 0],
      hdr(20, 17, 2), // IPPROTO_UDP, UDP_SEND_MSG_SIZE
      u32(1200),
      [0, 0, 0, 0],
      hdr(20, 0, 50), // IP_ECN
      u32(2),
      [0, 0, 0, 0],
      hdr(24, 0, 19), // IP_PKTINFO: address, then interface
      [127, 0, 0, 2],
      u32(1),
    ),
  );
  assert.equal(SEND_CONTROL_ROOM, 8 + 24 + 24 + 40);
  assert.ok(SEND_CONTROL_ROOM <= 96 && RECEIVE_CONTROL_ROOM >= 8 + 24 + 24 + 40);
});

Deno.test("windows cmsg: IPv6 ECN and packet info; a multicast address is not a source", () => {
  const b = new Uint8Array(24 + 8 + SEND_CONTROL_ROOM).fill(0xee);
  const from = bytes([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7], u32(4));
  b.set(from, 0);
  const v = new DataView(b.buffer);
  const at = 24;
  let p = firstCmsg(at);
  p += writeEcn(v, p, 6, 1);
  p += writeReplyPktinfo(v, p, 6, 0);
  const total = writeControlHeader(v, at, p - firstCmsg(at));
  assert.deepEqual(
    b.subarray(at, at + total),
    bytes(
      u32(72),
      [0, 0, 0, 0],
      hdr(20, 41, 50), // IPPROTO_IPV6, IPV6_ECN
      u32(1),
      [0, 0, 0, 0],
      hdr(36, 41, 19), // IPV6_PKTINFO
      [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7],
      u32(4),
      [0, 0, 0, 0],
    ),
  );
  b[0] = 0xff; // ff80::7: multicast
  writeReplyPktinfo(v, firstCmsg(at) + 24, 6, 0);
  assert.deepEqual(b.subarray(at + 8 + 24 + 16, at + 8 + 24 + 36), new Uint8Array(20));
});
