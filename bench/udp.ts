/**
 * UDP echo benchmark: the same load generator (examples/udp_load.ts, itself
 * a regio socket) against echo servers started one after the other as child
 * processes — regio's UdpSocket (examples/udp_echo.ts), Deno.listenDatagram,
 * node:dgram in Deno, and Node.js dgram when `node` is on the PATH. Rounds
 * are interleaved and the median round is reported, since this machine is
 * shared and noisy. With `taskset`, servers run on CPU 0 and the load
 * generator on CPU 1.
 *
 *   deno task bench:udp [--duration 3] [--warmup 0.5] [--rounds 3] [--readme]
 *
 * Prints a table with ratios, writes bench/results/udp.svg, and with
 * `--readme` rewrites the `## UDP` section of bench/README.md (only that).
 *
 * @module
 */

import { parseFlags, UsageError } from "../examples/cli.ts";
import type { LoadResult } from "../examples/udp_load.ts";
import { cpuSeconds } from "../examples/udp_load.ts";

interface Server {
  key: string;
  label: string;
  cmd: string[];
  /** The regio server reports timer ticks. */
  ticks?: boolean;
}

interface Run {
  load: LoadResult;
  /** The same server at window 1: round-trip latency without queueing. */
  latency: LoadResult;
  serverCpuPercent: number;
  summary: Record<string, number> | null;
}

const here = new URL(".", import.meta.url);
const root = new URL("..", here);
const path = (rel: string): string => new URL(rel, root).pathname;

const USAGE = `Usage: deno task bench:udp [options]

UDP echo benchmark: one load generator against regio, Deno.listenDatagram,
node:dgram in Deno and Node.js dgram (when node is on the PATH), in
interleaved rounds; prints pps, ratios and latency, writes bench/results/udp.svg.

Options:
  --duration S          seconds per measured run (default 3)
  --warmup S            warm-up seconds before each run (default 0.5)
  --rounds N            interleaved rounds; the median round is reported (default 3)
  --size N              datagram bytes (default 64)
  --window N            datagrams in flight (default 256)
  --latency-duration S  seconds of the window-1 latency run per server (default 2)
  --workers N           also run regio with N Workers sharing the port (reusePort; default 1: off)
  --flows K             the load generator's source ports (default 1; use ≥ 2 with --workers)
  --readme              rewrite the "## UDP" section of bench/README.md
  -h, --help            this text`;

let values: ReturnType<typeof parseFlags>;
try {
  values = parseFlags({
    duration: { type: "string", default: "3" },
    warmup: { type: "string", default: "0.5" },
    rounds: { type: "string", default: "3" },
    size: { type: "string", default: "64" },
    window: { type: "string", default: "256" },
    "latency-duration": { type: "string", default: "2" },
    workers: { type: "string", default: "1" },
    flows: { type: "string", default: "1" },
    readme: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  });
} catch (e) {
  if (!(e instanceof UsageError)) throw e;
  console.error(`bench/udp: ${e.message}\n\n${USAGE}`);
  Deno.exit(2);
}
if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}
const duration = Number(values.duration), warmup = Number(values.warmup);
const latencyDuration = Number(values["latency-duration"]);
const rounds = Number(values.rounds), size = Number(values.size), window = Number(values.window);
const workers = Number(values.workers), flows = Number(values.flows);
for (
  const [k, v] of Object.entries({
    duration,
    warmup,
    rounds,
    size,
    window,
    latencyDuration,
    workers,
    flows,
  })
) {
  if (!Number.isFinite(v) || v < 0) {
    console.error(`bench/udp: --${k} must be a number ≥ 0`);
    Deno.exit(2);
  }
}

async function has(cmd: string): Promise<boolean> {
  try {
    const r = await new Deno.Command(cmd, { args: ["--version"], stdout: "null", stderr: "null" })
      .output();
    return r.success;
  } catch {
    return false;
  }
}

