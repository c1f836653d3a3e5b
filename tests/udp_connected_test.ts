// Connected UDP and port sharing on the real kernel (Linux): a connected
// socket sends without an address, ignores third parties, and surfaces the
// peer's ICMP port unreachable as a typed error, then keeps working; two
// sockets bound with reusePort share one port and 64 flows between them.

import assert from "node:assert/strict";
import { ErrnoError, UdpSocket } from "../mod.ts";
import { ignore, within } from "./linux_util.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = UdpSocket.bind({ slots: 1, sendSlots: 1 });
  const port = s.addr.port;
  await s.close();
  return port;
}

Deno.test({
  name: "udp connected: sends need no address and only the peer's datagrams arrive",
  ignore,
  async fn(): Promise<void> {
    await using server = UdpSocket.bind({ slots: 8, sendSlots: 8 });
    await using third = UdpSocket.bind({ slots: 1, sendSlots: 8 });
    await using client = UdpSocket.connect(server.addr, { hostname: "127.0.0.1", slots: 8 });
    assert.deepEqual(client.peer, server.addr);
    await client.send(enc.encode("hello"));
    const [got] = await within(2000, server.receive(), "server receive");
    assert.equal(dec.decode(got.data), "hello");
    assert.deepEqual(got.remote, client.addr);
    // The third party's datagrams come first; the kernel filters them out.
    for (let i = 0; i < 5; i++) await third.send(enc.encode("noise"), client.addr);
    await new Promise((r) => setTimeout(r, 20));
    server.reply(got);
    const batch = await within(2000, client.receive(), "client receive");
    assert.deepEqual(batch.map((d) => dec.decode(d.data)), ["hello"]);
    assert.deepEqual(batch[0].remote, server.addr);
    assert.deepEqual(await client.receive({ timeoutMs: 50 }), []);
    // Another destination than the peer is refused before the kernel.
    assert.throws(() => client.send(enc.encode("x"), third.addr), TypeError);
    // The peer itself is accepted as the destination; an unconnected socket needs one.
    await client.send(enc.encode("again"), server.addr);
    assert.equal(dec.decode((await within(2000, server.receive(), "again"))[0].data), "again");
    assert.throws(() => server.send(enc.encode("x")), /not connected/);
  },
});

Deno.test({
  name: "udp connected: a closed peer port gives ECONNREFUSED on receive, and the socket goes on",
  ignore,
  async fn(): Promise<void> {
    const port = await closedPort();
    await using client = UdpSocket.connect({ hostname: "127.0.0.1", port }, { slots: 4 });
    await client.send(enc.encode("anyone?"));
    await assert.rejects(
      within(2000, client.receive(), "receive"),
      (e: unknown) => e instanceof ErrnoError && e.codeName === "ECONNREFUSED",
    );
    // Reported once: the next receive waits as usual.
    assert.deepEqual(await client.receive({ timeoutMs: 30 }), []);
    // A pending receive is rejected when the error arrives.
    const pending = client.receive();
    await client.send(enc.encode("still?"));
    await assert.rejects(
      within(2000, pending, "pending receive"),
      (e: unknown) => e instanceof ErrnoError && e.codeName === "ECONNREFUSED",
    );
    assert.ok(client.stats.receiveErrors + client.stats.sendErrors >= 2);
    // A server appears on that port: the same socket now gets its answers.
    await using server = UdpSocket.bind({ port, slots: 4 });
    await client.send(enc.encode("ping"));
    const [ping] = await within(2000, server.receive(), "server");
    server.reply(ping);
    const [pong] = await within(2000, client.receive(), "pong");
    assert.equal(dec.decode(pong.data), "ping");
  },
});

Deno.test({
  name: "udp connected: checks the peer before anything opens",
  ignore,
  fn(): void {
    assert.throws(() => UdpSocket.connect({ hostname: "localhost", port: 9 }), TypeError);
    assert.throws(() => UdpSocket.connect({ hostname: "127.0.0.1", port: 0 }), RangeError);
    assert.throws(
      () => UdpSocket.connect({ hostname: "::1", port: 9 }, { hostname: "127.0.0.1" }),
      /cannot connect/,
    );
  },
});

/** Sends `perFlow` datagrams from each of `flows` client sockets (distinct source ports). */
async function flood(
  clients: UdpSocket[],
  to: { hostname: string; port: number },
  perFlow: number,
  tag: number,
): Promise<void> {
  for (let i = 0; i < perFlow; i++) {
    for (let f = 0; f < clients.length; f++) {
      await clients[f].send(enc.encode(`${tag}:${f}:${i}`), to);
    }
    // Let the servers' rings reap between rounds (one JS thread drives all of them).
    await new Promise((r) => setTimeout(r, 1));
  }
}

async function drain(
  socket: UdpSocket,
  into: Set<string>,
  until: () => boolean,
): Promise<number> {
  let n = 0;
  while (!until()) {
    const batch = await socket.receive({ timeoutMs: 200 });
    if (batch.length === 0) break;
    for (const d of batch) {
      into.add(dec.decode(d.data));
      n++;
    }
  }
  return n;
}

Deno.test({
  name: "udp reusePort: two sockets share a port, 64 flows reach both, nothing is lost",
  ignore,
  async fn(): Promise<void> {
    const FLOWS = 64, PER_FLOW = 8, TOTAL = FLOWS * PER_FLOW;
    const a = UdpSocket.bind({ reusePort: true, slots: 1024 });
    await using b = UdpSocket.bind({ port: a.addr.port, reusePort: true, slots: 1024 });
    const clients: UdpSocket[] = [];
    try {
      for (let f = 0; f < FLOWS; f++) {
        clients.push(UdpSocket.bind({ slots: 1, sendSlots: 4, slotSize: 64 }));
      }
      // Without reusePort the port stays taken, with today's message.
      assert.throws(
        () => UdpSocket.bind({ port: a.addr.port }),
        (e: unknown) =>
          e instanceof ErrnoError && e.codeName === "EADDRINUSE" &&
          e.message.includes(`bind(127.0.0.1:${a.addr.port})`),
      );
      const seen = new Set<string>();
      await flood(clients, a.addr, PER_FLOW, 1);
      const [na, nb] = await within(
        5000,
        Promise.all([
          drain(a, seen, () => seen.size >= TOTAL),
          drain(b, seen, () => seen.size >= TOTAL),
        ]),
        "both sockets",
      );
      assert.equal(seen.size, TOTAL, `received ${seen.size} of ${TOTAL}`);
      assert.equal(na + nb, TOTAL);
      assert.ok(na > 0 && nb > 0, `one socket got everything (${na} / ${nb})`);
      // Closing one leaves the other serving every flow.
      await a.close();
      const after = new Set<string>();
      await flood(clients, b.addr, PER_FLOW, 2);
      await within(5000, drain(b, after, () => after.size >= TOTAL), "b alone");
      assert.equal(after.size, TOTAL);
    } finally {
      await a.close();
      await Promise.all(clients.map((c) => c.close()));
    }
  },
});

Deno.test({
  name: "udp reusePort: must be a boolean",
  ignore,
  fn(): void {
    assert.throws(() => UdpSocket.bind({ reusePort: 1 as unknown as boolean }), TypeError);
  },
});
