// Property tests of UdpSocket's argument checks, over every bound (fast-check).
//
// Drawn: destinations (well-formed and malformed IPv4 and IPv6 literals,
// brackets, scoped IPv6 like fe80::1%eth0, the other family, ports at and
// around 0/1/65535/65536, NaN, fractions, BigInts, strings, non-objects, and
// addresses whose getters answer differently on the second read), payloads
// and lengths at and around the slot size, send slots acquired or already
// released, datagrams held, replied to, released, or another socket's.
// Properties:
// - numeric address parsing (ffi/inet.ts) agrees with an independent oracle
//   (node:net's isIPv4/isIPv6, bytes from the WHATWG URL parser), scoped
//   addresses refused;
// - a bad send/reply/release is a TypeError/RangeError naming what is wrong
//   (`remote.port`, `remote.hostname`, `length` …), thrown synchronously, and
//   changes nothing: stats, pool, requests in flight, free send slots, no
//   RIO call; the socket still works afterwards;
// - a good one reaches the kernel with exactly the checked values, read
//   once: the destination and payload the RIO fake decodes from the
//   SOCKADDR_INET and RIO_BUFs it is handed, and on Linux the SEND SQE the
//   ring hands the kernel (tests/sqe_tap.ts) with the sockaddr it points to.
//
// Runs per property are in the `params(…)` calls (tests/property_util.ts:
// REGIO_FUZZ=k multiplies them; `deno task test:fuzz` sets 10).
// A failure prints fast-check's seed and path; replay it with
//   REGIO_SEED=<seed> REGIO_PATH=<path> deno test -A tests/property_udp_test.ts --filter "<name>"

import assert from "node:assert/strict";
import { isIPv4, isIPv6 } from "node:net";
import { parseIpv4, parseIpv6 } from "../ffi/inet.ts";
import { type UdpDatagram, UdpSendSlot, UdpSocket } from "../mod.ts";
import { bindUdpWith } from "../src/udp/socket.ts";
import { openWindowsBackend } from "../src/udp/windows.ts";
import { installFakeWindows } from "./fakes/windows.ts";
import { openFakeHost } from "./fakes/fake_base.ts";
import type { Endpoint } from "./fakes/fake_winsock.ts";
import { aroundBounds, fc, isIntIn, params } from "./property_util.ts";
import { ignore, within } from "./linux_util.ts";
import { OP_SEND, SqeTap } from "./sqe_tap.ts";

openFakeHost();

// ---- the oracle for numeric addresses ----

/** Dotted-quad IPv4 bytes, or null: node's rule (no leading zeros, each part ≤ 255). */
function oracleV4(s: string): Uint8Array | null {
  return isIPv4(s) ? new Uint8Array(s.split(".").map(Number)) : null;
}

