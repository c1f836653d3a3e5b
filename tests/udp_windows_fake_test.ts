// UdpSocket's RIO engine through the Windows fake (tests/fakes/): the shared
// cases of tests/udp_cases.ts, with sizes cut so they stay fast, each
// checked afterwards for violations of the RIO contract and for anything
// left open (sockets, registrations, queues, WSAStartup, memory).
//
// Which code space RIORESULT.Status uses is UNCONFIRMED (reference §5.3), so
// the shared cases run under each one the fake can be set to: Winsock codes
// (WSAEMSGSIZE …), Win32 codes (ERROR_MORE_DATA …), and WSAENOTSOCK instead
// of WSA_OPERATION_ABORTED for what closesocket completes. Each must give the
// same statistics and behaviour as on Linux (tests/udp_test.ts).

import assert from "node:assert/strict";
import { installFakeWindows } from "./fakes/windows.ts";
import { assertRioClean } from "./rio_fake_util.ts";
import type { FakeWinsockOptions } from "./fakes/fake_winsock.ts";
import { RegioError, WinsockError } from "../src/errors.ts";
import { bindUdpWith } from "../src/udp/socket.ts";
import { openWindowsBackend } from "../src/udp/windows.ts";
import * as cases from "./udp_cases.ts";
import { within } from "./linux_util.ts";

let current: Fake | undefined;

const rio: cases.Harness = {
  hold: (on) => {
    current!.winsock.hold = on;
    if (!on) current!.winsock.run();
  },
  bind: (options) => bindUdpWith(openWindowsBackend, options),
  bulk: { count: 5_000, window: 32 }, // the fake delivers in JS: keep it short
  isAddressInUse: (e) => e instanceof WinsockError && e.codeName === "WSAEADDRINUSE",
  // The fake has no destination it refuses (besides another family, which is checked first).
};

type Fake = ReturnType<typeof installFakeWindows>;

/** The status code spaces the shared cases run under ("" is the default: Winsock codes). */
const SPACES: [string, FakeWinsockOptions][] = [
  ["", {}],
  [", Win32 status codes", { statusSpace: "win32" }],
  [", WSAENOTSOCK at close", { closeStatus: 10038 }],
  [", Win32 codes + WSAENOTSOCK at close", { statusSpace: "win32", closeStatus: 10038 }],
];

/** A test run with the fake installed, then checked clean. */
function test(
  name: string,
  fn: (fake: Fake) => void | Promise<void>,
  [label, winsock]: [string, FakeWinsockOptions] = SPACES[0],
): void {
  Deno.test(`udp (RIO fake${label}): ${name}`, async () => {
    using fake = installFakeWindows({ winsock });
    current = fake;
    await fn(fake);
    assertRioClean(fake);
  });
}

for (const space of SPACES) {
  const t = (name: string, fn: (fake: Fake) => void | Promise<void>): void => test(name, fn, space);
  t(
    "IPv4 round trip; echoes from the server's slots; accounting back to full",
    () => cases.roundTrip(rio, "127.0.0.1"),
  );
  t("IPv6 round trip", () => cases.roundTrip(rio, "::1"));
  t(
    "truncation is flagged and counted; zero-length datagrams are echoed",
    () => cases.truncationAndEmpty(rio),
  );
  // No status but success in the bulk run: once is enough (it is the slowest case).
  if (space === SPACES[0]) {
    t("5,000 datagrams at window 32: zero loss, every byte checked", () => cases.bulk(rio));
  }
  t(
    "dispose under load: receives and sends in flight drain, waiters reject",
    () => cases.teardownUnderLoad(rio),
  );
  t(
    "backpressure: send slots and receive slots run out without loss",
    () => cases.backpressure(rio),
  );
  t(
    "slot ownership: reply/release once, auto-release on the next batch",
    () => cases.ownership(rio),
  );
  t(
    "a released datagram stays invalid when its slot is held again",
    () => cases.staleDatagram(rio),
  );
  t("send errors: bad destinations throw before any RIO call", () => cases.sendErrors(rio));
  t(
    "a peer that vanished before its replies does not disturb the server",
    () => cases.peerVanishes(rio),
  );
  t("port in use: WSAEADDRINUSE, nothing left open", () => cases.portInUse(rio));
  t("bad options: TypeError/RangeError before anything is opened", (fake) => {
    cases.badOptions(rio);
    assert.equal(fake.base.log.count("WSAStartup"), 0, "nothing was called");
  });
}

