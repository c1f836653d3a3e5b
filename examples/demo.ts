/**
 * `deno task demo [seconds]`: starts the regio echo server
 * (examples/udp_echo.ts) on a free port, runs the load generator
 * (examples/udp_load.ts) against it for `seconds` (default 3), prints both
 * results, and stops the server.
 *
 * @module
 */

import { formatAddress } from "./cli.ts";

const USAGE = `Usage: deno task demo [seconds]

Starts the regio UDP echo server (examples/udp_echo.ts) on a free 127.0.0.1
port, runs the load generator (examples/udp_load.ts) against it, prints both
summaries and stops the server.

  seconds       how long the load runs (default 3; fractions allowed, at least 0.01)
  -h, --help    this text

For other sizes, windows or addresses run the two examples yourself:
  deno task echo --help
  deno task load --help`;

function usageError(message: string): never {
  console.error(`demo: ${message}\n\n${USAGE}`);
  Deno.exit(2);
}

if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
  console.log(USAGE);
  Deno.exit(0);
}
if (Deno.args.length > 1) {
  usageError(`expected at most one argument (seconds), got ${Deno.args.length}`);
}
const seconds = Deno.args[0] ?? "3";
if (!/^\d+(\.\d+)?$/.test(seconds) || Number(seconds) < 0.01) {
  usageError(`seconds must be a number ≥ 0.01, got "${seconds}"`);
}

const deno = Deno.execPath();
const here = (file: string): string => new URL(file, import.meta.url).pathname;
// 4 MiB socket buffers on both ends: at window 256 the OS defaults (about 208 KiB)
// overflow now and then, and the demo would report drops that only mean that.
const RCVBUF = String(4 * 1024 * 1024);

const server = new Deno.Command(deno, {
  args: [
    "run",
    "-A",
    here("udp_echo.ts"),
    "--port",
    "0",
    "--json",
    "--tick-ms",
    "10",
    "--rcvbuf",
    RCVBUF,
  ],
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const lines = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
let buffered = "";
async function nextJson(): Promise<Record<string, unknown> | null> {
  for (;;) {
    const i = buffered.indexOf("\n");
    if (i >= 0) {
      const line = buffered.slice(0, i);
      buffered = buffered.slice(i + 1);
      try {
        return JSON.parse(line);
      } catch {
        continue;
      }
    }
    const { value, done } = await lines.read();
    if (done) return null;
    buffered += value;
  }
}

let code = 1;
try {
  const listening = await nextJson();
  if (!listening || listening.event !== "listening") {
    throw new Error("the echo server did not start");
  }
  console.log(
    `echo server: ${
      formatAddress(String(listening.hostname), Number(listening.port))
    } (${listening.engine})`,
  );
  console.log(`load: 64-byte datagrams, window 256, ${seconds} s …`);
  const load = await new Deno.Command(deno, {
    args: [
      "run",
      "-A",
      here("udp_load.ts"),
      "--port",
      String(listening.port),
      "--duration",
      seconds,
      "--rcvbuf",
      RCVBUF,
    ],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  code = load.code;
  server.kill("SIGTERM");
  const summary = await nextJson();
  if (summary) {
    console.log(
      `echo server: ${summary.datagramsIn} in, ${summary.datagramsOut} echoed, ` +
        `${summary.truncated} truncated, ${summary.sendErrors} send errors; ` +
        `timer ${summary.ticks}/${summary.expectedTicks} ticks (event loop free)`,
    );
  }
} finally {
  try {
    server.kill("SIGTERM");
  } catch { /* already exited */ }
  await server.status;
  await lines.cancel().catch(() => {});
}
Deno.exit(code);