const taskset = Deno.build.os === "linux" && await has("taskset");
const pin = (cpu: number, cmd: string[]): string[] =>
  taskset ? ["taskset", "-c", String(cpu), ...cmd] : cmd;
const deno = Deno.execPath();
const nodeAvailable = await has("node");

const servers: Server[] = [
  {
    key: "regio",
    label: "regio UdpSocket",
    cmd: [
      deno,
      "run",
      "-A",
      path("examples/udp_echo.ts"),
      "--port",
      "0",
      "--json",
      "--tick-ms",
      "10",
    ],
    ticks: true,
  },
  ...(workers > 1
    ? [{
      key: "regioWorkers",
      label: `regio UdpSocket, ${workers} workers (reusePort)`,
      cmd: [
        deno,
        "run",
        "-A",
        path("examples/udp_echo.ts"),
        "--port",
        "0",
        "--json",
        "--workers",
        String(workers),
      ],
    }]
    : []),
  {
    key: "listenDatagram",
    label: "Deno.listenDatagram",
    cmd: [
      deno,
      "run",
      "-A",
      "--unstable-net",
      path("bench/servers/deno_listen_datagram.ts"),
      "0",
      "--await-send",
    ],
  },
  {
    key: "denoDgram",
    label: "node:dgram in Deno",
    cmd: [deno, "run", "-A", path("bench/servers/node_dgram.mjs"), "0"],
  },
];
if (nodeAvailable) {
  servers.push({
    key: "nodeDgram",
    label: "Node.js dgram",
    cmd: ["node", path("bench/servers/node_dgram.mjs"), "0"],
  });
}

/** Reads JSON lines from a child's stdout. */
class Lines {
  readonly lines: string[] = [];
  #waiters: (() => void)[] = [];
  readonly done: Promise<void>;
  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = (async () => {
      let rest = "";
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        rest += chunk;
        let i;
        while ((i = rest.indexOf("\n")) >= 0) {
          this.lines.push(rest.slice(0, i));
          rest = rest.slice(i + 1);
        }
        for (const w of this.#waiters.splice(0)) w();
      }
      if (rest) this.lines.push(rest);
      for (const w of this.#waiters.splice(0)) w();
    })();
  }
  async find(event: string, ms: number): Promise<Record<string, number> | null> {
    const end = Date.now() + ms;
    for (;;) {
      for (const l of this.lines) {
        try {
          const o = JSON.parse(l);
          if (o.event === event) return o;
        } catch { /* not JSON */ }
      }
      if (Date.now() > end) return null;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((r) => this.#waiters.push(r)),
        this.done,
        new Promise<void>((r) => timer = setTimeout(r, 50)),
      ]);
      clearTimeout(timer);
    }
  }
}

async function runOnce(server: Server): Promise<Run> {
  const child = new Deno.Command(pin(0, server.cmd)[0], {
    args: pin(0, server.cmd).slice(1),
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const out = new Lines(child.stdout);
  try {
    const listening = await out.find("listening", 15000);
    if (!listening) throw new Error(`${server.label} did not start`);
    const cpu0 = cpuSeconds(child.pid);
    const t0 = performance.now();
    const loadCmd = pin(1, [
      deno,
      "run",
      "-A",
      path("examples/udp_load.ts"),
      ...loadArgs(listening.port),
    ]);
    const r = await new Deno.Command(loadCmd[0], {
      args: loadCmd.slice(1),
      stdout: "piped",
      stderr: "inherit",
    }).output();
    const cpu1 = cpuSeconds(child.pid);
    const wall = performance.now() - t0;
    const result = parseLoad(r.stdout, server);
    const latCmd = pin(1, [
      deno,
      "run",
      "-A",
      path("examples/udp_load.ts"),
      ...loadArgs(listening.port, 1, latencyDuration),
    ]);
    const lat = await new Deno.Command(latCmd[0], {
      args: latCmd.slice(1),
      stdout: "piped",
      stderr: "inherit",
    }).output();
    const latency = parseLoad(lat.stdout, server);
    child.kill("SIGTERM");
    const summary = await out.find("summary", 5000);
    return {
      load: result,
      latency,
      serverCpuPercent: cpu0 < 0 ? -1 : Math.round(((cpu1 - cpu0) * 100000) / wall),
      summary,
    };
  } finally {
    const exited = await Promise.race([
      child.status.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 5000)),
    ]);
    if (!exited) {
      child.kill("SIGKILL");
      await child.status;
    }
    await out.done;
  }
}

