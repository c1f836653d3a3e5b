/**
 * UDP echo server on regio's registered-buffer socket: every datagram is
 * received into a registered slot and echoed from that same slot (no copy
 * in JS). Datagrams longer than a slot are dropped (counted as truncated).
 * On Linux, receive coalescing (GRO) is on unless `--no-gro`: a train of
 * datagrams from one client arrives in one kernel receive and, echoed in
 * order, goes back as one segmented send (a "train").
 *
 *   deno run -A examples/udp_echo.ts [--host 127.0.0.1] [--port 9000] [--workers N]
 *
 * With `--workers N` (N ≥ 2), N Deno Workers each bind their own socket,
 * ring and pool on the same port with `reusePort: true` (Linux
 * `SO_REUSEPORT`), and the kernel spreads flows among them; the stats line
 * and the summary show each worker's share.
 *
 * Answers any UDP client, e.g. `socat - UDP:127.0.0.1:9000` or `nc -u 127.0.0.1 9000`.
 *
 * @module
 */

import {
  ErrnoError,
  UdpSocket,
  type UdpSocketOptions,
  type UdpStats,
  WinsockError,
} from "../mod.ts";
import { flagError, type Flags, formatAddress, parseFlags, runMain, UsageError } from "./cli.ts";
import { echo, type WorkerReply, type WorkerRequest } from "./udp_echo_worker.ts";

