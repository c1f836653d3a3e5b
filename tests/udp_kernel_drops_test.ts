// The socket's kernel drop count (stats.kernelDrops) against the kernel's own
// figure: /proc/net/udp's drops column for the socket, read here
// independently of the library, on a socket overflowed on purpose.

import assert from "node:assert/strict";
import { UdpSocket } from "../mod.ts";
import { bindUdpWith } from "../src/udp/socket.ts";
import { openWindowsBackend } from "../src/udp/windows.ts";
import { installFakeWindows } from "./fakes/windows.ts";
import { ignore, procDrops, within } from "./linux_util.ts";

Deno.test({
  name: "udp (io_uring): stats.kernelDrops is the kernel's drop count, also after close",
  ignore,
  async fn(): Promise<void> {
    // Tiny: 2 receive slots, a 4 KiB receive buffer, and nobody reading.
    const server = UdpSocket.bind({ port: 0, slots: 2, slotSize: 64, receiveBufferSize: 4096 });
    const port = server.addr.port;
    try {
      assert.equal(server.stats.kernelDrops, 0, "nothing dropped yet");
      await using client = UdpSocket.bind({ port: 0, slots: 1, slotSize: 64, sendSlots: 16 });
      for (let i = 0; i < 300; i++) await client.send(new Uint8Array(64), server.addr);
      // The burst is in the kernel's hands once the sends resolved; give softirq a moment.
      await within(
        5000,
        (async () => {
          while ((procDrops(port) ?? 0) === 0) await new Promise((r) => setTimeout(r, 10));
        })(),
        "drops in /proc/net/udp",
      );
      await new Promise((r) => setTimeout(r, 50));
      const kernel = procDrops(port)!;
      assert.ok(kernel > 0, "the socket overflowed");
      assert.equal(server.stats.kernelDrops, kernel);
      await server.close();
      assert.equal(procDrops(port), null, "the socket is gone from /proc");
      assert.equal(server.stats.kernelDrops, kernel, "the last count survives close");
    } finally {
      await server.close();
    }
  },
});

Deno.test("udp (RIO fake): stats.kernelDrops is null (Winsock has no per-socket drop count)", async () => {
  using _fake = installFakeWindows();
  await using s = bindUdpWith(openWindowsBackend, { port: 0, slots: 4, slotSize: 64 });
  assert.equal(s.stats.kernelDrops, null);
});
