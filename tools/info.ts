/**
 * `deno task info`: prints which regio backends this machine supports, and
 * why not when not. Exits 0 either way; it is a report, not a check.
 */

import { support } from "../mod.ts";

const s = support();
console.log(`regio on ${s.os} (Deno ${Deno.version.deno})`);
for (const [what, b] of [["files", s.files], ["sockets", s.sockets]] as const) {
  const mark = b.available ? "yes" : "no ";
  console.log(`  ${what.padEnd(8)} ${mark} ${b.backend ?? "-"}: ${b.detail}`);
}
console.log("  UDP offloads and metadata:");
for (const [what, o] of Object.entries(s.udp)) {
  const mark = o.available ? (o.on ? "on " : "off") : "no ";
  console.log(`    ${what.padEnd(12)} ${mark} ${o.detail}`);
}