/** IPv6 bytes, or null: node's rule, no zone, optional brackets; bytes through the URL parser. */
function oracleV6(s: string): Uint8Array | null {
  const h = s.startsWith("[") && s.endsWith("]") ? s.slice(1, -1) : s;
  if (!isIPv6(h) || h.includes("%")) return null;
  // WHATWG serialises IPv6 as lowercase hex pieces with at most one "::".
  const canonical = new URL(`http://[${h}]/`).hostname.slice(1, -1);
  const [head, tail] = canonical.split("::");
  const words = (x: string | undefined): number[] =>
    x ? x.split(":").map((w) => parseInt(w, 16)) : [];
  const hw = words(head), tw = words(tail);
  const all = tail === undefined
    ? hw
    : [...hw, ...new Array(8 - hw.length - tw.length).fill(0), ...tw];
  const out = new Uint8Array(16);
  all.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

const octet = fc.integer({ min: 0, max: 255 });
const v4Arb = fc.tuple(octet, octet, octet, octet).map((p) => p.join("."));
const hexWord = fc.integer({ min: 0, max: 0xffff }).map((w) => w.toString(16));
const v6Arb = fc.tuple(
  fc.array(hexWord, { minLength: 8, maxLength: 8 }),
  fc.integer({ min: -1, max: 8 }),
  fc.integer({ min: 0, max: 8 }),
  fc.boolean(),
  v4Arb,
).map(([w, at, run, v4tail, v4]) => {
  const words = v4tail ? w.slice(0, 6) : w;
  let s: string;
  if (at < 0 || at >= words.length) s = words.join(":");
  else {
    const end = Math.min(words.length, at + Math.max(1, run));
    s = `${words.slice(0, at).join(":")}::${words.slice(end).join(":")}`;
  }
  if (v4tail) s = s.endsWith(":") ? `${s}${v4}` : `${s}:${v4}`;
  return s;
});
const junkToken = fc.constantFrom(
  "1",
  "01",
  "256",
  "ff",
  "ffff",
  "10000",
  "g",
  ":",
  "::",
  ".",
  "1.2.3.4",
  "%eth0",
  "%1",
  "[",
  "]",
  " ",
  "-1",
  "0",
  "",
);
/** Hostnames: well-formed, slightly broken, scoped, bracketed, and token soup. */
const hostnameArb: fc.Arbitrary<string> = fc.oneof(
  v4Arb,
  v6Arb,
  v6Arb.map((s) => `[${s}]`),
  v6Arb.map((s) => `${s}%eth0`),
  fc.constantFrom("fe80::1%eth0", "fe80::1%1", "[fe80::1%eth0]", "::1", "127.0.0.1", "::"),
  fc.tuple(v4Arb, fc.integer({ min: 0, max: 5 }), junkToken).map(([s, i, t]) => {
    const parts = s.split(".");
    parts.splice(i % 5, i % 2, t);
    return parts.join(".");
  }),
  fc.tuple(v6Arb, fc.integer({ min: 0, max: 40 }), junkToken).map(([s, i, t]) =>
    s.slice(0, i) + t + s.slice(i)
  ),
  fc.array(junkToken, { maxLength: 10 }).map((t) => t.join("")),
  fc.string({ maxLength: 12 }),
);

Deno.test("property: numeric IPv4/IPv6 parsing agrees with node:net and the URL parser; scoped addresses are refused", () => {
  fc.assert(
    fc.property(hostnameArb, (s) => {
      assert.deepEqual(parseIpv4(s), oracleV4(s), `parseIpv4(${JSON.stringify(s)})`);
      assert.deepEqual(parseIpv6(s), oracleV6(s), `parseIpv6(${JSON.stringify(s)})`);
    }),
    params(40_000),
  );
});

// ---- sends ----

const ABSENT = Symbol("absent");
const AF_INET = 2, AF_INET6 = 23; // Windows

interface RemoteSpec {
  form: "plain" | "flip" | "not-an-object";
  hostname: unknown;
  port: unknown;
  /** What a flipping remote answers from the second read on. */
  later: { hostname: string; port: number };
  notObject: unknown;
}

const portArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 65535 }) },
  { weight: 2, arbitrary: aroundBounds(0, 1, 65535, 65536) },
);
const remoteArb = (peer4: string, peer6: string): fc.Arbitrary<RemoteSpec> =>
  fc.record({
    form: fc.constantFrom<RemoteSpec["form"]>("plain", "plain", "flip", "flip", "not-an-object"),
    hostname: fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(peer4, peer6, "10.1.2.3", "2001:db8::7") },
      { weight: 3, arbitrary: hostnameArb },
      { weight: 1, arbitrary: fc.constantFrom<unknown>(undefined, null, 127, new String("::1")) },
    ),
    port: portArb,
    later: fc.record({
      hostname: fc.constantFrom("10.9.9.9", "2001:db8::9", "fe80::1%eth0", "not an address"),
      port: fc.constantFrom(0, 7, 65536),
    }),
    notObject: fc.constantFrom<unknown>(null, undefined, "127.0.0.1:80", 80),
  });

function buildRemote(spec: RemoteSpec): unknown {
  if (spec.form === "not-an-object") return spec.notObject;
  if (spec.form === "plain") return { hostname: spec.hostname, port: spec.port };
  let h = 0, p = 0;
  return {
    get hostname(): unknown {
      return h++ === 0 ? spec.hostname : spec.later.hostname;
    },
    get port(): unknown {
      return p++ === 0 ? spec.port : spec.later.port;
    },
  };
}

type Outcome =
  | { ok: true; af: number; address: Uint8Array; port: number; length: number }
  | { ok: false; type: typeof TypeError | typeof RangeError; names: RegExp };

