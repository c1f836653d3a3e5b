/**
 * `deno task smoke:windows`: regio's first contact with real Windows. The
 * windows-2025 CI job runs it before the test suite. It prints one line per
 * step with what the step returned, or the error (with its causes):
 *
 * 1. `support()`;
 * 2. I/O ring capabilities, then a ring created and closed;
 * 3. a temp file read through `FileRing` (registered file, registered buffer);
 * 4. RIO open + buffer registration + a UDP echo round trip against a plain
 *    `Deno.listenDatagram` peer (needs `--unstable-net`);
 * 5. the same again: a second Winsock session after the first one's WSACleanup;
 * 6. two `UdpSocket`s one after the other, each echoed by the same peer.
 *
 * Every step is guarded (a throw or a hang ends that step only), and the
 * script exits 1 if any step failed. Off Windows it says so and exits 0.
 *
 * Usage: deno run -A --unstable-net tools/windows_smoke.ts
 *
 * @module
 */

import { FileRing, type SocketAddress, support, UdpSocket } from "../mod.ts";
import { IoRing, Rio, type RioCompletion, type RioCompletionQueue } from "../src/windows/mod.ts";

/** One step: `run` returns a line saying what it found, or throws. */
export interface SmokeStep {
  /** A stable name for tests. */
  readonly id: string;
  /** What the output line calls it. */
  readonly name: string;
  /** Does the step; the string is printed after "ok". */
  run(): string | Promise<string>;
}

/** How {@link runSmoke} reports. */
export interface SmokeOptions {
  /** Where lines go (default console.log). */
  print?: (line: string) => void;
  /** A step that has not settled by then fails (default 20 s). */
  timeoutMs?: number;
}

/** `Name: message (cause: Name: message …)`, so one line says everything. */
function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = e.cause === undefined ? "" : ` (cause: ${describe(e.cause)})`;
  return `${e.name}: ${e.message}${cause}`;
}

/** Runs every step in order, each alone; prints a line per step and a summary. Returns the failures. */
export async function runSmoke(
  steps: readonly SmokeStep[],
  options: SmokeOptions = {},
): Promise<number> {
  const print = options.print ?? ((line: string) => console.log(line));
  const timeoutMs = options.timeoutMs ?? 20_000;
  const width = Math.max(...steps.map((s) => s.name.length));
  let failed = 0;
  for (const step of steps) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const result = await Promise.race([Promise.resolve().then(() => step.run()), timeout]);
      print(`ok   ${`${step.name}:`.padEnd(width + 1)} ${result}`);
    } catch (e) {
      failed++;
      const timedOut = e instanceof Error && e.message.startsWith("timed out after ");
      print(`FAIL ${`${step.name}:`.padEnd(width + 1)} ${timedOut ? e.message : describe(e)}`);
    } finally {
      clearTimeout(timer);
    }
  }
  print(`windows smoke: ${steps.length - failed} passed, ${failed} failed`);
  return failed;
}

// --- the steps -----------------------------------------------------------------

function supportStep(): string {
  const s = support();
  const line = (what: string, b: typeof s.files): string =>
    `${what} ${b.available ? "yes" : "no"} (${b.backend ?? "-"}: ${b.detail})`;
  const text = `${line("files", s.files)}; ${line("sockets", s.sockets)}`;
  if (!s.files.available || !s.sockets.available) throw new Error(`not all available: ${text}`);
  return text;
}

function ioringStep(): string {
  const c = IoRing.queryCapabilities();
  const caps = `maxVersion ${c.maxVersion}, SQ ≤ ${c.maxSubmissionQueueSize}, ` +
    `CQ ≤ ${c.maxCompletionQueueSize}, features 0x${c.featureFlags.toString(16)}`;
  using ring = IoRing.create({ submissionQueueSize: 8 });
  const ops = (["read", "registerFiles", "registerBuffers", "cancel", "write", "flush"] as const)
    .filter((op) => ring.isSupported(op));
  return `${caps}; created version ${ring.version}, SQ ${ring.submissionQueueSize}, ` +
    `CQ ${ring.completionQueueSize}, ops: ${ops.join(" ")}`;
}

/** A deterministic byte pattern, so a misplaced byte shows. */
function pattern(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0, x = 7; i < length; i++) out[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  return out;
}

