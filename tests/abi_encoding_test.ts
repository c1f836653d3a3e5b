// Byte-exact encoders and decoders of ffi/windows/abi.ts. Expected bytes are
// written literally from the layouts in shared/reference/windows-api.md
// (§1.5, §2.4, §2.6), never computed through the ABI module.

import assert from "node:assert/strict";
import {
  encodeCreateFlags,
  readCapabilities,
  readCqe,
  readInfo,
  readRioResult,
  readSockaddrInet,
  readWsaData,
  writeBufferInfo,
  writeBufferRef,
  writeEventNotification,
  writeHandleRef,
  writeRioBuf,
  writeSockaddrInet,
} from "../ffi/windows/abi.ts";
import { formatIpv6, parseIpv4, parseIpv6 } from "../ffi/inet.ts";

/** A buffer pre-filled with 0xEE (so "unused bytes zeroed" is observable), with `pad` bytes before the struct. */
function dirty(size: number, pad = 8): { view: DataView; bytes: Uint8Array; at: number } {
  const bytes = new Uint8Array(pad + size + 8).fill(0xee);
  return { view: new DataView(bytes.buffer), bytes, at: pad };
}

/** The struct's bytes, and a check that nothing outside [at, at+size) was touched. */
function written(b: { bytes: Uint8Array; at: number }, size: number): string {
  assert.ok(b.bytes.subarray(0, b.at).every((x) => x === 0xee), "wrote before the struct");
  assert.ok(b.bytes.subarray(b.at + size).every((x) => x === 0xee), "wrote after the struct");
  return hex(b.bytes.subarray(b.at, b.at + size));
}

