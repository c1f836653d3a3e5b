// Running out of fds must end in a normal uncaught error naming EMFILE, not a
// Deno panic (issue 10, point 5). Deno formats an error's stack lazily; with no
// fd free it cannot reread a module's cached source map, falls back to
// transpiling on the main thread, and stacker's first stack probe there (which
// opens /proc/self/maps) panics. The scenario runs in a subprocess that binds
// UdpSockets until one fails, uncaught. A bind opens three fds (socket, ring,
// eventfd), so which call meets the limit depends on how many fds the process
// started with; three runs, under limits 256, 257 and 258, hit each call once.

import assert from "node:assert/strict";

const linux = Deno.build.os === "linux";

function hasBash(): boolean {
  try {
    return new Deno.Command("bash", { args: ["-c", "true"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

Deno.test({
  name: "EMFILE from UdpSocket.bind, uncaught, exits as an uncaught ErrnoError (no panic)",
  ignore: !linux || !hasBash(),
  async fn(): Promise<void> {
    const dir = Deno.makeTempDirSync({ prefix: "regio_emfile_" });
    try {
      const script = `${dir}/exhaust.ts`;
      const mod = new URL("../mod.ts", import.meta.url).href;
      Deno.writeTextFileSync(
        script,
        `import { UdpSocket } from ${JSON.stringify(mod)};\n` +
          `const held: UdpSocket[] = [];\n` +
          `for (;;) held.push(UdpSocket.bind({ hostname: "127.0.0.1", port: 0 }));\n`,
      );
      const quote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;
      const run = async (limit: number): Promise<string> => {
        const out = await new Deno.Command("bash", {
          args: [
            "-c",
            `ulimit -n ${limit} && exec ${quote(Deno.execPath())} run -A ${quote(script)}`,
          ],
          env: { NO_COLOR: "1" },
          stdout: "piped",
          stderr: "piped",
        }).output();
        const stderr = new TextDecoder().decode(out.stderr);
        assert.doesNotMatch(stderr, /panicked/, stderr);
        assert.equal(out.code, 1, stderr);
        const m = stderr.match(
          /^error: Uncaught \(in promise\) ErrnoError: (socket|io_uring_setup|eventfd) failed: EMFILE \(24\)$/m,
        );
        assert.ok(m, stderr);
        return m[1];
      };
      const calls = await Promise.all([256, 257, 258].map(run));
      assert.deepEqual(
        new Set(calls),
        new Set(["socket", "io_uring_setup", "eventfd"]),
        calls.join(),
      );
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
