// The io_uring backend when things go wrong, on the real kernel: a fatal
// io_uring_enter error (injected through ring_syscalls.ts's internal `testFaults`), an
// SQ the kernel does not drain, a failed unregister, and a receive completion
// that carries a buffer and an error while its buffer ring is being disposed.

import assert from "node:assert/strict";
import {
  ErrnoError,
  NativeRegion,
  type ProvidedBufferRing,
  RegioError,
  SocketFd,
  Uring,
} from "../src/linux/mod.ts";
import { RingCore, type Sink } from "../src/linux/ring.ts";
import { testFaults } from "../src/linux/ring_syscalls.ts";
import { registerFiles } from "../src/linux/files.ts";
import { registerBufferRing } from "../src/linux/buf_ring.ts";
import { openDatagramEndpoint } from "../src/linux/datagram.ts";
import { ERRNO, IORING_CQE, IORING_REGISTER } from "../ffi/linux/abi.ts";
import { ignore, within } from "./linux_util.ts";

/** True while some mapping of this process covers `address` (/proc/self/maps). */
function mapped(address: bigint): boolean {
  for (const line of Deno.readTextFileSync("/proc/self/maps").split("\n")) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (m && BigInt(`0x${m[1]}`) <= address && address < BigInt(`0x${m[2]}`)) return true;
  }
  return false;
}

/** Captures console.warn while `fn` runs (and until the returned promise settles). */
async function capturingWarnings(fn: (warnings: string[]) => Promise<void>): Promise<void> {
  const warn = console.warn;
  const warnings: string[] = [];
  console.warn = (...args: unknown[]) => void warnings.push(args.join(" "));
  try {
    await fn(warnings);
  } finally {
    console.warn = warn;
  }
}

function isErrno(code: number, call: string): (e: unknown) => boolean {
  return (e) => e instanceof ErrnoError && e.code === code && e.call === call;
}

Deno.test({
  name: "linux failure: a fatal io_uring_enter settles every op, and everything still closes",
  ignore,
  async fn(): Promise<void> {
    using server = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    using client = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    const fixed = NativeRegion.allocate(4096);
    const provided = NativeRegion.allocate(4 * 512);
    const fixedAddress = fixed.address, providedAddress = provided.address;
    const ring = Uring.create({ entries: 8 });
    try {
      await capturingWarnings(async (warnings) => {
        const files = ring.registerFiles([server.fd, client.fd]);
        const buffers = ring.registerBuffers([fixed]);
        const pbr = ring.registerBufferRing({ region: provided, count: 4, bufferSize: 512 });
        const errors: ErrnoError[] = [];
        const endpoint = ring.openDatagramEndpoint({
          files,
          index: 0,
          buffers: pbr,
          onMessage(): void {},
          onError: (e) => void errors.push(e),
        });
        endpoint.start();
        // A read from an idle socket stays in flight, like the multishot receive.
        const read = ring.readFixed(files, 1, buffers, 0, 0, 8, 0).catch((e) => e);
        assert.equal(ring.submit(), 2);
        assert.equal(ring.inFlight, 2);

        testFaults.enter = () => ERRNO.ENXIO;
        try {
          assert.throws(() => ring.submit(), isErrno(ERRNO.ENXIO, "io_uring_enter"));
        } finally {
          delete testFaults.enter;
        }
        assert.ok(
          isErrno(ERRNO.ENXIO, "io_uring_enter")(await within(3000, read, "the read")),
          "the pending read rejects with the fatal error",
        );
        await new Promise((r) => setTimeout(r, 0));
        assert.deepEqual(errors.map((e) => e.codeName), ["ENXIO"], "onError, once");
        assert.equal(ring.inFlight, 0);
        for (const r of [files, buffers, pbr, endpoint]) assert.equal(r.inFlight, 0);
        assert.equal(warnings.length, 1, `leak reported once: ${warnings.join("\n")}`);
        assert.match(warnings[0], /ENXIO.*bytes of native memory.*leaked/);
        // New work is refused with the same error.
        assert.throws(
          () => ring.readFixed(files, 1, buffers, 0, 0, 8, 0),
          isErrno(ERRNO.ENXIO, "io_uring_enter"),
        );
        assert.throws(() => endpoint.start(), isErrno(ERRNO.ENXIO, "io_uring_enter"));

        // Everything closes, sync and async, without "cannot finish" or BusyError.
        endpoint.close();
        pbr.close();
        await buffers[Symbol.asyncDispose]();
        files.close();
        ring.close();
        await within(3000, ring[Symbol.asyncDispose](), "ring dispose");
        assert.equal(ring.closed, true);
        assert.equal(warnings.length, 1);
      });
      // The regions close, but the kernel may still write into them: never unmapped.
      assert.equal(fixed.holds, 0);
      assert.equal(provided.holds, 0);
      fixed.free();
      provided.free();
      assert.ok(fixed.freed && provided.freed);
      assert.ok(mapped(fixedAddress), "registered buffer memory stays mapped (leaked)");
      assert.ok(mapped(providedAddress), "provided buffer memory stays mapped (leaked)");
    } finally {
      delete testFaults.enter;
      if (!ring.closed) {
        try {
          ring.close();
        } catch { /* the assertion above already failed */ }
      }
    }
  },
});

