// DESIGN invariant 5 at the Linux entry point: a DatagramEndpoint whose
// onMessage replies to a socket that echoes straight back never leaves the
// microtask queue by itself. Each reply's SQE is submitted in a microtask,
// and with DEFER_TASKRUN that io_uring_enter completes the send and the next
// receive inline, whose onMessage replies again. Without the shared budget a
// 0 ms timer waited for the whole ping-pong (2,002 ms of CPU, 170,518
// datagrams). The ping-pong stops by itself after STOP_MS so a regression
// fails instead of hanging. CPU time of the JS thread, as in
// event_loop_test.ts, so a loaded machine does not count.

import assert from "node:assert/strict";
import { encodeSockaddr, NativeRegion, SocketFd, Uring } from "../src/linux/mod.ts";
import { ignore } from "./linux_util.ts";
import { threadMs } from "./thread_clock.ts";

const BOUND_MS = 50; // event_loop_test.ts's bound
const STOP_MS = 2000;

Deno.test({
  name: "event loop: a DatagramEndpoint ping-pong with itself leaves a 0 ms timer its turn",
  ignore,
  async fn(): Promise<void> {
    await using ring = Uring.create();
    using sock = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    await using files = ring.registerFiles([sock.fd]);
    const count = 64, size = 256;
    using region = NativeRegion.allocate(count * size + 4096);
    await using buffers = ring.registerBufferRing({ region, count, bufferSize: size });
    const at = count * size; // the first datagram's address and payload, after the buffers
    const addrLength = encodeSockaddr(sock.localAddress, region.view, at);
    let received = 0;
    let running = true;
    const start = threadMs();
    await using endpoint = ring.openDatagramEndpoint({
      files,
      index: 0,
      buffers,
      onMessage: (m) => {
        received++;
        if (running && threadMs() - start < STOP_MS) endpoint.reply(m.bufferId, m.length);
        else {
          running = false;
          endpoint.release(m.bufferId);
        }
      },
    });
    endpoint.start();
    let firedAt = -1;
    let receivedThen = 0;
    const timer = setTimeout(() => {
      firedAt = threadMs() - start;
      receivedThen = received;
      running = false; // the ping-pong ends with the datagram in flight
    }, 0);
    endpoint.sendTo(at + 64, 8, at, addrLength);
    while (running) await new Promise((r) => setTimeout(r, 5));
    clearTimeout(timer);
    assert.ok(firedAt >= 0, "the timer never fired");
    assert.ok(receivedThen > 0, "the ping-pong had not started when the timer fired");
    assert.ok(
      firedAt <= BOUND_MS,
      `the timer fired after ${firedAt.toFixed(1)} ms of CPU (${receivedThen} datagrams)`,
    );
  },
});
