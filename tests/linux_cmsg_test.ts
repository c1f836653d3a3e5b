// src/linux/cmsg.ts, byte-exact: every cmsg regio writes is compared with
// bytes written out literally here (LP64 cmsghdr: u64 len, i32 level, i32
// type, data, padding to 8), and the decoder reads literal receive areas.

import assert from "node:assert/strict";
import { ReceiveControl } from "../src/receive_control.ts";
import {
  pktinfoAddress,
  readReceiveControl,
  SEND_CONTROL_ROOM,
  writeReplyPktinfo,
  writeSegment,
  writeTrafficClass,
} from "../src/linux/cmsg.ts";

function area(n: number): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(n).fill(0xee); // stale bytes must be overwritten
  return { bytes, view: new DataView(bytes.buffer) };
}

const u64 = (n: number): number[] => [n & 0xff, (n >> 8) & 0xff, 0, 0, 0, 0, 0, 0];
const i32 = (n: number): number[] => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24];

Deno.test("cmsg: UDP_SEGMENT is a u16 at SOL_UDP/103, padded to 24 bytes", () => {
  const { bytes, view } = area(32);
  assert.equal(writeSegment(view, 0, 1200), 24);
  assert.deepEqual([...bytes.subarray(0, 24)], [
    ...u64(18), // CMSG_LEN(2)
    17,
    0,
    0,
    0, // SOL_UDP
    103,
    0,
    0,
    0, // UDP_SEGMENT
    0xb0,
    0x04, // 1200
    0,
    0,
    0,
    0,
    0,
    0,
  ]);
  assert.equal(bytes[24], 0xee, "nothing written past the cmsg");
});

Deno.test("cmsg: IP_TOS / IPV6_TCLASS carry an int", () => {
  const { bytes, view } = area(24);
  assert.equal(writeTrafficClass(view, 0, 4, 2), 24);
  assert.deepEqual([...bytes], [...u64(20), 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(writeTrafficClass(view, 0, 6, 3), 24);
  assert.deepEqual([...bytes], [...u64(20), 41, 0, 0, 0, 67, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0]);
});

Deno.test("cmsg: a reply's IP_PKTINFO names the received ipi_spec_dst, ifindex 0", () => {
  const { bytes, view } = area(64);
  // Received in_pktinfo at 40: ifindex 1, spec_dst 127.0.0.2, addr 127.0.0.2.
  bytes.set([1, 0, 0, 0, 127, 0, 0, 2, 127, 0, 0, 2], 40);
  assert.equal(writeReplyPktinfo(view, 0, 4, 40), 32);
  assert.deepEqual([...bytes.subarray(0, 32)], [
    ...u64(28), // CMSG_LEN(12)
    0,
    0,
    0,
    0, // IPPROTO_IP
    8,
    0,
    0,
    0, // IP_PKTINFO
    0,
    0,
    0,
    0, // ipi_ifindex
    127,
    0,
    0,
    2, // ipi_spec_dst
    0,
    0,
    0,
    0, // ipi_addr
    0,
    0,
    0,
    0,
  ]);
});

Deno.test("cmsg: a reply's IPV6_PKTINFO copies the address and interface, none for multicast", () => {
  const { bytes, view } = area(96);
  const loop = [...new Array(15).fill(0), 1];
  bytes.set([...loop, 1, 0, 0, 0], 60); // received in6_pktinfo: ::1, ifindex 1
  assert.equal(writeReplyPktinfo(view, 0, 6, 60), 40);
  assert.deepEqual([...bytes.subarray(0, 40)], [
    ...u64(36), // CMSG_LEN(20)
    41,
    0,
    0,
    0, // IPPROTO_IPV6
    50,
    0,
    0,
    0, // IPV6_PKTINFO
    ...loop,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
  ]);
  bytes.set([0xff, 2, ...new Array(13).fill(0), 1, 3, 0, 0, 0], 60); // ff02::1 on ifindex 3
  writeReplyPktinfo(view, 0, 6, 60);
  assert.deepEqual([...bytes.subarray(16, 40)], new Array(24).fill(0));
  assert.ok(SEND_CONTROL_ROOM >= 24 + 24 + 40, "room for segment, class and packet info");
});

Deno.test("cmsg: a receive area with UDP_GRO, IP_TOS and IP_PKTINFO decodes", () => {
  const { bytes, view } = area(128);
  const at = 8;
  const cmsgs = [
    ...u64(20),
    17,
    0,
    0,
    0,
    104,
    0,
    0,
    0,
    ...i32(1400),
    0,
    0,
    0,
    0, // UDP_GRO 1400
    ...u64(17),
    0,
    0,
    0,
    0,
    1,
    0,
    0,
    0,
    0x03,
    0,
    0,
    0,
    0,
    0,
    0,
    0, // IP_TOS 0x03
    ...u64(28),
    0,
    0,
    0,
    0,
    8,
    0,
    0,
    0,
    1,
    0,
    0,
    0,
    127,
    0,
    0,
    2,
    127,
    0,
    0,
    3,
    0,
    0,
    0,
    0,
  ];
  bytes.set(cmsgs, at);
  const c = new ReceiveControl();
  readReceiveControl(view, at, cmsgs.length, c);
  assert.equal(c.segment, 1400);
  assert.equal(c.ecn, 3);
  assert.equal(c.pktinfo, at + 48 + 16);
  assert.equal(c.pktinfoFamily, 4);
  assert.equal(pktinfoAddress(view, c.pktinfo, 4), "127.0.0.3", "ipi_addr: the destination");
});

Deno.test("cmsg: IPv6 traffic class and packet info decode; a bad length ends the walk", () => {
  const { bytes, view } = area(128);
  const cmsgs = [
    ...u64(20),
    41,
    0,
    0,
    0,
    67,
    0,
    0,
    0,
    ...i32(0xb9),
    0,
    0,
    0,
    0, // TCLASS 0xb9 → ECN 1
    ...u64(36),
    41,
    0,
    0,
    0,
    50,
    0,
    0,
    0,
    ...new Array(15).fill(0),
    1,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    ...u64(3),
    17,
    0,
    0,
    0,
    104,
    0,
    0,
    0, // malformed: shorter than a header
  ];
  bytes.set(cmsgs, 0);
  const c = new ReceiveControl();
  c.segment = 99;
  readReceiveControl(view, 0, cmsgs.length, c);
  assert.equal(c.ecn, 1);
  assert.equal(c.segment, 0, "reset, and the malformed GRO cmsg not read");
  assert.equal(c.pktinfoFamily, 6);
  assert.equal(pktinfoAddress(view, c.pktinfo, 6), "::1");
  readReceiveControl(view, 0, 0, c);
  assert.deepEqual([c.segment, c.ecn, c.pktinfo], [0, 0, -1], "an empty area: nothing");
});
