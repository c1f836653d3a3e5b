// UdpSocket offloads and per-datagram metadata on the real kernel (Linux,
// loopback, IPv4 and IPv6): GRO receives split into their datagrams, reply
// trains and sendMany as segmented sends, the segmentation fallback, ECN,
// the local address of a wildcard bind, truncated super-packets. Every test
// ends with the slot accounting back to full.

import assert from "node:assert/strict";
import { support, UdpSocket } from "../mod.ts";
import type { UdpDatagram } from "../src/udp/views.ts";
import type { UdpSocketOptions } from "../src/udp/options.ts";
import { bindUdpWith } from "../src/udp/socket.ts";
import { type LinuxBackendSeams, openLinuxBackendWith } from "../src/udp/linux.ts";
import { fdCount, ignore, pattern, within } from "./linux_util.ts";
import { assertPoolFull, assertSame, collect, echo, train } from "./udp_cases.ts";
import * as cases from "./udp_offload_cases.ts";

function test(name: string, fn: () => void | Promise<void>): void {
  Deno.test({
    name: `udp offloads (io_uring): ${name}`,
    ignore,
    async fn(): Promise<void> {
      const fds = fdCount();
      await fn();
      assert.equal(fdCount(), fds, "every fd closed");
    },
  });
}

function bindWith(seams: LinuxBackendSeams, options: UdpSocketOptions): UdpSocket {
  return bindUdpWith((o) => openLinuxBackendWith(o, seams), options);
}

const linux: cases.OffloadHarness = { bind: (options) => UdpSocket.bind(options), gro: {} };

for (const [family, host] of [["IPv4", "127.0.0.1"], ["IPv6", "::1"]] as const) {
  test(`${family}: a coalesced receive splits into exactly the datagrams sent`, async () => {
    const { offloads, client } = await cases.coalescedSplit(linux, host);
    assert.equal(offloads.gro, true, "GRO is on by default");
    assert.equal(client.datagramsOut, 40);
  });

  test(`${family}: echoed trains arrive as sent (replies leave as one segmented send)`, async () => {
    await cases.echoedTrains(linux, host);
  });

  test(`${family}: ECN round trip of all four codepoints`, () =>
    cases.ecnRoundTrip(linux, host, async (server, client) => {
      // The length form still works, and an options object with a length.
      await client.send(pattern(30, 1), server.addr, 5);
      await client.send(pattern(30, 1), server.addr, { length: 6, ecn: 2 });
      const two = await collect(server, 2);
      assert.deepEqual(two.map((g) => [g.data.length, g.ecn]), [[5, 0], [6, 2]]);
      assert.throws(() => client.send(pattern(1, 1), server.addr, { ecn: 4 }), RangeError);
    }));

  test(`${family}: a peer sending plain datagrams to a coalescing socket`, async () => {
    const { server } = await cases.plainToCoalescing(linux, host);
    assert.equal(server.receives, server.datagramsIn, "loopback does not coalesce");
  });
}

test("IPv4: a wildcard-bound socket reports 127.0.0.2 as the local address and replies from it", async () => {
  const { offloads } = await cases.wildcardLocalIPv4(linux);
  assert.equal(offloads.local, true);
});

test("IPv6: a wildcard-bound socket reports ::1 as the local address and replies from it", () =>
  cases.wildcardLocalIPv6(linux));

test("a specific bind: local is the bound address, no packet info asked for", async () => {
  await using server = UdpSocket.bind({ hostname: "127.0.0.1", slots: 4 });
  await using client = UdpSocket.bind({ hostname: "127.0.0.1", slots: 4 });
  assert.equal(server.offloads.local, false);
  await client.send(pattern(5, 1), server.addr);
  const [d] = await server.receive({ timeoutMs: 2000 });
  assert.deepEqual(d.local, server.addr);
  await assertPoolFull(server);
});

test("segmentation refused at run time: one send per datagram, counted in stats", async () => {
  // No UDP checksum (SO_NO_CHECK): the kernel refuses every segmented send (EINVAL).
  await using server = bindWith({ noChecksum: true }, { slots: 8, slotSize: 1500 });
  await using client = UdpSocket.bind({ slots: 8, slotSize: 65535 });
  const done = echo(server);
  const sent = train(30, 400, 77, 5);
  await client.sendMany(server.addr, sent);
  assertSame(await collect(client, sent.length), sent);
  await assertPoolFull(server, true);
  assert.equal(server.stats.segmentation, false, "segmentation is off");
  assert.equal(server.stats.segmentationFallbacks, 1, "one refused train");
  assert.equal(server.stats.sendErrors, 0);
  assert.equal(server.stats.datagramsOut, 30);
  assert.equal(server.stats.sends, 30, "then one send per datagram");
  // Later trains go out one by one from the start, sendMany too.
  const more = train(5, 100, 100, 90);
  await client.sendMany(server.addr, more);
  assertSame(await collect(client, 5), more);
  await server.sendMany(client.addr, more);
  assertSame(await collect(client, 5), more);
  await assertPoolFull(server, true);
  assert.equal(server.stats.segmentationFallbacks, 1);
  assert.equal(server.stats.trains, 0);
  await server.close();
  await done;
  await assertPoolFull(client);
});