Deno.test({
  name: "linux failure: await using after a fatal io_uring_enter in the batch submit closes all",
  ignore,
  async fn(): Promise<void> {
    using sock = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    using region = NativeRegion.allocate(4096);
    await capturingWarnings(async () => {
      let read: Promise<unknown>;
      {
        await using ring = Uring.create({ entries: 8 });
        await using files = ring.registerFiles([sock.fd]);
        await using buffers = ring.registerBuffers([region]);
        testFaults.enter = () => ERRNO.EOWNERDEAD;
        try {
          // Submitted by the end-of-tick batch, which is where enter fails.
          read = ring.readFixed(files, 0, buffers, 0, 0, 8, 0).catch((e) => e);
          const e = await within(3000, read, "the read");
          assert.ok(isErrno(ERRNO.EOWNERDEAD, "io_uring_enter")(e), String(e));
          assert.match((e as Error).message, /SQPOLL thread died/);
        } finally {
          delete testFaults.enter;
        }
        assert.equal(files.inFlight + buffers.inFlight + ring.inFlight, 0);
      } // the disposals run here: they must all resolve
    });
    region.free(); // leaked, not unmapped (the read referenced it)
  },
});

Deno.test({
  name: "linux failure: a fatal io_uring_enter while the ring drains still closes it",
  ignore,
  async fn(): Promise<void> {
    using sock = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    using region = NativeRegion.allocate(4096);
    await capturingWarnings(async () => {
      const ring = Uring.create({ entries: 8 });
      const files = ring.registerFiles([sock.fd]);
      const buffers = ring.registerBuffers([region]);
      const read = ring.readFixed(files, 0, buffers, 0, 0, 8, 0).catch((e) => e);
      ring.submit();
      testFaults.enter = () => ERRNO.EBADFD;
      try {
        // The drain's cancels are never submitted; the failure settles the read instead.
        await within(3000, ring[Symbol.asyncDispose](), "ring dispose");
      } finally {
        delete testFaults.enter;
      }
      assert.ok(isErrno(ERRNO.EBADFD, "io_uring_enter")(await read));
      assert.equal(ring.closed, true);
      assert.equal(files.disposed && buffers.disposed, true);
    });
  },
});

Deno.test({
  name: "linux failure: an SQ the kernel takes nothing from leaves no op counted",
  ignore,
  async fn(): Promise<void> {
    using sock = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    using region = NativeRegion.allocate(4096);
    const ring = Uring.create({ entries: 2 });
    try {
      const files = ring.registerFiles([sock.fd]);
      const buffers = ring.registerBuffers([region]);
      const reads: Promise<unknown>[] = [];
      testFaults.enter = () => ERRNO.EBUSY; // retried, then "the kernel took none"
      try {
        reads.push(ring.readFixed(files, 0, buffers, 0, 0, 8, 0).catch((e) => e));
        reads.push(ring.readFixed(files, 0, buffers, 0, 0, 8, 0).catch((e) => e));
        const full = (e: unknown): boolean =>
          e instanceof RegioError && /submission queue is full/.test(e.message);
        assert.throws(() => ring.readFixed(files, 0, buffers, 0, 0, 8, 0), full);
        assert.throws(() => ring.fsync(files, 0), full);
        assert.throws(() => ring.cancel(files, 0), full);
      } finally {
        delete testFaults.enter;
      }
      assert.equal(ring.inFlight, 2);
      assert.equal(files.inFlight, 2);
      assert.equal(buffers.inFlight, 2);
      ring.submit();
      assert.equal(await within(3000, ring.cancel(files, 0), "cancel"), 2);
      for (const e of await Promise.all(reads)) {
        assert.equal((e as ErrnoError).codeName, "ECANCELED");
      }
      assert.equal(files.inFlight + buffers.inFlight, 0);
    } finally {
      delete testFaults.enter;
      // Bounded: with a leaked count the drain would never finish.
      await within(3000, ring[Symbol.asyncDispose](), "ring dispose");
    }
  },
});

