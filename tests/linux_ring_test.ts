// The ring itself on the real kernel: setup flags and fallbacks, capability
// probing, waiting without blocking the event loop, close waking the waiter,
// batching, and the RLIMIT_MEMLOCK error (in a child without CAP_IPC_LOCK).

import assert from "node:assert/strict";
import {
  BusyError,
  DisposedError,
  encodeSockaddr,
  type ErrnoError,
  NativeRegion,
  SocketFd,
  Uring,
} from "../src/linux/mod.ts";
import { RingCore } from "../src/linux/ring.ts";
import { KIND } from "../src/linux/ring_contracts.ts";
import { IORING_FEAT, IORING_OP, IORING_SETUP } from "../ffi/linux/abi.ts";
import { fdCount, ignore, within } from "./linux_util.ts";

Deno.test({
  name: "linux ring: setup reports accepted flags, real sizes, features and probed opcodes",
  ignore,
  async fn(): Promise<void> {
    await using ring = Uring.create({ entries: 100, cqEntries: 300 });
    const caps = ring.capabilities;
    assert.equal(caps.sqEntries, 128, "rounded up to a power of two");
    assert.equal(caps.cqEntries, 512);
    // The ring must use the best flag set this kernel accepts (io_uring.md §1.6, best
    // first), asked of the kernel set by set.
    const S = IORING_SETUP;
    const preferred = [
      S.SINGLE_ISSUER | S.DEFER_TASKRUN | S.NO_SQARRAY | S.CQSIZE,
      S.SINGLE_ISSUER | S.DEFER_TASKRUN | S.CQSIZE,
      S.COOP_TASKRUN | S.TASKRUN_FLAG | S.CQSIZE,
      S.CQSIZE,
    ];
    const accepted = preferred.find((flags) => {
      try {
        RingCore.create({ entries: 2, flagSets: [flags] }).close();
        return true;
      } catch {
        return false;
      }
    });
    assert.equal(
      caps.setupFlags,
      accepted,
      `setup flags 0x${caps.setupFlags.toString(16)}, best accepted 0x${accepted?.toString(16)}`,
    );
    assert.equal(caps.deferTaskrun, (caps.setupFlags & IORING_SETUP.DEFER_TASKRUN) !== 0);
    assert.ok(caps.features & IORING_FEAT.SINGLE_MMAP);
    for (
      const op of ["READ_FIXED", "WRITE_FIXED", "FSYNC", "ASYNC_CANCEL", "RECVMSG", "SEND"] as const
    ) {
      assert.ok(caps.supports(IORING_OP[op]), `${op} supported`);
    }
    assert.equal(caps.supports(250), false, "an opcode past IORING_OP_LAST");
    assert.throws(() => Uring.create({ entries: 0 }), RangeError);
    assert.throws(() => Uring.create({ entries: 64, cqEntries: 32 }), RangeError);
    assert.throws(() => Uring.create({ entries: 1.5 }), RangeError);
  },
});

Deno.test({
  name: "linux ring: flag sets the kernel rejects fall back; a COOP_TASKRUN ring works end to end",
  ignore,
  async fn(): Promise<void> {
    const S = IORING_SETUP;
    const core = RingCore.create({
      entries: 8,
      // An undefined bit makes setup fail with EINVAL: the next set must be tried.
      flagSets: [0x4000_0000, S.COOP_TASKRUN | S.TASKRUN_FLAG | S.CQSIZE],
    });
    try {
      assert.equal(core.setupFlags, S.COOP_TASKRUN | S.TASKRUN_FLAG | S.CQSIZE);
      const done: Promise<number>[] = [];
      for (let i = 0; i < 20; i++) { // more than the 8 SQ entries
        const [slot, promise] = core.track("NOP", []);
        core.prep(IORING_OP.NOP, 0, -1, KIND.OP, slot);
        done.push(promise);
      }
      assert.deepEqual(await within(5000, Promise.all(done), "NOPs"), new Array(20).fill(0));
    } finally {
      core.close();
      await core.idle();
    }
  },
});

Deno.test({
  name: "linux ring: SQEs prepared in one tick go to the kernel in one io_uring_enter",
  ignore,
  async fn(): Promise<void> {
    await using ring = Uring.create({ entries: 64 });
    using sock = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    using region = NativeRegion.allocate(4096);
    await using files = ring.registerFiles([sock.fd]);
    await using buffers = ring.registerBuffers([region]);
    // Reads from an idle socket stay in flight, so nothing is reaped in between.
    const reads = Array.from(
      { length: 10 },
      () => ring.readFixed(files, 0, buffers, 0, 0, 8, 0).catch((e) => e),
    );
    assert.equal(ring.submit(), 10, "one enter took all ten SQEs");
    assert.equal(ring.submit(), 0, "and nothing was left behind");
    assert.equal(await ring.cancel(files, 0), 10);
    for (const e of await Promise.all(reads)) assert.equal((e as ErrnoError).codeName, "ECANCELED");
  },
});

