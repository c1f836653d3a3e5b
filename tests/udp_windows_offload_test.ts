// UdpSocket offloads and per-datagram metadata on the RIO engine, through the
// Windows fake (tests/fakes/): the cases of tests/udp_offload_test.ts that
// apply on Windows — URO receives split into their datagrams, reply trains
// and sendMany as one USO RIO_BUF each, the segmentation fallback, ECN, the
// local address of a wildcard bind — plus what only Windows has: URO off by
// default (quinn#2092) and machines that coalesce without UDP_COALESCED_INFO.
// Every test ends with the slot accounting back to full and the fake clean
// (no violation of the RIO contract, control slices included; nothing open).

import assert from "node:assert/strict";
import { installFakeWindows } from "./fakes/windows.ts";
import type { FakeWinsockOptions } from "./fakes/fake_winsock.ts";
import { UnsupportedError } from "../src/errors.ts";
import type { UdpSocket } from "../src/udp/socket.ts";
import type { UdpSocketOptions } from "../src/udp/options.ts";
import { bindUdpWith } from "../src/udp/socket.ts";
import { openWindowsBackend } from "../src/udp/windows.ts";
import { assertPoolFull, assertSame, collect, echo, train } from "./udp_cases.ts";
import * as cases from "./udp_offload_cases.ts";
import { pattern } from "./linux_util.ts";

type Fake = ReturnType<typeof installFakeWindows>;

function bind(options: UdpSocketOptions): UdpSocket {
  return bindUdpWith(openWindowsBackend, options);
}

function test(
  name: string,
  fn: (fake: Fake) => void | Promise<void>,
  winsock: FakeWinsockOptions = {},
): void {
  Deno.test(`udp offloads (RIO fake): ${name}`, async () => {
    using fake = installFakeWindows({ winsock });
    await fn(fake);
    assert.deepEqual(fake.winsock.violations, [], "no RIO contract violation");
    assert.equal(fake.winsock.openSockets, 0, "sockets closed");
    assert.equal(fake.winsock.liveRegistrations, 0, "buffers deregistered");
    assert.equal(fake.winsock.startups, 0, "WSACleanup for every WSAStartup");
    assert.equal(fake.base.liveAllocations, 0, "memory freed");
  });
}

const rio: cases.OffloadHarness = { bind, gro: { gro: true } };

test("URO is off by default (quinn#2092); USO, ECN and the local address are on", async (fake) => {
  await using plain = bind({ hostname: "0.0.0.0", slots: 4 });
  assert.deepEqual(
    { ...plain.offloads },
    { gro: false, gso: true, ecn: true, local: true },
  );
  await using specific = bind({ slots: 4 });
  assert.equal(specific.offloads.local, false, "a specific bind: no packet info asked for");
  await using uro = bind({ slots: 4, gro: true });
  assert.equal(uro.offloads.gro, true, "bind({ gro: true }) turns URO on");
  const meta = fake.winsock.socketMetadata().filter((m) => m.recvEcn);
  assert.deepEqual(meta.map((m) => [m.pktinfo, m.maxCoalesced, m.afterBind]), [
    [true, 0, []],
    [false, 0, []],
    [false, 65535, []],
  ], "set before bind: packet info on the wildcard bind, URO only when asked for");
});

for (const [family, host] of [["IPv4", "127.0.0.1"], ["IPv6", "::1"]] as const) {
  test(`${family}: a coalesced receive splits into exactly the datagrams sent`, async (fake) => {
    await cases.coalescedSplit(rio, host);
    assert.equal(fake.winsock.segmentedSends, 1);
  });

  test(`${family}: echoed trains arrive as sent (replies leave as one USO send)`, async (fake) => {
    await cases.echoedTrains(rio, host);
    assert.equal(fake.winsock.segmentedSends, 4, "two trains each way");
  });

  test(`${family}: ECN round trip of all four codepoints`, () => cases.ecnRoundTrip(rio, host));

  test(`${family}: a peer sending plain datagrams to a coalescing socket`, async () => {
    await cases.plainToCoalescing(rio, host);
  });
}

test("IPv4: a wildcard-bound socket reports 127.0.0.2 as the local address and replies from it", async () => {
  await cases.wildcardLocalIPv4(rio);
});

test("IPv6: a wildcard-bound socket reports ::1 as the local address and replies from it", () =>
  cases.wildcardLocalIPv6(rio));