function parseLoad(stdout: Uint8Array, server: Server): LoadResult {
  const text = new TextDecoder().decode(stdout).trim().split("\n").at(-1) ?? "";
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`the load generator printed no result against ${server.label}: ${text}`);
  }
}

/**
 * The load generator's SO_RCVBUF: room for every echo of its window, so a
 * datagram it loses is one the server under test lost. With the OS default
 * (212992 bytes here), the generator itself dropped 130–271 echoes per 3 s
 * run at window 256 (64-byte datagrams, regio echo server, 5 runs); with
 * 1 MiB none in 3 runs, with 4 MiB none in 5. (Linux caps it at
 * net.core.rmem_max.)
 */
function loadReceiveBuffer(w: number): number {
  return Math.min(2 ** 31 - 1, Math.max(1 << 20, w * 4096));
}

function loadArgs(port: number, w = window, seconds = duration): string[] {
  return [
    "--port",
    String(port),
    "--rcvbuf",
    String(loadReceiveBuffer(w)),
    "--size",
    String(size),
    "--window",
    String(w),
    "--duration",
    String(seconds),
    "--warmup",
    String(warmup),
    ...(flows > 1 ? ["--flows", String(Math.min(flows, w))] : []),
    "--json",
  ];
}

const runs = new Map<string, Run[]>(servers.map((s) => [s.key, []]));
for (let round = 0; round < rounds; round++) {
  for (const s of servers) {
    const r = await runOnce(s);
    runs.get(s.key)!.push(r);
    console.error(
      `round ${round + 1}/${rounds} ${s.label}: ${r.load.pps} pps, p99 ${r.load.p99Us} µs; ` +
        `window 1: p50 ${r.latency.p50Us} µs, p99 ${r.latency.p99Us} µs`,
    );
  }
}

/** The median run by `key` (default pps): the figures of one real run, not mixed. */
function median(list: Run[], key: (r: Run) => number = (r) => r.load.pps): Run {
  const sorted = [...list].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor(sorted.length / 2)];
}

const picked = new Map(servers.map((s) => [s.key, median(runs.get(s.key)!)]));
const regio = picked.get("regio")!;
const base = picked.get("listenDatagram")!;
const kernel = Deno.osRelease();
const cpus = navigator.hardwareConcurrency;
const machine = `Linux ${kernel}, ${cpus} CPUs, Deno ${Deno.version.deno}` +
  (nodeAvailable
    ? `, Node ${
      new TextDecoder().decode(
        (await new Deno.Command("node", { args: ["--version"] }).output()).stdout,
      ).trim()
    }`
    : "");

const rows = servers.map((s) => {
  const r = picked.get(s.key)!;
  const all = runs.get(s.key)!.map((x) => x.load.pps).join(" / ");
  return {
    label: s.label,
    pps: r.load.pps,
    vsBase: r.load.pps / base.load.pps,
    regioOver: regio.load.pps / r.load.pps,
    p50: r.load.p50Us,
    p99: r.load.p99Us,
    latP50: median(runs.get(s.key)!, (x) => x.latency.p99Us).latency.p50Us,
    latP99: median(runs.get(s.key)!, (x) => x.latency.p99Us).latency.p99Us,
    serverCpu: r.serverCpuPercent,
    // CPU time of the server per echoed datagram: its cost, whoever the bottleneck is.
    cpuUs: r.serverCpuPercent < 0 ? NaN : (r.serverCpuPercent * 1e4) / r.load.pps,
    loadCpu: r.load.cpuPercent,
    lost: r.load.lost,
    wrong: r.load.wrong,
    all,
  };
});

