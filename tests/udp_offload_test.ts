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
import { assertPoolFull, echo } from "./udp_cases.ts";

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

/** `count` payloads of `size` bytes (the last `last` bytes), each its own pattern. */
function train(count: number, size: number, last: number, seed: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => pattern(i === count - 1 ? last : size, seed + i));
}

interface Got {
  data: Uint8Array;
  offset: number;
  ecn: number;
  truncated: boolean;
}

/** Receives until `n` datagrams arrived (copied, in arrival order). */
async function take(socket: UdpSocket, n: number, max?: number): Promise<Got[]> {
  const got: Got[] = [];
  await within(
    5000,
    (async () => {
      while (got.length < n) {
        for (const d of await socket.receive({ timeoutMs: 50, max })) {
          got.push({ data: d.data.slice(), offset: d.offset, ecn: d.ecn, truncated: d.truncated });
        }
      }
    })(),
    `receiving ${n} datagrams (got ${got.length})`,
  );
  return got;
}

function assertSame(got: Got[], sent: Uint8Array[]): void {
  assert.equal(got.length, sent.length, "datagram count");
  for (let i = 0; i < sent.length; i++) assert.deepEqual(got[i].data, sent[i], `datagram ${i}`);
}

for (const [family, host] of [["IPv4", "127.0.0.1"], ["IPv6", "::1"]] as const) {
  test(`${family}: a coalesced receive splits into exactly the datagrams sent`, async () => {
    await using server = UdpSocket.bind({ hostname: host, slots: 8, slotSize: 1500 });
    await using client = UdpSocket.bind({ hostname: host, slots: 8, slotSize: 16384 });
    assert.equal(server.offloads.gro, true, "GRO is on by default");
    const sent = train(40, 300, 123, 1); // 11,823 bytes: one train, one super-packet
    await client.sendMany(server.addr, sent);
    const got = await take(server, sent.length);
    assertSame(got, sent);
    got.forEach((g, i) => assert.equal(g.offset, i * 300, "each datagram views its own segment"));
    assert.equal(server.stats.datagramsIn, 40);
    assert.equal(server.stats.receives, 1, "one kernel receive");
    assert.equal(server.stats.bytesIn, 39 * 300 + 123);
    assert.equal(client.stats.trains, 1);
    assert.equal(client.stats.sends, 1);
    assert.equal(client.stats.datagramsOut, 40);
    await assertPoolFull(server);
    await assertPoolFull(client);
  });

  test(`${family}: echoed trains arrive as sent (replies leave as one segmented send)`, async () => {
    await using server = UdpSocket.bind({ hostname: host, slots: 8, slotSize: 1500 });
    await using client = UdpSocket.bind({ hostname: host, slots: 8, slotSize: 65535 });
    const done = echo(server);
    const sent = [...train(64, 500, 500, 7), ...train(10, 64, 20, 100)];
    await client.sendMany(server.addr, sent); // two trains (the second shorter segments)
    const got = await take(client, sent.length);
    assertSame(got, sent);
    await assertPoolFull(server, true);
    assert.equal(server.stats.datagramsOut, sent.length);
    assert.equal(server.stats.trains, 2, "each coalesced receive went back as one train");
    assert.equal(server.stats.sends, 2);
    assert.equal(client.stats.receives, 2);
    await server.close();
    await done;
    await assertPoolFull(client);
  });

  test(`${family}: ECN round trip of all four codepoints`, async () => {
    await using server = UdpSocket.bind({ hostname: host, slots: 8 });
    await using client = UdpSocket.bind({ hostname: host, slots: 8 });
    for (const ecn of [0, 1, 2, 3]) {
      await client.send(pattern(10, ecn), server.addr, { ecn });
      const [d] = await server.receive({ timeoutMs: 2000 });
      assert.equal(d.ecn, ecn, `received codepoint ${ecn}`);
      server.reply(d, { ecn: 3 - ecn });
      const [back] = await client.receive({ timeoutMs: 2000 });
      assert.equal(back.ecn, 3 - ecn, `reply marked ${3 - ecn}`);
      assert.deepEqual(back.data, pattern(10, ecn));
    }
    await client.sendMany(server.addr, train(3, 50, 50, 9), { ecn: 1 });
    const got = await take(server, 3);
    assert.deepEqual(got.map((g) => g.ecn), [1, 1, 1], "a train carries its mark");
    // The length form still works, and an options object with a length.
    await client.send(pattern(30, 1), server.addr, 5);
    await client.send(pattern(30, 1), server.addr, { length: 6, ecn: 2 });
    const two = await take(server, 2);
    assert.deepEqual(two.map((g) => [g.data.length, g.ecn]), [[5, 0], [6, 2]]);
    assert.throws(() => client.send(pattern(1, 1), server.addr, { ecn: 4 }), RangeError);
    await assertPoolFull(server);
    await assertPoolFull(client);
  });

  test(`${family}: a peer sending plain datagrams to a coalescing socket`, async () => {
    await using server = UdpSocket.bind({ hostname: host, slots: 32, slotSize: 512 });
    await using client = UdpSocket.bind({ hostname: host, slots: 32 });
    const sent = train(20, 200, 200, 40);
    for (const p of sent) await client.send(p, server.addr);
    const got = await take(server, 20);
    assertSame(got, sent);
    assert.ok(got.every((g) => g.offset === 0 && !g.truncated));
    assert.equal(server.stats.receives, server.stats.datagramsIn, "loopback does not coalesce");
    await assertPoolFull(server);
    await assertPoolFull(client);
  });
}