const USAGE = `Usage: deno run -A examples/udp_echo.ts [options]

  --host <ip>        numeric IPv4/IPv6 address to bind (default 127.0.0.1)
  --port <n>         port to bind, 0 picks one (default 9000)
  --slots <n>        receive slots (default 1024); Linux rounds them up to a
                     power of two (3 becomes 4), the size of its buffer ring
  --slot-size <n>    bytes per slot; longer datagrams are dropped (default 2048)
  --rcvbuf <bytes>   the socket's receive buffer, SO_RCVBUF (default: the OS's)
  --sndbuf <bytes>   the socket's send buffer, SO_SNDBUF (default: the OS's)
  --gro / --no-gro   receive coalescing on or off (default: the library's, on for Linux
                     GRO, off for Windows URO)
  --quiet            no per-second stats line
  --json             print the start line and the final summary as JSON
  --tick-ms <n>      run a timer every n ms and report ticks seen vs expected (0: off)
  --workers <n>      n Workers, each with its own socket on the port (reusePort; default 1)
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
    workers: { type: "string" },
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
  // Neither flag: the library's default (on for Linux GRO, off for Windows URO).
  const gro = values["no-gro"] === true ? false : values.gro === true ? true : undefined;
  const host = values.host as string;
  const workers = intFlag(values, "workers", 1);
  if (workers < 1 || workers > 64) throw new UsageError("--workers must be 1 to 64");
  const options: UdpSocketOptions = {
    hostname: host,
    port,
    slots,
    slotSize,
    receiveBufferSize,
    sendBufferSize,
    gro,
  };
  if (workers > 1) {
    const live = !values.quiet && !json && Deno.stdout.isTerminal();
    return await runWorkers(workers, options, { json, live });
  }

  let socket: UdpSocket;
  try {
    socket = UdpSocket.bind(options);
  } catch (e) {
    if (e instanceof TypeError || e instanceof RangeError) throw flagError(e, BIND_FLAGS);
    if (e instanceof ErrnoError || e instanceof WinsockError) {
      return bindFailed(host, port, e.message, e.codeName);
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
    await echo(socket);
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

/** Prints why binding failed (one line); a bad option is a usage error. */
function bindFailed(host: string, port: number, message: string, codeName?: string): number {
  const inUse = codeName === "EADDRINUSE" || codeName === "WSAEADDRINUSE";
  console.error(
    `udp_echo: cannot bind ${formatAddress(host, port)}: ` +
      (inUse ? `the address is already in use (${codeName})` : message),
  );
  return 1;
}

/** A worker and the replies it has posted, awaited in order. */
class EchoWorker {
  readonly #worker = new Worker(new URL("./udp_echo_worker.ts", import.meta.url), {
    type: "module",
  });
  readonly #queue: WorkerReply[] = [];
  #wakers: (() => void)[] = [];
  last: UdpStats | undefined;
  readonly #finished = Promise.withResolvers<Extract<WorkerReply, { type: "done" }>>();
  /** Resolves with the worker's final stats (or its error) once it has closed its socket. */
  readonly finished = this.#finished.promise;

  constructor() {
    this.#worker.onmessage = (e: MessageEvent<WorkerReply>): void => {
      if (e.data.type === "stats") this.last = e.data.stats;
      else if (e.data.type === "done") this.#finished.resolve(e.data);
      this.#queue.push(e.data);
      this.#wakeAll();
    };
    this.#worker.onerror = (e): void => {
      e.preventDefault();
      this.#finished.resolve({ type: "done", stats: this.last!, error: e.message });
      this.#queue.push({ type: "error", message: e.message });
      this.#wakeAll();
    };
  }

  #wakeAll(): void {
    const w = this.#wakers;
    this.#wakers = [];
    for (const wake of w) wake();
  }

  post(m: WorkerRequest): void {
    this.#worker.postMessage(m);
  }

  /** The next reply of one of `types` (replies of other types stay queued for their readers). */
  async next<T extends WorkerReply["type"]>(
    ...types: T[]
  ): Promise<Extract<WorkerReply, { type: T }>> {
    for (;;) {
      const i = this.#queue.findIndex((m) => (types as string[]).includes(m.type));
      if (i >= 0) return this.#queue.splice(i, 1)[0] as Extract<WorkerReply, { type: T }>;
      await new Promise<void>((r) => this.#wakers.push(r));
    }
  }

  terminate(): void {
    this.#worker.terminate();
  }
}

/** `--workers N`: N sockets on one port (reusePort), one per Worker; stats show each one's share. */
async function runWorkers(
  n: number,
  options: UdpSocketOptions,
  out: { json: boolean; live: boolean },
): Promise<number> {
  const started = performance.now();
  const workers: EchoWorker[] = [];
  let port = options.port!;
  let listening: Extract<WorkerReply, { type: "listening" }> | undefined;
  try {
    for (let i = 0; i < n; i++) {
      const w = new EchoWorker();
      workers.push(w);
      // The first one picks the port when it is 0; the others share it.
      w.post({ type: "start", options: { ...options, port } });
      const r = await w.next("listening", "error");
      if (r.type === "error") {
        // The worker's TypeError / RangeError names the API field; name the flag, as one socket does.
        if (r.usage) throw flagError(new RangeError(r.message), BIND_FLAGS);
        return bindFailed(options.hostname!, port, r.message, r.codeName);
      }
      listening = r;
      port = r.port;
    }
  } finally {
    if (workers.length < n || !listening) { for (const w of workers) w.terminate(); }
  }
  const l = listening!;
  // Listen for signals before saying "listening": a caller may signal right after reading it.
  const { promise: stopped, resolve: stop } = Promise.withResolvers<void>();
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, stop);
  const where = formatAddress(l.hostname, l.port);
  if (out.json) {
    console.log(
      JSON.stringify({
        event: "listening",
        hostname: l.hostname,
        port,
        engine: l.engine,
        workers: n,
      }),
    );
  } else {
    console.log(
      `udp_echo: listening on ${where} (${l.engine}, ${n} workers sharing the port, one socket and ring each)`,
    );
  }
  const share = (part: number, total: number): string =>
    total > 0 ? `${Math.round((part * 100) / total)}%` : "-";

  let line: ReturnType<typeof setInterval> | undefined;
  if (out.live) {
    let last = workers.map(() => 0), lastAt = performance.now();
    line = setInterval(async () => {
      for (const w of workers) w.post({ type: "stats" });
      const stats = await Promise.all(workers.map((w) => w.next("stats")));
      const now = performance.now(), dt = (now - lastAt) / 1000;
      const outs = stats.map((s) => s.stats.datagramsOut);
      const deltas = outs.map((o, i) => o - last[i]);
      const total = deltas.reduce((a, b) => a + b, 0);
      const kernel = stats.map((s) => s.stats.kernelDrops);
      const sum = kernel.includes(null) ? null : kernel.reduce((a, b) => a! + b!, 0);
      console.log(
        `${rate(total / dt)} pps, ${drops(sum)}; per worker: ` +
          deltas.map((d, i) => `#${i} ${rate(d / dt)} pps (${share(d, total)})`).join(", "),
      );
      last = outs;
      lastAt = now;
    }, 1000);
  }

  // A worker that ends on its own (its socket failed) stops the rest too.
  const ended = Promise.race(workers.map((w) => w.finished));
  await Promise.race([stopped, ended]);
  clearInterval(line);
  for (const w of workers) w.post({ type: "stop" });
  const done = await Promise.all(workers.map((w) => w.finished));
  for (const s of signals) Deno.removeSignalListener(s, stop);
  for (const w of workers) w.terminate();

  const elapsed = (performance.now() - started) / 1000;
  const total: Record<string, number> = {};
  for (const d of done) {
    for (const [k, v] of Object.entries(d.stats ?? {})) {
      if (typeof v === "number") total[k] = (total[k] ?? 0) + v;
    }
  }
  const inTotal = total.datagramsIn ?? 0;
  const perWorker = done.map((d, i) => ({
    worker: i,
    datagramsIn: d.stats?.datagramsIn ?? 0,
    datagramsOut: d.stats?.datagramsOut ?? 0,
    kernelDrops: d.stats?.kernelDrops ?? null,
    share: share(d.stats?.datagramsIn ?? 0, inTotal),
    ...(d.error ? { error: d.error } : {}),
  }));
  const summary = {
    event: "summary",
    seconds: Number(elapsed.toFixed(3)),
    ...total,
    workers: perWorker,
  };
  if (out.json) console.log(JSON.stringify(summary));
  else {
    console.log(
      `udp_echo: ${inTotal} in, ${total.datagramsOut ?? 0} echoed by ${n} workers in ` +
        `${elapsed.toFixed(1)} s; per worker: ` +
        perWorker.map((w) => `#${w.worker} ${w.datagramsIn} in (${w.share})`).join(", "),
    );
  }
  const failed = done.filter((d) => d.error);
  for (const d of failed) console.error(`udp_echo: a worker's receiving failed: ${d.error}`);
  return failed.length ? 1 : 0;
}

await runMain("udp_echo", USAGE, main);