function remoteVerdict(
  spec: RemoteSpec,
  family: 4 | 6,
): Outcome | { af: number; address: Uint8Array; port: number } {
  if (spec.form === "not-an-object") return { ok: false, type: TypeError, names: /remote/ };
  const { hostname, port } = spec;
  if (typeof hostname !== "string") {
    return { ok: false, type: TypeError, names: /remote\.hostname/ };
  }
  if (!isIntIn(port, 1, 65535)) return { ok: false, type: RangeError, names: /remote\.port/ };
  const v4 = oracleV4(hostname), v6 = v4 ? null : oracleV6(hostname);
  if (!v4 && !v6) return { ok: false, type: TypeError, names: /remote\.hostname.*not a numeric/ };
  if ((v4 ? 4 : 6) !== family) {
    return { ok: false, type: TypeError, names: /remote\.hostname.*IPv/ };
  }
  return { af: v4 ? AF_INET : AF_INET6, address: (v4 ?? v6)!, port };
}

interface DataSpec {
  kind: "bytes" | "slot" | "stale-slot" | "not-bytes";
  size: number;
  length: unknown;
  notBytes: unknown;
  seed: number;
}

const SLOT = 32;
const dataArb: fc.Arbitrary<DataSpec> = fc.record({
  kind: fc.constantFrom<DataSpec["kind"]>(
    "bytes",
    "bytes",
    "bytes",
    "slot",
    "slot",
    "stale-slot",
    "not-bytes",
  ),
  size: fc.constantFrom(0, 1, 7, SLOT - 1, SLOT, SLOT + 1, 100),
  length: fc.oneof(
    { weight: 3, arbitrary: fc.constant(ABSENT) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: SLOT }) },
    { weight: 2, arbitrary: aroundBounds(0, 1, 7, SLOT, SLOT + 1) },
  ),
  notBytes: fc.constantFrom<unknown>(
    null,
    undefined,
    "bytes",
    [1, 2],
    new ArrayBuffer(4),
    new DataView(new ArrayBuffer(4)),
    new Uint16Array(2),
  ),
  seed: fc.integer({ min: 1, max: 255 }),
});

/** Sends that must pass: a destination of the socket's family, data and length that fit. */
const goodSendArb: fc.Arbitrary<[4 | 6, RemoteSpec, DataSpec]> = fc.constantFrom<4 | 6>(4, 6)
  .chain((family) =>
    fc.tuple(
      fc.constant(family),
      fc.record({
        form: fc.constantFrom<RemoteSpec["form"]>("plain", "flip"),
        hostname: fc.oneof(
          fc.constantFrom(
            ...(family === 4
              ? ["127.0.0.1", "10.1.2.3", "255.255.255.255"]
              : ["::1", "2001:db8::7", "[::1]", "::ffff:1.2.3.4"]),
          ),
          family === 4 ? v4Arb : v6Arb,
        ),
        port: fc.oneof(fc.constantFrom(1, 65535), fc.integer({ min: 1, max: 65535 })),
        later: fc.record({
          hostname: fc.constantFrom("10.9.9.9", "2001:db8::9"),
          port: fc.constantFrom(0, 7, 65536),
        }),
        notObject: fc.constant(null),
      }),
      fc.record({
        kind: fc.constantFrom<DataSpec["kind"]>("bytes", "slot"),
        size: fc.integer({ min: 0, max: SLOT }),
        length: fc.constant<unknown>(ABSENT),
        notBytes: fc.constant(null),
        seed: fc.integer({ min: 1, max: 255 }),
      }).chain((d) =>
        fc.oneof(
          fc.constant(ABSENT),
          fc.integer({ min: 0, max: d.kind === "slot" ? SLOT : d.size }),
        )
          .map((length) => ({ ...d, length }))
      ),
    )
  );

function fill(bytes: Uint8Array, seed: number): void {
  for (let i = 0; i < bytes.length; i++) bytes[i] = (seed + i * 7) & 0xff;
}

/**
 * The length a `length` argument stands for: a plain object is the options
 * form (`{ length, ecn }`), whose own `length` counts (absent: the default).
 */
function lengthOf(arg: unknown): unknown {
  if (typeof arg !== "object" || arg === null) return arg;
  const proto = Object.getPrototypeOf(arg);
  return proto === Object.prototype || proto === null ? (arg as { length?: unknown }).length : arg;
}