async function fileRingStep(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "regio_smoke_" });
  try {
    const path = `${dir}${Deno.build.os === "windows" ? "\\" : "/"}smoke.bin`;
    const expected = pattern(10_000);
    await Deno.writeFile(path, expected);
    await using ring = FileRing.open({ backend: "ioring", depth: 8 });
    using _files = await ring.openFiles([path]);
    using pool = await ring.registerBuffers({ count: 1, size: 16_384 });
    const n = await ring.read({ file: 0, buffer: 0, length: 16_384, position: 0 });
    const got = pool.bytes(0).subarray(0, n);
    if (n !== expected.length || got.some((b, i) => b !== expected[i])) {
      throw new Error(`read ${n} bytes, expected ${expected.length}, or the bytes differ`);
    }
    return `${ring.capabilities.detail}: read ${n} bytes of a ${expected.length}-byte file, bytes match`;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A plain Deno UDP socket on 127.0.0.1 that echoes every datagram until closed. */
function echoPeer(): { port: number; close(): Promise<void> } {
  if (typeof Deno.listenDatagram !== "function") {
    throw new Error("Deno.listenDatagram is missing: run with --unstable-net");
  }
  const peer = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const loop = (async () => {
    try {
      for (;;) {
        const [data, from] = await peer.receive();
        await peer.send(data, from);
      }
    } catch { /* closed */ }
  })();
  return {
    port: (peer.addr as Deno.NetAddr).port,
    close: async () => {
      peer.close();
      await loop;
    },
  };
}

/**
 * Dequeues until `n` completions arrived, waiting on the RIONotify event in
 * between (also used by tests/windows_rio_integration_test.ts).
 * @throws {Error} when fewer than `n` arrived within `ms`.
 */
export async function collect(
  cq: RioCompletionQueue,
  n: number,
  ms = 5000,
): Promise<RioCompletion[]> {
  const out: RioCompletion[] = [];
  const deadline = Date.now() + ms;
  for (;;) {
    out.push(...cq.dequeue());
    if (out.length >= n) return out;
    if (Date.now() > deadline) throw new Error(`${out.length} of ${n} completions in ${ms} ms`);
    await cq.wait({ timeoutMs: 100 });
  }
}

async function rioStep(): Promise<string> {
  const peer = echoPeer();
  try {
    const started = performance.now();
    await using rio = Rio.open();
    await using pool = rio.createBufferPool({ slots: 2, slotSize: 2048 });
    await using cq = rio.createCompletionQueue({ size: 16 });
    const limits = { maxOutstandingReceive: 2, maxOutstandingSend: 2 };
    await using socket = rio.udpSocket({ hostname: "127.0.0.1", port: 0, cq, ...limits });
    const [rx, tx] = [pool.acquire()!, pool.acquire()!];
    socket.receiveEx(rx.data, rx.address, "rx");
    const payload = new TextEncoder().encode(`regio smoke over RIO, port ${socket.addr.port}`);
    tx.data.bytes.set(payload);
    tx.address.write({ hostname: "127.0.0.1", port: peer.port });
    socket.sendEx(tx.data, tx.address, "tx", { length: payload.length });
    const done = await collect(cq, 2);
    for (const c of done) if (c.error) throw c.error;
    const echo = done.find((c) => c.kind === "receive")!;
    const from = echo.remote?.read();
    const who = from ? `${from.hostname}:${from.port}` : "an unreadable address";
    const same = echo.bytes === payload.length && from?.port === peer.port &&
      rx.data.bytes.subarray(0, echo.bytes).every((b, i) => b === payload[i]);
    if (!same) throw new Error(`the echo differs: ${echo.bytes} bytes from ${who}`);
    const ms = (performance.now() - started).toFixed(1);
    return `WSAStartup 0x${rio.version.toString(16)} (${rio.description}); socket on port ` +
      `${socket.addr.port}; ${echo.bytes}-byte echo from ${who} in ${ms} ms`;
  } finally {
    await peer.close();
  }
}

async function udpSocketStep(): Promise<string> {
  const peer = echoPeer();
  const to: SocketAddress = { hostname: "127.0.0.1", port: peer.port };
  const results: string[] = [];
  try {
    for (const n of [1, 2]) {
      await using socket = UdpSocket.bind({ hostname: "127.0.0.1", port: 0 });
      const payload = new TextEncoder().encode(`regio smoke UdpSocket ${n}`);
      await socket.send(payload, to);
      const batch = await socket.receive({ timeoutMs: 5000 });
      const echo = batch[0];
      if (!echo) throw new Error(`socket ${n} (${socket.engine}): no echo within 5 s`);
      const same = echo.length === payload.length && echo.data.every((b, i) => b === payload[i]);
      if (!same) throw new Error(`socket ${n}: the echo differs`);
      results.push(`#${n} ${socket.engine} port ${socket.addr.port}: ${echo.length}-byte echo`);
    }
    return results.join("; ");
  } finally {
    await peer.close();
  }
}

/** The steps the windows-2025 job runs, in order. */
export function windowsSteps(): SmokeStep[] {
  return [
    { id: "support", name: "support()", run: supportStep },
    { id: "ioring", name: "I/O ring create + capabilities", run: ioringStep },
    { id: "filering", name: "FileRing registered-file read", run: fileRingStep },
    { id: "rio-1", name: "RIO session 1: register + UDP echo", run: rioStep },
    { id: "rio-2", name: "RIO session 2: the same again", run: rioStep },
    { id: "udpsocket", name: "UdpSocket twice in a row", run: udpSocketStep },
  ];
}

/** Runs the smoke on Windows; elsewhere says it is for Windows. Returns the exit code. */
export async function main(): Promise<number> {
  if (Deno.build.os !== "windows") {
    console.log(
      `tools/windows_smoke.ts is for Windows; this is ${Deno.build.os}: nothing to run`,
    );
    return 0;
  }
  console.log(`regio windows smoke: Deno ${Deno.version.deno}, Windows ${Deno.osRelease()}`);
  return await runSmoke(windowsSteps()) === 0 ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main());
