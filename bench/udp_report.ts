/**
 * What bench/udp.ts prints and writes from its medians: the table, the
 * latency table, the ratios the issues name (with their targets), the SVG
 * chart, and the `## UDP` section of bench/README.md.
 *
 * @module
 */

/** One server's median round. */
export interface Row {
  /** The server's key in bench/udp.ts (regio, regioNoBudget, cMmsg, regioTrains, cGro, …). */
  key: string;
  label: string;
  kind: "plain" | "trains";
  /** Which load client drove it. */
  client: string;
  pps: number;
  /** × Deno.listenDatagram (plain rows; NaN for trains). */
  vsBase: number;
  p50: number;
  p99: number;
  /** Window-1 round trip (plain rows; NaN for trains). */
  latP50: number;
  latP99: number;
  /** Server CPU over the run in % of one core, -1 when unknown. */
  serverCpu: number;
  /** The kernel's (system time's) share of the server's CPU, 0–1. */
  systemShare: number;
  /** Server CPU µs per echoed datagram. */
  cpuUs: number;
  loadCpu: number;
  lost: number;
  wrong: number;
  /** Every round's pps. */
  all: string;
  /** A regio server's JSON summary (timer ticks), null for the others. */
  summary: Record<string, number> | null;
}

/** Everything a report is made from. */
export interface Report {
  machine: string;
  command: string;
  pinning: string;
  size: number;
  window: number;
  trainWindow: number;
  gso: number;
  duration: number;
  warmup: number;
  rounds: number;
  latencyDuration: number;
  /** The plain load generator's SO_RCVBUF. */
  receiveBuffer: number;
  rows: Row[];
  /** What was skipped or substituted, one sentence each. */
  notes: string[];
}

const f2 = (n: number): string => Number.isFinite(n) ? n.toFixed(2) : "—";
const pct = (n: number): string => Number.isFinite(n) ? `${Math.round(n * 100)}` : "?";
const verdict = (ok: boolean): string => ok ? "met" : "missed";

function kindLabel(r: Row, gso: number): string {
  return r.kind === "plain" ? "plain" : `trains of ${gso}`;
}

function table(rep: Report): string {
  const byKind = (k: Row["kind"]): Row | undefined =>
    rep.rows.find((r) => r.key === (k === "plain" ? "regio" : "regioTrains"));
  return [
    "| round | server | client | echoed pps (median) | × Deno.listenDatagram | regio is × this | p50 µs | p99 µs | server CPU % | of it kernel % | server CPU µs / datagram | load gen CPU % | lost | wrong | all rounds (pps) |",
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ...rep.rows.map((r) => {
      const regio = byKind(r.kind);
      return `| ${kindLabel(r, rep.gso)} | ${r.label} | ${r.client} | ${
        r.pps.toLocaleString("en-US")
      } | ${f2(r.vsBase)} | ${regio ? f2(regio.pps / r.pps) : "—"} | ${r.p50} | ${r.p99} | ${
        r.serverCpu < 0 ? "?" : r.serverCpu
      } | ${pct(r.systemShare)} | ${
        f2(r.cpuUs)
      } | ${r.loadCpu} | ${r.lost} | ${r.wrong} | ${r.all} |`;
    }),
  ].join("\n");
}

function latencyTable(rep: Report): string {
  return [
    "| server | p50 µs | p99 µs |",
    "| --- | ---: | ---: |",
    ...rep.rows.filter((r) => r.kind === "plain" && Number.isFinite(r.latP99)).map((r) =>
      `| ${r.label} | ${r.latP50} | ${r.latP99} |`
    ),
  ].join("\n");
}

function tickLines(rep: Report): string[] {
  return rep.rows.filter((r) => r.summary).map((r) => {
    const s = r.summary!;
    return `${r.label}${r.kind === "trains" ? `, trains of ${rep.gso}` : ""} (10 ms timer): ${
      s.ticks ?? "?"
    } ticks seen of ${s.expectedTicks ?? "?"} expected over the server's life, longest gap ${
      s.maxTickGapMs ?? "?"
    } ms.`;
  });
}

