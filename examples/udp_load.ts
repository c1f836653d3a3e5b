/**
 * UDP load generator on regio's own socket: keeps `--window` datagrams in
 * flight against an echo server, checks every byte of every echo, and
 * reports echoed datagrams per second, loss and round-trip latency.
 * Bounded: stops after `--duration` seconds or `--count` datagrams, then
 * waits at most `--timeout-ms` for the last echoes.
 *
 *   deno run -A examples/udp_load.ts --port 9000 --size 64 --window 256 --duration 3
 *
 * With `--gso N` the window is sent in trains of N datagrams (`sendMany`:
 * one segmented send each on Linux), a train again once all of its
 * datagrams are back; the echoes arrive coalesced (GRO) and every one is
 * checked as before.
 *
 * Exit code 1 when an echo was wrong or nothing came back, 2 for bad flags.
 *
 * @module
 */

import { UdpSocket } from "../mod.ts";
import { flagError, type Flags, formatAddress, parseFlags, runMain, UsageError } from "./cli.ts";

const USAGE = `Usage: deno run -A examples/udp_load.ts [options]

  --host <ip>          echo server address (default 127.0.0.1)
  --port <n>           echo server port (default 9000)
  --size <n>           datagram size in bytes, ≥ 8 (default 64)
  --window <n>         datagrams in flight (default 256)
  --duration <s>       seconds of load (default 3; ignored with --count)
  --count <n>          send exactly n datagrams instead
  --warmup <s>         seconds excluded from the rate and latency (default 0)
  --timeout-ms <n>     an echo later than this is counted lost (default 500)
  --flows <k>          k client sockets (k source ports, so a reusePort server has
                       flows to spread); the window is dealt among them (default 1)
  --rcvbuf <bytes>     the socket's receive buffer, SO_RCVBUF (default: the OS's)
  --sndbuf <bytes>     the socket's send buffer, SO_SNDBUF (default: the OS's)
  --gso <n>            send trains of n datagrams (sendMany, 1–64; default 1: one send each)
  --json               print the result as one JSON object
  --help               this text`;

/** Options of {@link runLoad}. */
export interface LoadOptions {
  host: string;
  port: number;
  size: number;
  window: number;
  /** Seconds of sending (when `count` is 0). */
  duration: number;
  /** Datagrams to send in total; 0 means "for `duration`". */
  count: number;
  warmup: number;
  timeoutMs: number;
  /** SO_RCVBUF in bytes (undefined: the OS default). */
  receiveBufferSize?: number;
  /** SO_SNDBUF in bytes (undefined: the OS default). */
  sendBufferSize?: number;
  /** Datagrams per train (1: plain sends); the window is rounded up to a multiple. */
  gso?: number;
  /** Client sockets, i.e. source ports (default 1); train `g` sends from socket `g % flows`. */
  flows?: number;
}

/** What a run measured. */
export interface LoadResult {
  sent: number;
  echoed: number;
  lost: number;
  late: number;
  wrong: number;
  /** Echoes per second over the measured interval (after warm-up). */
  pps: number;
  /** Echoed payload bytes per second over the same interval. */
  bytesPerSecond: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
  seconds: number;
  /** This process's CPU use over the run, in % of one core (Linux; -1 elsewhere). */
  cpuPercent: number;
  firstWrong: string | null;
}

const HEADER = 8; // seq u32, lane u16, size u16
const MAX_US = 1_000_000;

/** User and system CPU seconds of a process (Linux /proc; null elsewhere). */
export function cpuTimes(pid: number | "self" = "self"): { user: number; system: number } | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime, stime in clock ticks (USER_HZ 100)
    return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 };
  } catch {
    return null;
  }
}

/** User+system CPU seconds of a process (Linux /proc; -1 elsewhere). */
export function cpuSeconds(pid: number | "self" = "self"): number {
  const t = cpuTimes(pid);
  return t === null ? -1 : t.user + t.system;
}

/** Body byte `i` of datagram `seq`. */
function body(seq: number, i: number): number {
  return (seq * 7 + i) & 0xff;
}