function dataVerdict(d: DataSpec): Outcome | { length: number } {
  if (d.kind === "not-bytes") {
    return { ok: false, type: TypeError, names: /Uint8Array or a UdpSendSlot/ };
  }
  if (d.kind === "stale-slot") return { ok: false, type: RangeError, names: /not acquired/ };
  const max = d.kind === "slot" ? SLOT : d.size;
  const length = lengthOf(d.length);
  if (length === ABSENT || length === undefined) {
    return max > SLOT ? { ok: false, type: RangeError, names: /do not fit/ } : { length: max };
  }
  if (!isIntIn(length, 0, max)) return { ok: false, type: RangeError, names: /length/ };
  if (length > SLOT) return { ok: false, type: RangeError, names: /do not fit/ };
  return { length: length + 0 }; // -0 is 0 to the kernel
}

/** What a socket shows of itself: nothing of it may change on a refused call. */
function snapshot(s: UdpSocket): unknown {
  return { stats: s.stats, pool: s.pool, inFlight: s.inFlight, free: s.sendSlotsFree };
}

async function settle(until: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !until(); i++) await new Promise((r) => setTimeout(r, 0));
  assert.ok(until(), what);
}

/** One drawn send: the arguments `send` gets, and what must come of it. */
interface DrawnSend {
  /** The send slot acquired for it (released again for a "stale-slot"). */
  slot: UdpSendSlot | undefined;
  args: unknown[];
  /** The bytes a good send carries (before `length` cuts them). */
  expectedPayload: Uint8Array;
  v: Outcome;
}

/** Prepares the send `[family, rs, ds]` draws on `sock`: its data (acquiring a slot if drawn), arguments and verdict. */
async function drawSend(
  sock: UdpSocket,
  family: 4 | 6,
  rs: RemoteSpec,
  ds: DataSpec,
): Promise<DrawnSend> {
  let slot: UdpSendSlot | undefined;
  if (ds.kind === "slot" || ds.kind === "stale-slot") {
    slot = (await sock.acquire())!;
    fill(slot.bytes, ds.seed);
    if (ds.kind === "stale-slot") sock.release(slot);
  }
  const bytes = new Uint8Array(ds.size);
  fill(bytes, ds.seed);
  const data = ds.kind === "not-bytes" ? ds.notBytes : slot ?? bytes;
  const expectedPayload = slot && ds.kind === "slot" ? slot.bytes.slice() : bytes.slice();
  const r = remoteVerdict(rs, family);
  const d = dataVerdict(ds);
  const v: Outcome = "ok" in r ? r : "ok" in d ? d : { ok: true, ...r, length: d.length };
  const args: unknown[] = [data, buildRemote(rs)];
  if (ds.length !== ABSENT) args.push(ds.length);
  return { slot, args, expectedPayload, v };
}

/** Calls `send(...args)`: a synchronous refusal must be the one `v` names (then undefined). */
function trySend(sock: UdpSocket, args: unknown[], v: Outcome): Promise<void> | undefined {
  try {
    return (sock.send as (...a: unknown[]) => Promise<void>)(...args);
  } catch (e) {
    if (v.ok) throw new Error(`a good send was refused: ${e}`);
    assert.ok(e instanceof v.type, `${v.type.name} expected, got ${e}`);
    assert.match((e as Error).message, v.names);
    return undefined;
  }
}