/** The ratios, each with its target and verdict where the issues set one. */
function ratios(rep: Report): string[] {
  const get = (key: string): Row | undefined => rep.rows.find((r) => r.key === key);
  const regio = get("regio"), base = get("listenDatagram"), node = get("nodeDgram");
  const cm = get("cMmsg"), noBudget = get("regioNoBudget");
  const trains = get("regioTrains"), gro = get("cGro");
  const out: string[] = [];
  if (regio && cm) {
    const p = regio.pps / cm.pps, u = regio.cpuUs / cm.cpuUs;
    out.push(
      `regio ÷ C recvmmsg echo, datagrams/s = ${f2(p)}× (target ≥ 0.9×: ${verdict(p >= 0.9)})`,
      `regio ÷ C recvmmsg echo, server CPU per datagram = ${f2(u)}× (${f2(regio.cpuUs)} vs ${
        f2(cm.cpuUs)
      } µs; target ≤ 1.15×: ${verdict(u <= 1.15)})`,
    );
  } else out.push("no C recvmmsg echo: no regio ÷ C plain ratios");
  if (trains && regio) {
    const t = trains.pps / regio.pps;
    out.push(
      `regio, trains of ${rep.gso} ÷ regio plain = ${f2(t)}× (target ≥ 10×: ${verdict(t >= 10)})`,
    );
  }
  if (trains && gro) {
    const t = trains.pps / gro.pps;
    out.push(
      `regio ÷ C GRO/GSO echo, trains of ${rep.gso} = ${f2(t)}× (target ≥ 0.5×: ${
        verdict(t >= 0.5)
      }); server CPU per datagram ${f2(trains.cpuUs / gro.cpuUs)}× (${f2(trains.cpuUs)} vs ${
        f2(gro.cpuUs)
      } µs)`,
    );
  }
  if (regio && noBudget) {
    const tick = (r: Row): string =>
      `${r.summary?.ticks ?? "?"}/${r.summary?.expectedTicks ?? "?"}`;
    out.push(
      `regio with budget ÷ without (not a target; the budget's cost): datagrams/s ${
        f2(regio.pps / noBudget.pps)
      }×, server CPU per datagram ${f2(regio.cpuUs / noBudget.cpuUs)}×; timer ticks ${
        tick(regio)
      } with, ${tick(noBudget)} without`,
    );
  }
  if (regio && base) {
    out.push(
      `regio ÷ Deno.listenDatagram = ${f2(regio.pps / base.pps)}× (target ≥ 6×: ${
        verdict(regio.pps >= 6 * base.pps)
      })`,
      `p99 at window 1: regio ${regio.latP99} µs vs Deno.listenDatagram ${base.latP99} µs ` +
        `(target: no worse: ${verdict(regio.latP99 <= base.latP99)})`,
    );
  }
  out.push(
    node && regio
      ? `regio ÷ Node.js dgram = ${f2(regio.pps / node.pps)}× (target ≥ 3×: ${
        verdict(regio.pps >= 3 * node.pps)
      })`
      : "Node.js not found: no Node.js dgram comparison",
  );
  return out;
}

function esc(t: string): string {
  return t.replace(/&/g, "&amp;").replace(/</g, "&lt;");
}

/** A hand-written bar chart: one panel per round kind, each on its own scale. */
function svg(rep: Report): string {
  const w = 760, barH = 28, gap = 12, left = 250, right = 170, panelHead = 30;
  const panels = (["plain", "trains"] as const)
    .map((k) => rep.rows.filter((r) => r.kind === k))
    .filter((rows) => rows.length > 0);
  let y = 56;
  const parts: string[] = [];
  for (const rows of panels) {
    const first = rows[0];
    const title = first.kind === "plain"
      ? `plain datagrams, window ${rep.window} (${first.client})`
      : `GSO trains of ${rep.gso}, window ${rep.trainWindow} (${first.client}); own scale`;
    parts.push(`<text x="20" y="${y + 16}" font-size="13" font-weight="bold">${esc(title)}</text>`);
    y += panelHead;
    const max = Math.max(...rows.map((r) => r.pps));
    const scale = (w - left - right) / max;
    for (const r of rows) {
      const bw = Math.max(1, r.pps * scale);
      const regio = r.key.startsWith("regio");
      const color = regio ? "#2f6fdf" : r.key.startsWith("c") ? "#5a5a5a" : "#9aa5b1";
      const note = r.kind === "plain" ? ` (${f2(r.vsBase)}×)` : "";
      parts.push(
        `<text x="${left - 10}" y="${y + barH / 2 + 5}" text-anchor="end" font-size="13">${
          esc(r.label)
        }</text>`,
        `<rect x="${left}" y="${y}" width="${
          bw.toFixed(1)
        }" height="${barH}" fill="${color}" rx="3"/>`,
        `<text x="${(left + bw + 8).toFixed(1)}" y="${y + barH / 2 + 5}" font-size="12">${
          r.pps.toLocaleString("en-US")
        } pps${note}</text>`,
      );
      y += barH + gap;
    }
    y += 10;
  }
  const h = y + 20;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif">
  <rect width="100%" height="100%" fill="white"/>
  <text x="${
    w / 2
  }" y="24" text-anchor="middle" font-size="16" font-weight="bold">UDP echo, ${rep.size}-byte datagrams (echoed datagrams/s, higher is better)</text>
  <text x="${w / 2}" y="42" text-anchor="middle" font-size="11" fill="#555">${
    esc(rep.machine)
  }; median of ${rep.rounds} rounds; plain ratios vs Deno.listenDatagram</text>
  ${parts.join("\n  ")}