Deno.test({
  name: "linux ring: timers keep firing while the ring waits for a completion",
  ignore,
  async fn(): Promise<void> {
    await using ring = Uring.create();
    using server = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    using client = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    using region = NativeRegion.allocate(64 * 1024);
    await using files = ring.registerFiles([server.fd, client.fd]);
    await using buffers = ring.registerBufferRing({ region, count: 8, bufferSize: 512 });
    let ticks = 0;
    let ticksAtArrival = -1;
    const arrived = Promise.withResolvers<void>();
    await using receiver = ring.openDatagramEndpoint({
      files,
      index: 0,
      buffers,
      onMessage(m): void {
        ticksAtArrival = ticks;
        receiver.release(m.bufferId);
        arrived.resolve();
      },
    });
    await using sender = ring.openDatagramEndpoint({
      files,
      index: 1,
      buffers,
      onMessage(): void {},
    });
    receiver.start();
    const interval = setInterval(() => ticks++, 5);
    try {
      const addrLength = encodeSockaddr(server.localAddress, region.view, 8 * 512);
      // The datagram leaves only after 200 ms: meanwhile the ring is waiting.
      const send = setTimeout(() => sender.sendTo(8 * 512 + 64, 4, 8 * 512, addrLength), 200);
      try {
        await within(5000, arrived.promise, "datagram");
      } finally {
        clearTimeout(send);
      }
    } finally {
      clearInterval(interval);
    }
    assert.ok(ticksAtArrival >= 10, `only ${ticksAtArrival} timer ticks during a 200 ms wait`);
  },
});

Deno.test({
  name: "linux ring: close wakes a sleeping waiter at once",
  ignore,
  async fn(): Promise<void> {
    const core = RingCore.create({ entries: 8, waitSliceMs: 10_000 });
    core.expect(1); // something is awaited: the wait loop polls the eventfd
    await new Promise((r) => setTimeout(r, 50));
    core.expect(-1);
    const started = performance.now();
    core.close();
    await within(5000, core.idle(), "waiter");
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 1000, `the waiter took ${elapsed} ms to notice close (slice 10 s)`);
    assert.equal(core.closed, true);
  },
});

Deno.test({
  name: "linux ring: dispose is idempotent; a closed ring refuses everything",
  ignore,
  async fn(): Promise<void> {
    const ring = Uring.create();
    ring[Symbol.dispose]();
    ring.close();
    await ring[Symbol.asyncDispose]();
    assert.equal(ring.closed, true);
    assert.throws(() => ring.registerFiles([0]), DisposedError);
    assert.throws(() => ring.submit(), DisposedError);
    using region = NativeRegion.allocate(4096);
    assert.throws(() => ring.registerBuffers([region]), DisposedError);
    assert.throws(
      () => ring.registerBufferRing({ region, count: 1, bufferSize: 4096 }),
      DisposedError,
    );
  },
});

Deno.test({
  name: "linux ring: sync close with a registration in use refuses; the ring stays usable",
  ignore,
  async fn(): Promise<void> {
    await using ring = Uring.create();
    using sock = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    using region = NativeRegion.allocate(4096);
    await using files = ring.registerFiles([sock.fd]);
    await using buffers = ring.registerBuffers([region]);
    const read = ring.readFixed(files, 0, buffers, 0, 0, 8, 0).catch((e) => e);
    ring.submit();
    assert.throws(() => ring[Symbol.dispose](), (e) => e instanceof BusyError && e.inFlight === 1);
    assert.equal(ring.closed, false);
    assert.equal(await ring.cancel(files, 0), 1);
    assert.equal((await read).codeName, "ECANCELED");
  },
});

const memlockChild = `
import { NativeRegion, Uring, ErrnoError } from "${new URL(
  "../src/linux/mod.ts",
  import.meta.url,
)}";
await using ring = Uring.create();
using region = NativeRegion.allocate(2 * 1024 * 1024);
try {
  ring.registerBuffers([region]);
  console.log(JSON.stringify({ registered: true }));
} catch (e) {
  console.log(JSON.stringify({ name: e.name, code: e.codeName, message: e.message, holds: region.holds }));
}
`;

