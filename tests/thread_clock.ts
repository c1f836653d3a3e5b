// The clock the event-loop tests measure gaps with: the JS thread's CPU time
// on Linux (/proc/thread-self/schedstat, ns on the CPU), so time the OS gives
// to other processes on a loaded machine does not count; the wall clock
// elsewhere.

const linux = Deno.build.os === "linux";

/** CPU time of the calling thread in ms on Linux; `performance.now()` elsewhere. */
export function threadMs(): number {
  if (!linux) return performance.now();
  const stat = Deno.readTextFileSync("/proc/thread-self/schedstat");
  return Number(stat.slice(0, stat.indexOf(" "))) / 1e6;
}
