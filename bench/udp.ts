/**
 * UDP echo benchmark, in one run:
 *
 * - **plain rounds**: one load generator (examples/udp_load.ts, itself a
 *   regio socket; or the C client with `--plain-client c`) against every
 *   echo server, started one after the other as child processes — regio's
 *   UdpSocket (examples/udp_echo.ts), the same with the cooperative budget
 *   off (bench/servers/regio_echo_no_budget.ts), Deno.listenDatagram,
 *   node:dgram in Deno, Node.js dgram when `node` is on the PATH, and the C
 *   recvmmsg/sendmmsg echo (bench/c/udp_echo_mmsg.c);
 * - **train rounds**: a client sending GSO trains of `--gso` datagrams
 *   (regio's load generator, or the C client bench/c/udp_load_gso.c with
 *   `--train-client c`) against regio and the C GRO/GSO echo
 *   (bench/c/udp_echo_gro.c).
 *
 * The C programs are yardsticks, compiled into a temp dir when `cc` is
 * present (bench/yardsticks.ts). Rounds are interleaved and the median round
 * is reported, since this machine is shared and noisy. With `taskset`,
 * servers run on CPU 0 and the load generator on CPU 1.
 *
 *   deno task bench:udp [--duration 3] [--warmup 0.5] [--rounds 3] [--readme]
 *
 * Prints a table with ratios, writes bench/results/udp.svg, and with
 * `--readme` rewrites the `## UDP` section of bench/README.md (only that).
 *
 * @module
 */

import { parseFlags, UsageError } from "../examples/cli.ts";
import { cpuTimes, type LoadResult } from "../examples/udp_load.ts";
import { buildYardsticks, removeYardsticks } from "./yardsticks.ts";
import { type Report, type Row, writeReport } from "./udp_report.ts";

/** A round kind: plain datagrams, or GSO trains. */
type Kind = "plain" | "trains";

interface Server {
  key: string;
  label: string;
  kind: Kind;
  cmd: string[];
  /** A regio server: it reports timer ticks. */
  ticks?: boolean;
}

interface Client {
  key: "regio" | "c";
  label: string;
  /** The command line for `port`, `window` datagrams in flight, `seconds`, trains of `gso`. */
  cmd(port: number, window: number, seconds: number, gso: number): string[];
}

interface Run {
  load: LoadResult;
  /** The same server at window 1 (plain rounds): round-trip latency without queueing. */
  latency: LoadResult | null;
  /** Server CPU over the load run, % of one core (-1 unknown), and the kernel's share of it. */
  serverCpuPercent: number;
  systemShare: number;
  summary: Record<string, number> | null;
}

const here = new URL(".", import.meta.url);
const root = new URL("..", here);
const path = (rel: string): string => new URL(rel, root).pathname;

