/**
 * The C yardsticks of bench/udp.ts (bench/c/*.c): compiled with `cc` (or
 * `gcc`) into a temporary directory for one run, never committed. They are
 * reference programs to measure regio against, not part of the library.
 *
 * @module
 */

/** Paths of the compiled yardsticks, or why there are none. */
export type Yardsticks =
  | {
    /** The temporary directory holding the binaries; remove it with {@link removeYardsticks}. */
    dir: string;
    /** `cc --version`'s first line. */
    compiler: string;
    /** The plain recvmmsg/sendmmsg echo server. */
    echoMmsg: string;
    /** The UDP_GRO / UDP_SEGMENT echo server. */
    echoGro: string;
    /** The load client that sends GSO trains and receives with GRO. */
    loadGso: string;
  }
  | { skipped: string };

const source = (name: string): string => new URL(`c/${name}.c`, import.meta.url).pathname;

async function firstLine(cmd: string): Promise<string | null> {
  try {
    const r = await new Deno.Command(cmd, { args: ["--version"], stdout: "piped", stderr: "null" })
      .output();
    return r.success ? new TextDecoder().decode(r.stdout).split("\n")[0].trim() : null;
  } catch {
    return null;
  }
}

/** Compiles the three yardsticks; `{ skipped }` says why when it cannot (not Linux, no compiler, an error). */
export async function buildYardsticks(): Promise<Yardsticks> {
  if (Deno.build.os !== "linux") return { skipped: "the C yardsticks are Linux programs" };
  let cc = "cc", compiler = await firstLine("cc");
  if (compiler === null) {
    cc = "gcc";
    compiler = await firstLine("gcc");
  }
  if (compiler === null) return { skipped: "no C compiler (cc or gcc) on the PATH" };
  const dir = await Deno.makeTempDir({ prefix: "regio_yardsticks_" });
  const out: Record<string, string> = {};
  for (const name of ["udp_echo_mmsg", "udp_echo_gro", "udp_load_gso"]) {
    out[name] = `${dir}/${name}`;
    const r = await new Deno.Command(cc, {
      args: ["-O2", "-Wall", "-o", out[name], source(name)],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!r.success) {
      await removeYardsticks({ dir });
      const why = new TextDecoder().decode(r.stderr).trim().split("\n").slice(0, 3).join(" / ");
      return { skipped: `${cc} failed on bench/c/${name}.c: ${why}` };
    }
  }
  return {
    dir,
    compiler,
    echoMmsg: out.udp_echo_mmsg,
    echoGro: out.udp_echo_gro,
    loadGso: out.udp_load_gso,
  };
}

/** Deletes the temporary directory of {@link buildYardsticks}. */
export async function removeYardsticks(y: { dir: string } | { skipped: string }): Promise<void> {
  if ("dir" in y) await Deno.remove(y.dir, { recursive: true }).catch(() => {});
}
