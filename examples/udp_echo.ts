/**
 * UDP echo server on regio's registered-buffer socket: every datagram is
 * received into a registered slot and echoed from that same slot (no copy
 * in JS). Datagrams longer than a slot are dropped (counted as truncated).
 * On Linux, receive coalescing (GRO) is on unless `--no-gro`: a train of
 * datagrams from one client arrives in one kernel receive and, echoed in
 * order, goes back as one segmented send (a "train").
 *
 *   deno run -A examples/udp_echo.ts [--host 127.0.0.1] [--port 9000]
 *
 * Answers any UDP client, e.g. `socat - UDP:127.0.0.1:9000` or `nc -u 127.0.0.1 9000`.
 *
 * @module
 */

import { ErrnoError, UdpSocket, WinsockError } from "../mod.ts";
import { flagError, type Flags, formatAddress, parseFlags, runMain, UsageError } from "./cli.ts";

const USAGE = `Usage: deno run -A examples/udp_echo.ts [options]

  --host <ip>        numeric IPv4/IPv6 address to bind (default 127.0.0.1)
  --port <n>         port to bind, 0 picks one (default 9000)
  --slots <n>        receive slots (default 1024); Linux rounds them up to a
                     power of two (3 becomes 4), the size of its buffer ring
  --slot-size <n>    bytes per slot; longer datagrams are dropped (default 2048)
  --rcvbuf <bytes>   the socket's receive buffer, SO_RCVBUF (default: the OS's)
  --sndbuf <bytes>   the socket's send buffer, SO_SNDBUF (default: the OS's)
  --gro / --no-gro   receive coalescing on or off (default on where supported)
  --quiet            no per-second stats line
  --json             print the start line and the final summary as JSON
  --tick-ms <n>      run a timer every n ms and report ticks seen vs expected (0: off)
  --help             this text

Stops on SIGINT/SIGTERM and prints a summary.`;

/** The flag each `UdpSocket.bind` option comes from, for error messages. */
const BIND_FLAGS = {
  hostname: "--host",
  port: "--port",
  slots: "--slots",
  slotSize: "--slot-size",
  receiveBufferSize: "--rcvbuf",
  sendBufferSize: "--sndbuf",
};

function intFlag(values: Flags, name: string, fallback: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(String(raw)) || !Number.isSafeInteger(n)) {
    throw new UsageError(`--${name} must be a non-negative integer, got "${raw}"`);
  }
  return n;
}

/** The kernel's drops for the socket, as the summaries print them (null: the OS does not count). */
function drops(n: number | null): string {
  return n === null ? "kernel drops unknown" : `${n} kernel drops`;
}

function rate(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(0);
}