test("IPv6: sendMany refused segmentation at run time falls back the same way", async () => {
  // UDP_NO_CHECK6_TX makes the kernel refuse GSO; the zero checksums it then sends are
  // accepted only by a socket with UDP_NO_CHECK6_RX, so both ends take the seam. (The
  // reply path's fallback is the IPv4 test's: here the server gets plain datagrams.)
  const seam = { noChecksum: true };
  await using server = bindWith(seam, { hostname: "::1", slots: 8, slotSize: 1500 });
  await using client = bindWith(seam, { hostname: "::1", slots: 8, slotSize: 65535 });
  const done = echo(server);
  const sent = train(20, 300, 10, 70);
  await client.sendMany(server.addr, sent);
  assertSame(await collect(client, sent.length), sent);
  await assertPoolFull(server, true);
  const s = client.stats;
  assert.deepEqual([s.segmentation, s.segmentationFallbacks, s.sendErrors], [false, 1, 0]);
  assert.equal(s.sends, 20, "one send per datagram");
  assert.equal(server.stats.datagramsOut, 20);
  await server.close();
  await done;
  await assertPoolFull(client);
});

test("a super-packet larger than the buffer is truncated: whole datagrams kept, the rest counted", async () => {
  await using server = bindWith({ groRoom: 1050 }, { slots: 4, slotSize: 200 });
  await using client = UdpSocket.bind({ slots: 4, slotSize: 4096 });
  const sent = train(10, 200, 200, 11);
  await client.sendMany(server.addr, sent);
  const got = await collect(server, 6);
  assert.equal(got.length, 6);
  for (let i = 0; i < 5; i++) {
    assert.deepEqual(got[i].data, sent[i]);
    assert.equal(got[i].truncated, false);
  }
  assert.equal(got[5].truncated, true, "the datagram cut by the buffer's end");
  assert.deepEqual(got[5].data, sent[5].subarray(0, 50));
  assert.equal(server.stats.datagramsIn, 6);
  assert.equal(server.stats.truncated, 5, "one cut, four lost");
  await assertPoolFull(server);
  await assertPoolFull(client);
});

test("a coalesced receive split across batches (max), released piecewise, slot back once all done", async () => {
  await using server = UdpSocket.bind({ slots: 4, slotSize: 1500 });
  await using client = UdpSocket.bind({ slots: 4, slotSize: 8192 });
  const sent = train(10, 100, 100, 21);
  await client.sendMany(server.addr, sent);
  let batch: UdpDatagram[] = [];
  await within(
    2000,
    (async () => {
      while (batch.length === 0) batch = await server.receive({ timeoutMs: 50, max: 4 });
    })(),
    "the first batch",
  );
  assert.equal(batch.length, 4);
  assert.equal(server.pool.ready, 1, "the rest of the receive waits in its slot");
  server.release(batch[0]);
  assert.equal(batch[0].valid, false);
  assert.equal(batch[1].valid, true, "its neighbours still hold the slot");
  assert.equal(server.pool.receiving, server.receiveSlots - 1);
  const rest = await server.receive({ max: 100 }); // auto-releases the first batch
  assert.equal(batch[1].valid, false);
  assert.deepEqual(rest.map((d) => d.data[0]), sent.slice(4).map((p) => p[0]));
  assert.equal(server.pool.held, 1);
  for (const d of rest) server.release(d);
  assert.equal(server.pool.receiving, server.receiveSlots);
  await assertPoolFull(server);
});

test("gro: false receives one datagram per kernel receive; support() says what is on", async () => {
  await using server = UdpSocket.bind({ slots: 8, slotSize: 1500, gro: false });
  await using client = UdpSocket.bind({ slots: 8, slotSize: 8192 });
  assert.equal(server.offloads.gro, false);
  const sent = train(6, 300, 10, 31);
  await client.sendMany(server.addr, sent);
  assertSame(await collect(server, 6), sent);
  assert.equal(server.stats.receives, 6, "the kernel re-segmented the train");
  assert.throws(() => UdpSocket.bind({ gro: 1 as unknown as boolean }), TypeError);
  const u = support().udp;
  for (const o of [u.gro, u.gso, u.ecn, u.localAddress]) {
    assert.deepEqual([o.available, o.on], [true, true], o.detail);
  }
  await assertPoolFull(server);
  await assertPoolFull(client);
});
