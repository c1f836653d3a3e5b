// UdpSocket's ownership and lifetime shapes: sync dispose (`using`), which
// refuses with BusyError while operations are in flight and changes nothing;
// ref()/unref() like Deno.Conn; and a socket dropped without close is
// reported as leaked. Each case runs on io_uring (Linux) and on the RIO engine
// through the Windows fake; the process-lifetime cases run in a subprocess.

import assert from "node:assert/strict";
import { BusyError, UdpSocket } from "../mod.ts";
import { bindUdpWith } from "../src/udp/socket.ts";
import type { UdpSocketOptions } from "../src/udp/options.ts";
import { openWindowsBackend } from "../src/udp/windows.ts";
import { installFakeWindows } from "./fakes/windows.ts";
import { ignore, within } from "./linux_util.ts";

type Fake = ReturnType<typeof installFakeWindows>;

interface Engine {
  bind(options: UdpSocketOptions): UdpSocket;
  /** Keeps sends at the kernel (RIO fake only). */
  hold?(on: boolean): void;
}

/** Runs `fn` on both engines. */
function test(name: string, fn: (e: Engine) => Promise<void>): void {
  Deno.test({
    name: `udp (io_uring): ${name}`,
    ignore,
    fn: () => fn({ bind: (o) => UdpSocket.bind(o) }),
  });
  Deno.test(`udp (RIO fake): ${name}`, async () => {
    using fake: Fake = installFakeWindows();
    await fn({
      bind: (o) => bindUdpWith(openWindowsBackend, o),
      hold: (on) => {
        fake.winsock.hold = on;
        if (!on) fake.winsock.run();
      },
    });
    assert.equal(fake.winsock.openSockets, 0, "sockets closed");
    assert.equal(fake.base.liveAllocations, 0, "memory freed");
  });
}

const small = { port: 0, slots: 4, slotSize: 64, sendSlots: 4 };

test("using: an idle socket closes at the end of its scope", async (e) => {
  let kept: UdpSocket;
  {
    using s = e.bind(small);
    kept = s;
    assert.equal(s.closed, false);
  }
  assert.equal(kept.closed, true, "closed by [Symbol.dispose]");
  assert.throws(() => kept.tryAcquire(), /disposed/);
  await within(5000, kept.close(), "the teardown dispose began"); // the same teardown, awaited
  assert.equal(kept.inFlight, 0);
});

test("using: a pending receive() is in flight: BusyError, nothing changed", async (e) => {
  await using server = e.bind(small);
  await using client = e.bind(small);
  const pending = server.receive({ timeoutMs: 5000 });
  assert.throws(
    () => server[Symbol.dispose](),
    (err: unknown) => err instanceof BusyError && /UdpSocket is busy: 1 /.test(err.message),
  );
  assert.equal(server.closed, false, "nothing changed");
  await client.send(new Uint8Array([7]), server.addr);
  const [d] = await within(5000, pending, "the pending receive");
  assert.deepEqual([...d.data], [7], "the receive still completes");
});

test("using: a send at the kernel is in flight: BusyError, nothing changed", async (e) => {
  await using server = e.bind(small);
  await using client = e.bind(small);
  const assertBusy = (): void => {
    const sending = client.pool.sending;
    assert.ok(sending > 0, "a send in flight");
    assert.throws(() => client[Symbol.dispose](), BusyError);
    assert.equal(client.closed, false);
    assert.equal(client.pool.sending, sending, "the send is still at the kernel");
  };
  e.hold?.(true);
  const sent = client.send(new Uint8Array([1]), server.addr);
  // Before the await too: io_uring completes a send inside its submit, so once
  // the promise resolves nothing is left in flight there.
  assertBusy();
  await sent;
  if (e.hold) {
    assert.ok(client.pool.sending > 0, "the fake holds the send");
    assertBusy();
  }
  e.hold?.(false);
  await within(5000, server.receive(), "the datagram");
});

test("ref()/unref(): receiving goes on either way; repeating one is harmless", async (e) => {
  await using server = e.bind(small);
  await using client = e.bind(small);
  server.unref();
  server.unref();
  await client.send(new Uint8Array([1]), server.addr);
  assert.equal((await within(5000, server.receive(), "an unref'd receive")).length, 1);
  server.ref();
  await client.send(new Uint8Array([2]), server.addr);
  assert.equal((await within(5000, server.receive(), "a ref'd receive")).length, 1);
});

// ---- process lifetime, in a subprocess ----

const MOD = new URL("../mod.ts", import.meta.url).href;

/** Runs `source` as a script; kills it after `ms`. Resolves to whether it exited by itself, and its stderr. */
async function script(
  source: string,
  ms: number,
  flags: string[] = [],
): Promise<{ exited: boolean; code: number; stderr: string }> {
  const path = Deno.makeTempFileSync({ prefix: "regio_lifetime_", suffix: ".ts" });
  try {
    Deno.writeTextFileSync(path, source);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", ...flags, path],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    let exited = true;
    const timer = setTimeout(() => {
      exited = false;
      child.kill("SIGKILL");
    }, ms);
    const status = await child.status;
    clearTimeout(timer);
    return { exited, code: status.code, stderr: await stderr };
  } finally {
    Deno.removeSync(path);
  }
}

Deno.test({
  name: "udp (io_uring): an unref'd socket does not keep the process alive; a ref'd one does",
  ignore,
  async fn(): Promise<void> {
    const bind = `import { UdpSocket } from ${JSON.stringify(MOD)};\n` +
      `const s = UdpSocket.bind({ port: 0, slots: 4, slotSize: 64 });\n`;
    const unrefd = await script(bind + "s.unref();\n", 10_000);
    assert.ok(unrefd.exited, `the unref'd script exits by itself: ${unrefd.stderr}`);
    assert.equal(unrefd.code, 0, unrefd.stderr);
    const refd = await script(bind + "s.unref();\ns.ref();\n", 2_000);
    assert.equal(refd.exited, false, "a ref'd socket keeps the process waiting on it");
  },
});

Deno.test({
  name: "udp (io_uring): a socket dropped without close is reported as leaked",
  ignore,
  async fn(): Promise<void> {
    const source = `import { UdpSocket } from ${JSON.stringify(MOD)};\n` +
      `(() => { UdpSocket.bind({ port: 0, slots: 4, slotSize: 64 }).unref(); })();\n` +
      `for (let i = 0; i < 5; i++) {\n` +
      `  (globalThis as unknown as { gc(): void }).gc();\n` +
      `  await new Promise((r) => setTimeout(r, 20));\n` +
      `}\n`;
    const r = await script(source, 10_000, ["--v8-flags=--expose-gc"]);
    assert.ok(r.exited, r.stderr);
    assert.match(
      r.stderr,
      /a UdpSocket bound to port \d+ was garbage-collected without being closed/,
    );
  },
});