</svg>
`;
}

function section(rep: Report, tbl: string, lat: string, ticks: string[], rs: string[]): string {
  const pin = rep.pinning[0].toUpperCase() + rep.pinning.slice(1);
  return `## UDP

Two kinds of rounds in one run. **Plain rounds**: every echo server driven by
the same load generator, keeping ${rep.window} datagrams of ${rep.size} bytes in
flight and checking every byte of every echo, with a receive buffer of
${rep.receiveBuffer} bytes so that its own socket drops nothing (the "lost"
column is the server's). **Train rounds**: the client sends GSO trains of
${rep.gso} datagrams (one segmented send each, ${rep.trainWindow} datagrams in
flight) and receives with GRO; regio and the C GRO/GSO echo answer. The
"client" column says which client drove each row. The servers keep the OS
default buffers. Each server runs as its own process, one after the other, in
${rep.rounds} interleaved rounds; the table shows the median round. ${pin}.

The C servers and the C client (\`bench/c/\`) are yardsticks, not part of
regio: \`bench:udp\` compiles them with \`cc\` into a temp dir for the run
and skips them, saying so, when there is no compiler. "regio UdpSocket,
budget off" is the same echo with the cooperative budget switched off
(\`bench/servers/regio_echo_no_budget.ts\`): what the budget costs.

- Command: \`${rep.command}\`
- Machine: ${rep.machine}.
- Measured: ${new Date().toISOString().slice(0, 10)}.
${
    rep.notes.length
      ? "\nWhat this run skipped or substituted:\n\n" + rep.notes.map((n) => `- ${n}`).join("\n") +
        "\n"
      : ""
  }
${tbl}

Round-trip latency of one datagram at a time (plain client, window 1,
${rep.latencyDuration} s per server, the median round by p99):

${lat}

${ticks.map((t) => `- ${t}`).join("\n")}

![UDP echo pps](results/udp.svg)

Ratios, measured in this one run:

${rs.map((t) => `- ${t}`).join("\n")}

The reading of these figures (what bounds them on this machine) is in
"UDP: analysis" below, written by hand with the date it was measured.

"server CPU %" and "load gen CPU %" are user+system time of each process
over the run, in % of one core; on loopback each sender's CPU also does the
kernel's delivery into the receiving socket. A process near 100 % is the
limit of that run. "of it kernel %" is the system-time share of the server's
CPU. "server CPU µs / datagram" is the server's CPU time over the run divided
by the datagrams it echoed.
`;
}

/** Prints the report, writes the SVG to `files.svg`, and rewrites the README's `## UDP` section when `files.readme` is set. */
export function writeReport(rep: Report, files: { svg: string; readme: string | null }): void {
  const tbl = table(rep), lat = latencyTable(rep), ticks = tickLines(rep), rs = ratios(rep);
  console.log(
    `\n${rep.machine}; ${rep.size}-byte datagrams, plain window ${rep.window}, trains of ${rep.gso} at window ${rep.trainWindow}; ${rep.duration} s + ${rep.warmup} s warm-up per run, ${rep.rounds} interleaved rounds, ${rep.pinning}.\n`,
  );
  for (const n of rep.notes) console.log(`note: ${n}`);
  console.log(`\n${tbl}`);
  console.log(
    `\nRound-trip latency at window 1 (${rep.latencyDuration} s per server, median round by p99):\n`,
  );
  console.log(lat);
  console.log("");
  for (const t of ticks) console.log(t);
  for (const t of rs) console.log(`- ${t}`);

  Deno.writeTextFileSync(files.svg, svg(rep));
  console.log(`\nwrote ${files.svg}`);
  if (!files.readme) return;
  const text0 = (() => {
    try {
      return Deno.readTextFileSync(files.readme); // re-read right before writing: others edit it
    } catch {
      return "";
    }
  })();
  const body = section(rep, tbl, lat, ticks, rs);
  let text = text0;
  const start = text.search(/^## UDP\s*$/m);
  if (start < 0) {
    text = (text.trimEnd() ? text.trimEnd() + "\n\n" : "# Benchmarks\n\n") + body;
  } else {
    const after = text.slice(start + 6);
    const next = after.search(/^## /m);
    const end = next < 0 ? text.length : start + 6 + next;
    text = text.slice(0, start) + body + (next < 0 ? "" : "\n" + text.slice(end));
  }
  Deno.writeTextFileSync(files.readme, text);
  // deno fmt's line wrapping, so that `deno fmt --check` stays clean after a run.
  new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", files.readme] }).outputSync();
  console.log(`updated the ## UDP section of ${files.readme}`);
}