/** Hex of bytes, or of a literal with spaces/underscores as field separators. */
function hex(x: number[] | Uint8Array | string): string {
  if (typeof x === "string") return x.replace(/[\s_]/g, "").toLowerCase();
  return [...x].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A DataView over the literal bytes (hex string), after `pad` bytes of 0xCC. */
function fromHex(text: string, pad = 8): DataView {
  const h = hex(text);
  const bytes = new Uint8Array(pad + h.length / 2).fill(0xcc);
  for (let i = 0; i < h.length / 2; i++) bytes[pad + i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return new DataView(bytes.buffer, pad);
}

// ---------------------------------------------------------------------------
// Encoders (expected bytes as hex, one group per field; "pad" groups are padding)

Deno.test("encodeCreateFlags: Required in the low 32 bits, Advisory in the high 32", () => {
  assert.equal(encodeCreateFlags(0, 0), 0n);
  // IORING_CREATE_SKIP_BUILDER_PARAM_CHECKS (advisory 0x1) → bit 32.
  assert.equal(encodeCreateFlags(0, 1), 0x0000_0001_0000_0000n);
  assert.equal(encodeCreateFlags(1, 0), 0x0000_0000_0000_0001n);
  assert.equal(encodeCreateFlags(0x12345678, 0x9abcdef0), 0x9abcdef0_12345678n);
  assert.equal(encodeCreateFlags(0xffffffff, 0xffffffff), 0xffffffff_ffffffffn);
  // The register value, stored little-endian, is the 8-byte struct {Required, Advisory}.
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, encodeCreateFlags(0x04030201, 0x08070605), true);
  assert.equal(hex(b), hex("01020304 05060708"));
});

Deno.test("writeHandleRef raw: Kind 0, padding zeroed, HANDLE at 8", () => {
  const b = dirty(16);
  writeHandleRef(b.view, b.at, { kind: "raw", handle: 0x1122334455667788n });
  assert.equal(written(b, 16), hex("00000000 00000000 8877665544332211"));
});

Deno.test("writeHandleRef registered: Kind 1, index in the low 4 bytes at 8, rest zeroed", () => {
  const b = dirty(16);
  writeHandleRef(b.view, b.at, { kind: "registered", index: 0x0a0b0c0d });
  assert.equal(written(b, 16), hex("01000000 00000000 0d0c0b0a 00000000"));
});

Deno.test("writeBufferRef raw: Kind 0, address at 8", () => {
  const b = dirty(16);
  writeBufferRef(b.view, b.at, { kind: "raw", address: 0x00007ff012345000n });
  assert.equal(written(b, 16), hex("00000000 00000000 00503412f07f0000"));
});

Deno.test("writeBufferRef registered: Kind 1, BufferIndex at 8, Offset at 12", () => {
  const b = dirty(16);
  writeBufferRef(b.view, b.at, { kind: "registered", index: 3, offset: 0x10203 });
  assert.equal(written(b, 16), hex("01000000 00000000 03000000 03020100"));
});

Deno.test("writeBufferInfo: Address at 0, Length at 8, padding 12..15 zeroed", () => {
  const b = dirty(16);
  writeBufferInfo(b.view, b.at, 0x0000_0102_0304_0506n, 65536);
  assert.equal(written(b, 16), hex("0605040302010000 00000100 00000000"));
  // A sparse entry (§1.7): Address NULL and Length 0.
  const s = dirty(16);
  writeBufferInfo(s.view, s.at, 0n, 0);
  assert.equal(written(s, 16), hex("0000000000000000 00000000 00000000"));
});

Deno.test("writeBufferInfo: consecutive entries are 16 bytes apart (an IORING_BUFFER_INFO array)", () => {
  const b = dirty(32);
  writeBufferInfo(b.view, b.at, 0x1000n, 1);
  writeBufferInfo(b.view, b.at + 16, 0x2000n, 2);
  assert.equal(
    written(b, 32),
    hex("0010000000000000 01000000 00000000  0020000000000000 02000000 00000000"),
  );
});

Deno.test("writeRioBuf: BufferId (pointer) at 0, Offset at 8, Length at 12", () => {
  const b = dirty(16);
  writeRioBuf(b.view, b.at, 0x00000000ffff0001n, 0x100, 28);
  assert.equal(written(b, 16), hex("0100ffff00000000 00010000 1c000000"));
});

Deno.test("writeEventNotification: Type 1, EventHandle at 8, NotifyReset at 16, rest zero", () => {
  const b = dirty(32);
  writeEventNotification(b.view, b.at, 0x0000_0000_0000_02a4n, true);
  assert.equal(
    written(b, 32),
    hex("01000000 00000000 a402000000000000 01000000 00000000 0000000000000000"),
  );
  const f = dirty(32);
  writeEventNotification(f.view, f.at, 0x1234n, false);
  assert.equal(
    written(f, 32),
    hex("01000000 00000000 3412000000000000 00000000 00000000 0000000000000000"),
  );
});

// ---------------------------------------------------------------------------
// Decoders

Deno.test("readCqe: UserData u64 at 0, ResultCode i32 at 8 (signed), Information u64 at 16", () => {
  const view = fromHex("efcdab8967452301 02004680 99999999 0010000000000080");
  assert.deepEqual(readCqe(view, 0), {
    userData: 0x0123456789abcdefn,
    resultCode: -2142896126, // IORING_E_SUBMISSION_QUEUE_FULL
    information: 0x8000000000001000n,
  });
});

Deno.test("readCqe: at a non-zero offset (second entry of an array)", () => {
  const first = "55".repeat(24);
  const second = "0700000000000000 00000000 00000000 0002000000000000";
  assert.deepEqual(readCqe(fromHex(first + second), 24), {
    userData: 7n,
    resultCode: 0,
    information: 512n,
  });
});

Deno.test("readRioResult: Status i32 at 0, BytesTransferred u32 at 4, contexts u64 at 8 and 16", () => {
  // 995 = WSA_OPERATION_ABORTED; 0x80000000 bytes must stay unsigned.
  const view = fromHex("e3030000 00000080 0102030405060708 ffffffffffffffff");
  assert.deepEqual(readRioResult(view, 0), {
    status: 995,
    bytesTransferred: 2147483648,
    socketContext: 0x0807060504030201n,
    requestContext: 0xffffffffffffffffn,
  });
  assert.equal(readRioResult(fromHex("ffffffff" + "00".repeat(20)), 0).status, -1);
});

Deno.test("readCapabilities: four u32 at 0, 4, 8, 12", () => {
  // MaxVersion 400, 65536, 131072, UM_EMULATION | SET_COMPLETION_EVENT
  const view = fromHex("90010000 00000100 00000200 03000000");
  assert.deepEqual(readCapabilities(view, 0), {
    maxVersion: 400,
    maxSubmissionQueueSize: 65536,
    maxCompletionQueueSize: 131072,
    featureFlags: 3,
  });
});

Deno.test("readInfo: version 0, Flags.Required 4, Flags.Advisory 8, SQ 12, CQ 16", () => {
  const view = fromHex("2c010000 00000000 01000000 20000000 40000000");
  assert.deepEqual(readInfo(view, 0), {
    version: 300,
    required: 0,
    advisory: 1,
    submissionQueueSize: 32,
    completionQueueSize: 64,
  });
});

Deno.test("readWsaData: x64 order (versions, counts, lpVendorInfo at 8, strings at 16 and 273)", () => {
  const bytes = new Uint8Array(408).fill(0);
  bytes.set([0x02, 0x02, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00], 0);
  bytes.set([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x08], 8); // lpVendorInfo
  bytes.set([...new TextEncoder().encode("WinSock 2.0")], 16);
  bytes.set([...new TextEncoder().encode("Running")], 273);
  bytes[402] = 0x41; // padding, must not leak into the strings
  assert.deepEqual(readWsaData(new DataView(bytes.buffer), 0), {
    version: 0x0202,
    highVersion: 0x0202,
    description: "WinSock 2.0",
    systemStatus: "Running",
  });
});

Deno.test("readWsaData: unterminated strings stop at their array size (257 / 129)", () => {
  const bytes = new Uint8Array(408 + 8).fill(0x61); // 'a' everywhere, no NUL
  bytes.set([0x01, 0x02, 0x03, 0x04], 0);
  const d = readWsaData(new DataView(bytes.buffer), 0);
  assert.equal(d.version, 0x0201);
  assert.equal(d.highVersion, 0x0403);
  assert.equal(d.description, "a".repeat(257));
  assert.equal(d.systemStatus, "a".repeat(129));
});

// ---------------------------------------------------------------------------
// SOCKADDR_INET (Windows: AF_INET6 = 23, port in network order)

Deno.test("writeSockaddrInet IPv4: SOCKADDR_IN bytes, returns 16, zero-fills all 28 bytes", () => {
  const b = dirty(28);
  const len = writeSockaddrInet(b.view, b.at, { hostname: "127.0.0.1", port: 8080 });
  assert.equal(len, 16);
  // family 2 (LE) | port 0x1F90 (BE) | 127.0.0.1 | sin_zero | rest of the union
  assert.equal(written(b, 28), hex("0200 1f90 7f000001 0000000000000000 000000000000000000000000"));
  assert.deepEqual(readSockaddrInet(b.view, b.at), { hostname: "127.0.0.1", port: 8080 });
});

Deno.test("writeSockaddrInet IPv6: SOCKADDR_IN6 with family 23, returns 28", () => {
  const b = dirty(28);
  const len = writeSockaddrInet(b.view, b.at, { hostname: "2001:db8::1", port: 443 });
  assert.equal(len, 28);
  // family 23 = 0x17 (not Linux's 10) | port 443 | flowinfo | address | scope id
  assert.equal(
    written(b, 28),
    hex("1700 01bb 00000000 20010db8000000000000000000000001 00000000"),
  );
  assert.deepEqual(readSockaddrInet(b.view, b.at), { hostname: "2001:db8::1", port: 443 });
});

Deno.test("SOCKADDR_INET round trips: ports 0 and 65535, v4 and v6 forms", () => {
  const cases = [
    { hostname: "0.0.0.0", port: 0 },
    { hostname: "255.255.255.255", port: 65535 },
    { hostname: "::", port: 1 },
    { hostname: "::1", port: 65535 },
    { hostname: "fe80::1:2", port: 5353 },
    { hostname: "1:2:3:4:5:6:7:8", port: 9 },
  ];
  for (const c of cases) {
    const b = dirty(28);
    writeSockaddrInet(b.view, b.at, c);
    assert.deepEqual(readSockaddrInet(b.view, b.at), c);
  }
});

Deno.test("readSockaddrInet: a Linux AF_INET6 (10) or unknown family is not decoded", () => {
  assert.equal(readSockaddrInet(fromHex("0a00" + "00".repeat(26)), 0), null);
  assert.equal(readSockaddrInet(fromHex("00".repeat(28)), 0), null);
});

Deno.test("readSockaddrInet: decodes what Windows writes (literal bytes)", () => {
  const v4 = fromHex("0200 c350 0a0000fe" + "00".repeat(20));
  assert.deepEqual(readSockaddrInet(v4, 0), { hostname: "10.0.0.254", port: 50000 });
  const v6 = fromHex("1700 0035 00000000 00000000000000000000ffff01020304 00000000");
  const got = readSockaddrInet(v6, 0);
  assert.equal(got?.port, 53);
  // The hostname must parse back to the same 16 bytes (::ffff:1.2.3.4).
  assert.equal(hex(parseIpv6(got!.hostname)!), hex("00000000000000000000ffff01020304"));
});

Deno.test("writeSockaddrInet: bad hostname → TypeError, bad port → RangeError", () => {
  const b = dirty(28);
  for (
    const hostname of [
      "localhost",
      "",
      "1.2.3",
      "256.1.1.1",
      "1.2.3.4.5",
      "1::2::3",
      "fe80::1%eth0",
      "12345::",
    ]
  ) {
    assert.throws(
      () => writeSockaddrInet(b.view, b.at, { hostname, port: 80 }),
      TypeError,
      hostname,
    );
  }
  for (const port of [-1, 65536, 1.5, NaN, Infinity]) {
    assert.throws(
      () => writeSockaddrInet(b.view, b.at, { hostname: "127.0.0.1", port }),
      RangeError,
      String(port),
    );
  }
});

// ---------------------------------------------------------------------------
// Literal parsing (ffi/inet.ts)

Deno.test("parseIpv6: '::', '::1', '::ffff:1.2.3.4', brackets, full and trailing forms", () => {
  const cases: [string, string][] = [
    ["::", "00000000000000000000000000000000"],
    ["::1", "00000000000000000000000000000001"],
    ["::ffff:1.2.3.4", "00000000000000000000ffff01020304"],
    ["[::1]", "00000000000000000000000000000001"],
    ["1:2:3:4:5:6:7:8", "00010002000300040005000600070008"],
    ["1:2:3:4:5:6:7::", "00010002000300040005000600070000"],
    ["::2:3:4:5:6:7:8", "00000002000300040005000600070008"],
    ["ABCD::EF01", "abcd000000000000000000000000ef01"],
    ["1:2:3:4:5:6:1.2.3.4", "00010002000300040005000601020304"],
    ["::1.2.3.4", "00000000000000000000000001020304"],
  ];
  for (const [text, bytes] of cases) {
    const got = parseIpv6(text);
    assert.ok(got, text);
    assert.equal(hex(got), bytes, text);
  }
});

Deno.test("parseIpv6: malformed literals are rejected", () => {
  for (
    const bad of [
      "",
      ":",
      ":::",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8::", // :: must stand for at least one group
      "::1:2:3:4:5:6:7:8",
      "12345::",
      "g::1",
      ":1::",
      "1:",
      "::1.2.3",
      "::1.2.3.4:5", // embedded IPv4 only last
      "fe80::1%1", // zone ids are not supported
      "127.0.0.1",
      " ::1",
    ]
  ) {
    assert.equal(parseIpv6(bad), null, JSON.stringify(bad));
  }
});

Deno.test("parseIpv4: dotted quads only", () => {
  assert.deepEqual([...parseIpv4("192.168.0.1")!], [192, 168, 0, 1]);
  assert.deepEqual([...parseIpv4("0.0.0.0")!], [0, 0, 0, 0]);
  for (
    const bad of [
      "",
      "1.2.3",
      "1.2.3.4.5",
      "256.0.0.1",
      "1.2.3.-4",
      "1.2.3.4 ",
      "a.b.c.d",
      "1..2.3",
      "0x1.2.3.4",
      "1.2.3.1e1",
    ]
  ) {
    assert.equal(parseIpv4(bad), null, JSON.stringify(bad));
  }
});

Deno.test("formatIpv6: RFC 5952 compression (longest run, first on a tie, never a single group)", () => {
  const w = (...words: number[]): Uint8Array => {
    const b = new Uint8Array(16);
    words.forEach((x, i) => (b[i * 2] = x >> 8, b[i * 2 + 1] = x & 0xff));
    return b;
  };
  assert.equal(formatIpv6(w(0, 0, 0, 0, 0, 0, 0, 0)), "::");
  assert.equal(formatIpv6(w(0, 0, 0, 0, 0, 0, 0, 1)), "::1");
  assert.equal(formatIpv6(w(0, 0, 0, 0, 0, 0xffff, 0x7f00, 0x0001)), "::ffff:127.0.0.1");
  assert.equal(formatIpv6(w(0, 0, 0, 0, 1, 0xffff, 0x7f00, 0x0001)), "::1:ffff:7f00:1");
  assert.equal(formatIpv6(w(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)), "2001:db8::1");
  assert.equal(formatIpv6(w(0x2001, 0xdb8, 0, 1, 1, 1, 1, 1)), "2001:db8:0:1:1:1:1:1");
  assert.equal(formatIpv6(w(1, 0, 0, 1, 0, 0, 1, 1)), "1::1:0:0:1:1");
  assert.equal(formatIpv6(w(1, 0, 0, 1, 0, 0, 0, 1)), "1:0:0:1::1");
  assert.equal(formatIpv6(w(1, 2, 3, 4, 5, 6, 7, 0)), "1:2:3:4:5:6:7:0");
  assert.equal(formatIpv6(w(1, 2, 3, 4, 5, 6, 0, 0)), "1:2:3:4:5:6::");
  assert.equal(formatIpv6(w(0xabcd, 0, 0, 0, 0, 0, 0, 0xef)), "abcd::ef");
});