const USAGE = `Usage: deno task bench:udp [options]

UDP echo benchmark. Plain rounds: one load generator against regio (with and
without its cooperative budget), Deno.listenDatagram, node:dgram in Deno,
Node.js dgram (when node is on the PATH) and a C recvmmsg/sendmmsg echo.
Train rounds: a client sending GSO trains against regio and a C GRO/GSO echo.
The C yardsticks are compiled with cc into a temp dir (skipped without one).
Prints pps, server CPU per datagram, the ratios, writes bench/results/udp.svg.

Options:
  --duration S          seconds per measured run (default 3)
  --warmup S            warm-up seconds before each run (default 0.5)
  --rounds N            interleaved rounds; the median round is reported (default 3)
  --size N              datagram bytes (default 64)
  --window N            datagrams in flight, plain rounds (default 256)
  --latency-duration S  seconds of the window-1 latency run per plain server (default 2)
  --gso N               datagrams per train in the train rounds, 0: no train rounds (default 64)
  --train-window N      datagrams in flight in the train rounds (default 1024)
  --train-client C      auto or regio (regio's load generator), or c
  --plain-client C      regio (default) or c: the client of the plain rounds
  --workers N           also run regio with N Workers sharing the port (reusePort; default 1: off)
  --flows K             regio's load generator sends from K source ports (default 1)
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
    gso: { type: "string", default: "64" },
    "train-window": { type: "string", default: "1024" },
    "train-client": { type: "string", default: "auto" },
    "plain-client": { type: "string", default: "regio" },
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
const gso = Number(values.gso), trainWindow = Number(values["train-window"]);
const workers = Number(values.workers), flows = Number(values.flows);
for (
  const [k, v] of Object.entries({
    duration,
    warmup,
    rounds,
    size,
    window,
    latencyDuration,
    gso,
    trainWindow,
    workers,
    flows,
  })
) {
  if (!Number.isFinite(v) || v < 0) {
    console.error(`bench/udp: --${k} must be a number ≥ 0`);
    Deno.exit(2);
  }
}
const trainChoice = String(values["train-client"]), plainChoice = String(values["plain-client"]);
if (!["auto", "regio", "c"].includes(trainChoice) || !["regio", "c"].includes(plainChoice)) {
  console.error(`bench/udp: --train-client is auto, regio or c; --plain-client is regio or c`);
  Deno.exit(2);
}
if (gso > 64 || (gso > 0 && (gso * size > 65507 || trainWindow < gso))) {
  console.error(`bench/udp: --gso must be ≤ 64, --gso × --size ≤ 65507, --train-window ≥ --gso`);
  Deno.exit(2);
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
const yardsticks = await buildYardsticks();
const c = "skipped" in yardsticks ? null : yardsticks;
const notes: string[] = [];
if (!c) notes.push(`C yardsticks skipped: ${(yardsticks as { skipped: string }).skipped}.`);

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

function loadFlags(port: number, w: number, seconds: number): string[] {
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
    "--json",
  ];
}

const regioClient: Client = {
  key: "regio",
  label: "regio udp_load",
  cmd: (port, w, seconds, n) => [
    deno,
    "run",
    "-A",
    path("examples/udp_load.ts"),
    ...loadFlags(port, w, seconds),
    ...(n > 1 ? ["--gso", String(n)] : []),
    ...(flows > 1 ? ["--flows", String(flows)] : []),
  ],
};
const cClient: Client | null = c && {
  key: "c",
  label: "C udp_load_gso",
  cmd: (port, w, seconds, n) => [c.loadGso, ...loadFlags(port, w, seconds), "--gso", String(n)],
};

let plainClient: Client = regioClient;
if (plainChoice === "c") {
  if (cClient) plainClient = cClient;
  else {notes.push(
      "--plain-client c asked for, but there is no C client: regio's drove the plain rounds.",
    );}
}
let trainClient: Client | null = null;
if (gso > 0) {
  if (trainChoice !== "c") trainClient = regioClient;
  else if (cClient) trainClient = cClient;
  else notes.push("no train rounds: --train-client c asked for, but there is no C client.");
}

const regioEcho = (script: string): string[] => [
  deno,
  "run",
  "-A",
  path(script),
  "--port",
  "0",
  "--json",
  "--tick-ms",
  "10",
];

const servers: Server[] = [
  {
    key: "regio",
    label: "regio UdpSocket",
    kind: "plain",
    cmd: regioEcho("examples/udp_echo.ts"),
    ticks: true,
  },
  ...(workers > 1
    ? [{
      key: "regioWorkers",
      label: `regio UdpSocket, ${workers} workers (reusePort)`,
      kind: "plain" as const,
      cmd: [...regioEcho("examples/udp_echo.ts"), "--workers", String(workers)],
    }]
    : []),
  {
    key: "regioNoBudget",
    label: "regio UdpSocket, budget off",
    kind: "plain",
    cmd: regioEcho("bench/servers/regio_echo_no_budget.ts"),
    ticks: true,
  },
  {
    key: "listenDatagram",
    label: "Deno.listenDatagram",
    kind: "plain",
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
    kind: "plain",
    cmd: [deno, "run", "-A", path("bench/servers/node_dgram.mjs"), "0"],
  },
];
if (nodeAvailable) {
  servers.push({
    key: "nodeDgram",
    label: "Node.js dgram",
    kind: "plain",
    cmd: ["node", path("bench/servers/node_dgram.mjs"), "0"],
  });
}
if (c) {
  servers.push({
    key: "cMmsg",
    label: "C recvmmsg echo",
    kind: "plain",
    cmd: [c.echoMmsg, "--port", "0"],
  });
}
if (trainClient) {
  servers.push({
    key: "regioTrains",
    label: "regio UdpSocket",
    kind: "trains",
    cmd: [...regioEcho("examples/udp_echo.ts"), "--gro"],
    ticks: true,
  });
  if (c) {
    servers.push({
      key: "cGro",
      label: "C GRO/GSO echo",
      kind: "trains",
      cmd: [c.echoGro, "--port", "0"],
    });
  }
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

async function load(cmd: string[], server: Server): Promise<LoadResult> {
  const pinned = pin(1, cmd);
  const r = await new Deno.Command(pinned[0], {
    args: pinned.slice(1),
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const text = new TextDecoder().decode(r.stdout).trim().split("\n").at(-1) ?? "";
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`the load generator printed no result against ${server.label}: ${text}`);
  }
}

async function runOnce(server: Server, client: Client): Promise<Run> {
  const cmd = pin(0, server.cmd);
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const out = new Lines(child.stdout);
  try {
    const listening = await out.find("listening", 15000);
    if (!listening) throw new Error(`${server.label} did not start`);
    const plain = server.kind === "plain";
    const cpu0 = cpuTimes(child.pid);
    const t0 = performance.now();
    const result = await load(
      client.cmd(listening.port, plain ? window : trainWindow, duration, plain ? 1 : gso),
      server,
    );
    const cpu1 = cpuTimes(child.pid);
    const wall = performance.now() - t0;
    const latency = plain && latencyDuration > 0
      ? await load(client.cmd(listening.port, 1, latencyDuration, 1), server)
      : null;
    child.kill("SIGTERM");
    const summary = await out.find("summary", 5000);
    const used = cpu0 && cpu1 ? cpu1.user - cpu0.user + cpu1.system - cpu0.system : -1;
    return {
      load: result,
      latency,
      serverCpuPercent: used < 0 ? -1 : Math.round((used * 100000) / wall),
      systemShare: used > 0 ? (cpu1!.system - cpu0!.system) / used : NaN,
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

const onSigint = (): void => {
  removeYardsticks(yardsticks).finally(() => Deno.exit(130));
};
Deno.addSignalListener("SIGINT", onSigint);

const runs = new Map<string, Run[]>(servers.map((s) => [s.key, []]));
try {
  for (let round = 0; round < rounds; round++) {
    for (const s of servers) {
      const client = s.kind === "plain" ? plainClient : trainClient!;
      const r = await runOnce(s, client);
      runs.get(s.key)!.push(r);
      console.error(
        `round ${round + 1}/${rounds} ${s.label}${
          s.kind === "trains" ? `, trains of ${gso}` : ""
        }` +
          ` (${client.label}): ${r.load.pps} pps, p99 ${r.load.p99Us} µs` +
          (r.latency ? `; window 1: p50 ${r.latency.p50Us} µs, p99 ${r.latency.p99Us} µs` : ""),
      );
    }
  }
} finally {
  Deno.removeSignalListener("SIGINT", onSigint);
  await removeYardsticks(yardsticks);
}

/** The median run by `key` (default pps): the figures of one real run, not mixed. */
function median(list: Run[], key: (r: Run) => number = (r) => r.load.pps): Run {
  const sorted = [...list].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor(sorted.length / 2)];
}

const base = median(runs.get("listenDatagram")!);
const rows: Row[] = servers.map((s) => {
  const list = runs.get(s.key)!;
  const r = median(list);
  const lat = s.kind === "plain" ? median(list, (x) => x.latency?.p99Us ?? 0).latency : null;
  return {
    key: s.key,
    label: s.label,
    kind: s.kind,
    client: (s.kind === "plain" ? plainClient : trainClient!).label,
    pps: r.load.pps,
    vsBase: s.kind === "plain" ? r.load.pps / base.load.pps : NaN,
    p50: r.load.p50Us,
    p99: r.load.p99Us,
    latP50: lat?.p50Us ?? NaN,
    latP99: lat?.p99Us ?? NaN,
    serverCpu: r.serverCpuPercent,
    systemShare: r.systemShare,
    // CPU time of the server per echoed datagram: its cost, whoever the bottleneck is.
    cpuUs: r.serverCpuPercent < 0 ? NaN : (r.serverCpuPercent * 1e4) / r.load.pps,
    loadCpu: r.load.cpuPercent,
    lost: r.load.lost,
    wrong: r.load.wrong,
    all: list.map((x) => x.load.pps).join(" / "),
    summary: s.ticks ? r.summary : null,
  };
});

const nodeVersion = nodeAvailable
  ? new TextDecoder().decode(
    (await new Deno.Command("node", { args: ["--version"] }).output()).stdout,
  ).trim()
  : null;
const report: Report = {
  machine:
    `Linux ${Deno.osRelease()}, ${navigator.hardwareConcurrency} CPUs, Deno ${Deno.version.deno}` +
    (nodeVersion ? `, Node ${nodeVersion}` : "") + (c ? `, ${c.compiler}` : ""),
  command: `deno task bench:udp --duration ${duration} --warmup ${warmup} --rounds ${rounds}` +
    (size !== 64 ? ` --size ${size}` : "") + (window !== 256 ? ` --window ${window}` : "") +
    (gso !== 64 ? ` --gso ${gso}` : "") +
    (trainWindow !== 1024 ? ` --train-window ${trainWindow}` : "") +
    (trainChoice !== "auto" ? ` --train-client ${trainChoice}` : "") +
    (plainChoice !== "regio" ? ` --plain-client ${plainChoice}` : "") +
    (workers > 1 ? ` --workers ${workers}` : "") + (flows > 1 ? ` --flows ${flows}` : ""),
  pinning: taskset
    ? "servers pinned to CPU 0, load generator to CPU 1 (taskset)"
    : "no CPU pinning (taskset not found)",
  size,
  window,
  trainWindow,
  gso,
  duration,
  warmup,
  rounds,
  latencyDuration,
  receiveBuffer: loadReceiveBuffer(window),
  rows,
  notes,
};
writeReport(report, {
  svg: path("bench/results/udp.svg"),
  readme: values.readme ? path("bench/README.md") : null,
});