/** Runs the load and resolves with what it measured. */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const v6 = o.host.includes(":");
  const server = { hostname: o.host, port: o.port };
  const gso = o.gso ?? 1;
  const window = Math.ceil(o.window / gso) * gso;
  const groups = window / gso;
  const flows = Math.max(1, Math.min(o.flows ?? 1, groups));
  const perSocket = Math.ceil(groups / flows) * gso; // lanes each socket carries
  let slots = 64;
  while (slots < (perSocket * 2) / gso) slots *= 2;
  const sockets: UdpSocket[] = [];
  await using _close = {
    [Symbol.asyncDispose]: async (): Promise<void> => {
      await Promise.all(sockets.map((s) => s.close()));
    },
  };
  for (let f = 0; f < flows; f++) {
    sockets.push(UdpSocket.bind({
      hostname: v6 ? "::" : "0.0.0.0",
      port: 0,
      slots,
      // One spare byte: an over-long echo shows as the wrong length; a train fills one slot.
      slotSize: Math.max(o.size + 1, gso * o.size),
      sendSlots: Math.ceil((perSocket * 2) / gso),
      receiveBufferSize: o.receiveBufferSize,
      sendBufferSize: o.sendBufferSize,
    }));
  }
  /** The socket lane `lane` (and its train) sends from. */
  const socketOf = (lane: number): UdpSocket => sockets[((lane / gso) | 0) % flows];
  const laneSeq = new Int32Array(window).fill(-1);
  const laneSent = new Float64Array(window);
  // With trains: lanes [g·gso, (g+1)·gso) are group g, sent again once none is in flight.
  const groupLeft = new Int32Array(window / gso);
  const groupPayloads = Array.from(
    { length: window / gso },
    () => Array.from({ length: gso }, () => new Uint8Array(o.size)),
  );
  const histogram = new Uint32Array(MAX_US + 1);
  let nextSeq = 0, sent = 0, echoed = 0, lost = 0, late = 0, wrong = 0, inFlight = 0;
  let firstWrong: string | null = null;
  const start = performance.now();
  const cpu0 = cpuSeconds();
  const warmEnd = start + o.warmup * 1000;
  const sendEnd = o.count > 0 ? Infinity : warmEnd + o.duration * 1000;
  let measuredEchoes = 0, measuredFrom = o.warmup > 0 ? 0 : start, measuredTo = start;
  let measuring = o.warmup === 0;

  const fill = (bytes: Uint8Array, seq: number, lane: number): void => {
    bytes[0] = seq & 0xff;
    bytes[1] = (seq >>> 8) & 0xff;
    bytes[2] = (seq >>> 16) & 0xff;
    bytes[3] = seq >>> 24;
    bytes[4] = lane & 0xff;
    bytes[5] = lane >>> 8;
    bytes[6] = o.size & 0xff;
    bytes[7] = o.size >>> 8;
    for (let i = HEADER; i < o.size; i++) bytes[i] = body(seq, i);
  };

  const wantMore = (now: number): boolean =>
    o.count > 0 ? nextSeq < o.count : now < sendEnd && !sockets[0].closed;

  const sendLane = (lane: number, now: number): void => {
    const seq = nextSeq++;
    laneSeq[lane] = seq;
    laneSent[lane] = now;
    inFlight++;
    sent++;
    const socket = socketOf(lane);
    const slot = socket.tryAcquire();
    if (slot) {
      fill(slot.bytes, seq, lane);
      socket.send(slot, server, o.size);
      return;
    }
    // Every send slot is still with the kernel: wait for one (backpressure).
    socket.acquire().then((s) => {
      fill(s.bytes, seq, lane);
      return socket.send(s, server, o.size);
    }).catch(() => {}); // closed meanwhile
  };

  const sendGroup = (g: number, now: number): void => {
    const payloads = groupPayloads[g];
    let n = 0;
    for (; n < gso && wantMore(now); n++) {
      const lane = g * gso + n;
      const seq = nextSeq++;
      laneSeq[lane] = seq;
      laneSent[lane] = now;
      fill(payloads[n], seq, lane);
    }
    if (n === 0) return;
    inFlight += n;
    sent += n;
    groupLeft[g] = n;
    const socket = socketOf(g * gso);
    socket.sendMany(server, n === gso ? payloads : payloads.slice(0, n)).catch(() => {});
  };

  /** Lane `lane`'s datagram is back (or lost): send the next one, or the next train. */
  const laneDone = (lane: number, now: number): void => {
    if (gso === 1) {
      if (wantMore(now)) sendLane(lane, now);
      return;
    }
    const g = (lane / gso) | 0;
    if (--groupLeft[g] === 0) sendGroup(g, now);
  };

  const now0 = performance.now();
  if (gso === 1) {
    for (let lane = 0; lane < window && wantMore(now0); lane++) sendLane(lane, now0);
  } else {
    for (let g = 0; g < window / gso && wantMore(now0); g++) sendGroup(g, now0);
  }

  let lastScan = now0;
  const pump = async (socket: UdpSocket): Promise<void> => {
    while (inFlight > 0) {
      const batch = await socket.receive({ timeoutMs: 50 });
      const now = performance.now();
      if (!measuring && now >= warmEnd) {
        measuring = true;
        measuredFrom = now;
        histogram.fill(0);
      }
      for (const d of batch) {
        const data = d.data;
        if (d.length < HEADER) {
          wrong++;
          firstWrong ??= `an echo of ${d.length} bytes`;
          continue;
        }
        const seq = (data[0] | (data[1] << 8) | (data[2] << 16) | (data[3] << 24)) >>> 0;
        const lane = data[4] | (data[5] << 8);
        let ok = d.length === o.size && !d.truncated && lane < window &&
          (data[6] | (data[7] << 8)) === o.size;
        for (let i = HEADER; ok && i < o.size; i++) ok = data[i] === body(seq, i);
        if (!ok) {
          wrong++;
          firstWrong ??= `echo of seq ${seq} (${d.length} bytes): content differs`;
          continue;
        }
        if (laneSeq[lane] !== seq) {
          late++; // already counted lost and replaced
          continue;
        }
        laneSeq[lane] = -1;
        inFlight--;
        echoed++;
        if (measuring && now < sendEnd) {
          measuredEchoes++;
          measuredTo = now;
          const us = Math.min(MAX_US, Math.round((now - laneSent[lane]) * 1000));
          histogram[us]++;
        }
        laneDone(lane, now);
      }
      if (now - lastScan >= 50) {
        lastScan = now;
        for (let lane = 0; lane < window; lane++) {
          if (laneSeq[lane] >= 0 && now - laneSent[lane] > o.timeoutMs) {
            laneSeq[lane] = -1;
            inFlight--;
            lost++;
            laneDone(lane, now);
          }
        }
      }
    }
  };
  await Promise.all(sockets.map(pump));
  const end = performance.now();
  const cpu1 = cpuSeconds();
  const interval = (o.count > 0 || measuredTo <= measuredFrom ? end : measuredTo) - measuredFrom;
  const percentile = (p: number): number => {
    let total = 0;
    for (let i = 0; i <= MAX_US; i++) total += histogram[i];
    if (total === 0) return 0;
    const want = Math.ceil(total * p);
    let seen = 0;
    for (let i = 0; i <= MAX_US; i++) {
      seen += histogram[i];
      if (seen >= want) return i;
    }
    return MAX_US;
  };
  let maxUs = 0;
  for (let i = MAX_US; i >= 0; i--) {
    if (histogram[i] > 0) {
      maxUs = i;
      break;
    }
  }
  const pps = interval > 0 ? (measuredEchoes * 1000) / interval : 0;
  return {
    sent,
    echoed,
    lost,
    late,
    wrong,
    pps: Math.round(pps),
    bytesPerSecond: Math.round(pps * o.size),
    p50Us: percentile(0.5),
    p99Us: percentile(0.99),
    maxUs,
    seconds: Number(((end - start) / 1000).toFixed(3)),
    cpuPercent: cpu0 < 0 ? -1 : Math.round(((cpu1 - cpu0) * 100000) / (end - start)),
    firstWrong,
  };
}