/** The ICMP family (reference §5.3): whichever code a receive reports it with, it counts the same. */
const UNREACHABLE: [string, number][] = [
  ["WSAECONNRESET", 10054],
  ["WSAENETUNREACH", 10051],
  ["WSAEHOSTUNREACH", 10065],
  ["ERROR_NETWORK_UNREACHABLE", 1231],
  ["ERROR_HOST_UNREACHABLE", 1232],
  ["ERROR_PROTOCOL_UNREACHABLE", 1233],
  ["ERROR_PORT_UNREACHABLE", 1234],
];
for (const [name, icmpStatus] of UNREACHABLE) {
  test(`an ICMP error reported as ${name} is one receive error; the socket goes on`, async () => {
    await using server = rio.bind({ port: 0, slots: 4, slotSize: 64 });
    await using client = rio.bind({ port: 0, slots: 4, slotSize: 64 });
    const gone = rio.bind({ port: 0, slots: 4, slotSize: 64 });
    const nobody = gone.addr;
    await gone.close();
    await client.send(new Uint8Array([1]), nobody); // the fake answers with ICMP unreachable
    await within(
      5000,
      (async () => {
        while (client.stats.receiveErrors === 0) await new Promise((r) => setTimeout(r, 1));
      })(),
      "the unreachable status",
    );
    const done = cases.echo(server);
    await client.send(new Uint8Array([2]), server.addr);
    const [back] = await cases.collect(client, 1);
    assert.deepEqual(back.data, new Uint8Array([2]), "the socket still receives");
    assert.deepEqual(
      { ...client.stats, bytesIn: 0, bytesOut: 0 },
      {
        datagramsIn: 1,
        bytesIn: 0,
        datagramsOut: 2,
        bytesOut: 0,
        truncated: 0,
        poolEmpty: 0,
        sendErrors: 0,
        receiveErrors: 1,
        kernelDrops: null, // Winsock has no per-socket count
        receives: 1,
        sends: 2,
        trains: 0,
        segmentation: true, // USO through the RIO control slice (never refused here)
        segmentationFallbacks: 0,
      },
    );
    await cases.assertPoolFull(client);
    await server.close();
    await done;
  }, [`, ICMP as ${name}`, { icmp: true, icmpStatus }]);
}

test("RIO batching: receives posted with RIO_MSG_DEFER and one commit; one dequeue per batch", async (fake) => {
  await using server = rio.bind({ port: 0, slots: 16, slotSize: 64 });
  await using client = rio.bind({ port: 0, slots: 16, slotSize: 64, sendSlots: 8 });
  await Promise.resolve(); // the commit runs once per tick
  // 16 + 16 deferred receives, each socket committing once (a COMMIT_ONLY call).
  assert.equal(fake.base.log.count("RIOReceiveEx"), 16 + 1 + 16 + 1);
  const dequeues = fake.base.log.count("RIODequeueCompletion");
  for (let i = 0; i < 8; i++) void client.send(new Uint8Array([i]), server.addr);
  assert.equal(fake.base.log.count("RIOSendEx"), 8, "deferred: nothing committed yet");
  await Promise.resolve();
  assert.equal(fake.base.log.count("RIOSendEx"), 9, "8 deferred sends + one commit");
  const batch = await server.receive({ timeoutMs: 1000 });
  assert.equal(batch.length, 8, "the whole batch in one wake-up");
  assert.ok(
    fake.base.log.count("RIODequeueCompletion") - dequeues <= 4,
    "completions are dequeued in batches, not one call per datagram",
  );
});

test("a socket whose completion queue failed refuses sends instead of parking them", async (fake) => {
  await using client = rio.bind({ port: 0, slots: 4, slotSize: 64, sendSlots: 1 });
  await using peer = rio.bind({ port: 0, slots: 4, slotSize: 64 });
  // The one send slot is at the kernel, and a second send waits for it.
  fake.winsock.hold = true;
  await client.send(new Uint8Array([1]), peer.addr);
  const waiting = client.send(new Uint8Array([2]), peer.addr);
  await Promise.resolve(); // the deferred send is committed
  // The queue fails on the dequeue that would have freed the slot.
  fake.winsock.corruptNextDequeue = true;
  fake.winsock.hold = false;
  fake.winsock.run();
  await assert.rejects(within(5000, client.receive(), "receive"), RegioError, "receiving stopped");
  await assert.rejects(within(5000, waiting, "the waiting send"), RegioError);
  assert.throws(() => client.send(new Uint8Array([3]), peer.addr), RegioError);
  await assert.rejects(client.acquire(), RegioError);
  assert.throws(() => client.tryAcquire(), RegioError);
});