Deno.test({
  name:
    "linux ring: ENOMEM from RLIMIT_MEMLOCK names the limit and its value (child without CAP_IPC_LOCK)",
  ignore: ignore || !hasTool("setpriv") || !hasTool("prlimit"),
  async fn(): Promise<void> {
    const dir = Deno.makeTempDirSync();
    try {
      const script = `${dir}/child.ts`;
      Deno.writeTextFileSync(script, memlockChild);
      // CAP_IPC_LOCK lifts the limit entirely; drop it, and set a 1 MiB limit.
      const out = await new Deno.Command("setpriv", {
        args: [
          "--inh-caps=-ipc_lock",
          "--bounding-set=-ipc_lock",
          "prlimit",
          "--memlock=1048576",
          Deno.execPath(),
          "run",
          "-A",
          "--no-check",
          script,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout).trim();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      const result = JSON.parse(text);
      assert.equal(result.name, "ErrnoError", text);
      assert.equal(result.code, "ENOMEM");
      assert.match(result.message, /RLIMIT_MEMLOCK \(soft 1024 KiB, hard 1024 KiB\)/);
      assert.equal(result.holds, 0, "a failed registration holds nothing");
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

/** Runs `fn` with errors reported through `reportError` collected instead of printed. */
async function collectingReported(fn: (reported: unknown[]) => Promise<void>): Promise<void> {
  const reported: unknown[] = [];
  const onError = (e: ErrorEvent): void => {
    e.preventDefault();
    reported.push(e.error);
  };
  globalThis.addEventListener("error", onError);
  try {
    await fn(reported);
  } finally {
    globalThis.removeEventListener("error", onError);
  }
}

Deno.test({
  name: "linux ring: a DatagramEndpoint onSent that closes everything, inside ring.submit()",
  ignore,
  async fn(): Promise<void> {
    using server = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    using peer = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    using region = NativeRegion.allocate(4 * 512 + 64);
    const fds = fdCount();
    const ring = Uring.create({ entries: 8 });
    await collectingReported(async (reported) => {
      const files = ring.registerFiles([server.fd]);
      const pbr = ring.registerBufferRing({ region, count: 4, bufferSize: 512 });
      const sent: number[] = [];
      const endpoint = ring.openDatagramEndpoint({
        files,
        index: 0,
        buffers: pbr,
        onMessage(): void {},
        onSent(_token, result): void {
          sent.push(result);
          if (endpoint.inFlight > 0) return;
          // The last send's completion tears everything down, from inside the reap loop.
          endpoint.close();
          pbr.close();
          files.close();
          ring.close();
        },
      });
      const addrAt = 4 * 512;
      const addrLength = encodeSockaddr(peer.localAddress, region.view, addrAt);
      for (let i = 0; i < 3; i++) endpoint.sendTo(0, 8, addrAt, addrLength, i);
      // Loopback sends complete inside this enter: the callback runs during its reap.
      ring.submit();
      await within(3000, ring[Symbol.asyncDispose](), "ring dispose");
      assert.deepEqual(sent, [8, 8, 8]);
      assert.deepEqual(reported, [], "no error from the reap loop");
      assert.ok(ring.closed && files.disposed && pbr.disposed);
    });
    assert.equal(region.holds, 0);
    assert.equal(fdCount(), fds, "ring fd and eventfd closed");
  },
});

Deno.test({
  name:
    "linux ring: a sink that closes the ring from its callback mid-reap: released after the loop",
  ignore,
  async fn(): Promise<void> {
    const fds = fdCount();
    const core = RingCore.create({ entries: 8 });
    await collectingReported(async (reported) => {
      let pending = 4;
      let closedWithCqesLeft = false;
      const id = core.addSink({
        complete(): void {
          pending--;
          if (pending === 3) {
            // Three more CQEs are in this reap's batch; nothing of ours is in flight
            // as far as the ring knows (the sink counts none), so close is allowed.
            core.removeSink(id);
            core.close();
            closedWithCqesLeft = true;
          }
        },
        inFlight: () => 0,
        cancelFor(): void {},
      });
      for (let i = 0; i < 4; i++) core.prep(IORING_OP.NOP, 0, -1, id, i);
      assert.equal(core.submit(), 4, "no exception: the reap loop finished");
      assert.ok(closedWithCqesLeft);
      assert.equal(core.closed, true);
      assert.equal(core.failure, undefined, "the ring did not fail");
      assert.deepEqual(reported, []);
      assert.equal(fdCount(), fds, "released once the loop was done: ring fd and eventfd closed");
      core.close(); // idempotent
      await within(3000, core.idle(), "idle");
      assert.equal(core.submit(), 0);
    });
  },
});

function hasTool(name: string): boolean {
  if (Deno.build.os !== "linux") return false;
  try {
    return new Deno.Command(name, { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}
