// UdpSocket on the real kernel (Linux, io_uring): the shared cases of
// tests/udp_cases.ts, each checked for leaked fds afterwards.

import assert from "node:assert/strict";
import { ErrnoError, UdpSocket } from "../mod.ts";
import { fdCount, ignore } from "./linux_util.ts";
import * as cases from "./udp_cases.ts";

const linux: cases.Harness = {
  bind: (options) => UdpSocket.bind(options),
  bulk: { count: 100_000, window: 64 },
  isAddressInUse: (e) => e instanceof ErrnoError && e.codeName === "EADDRINUSE",
  // Broadcast without SO_BROADCAST: refused by the kernel (EACCES), no packet leaves.
  rejectedSend: {
    to: { hostname: "255.255.255.255", port: 9 },
    is: (e) => e instanceof ErrnoError && e.codeName === "EACCES",
  },
};

/** A test that also checks no fd (socket, ring, eventfd) is left open. */
function test(name: string, fn: () => void | Promise<void>): void {
  Deno.test({
    name: `udp (io_uring): ${name}`,
    ignore,
    async fn(): Promise<void> {
      const fds = fdCount();
      await fn();
      assert.equal(fdCount(), fds, "every fd closed");
    },
  });
}

test("IPv4 loopback round trip; echoes from the server's slots; accounting back to full", () =>
  cases.roundTrip(linux, "127.0.0.1"));
test("IPv6 loopback round trip", () => cases.roundTrip(linux, "::1"));
test("truncation is flagged and counted; zero-length datagrams are echoed", () =>
  cases.truncationAndEmpty(linux));
test("100,000 datagrams at window 64: zero loss, every byte checked", () => cases.bulk(linux));
test("dispose under load: receives and sends in flight drain, waiters reject", () =>
  cases.teardownUnderLoad(linux));
test("backpressure: send slots and receive slots run out without loss", () =>
  cases.backpressure(linux));
test("slot ownership: reply/release once, auto-release on the next batch", () =>
  cases.ownership(linux));
test("a released datagram stays invalid when its slot is held again", () =>
  cases.staleDatagram(linux));
test("send errors: bad destinations throw first, kernel refusals are counted", () =>
  cases.sendErrors(linux));
test("a peer that vanished before its replies does not disturb the server", () =>
  cases.peerVanishes(linux));
test("port in use: EADDRINUSE, nothing left open", () => cases.portInUse(linux));
test("bad options: TypeError/RangeError before anything is opened", () => cases.badOptions(linux));
