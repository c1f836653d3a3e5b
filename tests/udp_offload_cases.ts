// The UdpSocket offload cases (coalesced receives, trains, ECN, the local
// address of a wildcard bind), shared by tests/udp_offload_test.ts (io_uring,
// real kernel) and tests/udp_windows_offload_test.ts (RIO through the Windows
// fake). Each case returns what its caller checks only on its own platform.

import assert from "node:assert/strict";
import type { UdpOffloads, UdpSocket } from "../src/udp/socket.ts";
import type { UdpSocketOptions } from "../src/udp/options.ts";
import type { UdpStats } from "../src/udp/slots.ts";
import { assertPoolFull, assertSame, collect, echo, type Harness, train } from "./udp_cases.ts";
import { pattern, within } from "./linux_util.ts";

/** What a platform supplies to the offload cases. */
export interface OffloadHarness extends Pick<Harness, "bind"> {
  /** Bind options that turn receive coalescing on (`{}` where it is on by default). */
  gro: Pick<UdpSocketOptions, "gro">;
}

/** Statistics of both ends as they were when the case ended. */
export interface Ended {
  server: UdpStats;
  client: UdpStats;
}

export async function coalescedSplit(
  h: OffloadHarness,
  hostname: string,
): Promise<Ended & { offloads: UdpOffloads }> {
  await using server = h.bind({ hostname, slots: 8, slotSize: 1500, ...h.gro });
  await using client = h.bind({ hostname, slots: 8, slotSize: 16384 });
  const sent = train(40, 300, 123, 1); // 11,823 bytes: one train, one receive
  await client.sendMany(server.addr, sent);
  const got = await collect(server, sent.length);
  assertSame(got, sent);
  got.forEach((g, i) => assert.equal(g.offset, i * 300, "each datagram views its own segment"));
  assert.equal(server.stats.datagramsIn, 40);
  assert.equal(server.stats.receives, 1, "one receive");
  assert.equal(server.stats.bytesIn, 39 * 300 + 123);
  assert.equal(client.stats.trains, 1);
  assert.equal(client.stats.sends, 1, "one send");
  await assertPoolFull(server);
  await assertPoolFull(client);
  return { server: server.stats, client: client.stats, offloads: server.offloads };
}

export async function echoedTrains(h: OffloadHarness, hostname: string): Promise<Ended> {
  await using server = h.bind({ hostname, slots: 8, slotSize: 1500, ...h.gro });
  await using client = h.bind({ hostname, slots: 8, slotSize: 65535, ...h.gro });
  const done = echo(server);
  const sent = [...train(64, 500, 500, 7), ...train(10, 64, 20, 100)];
  await client.sendMany(server.addr, sent); // two trains (the second shorter segments)
  const got = await collect(client, sent.length);
  assertSame(got, sent);
  await assertPoolFull(server, true);
  assert.equal(server.stats.datagramsOut, sent.length);
  assert.equal(server.stats.trains, 2, "each coalesced receive went back as one train");
  assert.equal(server.stats.sends, 2);
  assert.equal(client.stats.receives, 2);
  await server.close();
  await done;
  await assertPoolFull(client);
  return { server: server.stats, client: client.stats };
}

/** `more` runs platform-only checks on the two sockets before the pools are checked. */
export async function ecnRoundTrip(
  h: OffloadHarness,
  hostname: string,
  more?: (server: UdpSocket, client: UdpSocket) => Promise<void>,
): Promise<void> {
  await using server = h.bind({ hostname, slots: 8 });
  await using client = h.bind({ hostname, slots: 8 });
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
  const got = await collect(server, 3);
  assert.deepEqual(got.map((g) => g.ecn), [1, 1, 1], "a train carries its mark");
  await more?.(server, client);
  await assertPoolFull(server);
  await assertPoolFull(client);
}

export async function plainToCoalescing(h: OffloadHarness, hostname: string): Promise<Ended> {
  await using server = h.bind({ hostname, slots: 32, slotSize: 512, ...h.gro });
  await using client = h.bind({ hostname, slots: 32 });
  const sent = train(20, 200, 200, 40);
  for (const p of sent) await client.send(p, server.addr);
  const got = await collect(server, 20);
  assertSame(got, sent);
  assert.ok(got.every((g) => g.offset === 0 && !g.truncated));
  await assertPoolFull(server);
  await assertPoolFull(client);
  return { server: server.stats, client: client.stats };
}

export async function wildcardLocalIPv4(h: OffloadHarness): Promise<{ offloads: UdpOffloads }> {
  await using server = h.bind({ hostname: "0.0.0.0", slots: 8, ...h.gro });
  await using client = h.bind({ hostname: "127.0.0.1", slots: 8 });
  const to = { hostname: "127.0.0.2", port: server.addr.port };
  await client.send(pattern(20, 3), to);
  const [d] = await server.receive({ timeoutMs: 2000 });
  assert.deepEqual(d.local, to);
  assert.deepEqual(d.remote, client.addr);
  server.reply(d);
  const [back] = await client.receive({ timeoutMs: 2000 });
  assert.deepEqual(back.remote, to, "the reply comes from the address the client used");
  const done = echo(server);
  const sent = train(8, 100, 40, 60);
  await client.sendMany(to, sent);
  let n = 0;
  await within(
    5000,
    (async () => {
      while (n < 8) {
        const batch = await client.receive({ timeoutMs: 50 });
        for (const b of batch) assert.deepEqual(b.remote, to, "the train is echoed from it too");
        n += batch.length;
      }
    })(),
    "the echoed train",
  );
  await assertPoolFull(server, true);
  await server.close();
  await done;
  await assertPoolFull(client);
  return { offloads: server.offloads };
}

export async function wildcardLocalIPv6(h: OffloadHarness): Promise<void> {
  await using server = h.bind({ hostname: "::", slots: 8 });
  await using client = h.bind({ hostname: "::1", slots: 8 });
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
}