const latencyTable = [
  "| server | p50 µs | p99 µs |",
  "| --- | ---: | ---: |",
  ...rows.map((r) => `| ${r.label} | ${r.latP50} | ${r.latP99} |`),
].join("\n");

const table = [
  "| server | echoed pps (median) | × Deno.listenDatagram | regio is × this | p50 µs | p99 µs | server CPU % | server CPU µs / datagram | load gen CPU % | lost | wrong | all rounds (pps) |",
  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
  ...rows.map((r) =>
    `| ${r.label} | ${r.pps.toLocaleString("en-US")} | ${r.vsBase.toFixed(2)} | ${
      r.regioOver.toFixed(2)
    } | ${r.p50} | ${r.p99} | ${r.serverCpu} | ${
      Number.isNaN(r.cpuUs) ? "?" : r.cpuUs.toFixed(2)
    } | ${r.loadCpu} | ${r.lost} | ${r.wrong} | ${r.all} |`
  ),
].join("\n");

const node = picked.get("nodeDgram");
const latRegio = rows[0].latP99;
const latBase = rows.find((r) => r.label === "Deno.listenDatagram")!.latP99;
const verdict = (ok: boolean): string => ok ? "met" : "missed";
const targets = [
  `regio ÷ Deno.listenDatagram = ${(regio.load.pps / base.load.pps).toFixed(2)}× ` +
  `(target ≥ 6×: ${verdict(regio.load.pps >= 6 * base.load.pps)})`,
  node
    ? `regio ÷ Node.js dgram = ${(regio.load.pps / node.load.pps).toFixed(2)}× ` +
      `(target ≥ 3×: ${verdict(regio.load.pps >= 3 * node.load.pps)})`
    : "Node.js not found: no Node.js dgram comparison",
  `p99 at window 1: regio ${latRegio} µs vs Deno.listenDatagram ${latBase} µs ` +
  `(target: no worse: ${verdict(latRegio <= latBase)})`,
  `server CPU per echoed datagram (not a target; the server's own cost): regio ${
    rows[0].cpuUs.toFixed(2)
  } µs, ` +
  rows.slice(1).map((r) =>
    `${r.label} ${r.cpuUs.toFixed(2)} µs (${(r.cpuUs / rows[0].cpuUs).toFixed(2)}×)`
  )
    .join(", "),
];

const s = regio.summary ?? {};
const ticksLine = `regio server timer (10 ms interval): ${s.ticks ?? "?"} ticks seen of ${
  s.expectedTicks ?? "?"
} expected over the server's life, longest gap ${s.maxTickGapMs ?? "?"} ms.`;
const command = `deno task bench:udp --duration ${duration} --warmup ${warmup} --rounds ${rounds}` +
  (size !== 64 ? ` --size ${size}` : "") + (window !== 256 ? ` --window ${window}` : "") +
  (workers > 1 ? ` --workers ${workers}` : "") + (flows > 1 ? ` --flows ${flows}` : "");
const pinning = taskset
  ? "servers pinned to CPU 0, load generator to CPU 1 (taskset)"
  : "no CPU pinning (taskset not found)";

console.log(
  `\n${machine}; ${size}-byte datagrams, window ${window}, ${duration} s + ${warmup} s warm-up per run, ${rounds} interleaved rounds, ${pinning}.\n`,
);
console.log(table);
console.log(
  `\nRound-trip latency at window 1 (${latencyDuration} s per server, median round by p99):\n`,
);
console.log(latencyTable);
console.log(`\n${ticksLine}`);
for (const t of targets) console.log(`- ${t}`);