Deno.test("property: UdpSocket.send on the RIO fake: bad sends change nothing; good ones reach RIOSendEx as checked", async () => {
  using fake = installFakeWindows();
  const bind = (hostname: string): UdpSocket =>
    bindUdpWith(openWindowsBackend, { hostname, port: 0, slots: 4, slotSize: SLOT, sendSlots: 4 });
  await using c4 = bind("127.0.0.1");
  await using c6 = bind("::1");
  const sent: { to: Endpoint; payload: Uint8Array }[] = [];
  fake.winsock.onTransmit = (to, payload): number => sent.push({ to: { ...to }, payload });

  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.tuple(fc.constantFrom<4 | 6>(4, 6), remoteArb("127.0.0.1", "::1"), dataArb),
        goodSendArb,
      ),
      async ([family, rs, ds]) => {
        const sock = family === 4 ? c4 : c6;
        const { slot, args, expectedPayload, v } = await drawSend(sock, family, rs, ds);
        fake.base.log.clear(); // it grows with every call: counts would cost O(runs)
        const before = snapshot(sock);
        const nSent = sent.length;
        const p = trySend(sock, args, v);
        if (!p) {
          await Promise.resolve();
          assert.deepEqual(snapshot(sock), before, "a refused send changes nothing");
          assert.equal(fake.base.log.count("RIOSendEx"), 0, "no RIO call");
          if (ds.kind === "slot") sock.release(slot!); // still acquired: the caller's to release
          return;
        }
        if (!v.ok) throw new assert.AssertionError({ message: "a bad send was accepted" });
        await p;
        await settle(() => sent.length > nSent, "the datagram was transmitted");
        assert.equal(sent.length, nSent + 1);
        const { to, payload } = sent[nSent];
        assert.deepEqual(
          { af: to.af, address: to.address, port: to.port },
          { af: v.af, address: v.address, port: v.port },
          "the destination the fake decoded",
        );
        assert.deepEqual(payload, expectedPayload.subarray(0, v.length), "the payload");
      },
    ),
    params(2_000),
  );
  // Still works, and everything came back.
  await settle(() => c4.sendSlotsFree === 4 && c6.sendSlotsFree === 4, "send slots free again");
  const n = sent.length;
  await c4.send(new Uint8Array([1, 2, 3]), c4.addr);
  await settle(() => sent.length > n, "a last send");
  assert.deepEqual(fake.winsock.violations, []);
});

// ---- replies and releases ----

interface Action {
  op: "reply" | "release" | "reply-junk" | "release-junk" | "release-other-slot";
  target: number;
  length: unknown;
  junk: unknown;
}

const actionArb = (maxLength: number): fc.Arbitrary<Action[]> =>
  fc.array(
    fc.record({
      op: fc.constantFrom<Action["op"]>(
        "reply",
        "reply",
        "release",
        "reply-junk",
        "release-junk",
        "release-other-slot",
      ),
      target: fc.integer({ min: 0, max: 3 }),
      length: fc.oneof(
        { weight: 2, arbitrary: fc.constant(ABSENT) },
        { weight: 2, arbitrary: fc.integer({ min: 0, max: SLOT }) },
        { weight: 2, arbitrary: aroundBounds(0, 1, 8, SLOT) },
      ),
      junk: fc.constantFrom<unknown>(null, undefined, {}, { slot: 0 }, 0, new Uint8Array(4)),
    }),
    { maxLength },
  );