function num(values: Flags, name: string, fallback: number, min: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(String(raw)) || !Number.isFinite(n) || n < min) {
    throw new UsageError(`--${name} must be a number ≥ ${min}, got "${raw}"`);
  }
  return n;
}

function int(values: Flags, name: string, fallback: number, min: number): number {
  const n = num(values, name, fallback, min);
  if (!Number.isSafeInteger(n)) throw new UsageError(`--${name} must be an integer, got "${n}"`);
  return n;
}

async function main(): Promise<number> {
  const values = parseFlags({
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    size: { type: "string" },
    window: { type: "string" },
    duration: { type: "string" },
    count: { type: "string" },
    warmup: { type: "string" },
    "timeout-ms": { type: "string" },
    rcvbuf: { type: "string" },
    sndbuf: { type: "string" },
    gso: { type: "string" },
    flows: { type: "string" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const options: LoadOptions = {
    host: values.host as string,
    port: int(values, "port", 9000, 1),
    size: int(values, "size", 64, HEADER),
    window: int(values, "window", 256, 1),
    duration: num(values, "duration", 3, 0.01),
    count: int(values, "count", 0, 0),
    warmup: num(values, "warmup", 0, 0),
    timeoutMs: int(values, "timeout-ms", 500, 1),
    receiveBufferSize: values.rcvbuf === undefined ? undefined : int(values, "rcvbuf", 0, 1),
    sendBufferSize: values.sndbuf === undefined ? undefined : int(values, "sndbuf", 0, 1),
    gso: int(values, "gso", 1, 1),
    flows: int(values, "flows", 1, 1),
  };
  if (options.gso! > 64) throw new UsageError("--gso must be at most 64 (UDP_MAX_SEGMENTS)");
  if (options.gso! * options.size > 65507) {
    throw new UsageError("--gso × --size must be at most 65507 (one train per send)");
  }
  if (options.port > 65535) throw new UsageError("--port must be at most 65535");
  if (options.size > 65507) throw new UsageError("--size must be at most 65507");
  if (options.window > 16384) throw new UsageError("--window must be at most 16384");
  if (options.flows! > 256) throw new UsageError("--flows must be at most 256");
  let r: LoadResult;
  try {
    r = await runLoad(options);
  } catch (e) {
    // The server's address is first checked by the first send, whose message names no field.
    if (e instanceof TypeError && /numeric IPv4 or IPv6 address/.test(e.message)) {
      throw new UsageError(
        `--host must be a numeric IPv4 or IPv6 address, got ${JSON.stringify(options.host)}`,
      );
    }
    // The buffer sizes go to the API as given; the rest are checked above.
    throw flagError(e, {
      hostname: "--host",
      receiveBufferSize: "--rcvbuf",
      sendBufferSize: "--sndbuf",
    });
  }
  if (values.json) console.log(JSON.stringify(r));
  else {
    console.log(
      `udp_load: ${r.echoed}/${r.sent} echoed in ${r.seconds} s: ${r.pps} pps ` +
        `(${(r.bytesPerSecond / 1e6).toFixed(2)} MB/s), lost ${r.lost}, late ${r.late}, ` +
        `wrong ${r.wrong}; latency p50 ${r.p50Us} µs, p99 ${r.p99Us} µs, max ${r.maxUs} µs` +
        (r.cpuPercent >= 0 ? `; load generator CPU ${r.cpuPercent}%` : ""),
    );
  }
  if (r.wrong > 0) {
    console.error(`udp_load: ${r.wrong} wrong echo(es); first: ${r.firstWrong}`);
    return 1;
  }
  if (r.echoed === 0) {
    console.error(`udp_load: no echo came back from ${formatAddress(options.host, options.port)}`);
    return 1;
  }
  return 0;
}

if (import.meta.main) await runMain("udp_load", USAGE, main);
