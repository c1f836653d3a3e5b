// examples/udp_echo.ts's summaries report the kernel's drops for its
// socket: the JSON summary equals /proc/net/udp's drops column read while
// the server still ran (after a burst it could not keep up with), and the
// text summary names the count too. Neither stdout is a terminal here.

import assert from "node:assert/strict";
import { UdpSocket } from "../mod.ts";
import { ignore, procDrops, within } from "./linux_util.ts";

const EXAMPLE = new URL("../examples/udp_echo.ts", import.meta.url).pathname;

/** /proc/net/udp's drops for the server's socket (it must be there). */
function serverDrops(port: number): number {
  const drops = procDrops(port);
  if (drops === null) throw new Error(`no socket on port ${port} in /proc/net/udp`);
  return drops;
}

/** Starts udp_echo with `args`; returns its first line, then (after `between`) its last line once SIGTERM'd. */
async function session(
  args: string[],
  between: (first: string) => Promise<void>,
): Promise<{ first: string; last: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", EXAMPLE, "--port", "0", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  try {
    while (!text.includes("\n")) {
      const { value, done } = await within(30_000, reader.read(), "the listening line");
      if (done) throw new Error(`udp_echo ended early: ${await stderr}`);
      text += value;
    }
    const first = text.slice(0, text.indexOf("\n"));
    await between(first);
    child.kill("SIGTERM");
    for (;;) {
      const { value, done } = await within(10_000, reader.read(), "the summary");
      if (done) break;
      text += value;
    }
    const status = await within(10_000, child.status, "udp_echo exiting");
    assert.equal(status.code, 0, await stderr);
    const lines = text.trim().split("\n");
    return { first, last: lines[lines.length - 1] };
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    await reader.cancel().catch(() => {});
    await stderr;
  }
}

Deno.test({
  name: "udp_echo example: the --json summary's kernelDrops is the kernel's count for the socket",
  ignore,
  async fn(): Promise<void> {
    let expected = -1;
    const { last } = await session(
      ["--json", "--slots", "1", "--slot-size", "64", "--rcvbuf", "2048"],
      async (first) => {
        const port = JSON.parse(first).port as number;
        await using client = UdpSocket.bind({ port: 0, slots: 64, slotSize: 64, sendSlots: 64 });
        const server = { hostname: "127.0.0.1", port };
        for (let round = 0; round < 20 && serverDrops(port) === 0; round++) {
          await Promise.all(
            Array.from({ length: 500 }, () => client.send(new Uint8Array(64), server)),
          );
        }
        await new Promise((r) => setTimeout(r, 100)); // the server drains what it has
        expected = serverDrops(port);
      },
    );
    const summary = JSON.parse(last);
    assert.equal(summary.event, "summary");
    assert.ok(expected > 0, "the burst overflowed the server's socket");
    assert.equal(summary.kernelDrops, expected);
  },
});

Deno.test({
  name: "udp_echo example: the text summary reports kernel drops",
  ignore,
  async fn(): Promise<void> {
    const { last } = await session(["--quiet"], () => Promise.resolve());
    assert.match(last, /^udp_echo: .*\b0 kernel drops\b/);
  },
});