// Which status a device that cannot segment gives is UNCONFIRMED (src/udp/windows.ts):
// each one the engine takes as "refused", Winsock's and Win32's, is covered.
for (
  const [name, status] of [
    ["WSAEOPNOTSUPP", 10045],
    ["WSAEINVAL", 10022],
    ["ERROR_INVALID_PARAMETER", 87],
  ] as const
) {
  test(
    `segmentation refused at run time (${name}): one send per datagram, counted`,
    async (fake) => {
      await using server = bind({ slots: 8, slotSize: 1500 });
      await using client = bind({ slots: 8, slotSize: 65535 });
      const done = echo(server);
      const sent = train(30, 400, 77, 5);
      await client.sendMany(server.addr, sent);
      const back = await collect(client, sent.length);
      assertSame(back, sent);
      await assertPoolFull(server, true);
      assert.equal(client.stats.segmentation, false, "the client's train was refused");
      assert.equal(client.stats.segmentationFallbacks, 1);
      assert.equal(client.stats.sendErrors, 0);
      assert.equal(server.stats.segmentationFallbacks, 0, "it never had a train to refuse");
      assert.equal(server.stats.sends, 30, "30 plain datagrams, echoed one by one");
      assert.ok(fake.winsock.segmentedSends >= 1);
      // Later trains go out one by one from the start.
      const more = train(5, 100, 100, 90);
      await client.sendMany(server.addr, more);
      assertSame(await collect(client, 5), more);
      assert.equal(client.stats.segmentationFallbacks, 1);
      await server.close();
      await done;
      await assertPoolFull(client);
    },
    { refuseSegmentation: status },
  );
}

test(
  "a machine that coalesces without UDP_COALESCED_INFO (quinn#2092): one datagram, cut at slotSize and counted",
  async (fake) => {
    await using server = bind({ slots: 4, slotSize: 1000, gro: true });
    await using client = bind({ slots: 4, slotSize: 8192 });
    const sent = train(6, 600, 600, 70); // 3,600 bytes coalesced, no segment size said
    await client.sendMany(server.addr, sent);
    const got = await collect(server, 1);
    assert.equal(fake.winsock.coalescedReceives, 1);
    assert.equal(got.length, 1, "one receive, no segment info: one datagram");
    assert.equal(got[0].truncated, true, "longer than slotSize: flagged truncated");
    assert.equal(got[0].data.length, 1000, "never more than slotSize bytes handed over");
    assert.deepEqual(got[0].data, new Uint8Array([...sent[0], ...sent[1].subarray(0, 400)]));
    assert.equal(server.stats.truncated, 1, "counted");
    assert.equal(server.stats.datagramsIn, 1);
    await assertPoolFull(server);
    await assertPoolFull(client);
  },
  { uro: "silent" },
);

test(
  "a Windows without URO or ECN reception: both reported off, nothing else changes",
  async () => {
    await using server = bind({ slots: 4, slotSize: 1500, gro: true });
    await using client = bind({ slots: 4, slotSize: 8192 });
    assert.deepEqual([server.offloads.gro, server.offloads.ecn], [false, false]);
    const sent = train(5, 300, 30, 3);
    await client.sendMany(server.addr, sent);
    assertSame(await collect(server, 5), sent);
    assert.equal(server.stats.receives, 5);
    assert.throws(() => client.send(pattern(1, 1), server.addr, { ecn: 1 }), UnsupportedError);
    await assertPoolFull(server);
    await assertPoolFull(client);
  },
  { uro: "absent", noRecvEcn: true },
);

test(
  "sendMany without USO (refused earlier) still sends from one slot, one datagram at a time",
  async () => {
    await using server = bind({ slots: 16, slotSize: 1500 });
    await using client = bind({ slots: 4, slotSize: 4096, sendSlots: 1 });
    const sent = train(8, 200, 50, 12);
    await client.sendMany(server.addr, sent); // refused: falls back within the one send slot
    assertSame(await collect(server, 8), sent);
    assert.equal(client.stats.segmentationFallbacks, 1);
    await client.sendMany(server.addr, sent); // now one by one from the start
    assertSame(await collect(server, 8), sent);
    await assertPoolFull(server);
    await assertPoolFull(client);
  },
  { refuseSegmentation: 10045 },
);

Deno.test("RIO fake: control data outside the slice it was given is a violation (and refused)", async () => {
  using fake = installFakeWindows();
  const { Rio } = await import("../src/windows/rio.ts");
  {
    await using rio = Rio.open();
    await using pool = rio.createBufferPool({ slots: 2, slotSize: 64, controlSize: 64 });
    await using cq = rio.createCompletionQueue({ size: 8, notify: "poll" });
    await using a = rio.udpSocket({
      hostname: "127.0.0.1",
      port: 0,
      cq,
      maxOutstandingReceive: 1,
      maxOutstandingSend: 1,
    });
    const [s] = pool.slots;
    s.address.write(a.addr);
    const v = s.buffer.region.view;
    const at = s.buffer.offset + s.control!.offset;
    // TotalLength 32 (a base + one 24-byte cmsg), but only 16 bytes of control named.
    v.setUint32(at, 32, true);
    v.setBigUint64(at + 8, 20n, true); // cmsg_len = WSA_CMSG_LEN(4)
    v.setInt32(at + 16, 17, true); // IPPROTO_UDP
    v.setInt32(at + 20, 2, true); // UDP_SEND_MSG_SIZE
    v.setUint32(at + 24, 16, true);
    a.sendEx(s.data, s.address, "bad", { length: 8, control: s.control!, controlLength: 16 });
    const [c] = cq.dequeue();
    assert.equal(c.status, 10022, "WSAEINVAL: nothing sent");
    assert.deepEqual(fake.winsock.violations, [
      "RIOSendEx control slice: TotalLength 32 runs past the 16-byte control slice it was given",
    ]);
  }
});