Deno.test("property: reply/release on the RIO fake: bad calls change nothing; good replies send the checked bytes to the sender", async () => {
  using fake = installFakeWindows();
  const bind = (): UdpSocket =>
    bindUdpWith(openWindowsBackend, {
      hostname: "127.0.0.1",
      port: 0,
      slots: 8,
      slotSize: SLOT,
      sendSlots: 4,
    });
  await using server = bind();
  await using client = bind();
  const sent: { to: Endpoint; payload: Uint8Array }[] = [];
  fake.winsock.onTransmit = (to, payload): number => sent.push({ to: { ...to }, payload });

  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.integer({ min: 0, max: SLOT + 4 }), { minLength: 1, maxLength: 4 }),
      actionArb(8),
      async (sizes, actions) => {
        fake.base.log.clear(); // it grows with every call
        fake.winsock.hold = true;
        for (const [i, n] of sizes.entries()) {
          const b = new Uint8Array(n);
          fill(b, i + 1);
          await client.send(b.subarray(0, Math.min(n, SLOT)), server.addr);
        }
        fake.winsock.hold = false;
        fake.winsock.run();
        const got: UdpDatagram[] = [];
        while (got.length < sizes.length) {
          got.push(...await within(2000, server.receive(), "receive"));
        }
        await settle(() => client.sendSlotsFree === 4, "client's send slots back");
        const held = got.map(() => true);
        for (const a of actions) {
          const d = got[a.target % got.length], k = a.target % got.length;
          const before = snapshot(server);
          const nSent = sent.length;
          let expect: { ok: true; n: number } | {
            ok: false;
            type: typeof TypeError | typeof RangeError;
            names: RegExp;
          };
          let other: UdpSendSlot | undefined;
          let expectReply: Uint8Array | undefined;
          let call: () => void;
          switch (a.op) {
            case "reply": {
              const length = lengthOf(a.length);
              const dflt = length === ABSENT || length === undefined; // the default: all of it
              const lenOk = dflt || isIntIn(length, 0, d.length);
              expect = !held[k]
                ? { ok: false, type: RangeError, names: /no longer held/ }
                : !lenOk
                ? { ok: false, type: RangeError, names: /length/ }
                : { ok: true, n: dflt ? d.length : length as number };
              const payload = held[k] ? d.data.slice() : undefined;
              call = (): void => {
                if (a.length === ABSENT) server.reply(d);
                else (server.reply as (d: UdpDatagram, n: unknown) => void)(d, a.length);
                if (expect.ok) {
                  held[k] = false;
                  expectReply = payload!.subarray(0, expect.n);
                }
              };
              break;
            }
            case "release":
              expect = held[k]
                ? { ok: true, n: -1 }
                : { ok: false, type: RangeError, names: /no longer held/ };
              call = (): void => {
                server.release(d);
                held[k] = false;
              };
              break;
            case "reply-junk":
              expect = { ok: false, type: TypeError, names: /reply\(\) takes a UdpDatagram/ };
              call = (): void => (server.reply as (x: unknown) => void)(a.junk);
              break;
            case "release-junk":
              expect = { ok: false, type: TypeError, names: /release\(\) takes/ };
              call = (): void => (server.release as (x: unknown) => void)(a.junk);
              break;
            case "release-other-slot":
              other = client.tryAcquire()!;
              expect = { ok: false, type: TypeError, names: /another UdpSocket/ };
              call = (): void => server.release(other!);
              break;
          }
          let threw: unknown;
          try {
            call();
          } catch (e) {
            threw = e;
          }
          if (other) {
            assert.ok(other instanceof UdpSendSlot);
            client.release(other); // still the client's, still acquired
          }
          if (!expect.ok) {
            assert.ok(threw instanceof expect.type, `${expect.type.name} expected, got ${threw}`);
            assert.match((threw as Error).message, expect.names);
            await Promise.resolve();
            assert.deepEqual(snapshot(server), before, `a refused ${a.op} changes nothing`);
            assert.equal(sent.length, nSent, "nothing sent");
            continue;
          }
          if (threw) throw new Error(`a good ${a.op} was refused: ${threw}`);
          if (expectReply) {
            await settle(() => sent.length > nSent, "the reply was transmitted");
            const { to, payload } = sent[nSent];
            assert.deepEqual([to.af, [...to.address], to.port], [
              AF_INET,
              [127, 0, 0, 1],
              client.addr.port,
            ]);
            assert.deepEqual(payload, expectReply, "the reply's bytes");
          }
        }
        for (const [k, d] of got.entries()) if (held[k]) server.release(d);
        // The client drains what was replied to it (its next receive releases them).
        await settle(
          () => server.pool.receiving === server.receiveSlots,
          "server slots back with the kernel",
        );
      },
    ),
    params(600),
  );
  assert.deepEqual(fake.winsock.violations, []);
});

// ---- on the real kernel: the SEND SQEs and the sockaddr they point to ----

const LINUX_AF_INET = 2, LINUX_AF_INET6 = 10, IOSQE_FIXED_FILE = 1;

/** Loopback destinations only (nothing leaves the machine), in every spelling. */
const loopbackSendArb: fc.Arbitrary<[4 | 6, RemoteSpec, DataSpec]> = goodSendArb.chain((
  [family, rs, ds],
) =>
  fc.oneof(
    family === 4
      ? fc.tuple(octet, octet, octet).map(([a, b, c]) => `127.${a}.${b}.${c}`)
      : fc.constantFrom("::1", "[::1]", "0:0:0:0:0:0:0:1", "::0:1"),
  ).map((hostname) => [family, { ...rs, hostname }, ds] as [4 | 6, RemoteSpec, DataSpec])
);

