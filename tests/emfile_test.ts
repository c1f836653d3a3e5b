// Running out of fds must end in a normal uncaught error naming EMFILE, not a
// Deno panic (issue 10, point 5). Deno formats an error's stack lazily; with no
// fd free it cannot reread a module's cached source map, falls back to
// transpiling on the main thread, and stacker's first stack probe there (which
// opens /proc/self/maps) panics. The scenario runs in a subprocess under
// `ulimit -n 256`, binding UdpSockets until one fails, uncaught.

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
      const out = await new Deno.Command("bash", {
        args: ["-c", `ulimit -n 256 && exec ${quote(Deno.execPath())} run -A ${quote(script)}`],
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.doesNotMatch(stderr, /panicked/, stderr);
      assert.equal(out.code, 1, stderr);
      assert.match(
        stderr,
        /^error: Uncaught \(in promise\) ErrnoError: socket failed: EMFILE \(24\)/m,
      );
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
