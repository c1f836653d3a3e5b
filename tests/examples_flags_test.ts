// The examples' command lines as a new user types them (issue 10, point 6):
// `demo --help` prints usage instead of running with "--help" as its seconds,
// flag errors name the flag (not the API field), a negative value after a space
// gets a plain message, IPv6 addresses in messages are bracketed, and --help
// says that --slots rounds up to a power of two.

import assert from "node:assert/strict";

const linux = Deno.build.os === "linux";

async function run(
  example: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(`../examples/${example}`, import.meta.url).pathname, ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

Deno.test("demo --help prints usage documenting the seconds argument, and runs nothing", async () => {
  for (const flag of ["--help", "-h"]) {
    const r = await run("demo.ts", [flag]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Usage: deno task demo \[seconds\]/);
    assert.match(r.stdout, /seconds .*default 3/);
    assert.doesNotMatch(r.stdout, /echo server:/);
  }
});

Deno.test("demo: a bad seconds argument is a usage error naming it", async () => {
  for (const args of [["abc"], ["0"], ["-1"], ["3", "4"], ["--fast"]]) {
    const r = await run("demo.ts", args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /^demo: /);
    assert.match(r.stderr, /Usage: deno task demo/);
    assert.doesNotMatch(r.stdout, /echo server:/);
  }
});

Deno.test("udp_echo / udp_load: range errors name the flag, not the API field", async () => {
  const cases: [string, string[], RegExp, RegExp][] = [
    ["udp_echo.ts", ["--rcvbuf", "0"], /--rcvbuf must be/, /: receiveBufferSize/],
    ["udp_echo.ts", ["--sndbuf", "99999999999"], /--sndbuf must be/, /: sendBufferSize/],
    ["udp_echo.ts", ["--slot-size", "0"], /--slot-size must be/, /: slotSize/],
    ["udp_echo.ts", ["--workers", "2", "--slot-size", "0"], /--slot-size must be/, /: slotSize/],
    ["udp_echo.ts", ["--slots", "0"], /--slots must be/, /: slots must/],
    ["udp_echo.ts", ["--port", "70000"], /--port must be/, /: port must/],
    ["udp_echo.ts", ["--host", "1.2.3"], /--host must be/, /: hostname/],
    ["udp_load.ts", ["--host", "1.2.3", "--count", "1"], /--host must be/, /: hostname/],
  ];
  for (const [example, args, want, field] of cases) {
    const r = await run(example, args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, want, r.stderr);
    assert.doesNotMatch(r.stderr.split("\n")[0], field, r.stderr);
  }
});

Deno.test("udp_echo / udp_load: a negative value after a space gets a plain message", async () => {
  const cases: [string, string[], RegExp][] = [
    ["udp_echo.ts", ["--slot-size", "-1"], /^udp_echo: --slot-size must be .*got "-1"/],
    ["udp_echo.ts", ["--port", "-5"], /^udp_echo: --port must be .*got "-5"/],
    ["udp_load.ts", ["--size", "-1"], /^udp_load: --size must be .*got "-1"/],
  ];
  for (const [example, args, want] of cases) {
    const r = await run(example, args);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, want);
    assert.doesNotMatch(r.stderr, /ambiguous/);
  }
});

Deno.test({
  name: "udp_echo / udp_load: IPv6 addresses in messages are bracketed",
  ignore: !linux,
  async fn(): Promise<void> {
    // fe80::1 without a scope id cannot be bound: the message shows the address.
    const echo = await run("udp_echo.ts", ["--host", "fe80::1", "--port", "0"]);
    assert.equal(echo.code, 1, echo.stderr);
    assert.match(echo.stderr, /cannot bind \[fe80::1\]:0: /);
    assert.doesNotMatch(echo.stderr, /fe80::1:0/);
    const load = await run("udp_load.ts", [
      "--host",
      "::1",
      "--port",
      "9",
      "--count",
      "1",
      "--timeout-ms",
      "50",
    ]);
    assert.equal(load.code, 1, load.stderr);
    assert.match(load.stderr, /no echo came back from \[::1\]:9/);
  },
});

Deno.test("udp_echo --help says --slots rounds up to a power of two (3 becomes 4)", async () => {
  const r = await run("udp_echo.ts", ["--help"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /--slots <n> .*power of two/s);
  assert.match(r.stdout, /3 becomes 4/);
});