// ---- SVG bar chart (hand-written) ----
function svg(): string {
  const w = 720, barH = 34, gap = 16, left = 190, top = 56, right = 150;
  const h = top + rows.length * (barH + gap) + 40;
  const max = Math.max(...rows.map((r) => r.pps));
  const scale = (w - left - right) / max;
  const esc = (t: string): string => t.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const bars = rows.map((r, i) => {
    const y = top + i * (barH + gap);
    const bw = Math.max(1, r.pps * scale);
    const color = i === 0 ? "#2f6fdf" : "#9aa5b1";
    return [
      `<text x="${left - 10}" y="${y + barH / 2 + 5}" text-anchor="end" font-size="14">${
        esc(r.label)
      }</text>`,
      `<rect x="${left}" y="${y}" width="${
        bw.toFixed(1)
      }" height="${barH}" fill="${color}" rx="3"/>`,
      `<text x="${left + bw + 8}" y="${y + barH / 2 + 5}" font-size="13">${
        r.pps.toLocaleString("en-US")
      } pps (${r.vsBase.toFixed(2)}×)</text>`,
    ].join("\n  ");
  }).join("\n  ");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif">
  <rect width="100%" height="100%" fill="white"/>
  <text x="${
    w / 2
  }" y="24" text-anchor="middle" font-size="16" font-weight="bold">UDP echo, ${size}-byte datagrams, window ${window} (echoed datagrams/s, higher is better)</text>
  <text x="${w / 2}" y="42" text-anchor="middle" font-size="11" fill="#555">${
    esc(machine)
  }; median of ${rounds} rounds; ratio vs Deno.listenDatagram</text>
  ${bars}
</svg>
`;
}
Deno.writeTextFileSync(path("bench/results/udp.svg"), svg());
console.log("\nwrote bench/results/udp.svg");

if (values.readme) {
  const section = `## UDP

Echo servers driven by the same load generator (\`examples/udp_load.ts\`, a
regio \`UdpSocket\` keeping ${window} datagrams of ${size} bytes in flight and
checking every byte of every echo, with a receive buffer of
${loadReceiveBuffer(window)} bytes so that its own socket drops nothing: the
"lost" column is the server's). The servers keep the OS default buffers. Each server runs as its own process,
one after the other, in ${rounds} interleaved rounds; the table shows the
median round. ${pinning[0].toUpperCase()}${pinning.slice(1)}.

Command: \`${command}\`
Machine: ${machine}.
Measured: ${new Date().toISOString().slice(0, 10)}.

${table}

Round-trip latency of one datagram at a time (window 1, ${latencyDuration} s per
server, the median round by p99):

${latencyTable}

${ticksLine}

![UDP echo pps](results/udp.svg)

Targets:

${targets.map((t) => `- ${t}`).join("\n")}

The reading of these figures (what bounds them on this machine) is in
"UDP: analysis" below, written by hand with the date it was measured.

"server CPU %" and "load gen CPU %" are user+system time of each process
over the run, in % of one core; on loopback each sender's CPU also does the
kernel's delivery into the receiving socket. A process near 100 % is the
limit of that run. "server CPU µs / datagram" is the server's CPU time over
the run divided by the datagrams it echoed.
`;
  const file = path("bench/README.md");
  let text = "";
  try {
    text = Deno.readTextFileSync(file); // re-read right before writing: others edit this file
  } catch { /* first write */ }
  const start = text.search(/^## UDP\s*$/m);
  if (start < 0) {
    text = (text.trimEnd() ? text.trimEnd() + "\n\n" : "# Benchmarks\n\n") + section;
  } else {
    const after = text.slice(start + 6);
    const next = after.search(/^## /m);
    const end = next < 0 ? text.length : start + 6 + next;
    text = text.slice(0, start) + section + (next < 0 ? "" : "\n" + text.slice(end));
  }
  Deno.writeTextFileSync(file, text);
  console.log("updated the ## UDP section of bench/README.md");
}