Deno.test({
  name: "linux failure: a failed unregister leaves the registration live; dispose retries",
  ignore,
  async fn(): Promise<void> {
    await using ring = Uring.create({ entries: 8 });
    using region = NativeRegion.allocate(4096);
    const buffers = ring.registerBuffers([region]);
    const failing = (op: number) => op === IORING_REGISTER.UNREGISTER_BUFFERS ? ERRNO.EINTR : 0;
    testFaults.register = failing;
    try {
      const unregisterFailed = isErrno(ERRNO.EINTR, "io_uring_register(UNREGISTER_BUFFERS)");
      assert.throws(() => buffers.close(), unregisterFailed);
      assert.equal(buffers.disposed, false, "still registered, still usable");
      assert.equal(region.holds, 1);
      await assert.rejects(buffers[Symbol.asyncDispose](), unregisterFailed);
      assert.equal(buffers.disposed, false);
    } finally {
      delete testFaults.register;
    }
    await within(3000, buffers[Symbol.asyncDispose](), "retried dispose");
    assert.equal(buffers.disposed, true);
    assert.equal(region.holds, 0, "released after the retry, not at ring close");
  },
});

Deno.test({
  name: "linux failure: an unregister that fails at ring close does not stop the close",
  ignore,
  async fn(): Promise<void> {
    using region = NativeRegion.allocate(4096);
    const ring = Uring.create({ entries: 8 });
    ring.registerBuffers([region]);
    testFaults.register = (op) => op === IORING_REGISTER.UNREGISTER_BUFFERS ? ERRNO.EINTR : 0;
    try {
      await within(3000, ring[Symbol.asyncDispose](), "ring dispose");
    } finally {
      delete testFaults.register;
    }
    assert.equal(ring.closed, true);
    assert.equal(region.holds, 0, "closing the ring fd dropped the table");
  },
});

Deno.test({
  name: "linux failure: a receive completion with a buffer and an error during a buffer-ring drain",
  ignore,
  async fn(): Promise<void> {
    using sock = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
    using region = NativeRegion.allocate(4 * 256);
    const core = RingCore.create({ entries: 8 });
    // The endpoint's final receive CQE (the cancel's ECANCELED) arrives as if the
    // kernel had selected buffer 0 first: F_BUFFER with res < 0.
    const addSink = core.addSink.bind(core);
    core.addSink = (sink: Sink): number =>
      addSink({
        ...sink,
        complete(token, res, flags): void {
          if (token === 0xffffffff && !(flags & IORING_CQE.F_MORE)) {
            flags |= IORING_CQE.F_BUFFER | (0 << IORING_CQE.BUFFER_SHIFT);
          }
          sink.complete(token, res, flags);
        },
      });
    const reported: unknown[] = [];
    const onError = (e: ErrorEvent): void => {
      e.preventDefault();
      reported.push(e.error);
    };
    globalThis.addEventListener("error", onError);
    let pbr: ProvidedBufferRing | undefined;
    try {
      const files = registerFiles(core, [sock.fd]);
      pbr = registerBufferRing(core, { region, count: 4, bufferSize: 256 });
      const endpoint = openDatagramEndpoint(core, {
        files,
        index: 0,
        buffers: pbr,
        onMessage(): void {},
      });
      endpoint.start();
      core.submit();
      assert.equal(endpoint.inFlight, 1);
      await within(3000, pbr[Symbol.asyncDispose](), "buffer ring dispose");
      assert.deepEqual(reported, []);
      assert.equal(endpoint.inFlight, 0);
      assert.equal(endpoint.receiving, false);
      assert.equal(pbr.disposed, true);
      endpoint.close();
      files.close();
      core.close();
      await core.idle();
    } finally {
      globalThis.removeEventListener("error", onError);
    }
  },
});