test("buffer sizes: setsockopt(SOL_SOCKET, SO_RCVBUF / SO_SNDBUF) after WSASocketW, before bind", async (fake) => {
  {
    await using _plain = rio.bind({ port: 0, slots: 4, slotSize: 64 });
  }
  // No size option: the OS defaults are left alone; the one setsockopt is IP_RECVECN (ECN).
  assert.equal(fake.base.log.count("setsockopt"), 1, "only IP_RECVECN");
  fake.base.log.clear();
  {
    await using _sized = rio.bind({
      port: 0,
      slots: 4,
      slotSize: 64,
      receiveBufferSize: 4 << 20,
      sendBufferSize: 1 << 20,
    });
    assert.deepEqual(fake.base.log.only("WSASocketW", "setsockopt", "bind"), [
      "WSASocketW", // this session's own table ioctl (the table is fetched per session)
      "WSASocketW",
      "setsockopt",
      "setsockopt",
      "setsockopt", // IP_RECVECN, after the sizes
      "bind",
    ]);
  }
  // Rio.open's own probe sockets get nothing; the UDP socket gets both, before bind.
  const set = fake.winsock.socketOptions().filter((o) => Object.keys(o).length > 1);
  assert.deepEqual(set, [{ rcvbuf: 4 << 20, sndbuf: 1 << 20, afterBind: [] }]);
});

Deno.test("udp (RIO fake): a failing setsockopt is a WinsockError naming it; nothing is left open", () => {
  using fake = installFakeWindows({ winsock: { setsockoptError: 10055 } }); // WSAENOBUFS
  assert.throws(
    () => rio.bind({ port: 0, slots: 4, slotSize: 64, sendBufferSize: 1 << 20 }),
    (e) => e instanceof WinsockError && e.codeName === "WSAENOBUFS" && /SO_SNDBUF/.test(e.message),
  );
  assert.equal(fake.base.log.count("bind"), 0, "not bound");
  assertRioClean(fake);
});

test("dual-stack (ipv6Only false, the default): IPV6_V6ONLY = 0 set before bind; an IPv4 client is echoed", async (fake) => {
  await using server = rio.bind({ hostname: "::", port: 0, slots: 4, slotSize: 64 });
  await using client = rio.bind({ hostname: "127.0.0.1", port: 0, slots: 4, slotSize: 64 });
  // Windows defaults to IPv6-only; regio sets the option either way (IPPROTO_IPV6 41, IPV6_V6ONLY 27).
  const set = fake.winsock.socketOptions().filter((o) => o.v6only !== undefined);
  assert.deepEqual(set, [{ v6only: 0, afterBind: [] }], "once, on the IPv6 socket, before bind");
  await client.send(new Uint8Array([4, 6]), { hostname: "127.0.0.1", port: server.addr.port });
  const [d] = await server.receive({ timeoutMs: 1000 });
  assert.ok(d, "the IPv4 datagram arrived on the IPv6 socket");
  assert.deepEqual(d.remote, { hostname: "::ffff:127.0.0.1", port: client.addr.port });
  server.reply(d);
  const [echo] = await client.receive({ timeoutMs: 1000 });
  assert.deepEqual(echo.data, new Uint8Array([4, 6]));
  assert.deepEqual(echo.remote, { hostname: "127.0.0.1", port: server.addr.port });
  await server.send(new Uint8Array([7]), { hostname: "::ffff:127.0.0.1", port: client.addr.port });
  const [sent] = await client.receive({ timeoutMs: 1000 });
  assert.deepEqual(sent.data, new Uint8Array([7]));
  assert.equal(server.stats.sendErrors, 0);
});

test("ipv6Only true: IPV6_V6ONLY = 1; an IPv4 client is not received", async (fake) => {
  await using server = rio.bind({
    hostname: "::",
    port: 0,
    slots: 4,
    slotSize: 64,
    ipv6Only: true,
  });
  await using client = rio.bind({ hostname: "127.0.0.1", port: 0, slots: 4, slotSize: 64 });
  const set = fake.winsock.socketOptions().filter((o) => o.v6only !== undefined);
  assert.deepEqual(set, [{ v6only: 1, afterBind: [] }]);
  await client.send(new Uint8Array([1]), { hostname: "127.0.0.1", port: server.addr.port });
  assert.deepEqual(await server.receive({ timeoutMs: 50 }), [], "nothing arrives over IPv4");
  await using v4 = rio.bind({ hostname: "127.0.0.1", port: server.addr.port, slots: 4 });
  assert.equal(v4.addr.port, server.addr.port, "IPv4's port stays free");
});