async function main(): Promise<number> {
  const values = parseFlags({
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    slots: { type: "string" },
    "slot-size": { type: "string" },
    rcvbuf: { type: "string" },
    sndbuf: { type: "string" },
    gro: { type: "boolean" },
    "no-gro": { type: "boolean", default: false },
    quiet: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    "tick-ms": { type: "string" },
    help: { type: "boolean", default: false },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const port = intFlag(values, "port", 9000);
  const slots = intFlag(values, "slots", 1024);
  const slotSize = intFlag(values, "slot-size", 2048);
  const tickMs = intFlag(values, "tick-ms", 0);
  const receiveBufferSize = values.rcvbuf === undefined ? undefined : intFlag(values, "rcvbuf", 0);
  const sendBufferSize = values.sndbuf === undefined ? undefined : intFlag(values, "sndbuf", 0);
  const json = values.json === true;
  if (values.gro === true && values["no-gro"] === true) {
    throw new UsageError("--gro and --no-gro contradict each other");
  }
  const gro = values["no-gro"] !== true;
  const host = values.host as string;

  let socket: UdpSocket;
  try {
    socket = UdpSocket.bind({
      hostname: host,
      port,
      slots,
      slotSize,
      receiveBufferSize,
      sendBufferSize,
      gro,
    });
  } catch (e) {
    if (e instanceof TypeError || e instanceof RangeError) throw flagError(e, BIND_FLAGS);
    if (e instanceof ErrnoError || e instanceof WinsockError) {
      const inUse = e.codeName === "EADDRINUSE" || e.codeName === "WSAEADDRINUSE";
      console.error(
        `udp_echo: cannot bind ${formatAddress(host, port)}: ` +
          (inUse ? `the address is already in use (${e.codeName})` : e.message),
      );
      return 1;
    }
    throw e;
  }

  // Listen for signals before saying "listening": a caller may signal right after reading it.
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    socket.close().catch((e) => console.error(`udp_echo: closing failed: ${e}`));
  };
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, stop);

  const started = performance.now();
  const where = formatAddress(socket.addr.hostname, socket.addr.port);
  if (json) {
    console.log(
      JSON.stringify({
        event: "listening",
        ...socket.addr,
        engine: socket.engine,
        offloads: socket.offloads,
      }),
    );
  } else {
    const on = Object.entries(socket.offloads).filter(([, v]) => v).map(([k]) => k);
    console.log(
      `udp_echo: listening on ${where} (${socket.engine}, ${socket.receiveSlots} slots × ` +
        `${socket.slotSize} B; ${on.length ? on.join(", ") : "no offloads"})`,
    );
  }

  let ticks = 0, lastTick = performance.now(), maxTickGap = 0;
  const ticker = tickMs > 0
    ? setInterval(() => {
      const now = performance.now();
      maxTickGap = Math.max(maxTickGap, now - lastTick);
      lastTick = now;
      ticks++;
    }, tickMs)
    : undefined;

  let line: ReturnType<typeof setInterval> | undefined;
  if (!values.quiet && !json && Deno.stdout.isTerminal()) {
    let last = socket.stats, lastAt = performance.now();
    line = setInterval(() => {
      const now = performance.now(), s = socket.stats, dt = (now - lastAt) / 1000;
      console.log(
        `${rate((s.datagramsOut - last.datagramsOut) / dt)} pps ` +
          `(${rate((s.receives - last.receives) / dt)} receives/s, ` +
          `${rate((s.trains - last.trains) / dt)} trains/s out), ` +
          `${rate((s.bytesOut - last.bytesOut) / dt)}B/s out, ` +
          `${s.truncated} truncated, ${drops(s.kernelDrops)}, ${s.poolEmpty} pool-empty, ` +
          `${s.sendErrors} send errors`,
      );
      last = s;
      lastAt = now;
    }, 1000);
  }

  let error: unknown;
  try {
    for await (const batch of socket) {
      for (const datagram of batch) {
        if (datagram.truncated) socket.release(datagram); // never echo half a datagram
        else socket.reply(datagram); // from its own registered slot
      }
    }
  } catch (e) {
    error = e;
  }
  await socket.close();
  for (const s of signals) Deno.removeSignalListener(s, stop);
  clearInterval(ticker);
  clearInterval(line);

  const elapsed = (performance.now() - started) / 1000;
  const s = socket.stats;
  const summary = {
    event: "summary",
    seconds: Number(elapsed.toFixed(3)),
    ...s, // kernelDrops included: the socket's count, kept past close
    ticks,
    expectedTicks: tickMs > 0 ? Math.floor((elapsed * 1000) / tickMs) : 0,
    maxTickGapMs: Number(maxTickGap.toFixed(1)),
  };
  if (json) console.log(JSON.stringify(summary));
  else {
    console.log(
      `udp_echo: ${s.datagramsIn} in (${s.receives} receives), ${s.datagramsOut} echoed ` +
        `(${s.sends} sends, ${s.trains} trains` +
        (s.segmentationFallbacks ? `, segmentation refused ${s.segmentationFallbacks}×` : "") +
        `), ${s.truncated} truncated (dropped), ` +
        `${drops(s.kernelDrops)}, ${s.sendErrors} send errors, ${s.poolEmpty} pool-empty ` +
        `in ${elapsed.toFixed(1)} s` +
        (tickMs > 0
          ? `; timer ${ticks}/${summary.expectedTicks} ticks (longest gap ${summary.maxTickGapMs} ms)`
          : ""),
    );
  }
  if (error) {
    console.error(`udp_echo: receiving failed: ${(error as Error).message}`);
    return 1;
  }
  return 0;
}

await runMain("udp_echo", USAGE, main);
