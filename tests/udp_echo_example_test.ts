// examples/udp_echo.ts as a user runs it: --help, bad flags (exit 2), a
// port in use (one line, exit 1), and a real session: echoes from the
// server, the oversized datagram dropped, and the JSON summary's counters
// after SIGTERM (exit 0).

import assert from "node:assert/strict";
import { UdpSocket } from "../mod.ts";
import { ignore, pattern, within } from "./linux_util.ts";
import { runLoad } from "../examples/udp_load.ts";

const EXAMPLE = new URL("../examples/udp_echo.ts", import.meta.url).pathname;

function command(args: string[]): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", EXAMPLE, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** A running udp_echo: its stdout line by line, its stderr once it ends. */
interface Server {
  readonly child: Deno.ChildProcess;
  readonly stderr: Promise<string>;
  /** The next line of stdout (throws, with stderr, when it ends first). */
  nextLine(): Promise<string>;
  /** Kills it if it still runs, then waits for it and its output. */
  stop(): Promise<void>;
}

function spawn(args: string[]): Server {
  const child = command(args).spawn();
  const stderr = new Response(child.stderr).text();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  return {
    child,
    stderr,
    async nextLine(): Promise<string> {
      while (!buffered.includes("\n")) {
        const { value, done } = await lines.read();
        if (done) throw new Error(`udp_echo ended early; stderr: ${await stderr}`);
        buffered += value;
      }
      const at = buffered.indexOf("\n");
      const line = buffered.slice(0, at);
      buffered = buffered.slice(at + 1);
      return line;
    },
    async stop(): Promise<void> {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await child.status;
      await lines.cancel();
      await stderr;
    },
  };
}

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await within(30_000, command(args).output(), `udp_echo ${args.join(" ")}`);
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

Deno.test({
  name: "udp_echo example: --help exits 0; a bad flag or value is the usage and exit 2",
  ignore,
  async fn(): Promise<void> {
    const help = await run(["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--slot-size <n>/);
    assert.match(help.stdout, /--rcvbuf <bytes>/);
    for (
      const args of [
        ["--nope"],
        ["--port", "x"],
        ["--slots", "0"],
        ["--host", "localhost"],
        ["--rcvbuf", "0"],
        ["--sndbuf", "-1"],
      ]
    ) {
      const r = await run(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /^udp_echo: /);
      assert.match(r.stderr, /Usage:/);
      assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
    }
  },
});

Deno.test({
  name: "udp_echo example: a port in use is one line and exit 1",
  ignore,
  async fn(): Promise<void> {
    await using taken = UdpSocket.bind({ port: 0, slots: 1, sendSlots: 1 });
    const r = await run(["--port", String(taken.addr.port)]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /already in use \(EADDRINUSE\)/);
  },
});

Deno.test({
  name: "udp_echo example: echoes, drops what a slot cannot hold, and sums up on SIGTERM",
  ignore,
  async fn(): Promise<void> {
    const echo = spawn([
      "--port",
      "0",
      "--json",
      "--slot-size",
      "64",
      "--slots",
      "8",
      "--rcvbuf",
      "262144",
    ]);
    const { child, stderr, nextLine } = echo;
    try {
      const listening = JSON.parse(await within(30_000, nextLine(), "the listening line"));
      assert.equal(listening.event, "listening");
      assert.equal(listening.engine, "io_uring");
      const server = { hostname: "127.0.0.1", port: listening.port as number };
      {
        await using client = UdpSocket.bind({ port: 0, slots: 8, slotSize: 128, sendSlots: 8 });
        const sizes = [1, 64, 0];
        for (const [i, n] of sizes.entries()) await client.send(pattern(n, i + 1), server);
        await client.send(pattern(65, 9), server); // one byte too many: dropped
        const got: number[] = [];
        await within(
          5000,
          (async () => {
            while (got.length < sizes.length) {
              for (const d of await client.receive({ timeoutMs: 50 })) {
                const i = sizes.indexOf(d.length);
                assert.ok(i >= 0, `an echo of ${d.length} bytes`);
                assert.deepEqual(d.data, pattern(d.length, i + 1));
                got.push(d.length);
              }
            }
          })(),
          "the echoes",
        );
        assert.deepEqual(got.sort((a, b) => a - b), [0, 1, 64]);
        assert.deepEqual(await client.receive({ timeoutMs: 100 }), [], "nothing for the long one");
      }
      child.kill("SIGTERM");
      const summary = JSON.parse(await within(10_000, nextLine(), "the summary line"));
      assert.equal(summary.event, "summary");
      assert.equal(summary.datagramsIn, 4);
      assert.equal(summary.datagramsOut, 3);
      assert.equal(summary.bytesOut, 65);
      assert.equal(summary.truncated, 1);
      assert.equal(summary.sendErrors, 0);
      const status = await within(10_000, child.status, "udp_echo exiting");
      assert.equal(status.code, 0, await stderr);
    } finally {
      await echo.stop();
    }
  },
});

Deno.test({
  name: "udp_echo example: --workers 2 shares the port, both workers echo, SIGINT stops all",
  ignore,
  async fn(): Promise<void> {
    const echo = spawn(["--port", "0", "--json", "--workers", "2", "--slots", "256"]);
    const { child, stderr, nextLine } = echo;
    try {
      const listening = JSON.parse(await within(30_000, nextLine(), "the listening line"));
      assert.equal(listening.workers, 2);
      const r = await runLoad({
        host: "127.0.0.1",
        port: listening.port,
        size: 64,
        window: 64,
        duration: 0,
        count: 4096,
        warmup: 0,
        timeoutMs: 1000,
        flows: 32,
      });
      assert.equal(r.wrong, 0);
      assert.equal(r.echoed + r.lost, 4096);
      child.kill("SIGINT");
      const summary = JSON.parse(await within(10_000, nextLine(), "the summary line"));
      assert.equal(summary.event, "summary");
      assert.equal(summary.workers.length, 2);
      const [a, b] = summary.workers;
      assert.ok(a.datagramsIn > 0 && b.datagramsIn > 0, JSON.stringify(summary.workers));
      assert.equal(summary.datagramsIn, a.datagramsIn + b.datagramsIn);
      assert.ok(summary.datagramsOut >= r.echoed);
      const status = await within(10_000, child.status, "udp_echo exiting");
      assert.equal(status.code, 0, await stderr);
    } finally {
      await echo.stop();
    }
  },
});