Deno.test({
  name:
    "property: UdpSocket.send on io_uring: bad sends submit nothing; good ones are the SEND SQEs the kernel reads",
  ignore,
  async fn(): Promise<void> {
    using tap = new SqeTap();
    const bind = (hostname: string): UdpSocket =>
      tap.tapNew(() =>
        UdpSocket.bind({ hostname, port: 0, slots: 4, slotSize: SLOT, sendSlots: 4 })
      );
    await using c4 = bind("127.0.0.1");
    await using c6 = bind("::1");
    assert.equal(tap.rings, 2, "both sockets' rings were found");
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.tuple(fc.constantFrom<4 | 6>(4, 6), remoteArb("127.0.0.1", "::1"), dataArb)
            .filter(([, rs]) =>
              !(typeof rs.hostname === "string" && /^10\.|db8/.test(rs.hostname))
            ),
          loopbackSendArb,
        ),
        async ([family, rs, ds]) => {
          const sock = family === 4 ? c4 : c6;
          const { slot, args, expectedPayload, v } = await drawSend(sock, family, rs, ds);
          const before = snapshot(sock);
          tap.take();
          const p = trySend(sock, args, v);
          if (!p) {
            await Promise.resolve();
            assert.deepEqual(snapshot(sock), before, "a refused send changes nothing");
            assert.deepEqual(
              tap.take().filter((q) => q.opcode === OP_SEND),
              [],
              "no SEND submitted",
            );
            if (ds.kind === "slot") sock.release(slot!);
            return;
          }
          if (!v.ok) throw new assert.AssertionError({ message: "a bad send was accepted" });
          await p;
          await settle(() => tap.sqes.some((q) => q.opcode === OP_SEND), "the SEND was submitted");
          const sends = tap.take().filter((q) => q.opcode === OP_SEND);
          assert.equal(sends.length, 1);
          const q = sends[0];
          assert.equal(q.flags & IOSQE_FIXED_FILE, IOSQE_FIXED_FILE);
          assert.equal(q.len, v.length, "len");
          assert.deepEqual(q.payload, expectedPayload.subarray(0, v.length), "the bytes at addr");
          const sa = new DataView(q.sockaddr!.buffer);
          const v6 = v.af === AF_INET6;
          assert.equal(q.addrLen, v6 ? 28 : 16, "addr_len");
          assert.equal(sa.getUint16(0, true), v6 ? LINUX_AF_INET6 : LINUX_AF_INET, "sa_family");
          assert.equal(sa.getUint16(2, false), v.port, "sin_port");
          assert.deepEqual(q.sockaddr!.subarray(v6 ? 8 : 4, v6 ? 24 : 8), v.address, "the address");
          if (v6) assert.equal(sa.getUint32(24, true), 0, "no scope id");
        },
      ),
      params(1_000),
    );
    await settle(() => c4.sendSlotsFree === 4 && c6.sendSlotsFree === 4, "send slots free again");
  },
});

// ---- regressions the properties found ----

Deno.test("regression: send() hands the backend the address it checked, not a second read of it", async () => {
  using fake = installFakeWindows();
  await using sock = bindUdpWith(openWindowsBackend, { port: 0, slots: 4, slotSize: SLOT });
  const sent: Endpoint[] = [];
  fake.winsock.onTransmit = (to): number => sent.push({ ...to });
  // Checked as 127.0.0.1:9, then read again as 10.9.9.9:0 (a port the check refuses).
  let reads = 0;
  const remote = {
    get hostname(): string {
      return reads++ < 2 ? "127.0.0.1" : "10.9.9.9";
    },
    get port(): number {
      return reads++ < 2 ? 9 : 0;
    },
  };
  await sock.send(new Uint8Array([1]), remote);
  await settle(() => sent.length === 1, "sent");
  assert.deepEqual([[...sent[0].address], sent[0].port], [[127, 0, 0, 1], 9]);
  assert.equal(reads, 2, "each field read once");
});

Deno.test("regression: IPv4 parts with a leading zero, and an IPv4 tail that does not end the IPv6 address, are refused", () => {
  for (const s of ["01.2.3.4", "127.0.0.01", "1.2.3.010", "00.0.0.0"]) {
    assert.equal(parseIpv4(s), null, s);
  }
  assert.deepEqual(parseIpv4("0.10.100.255"), new Uint8Array([0, 10, 100, 255]));
  for (const s of ["1.2.3.4::", "1.2.3.4::1", "1:1.2.3.4::", "::ffff:01.2.3.4"]) {
    assert.equal(parseIpv6(s), null, s);
  }
  assert.deepEqual(
    parseIpv6("::ffff:1.2.3.4")!.subarray(10),
    new Uint8Array([255, 255, 1, 2, 3, 4]),
  );
});