test("IPv4: a wildcard-bound socket reports 127.0.0.2 as the local address and replies from it", async () => {
  await using server = UdpSocket.bind({ hostname: "0.0.0.0", slots: 8 });
  await using client = UdpSocket.bind({ hostname: "127.0.0.1", slots: 8 });
  assert.equal(server.offloads.local, true);
  const to = { hostname: "127.0.0.2", port: server.addr.port };
  await client.send(pattern(20, 3), to);
  const [d] = await server.receive({ timeoutMs: 2000 });
  assert.deepEqual(d.local, to);
  assert.deepEqual(d.remote, client.addr);
  server.reply(d);
  const [back] = await client.receive({ timeoutMs: 2000 });
  assert.deepEqual(back.remote, to, "the reply comes from the address the client used");
  // A train to 127.0.0.2 is echoed from 127.0.0.2 too.
  const done = echo(server);
  const sent = train(8, 100, 40, 60);
  await client.sendMany(to, sent);
  const got: UdpDatagram[][] = [];
  let n = 0;
  await within(
    5000,
    (async () => {
      while (n < 8) {
        const batch = await client.receive({ timeoutMs: 50 });
        for (const b of batch) assert.deepEqual(b.remote, to);
        n += batch.length;
        got.push(batch);
      }
    })(),
    "the echoed train",
  );
  await assertPoolFull(server, true);
  await server.close();
  await done;
  await assertPoolFull(client);
});

test("IPv6: a wildcard-bound socket reports ::1 as the local address and replies from it", async () => {
  await using server = UdpSocket.bind({ hostname: "::", slots: 8 });
  await using client = UdpSocket.bind({ hostname: "::1", slots: 8 });
  const to = { hostname: "::1", port: server.addr.port };
  await client.send(pattern(20, 3), to);
  const [d] = await server.receive({ timeoutMs: 2000 });
  assert.deepEqual(d.local, to);
  server.reply(d);
  const [back] = await client.receive({ timeoutMs: 2000 });
  assert.deepEqual(back.remote, to);
  assert.deepEqual(back.data, pattern(20, 3));
  await assertPoolFull(server);
  await assertPoolFull(client);
});

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
  assertSame(await take(client, sent.length), sent);
  await assertPoolFull(server, true);
  assert.equal(server.stats.segmentation, false, "segmentation is off");
  assert.equal(server.stats.segmentationFallbacks, 1, "one refused train");
  assert.equal(server.stats.sendErrors, 0);
  assert.equal(server.stats.datagramsOut, 30);
  assert.equal(server.stats.sends, 30, "then one send per datagram");
  // Later trains go out one by one from the start, sendMany too.
  const more = train(5, 100, 100, 90);
  await client.sendMany(server.addr, more);
  assertSame(await take(client, 5), more);
  await server.sendMany(client.addr, more);
  assertSame(await take(client, 5), more);
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
  assertSame(await take(client, sent.length), sent);
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
  const got = await take(server, 6);
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
  assertSame(await take(server, 6), sent);
  assert.equal(server.stats.receives, 6, "the kernel re-segmented the train");
  assert.throws(() => UdpSocket.bind({ gro: 1 as unknown as boolean }), TypeError);
  const u = support().udp;
  for (const o of [u.gro, u.gso, u.ecn, u.localAddress]) {
    assert.deepEqual([o.available, o.on], [true, true], o.detail);
  }
  await assertPoolFull(server);
  await assertPoolFull(client);
});
