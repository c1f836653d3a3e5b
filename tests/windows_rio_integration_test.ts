/**
 * RIO against the real ws2_32.dll and RIO function table (Windows only; the
 * project's Windows CI runs it). A UDP round trip on 127.0.0.1 with
 * registered buffers, an echo from the receive slot's own memory, the
 * zero-length registration error, and teardown with receives pending.
 *
 * No test asserts an exact last-error code: from Deno, WSAGetLastError is
 * best effort (reference §5.2). Failures are checked by type and by the call
 * they name; codes returned directly (RIORESULT.Status) may be asserted.
 */

import assert from "node:assert/strict";
import { windowsApi } from "../src/windows/api.ts";
import { NativeRegion, Rio, WinsockError } from "../src/windows/mod.ts";
import { collect } from "../tools/windows_smoke.ts";

const onWindows = Deno.build.os === "windows";
// Open the DLLs before any test, so the resource sanitizer does not count them.
if (onWindows) windowsApi();

Deno.test({
  name: "RIO (real): UDP round trip on 127.0.0.1 with registered buffers, echo from the slot",
  ignore: !onWindows,
  async fn(): Promise<void> {
    await using rio = Rio.open();
    assert.equal(rio.version, 0x0202);
    await using pool = rio.createBufferPool({ slots: 4, slotSize: 2048 });
    await using cq = rio.createCompletionQueue({ size: 64 });
    const limits = { maxOutstandingReceive: 8, maxOutstandingSend: 8 };
    await using a = rio.udpSocket({ hostname: "127.0.0.1", port: 0, cq, ...limits });
    await using b = rio.udpSocket({ hostname: "127.0.0.1", port: 0, cq, ...limits });
    assert.ok(a.addr.port > 0 && b.addr.port > 0 && a.addr.port !== b.addr.port);

    const [aRecv, aSend, bRecv] = [pool.acquire()!, pool.acquire()!, pool.acquire()!];
    b.receiveEx(bRecv.data, bRecv.address, "b-receive");
    const payload = new TextEncoder().encode("hello from regio over RIO");
    aSend.data.bytes.set(payload);
    aSend.address.write(b.addr);
    a.sendEx(aSend.data, aSend.address, "a-send", { length: payload.length });

    const first = await collect(cq, 2);
    const sent = first.find((c) => c.kind === "send")!;
    const got = first.find((c) => c.kind === "receive")!;
    assert.equal(sent.error, null);
    assert.equal(sent.bytes, payload.length);
    assert.equal(got.error, null);
    assert.equal(got.socket, b);
    assert.deepEqual(got.data.bytes.subarray(0, got.bytes), payload);
    assert.deepEqual(got.remote!.read(), { hostname: "127.0.0.1", port: a.addr.port });

    // Echo from b's receive slot (its data and the sender address RIO wrote).
    a.receiveEx(aRecv.data, aRecv.address, "a-receive");
    b.sendEx(got.data, got.remote!, "b-echo", { length: got.bytes });
    const second = await collect(cq, 2);
    const echo = second.find((c) => c.kind === "receive")!;
    assert.equal(echo.socket, a);
    assert.deepEqual(aRecv.data.bytes.subarray(0, echo.bytes), payload);
    assert.deepEqual(aRecv.address.read(), { hostname: "127.0.0.1", port: b.addr.port });

    // A receive left pending: `await using` closes, drains (WSA_OPERATION_ABORTED), deregisters.
    b.receiveEx(bRecv.data, bRecv.address, "left pending");
  },
});

Deno.test({
  name: "RIO (real): batched receives with RIO_MSG_DEFER + one commit",
  ignore: !onWindows,
  async fn(): Promise<void> {
    await using rio = Rio.open();
    await using pool = rio.createBufferPool({ slots: 8, slotSize: 512 });
    await using cq = rio.createCompletionQueue({ size: 32 });
    const limits = { maxOutstandingReceive: 8, maxOutstandingSend: 8 };
    await using rx = rio.udpSocket({ hostname: "127.0.0.1", port: 0, cq, ...limits });
    await using tx = rio.udpSocket({ hostname: "127.0.0.1", port: 0, cq, ...limits });
    for (let i = 0; i < 4; i++) {
      rx.receiveEx(pool.slots[i].data, pool.slots[i].address, i, { defer: true });
    }
    rx.commit();
    for (let i = 4; i < 8; i++) {
      const s = pool.slots[i];
      s.data.bytes[0] = i;
      s.address.write(rx.addr);
      tx.sendEx(s.data, s.address, i, { defer: true, length: 1 });
    }
    tx.commit();
    const done = await collect(cq, 8);
    const received = done.filter((c) => c.kind === "receive" && c.status === 0);
    assert.equal(received.length, 4);
    assert.deepEqual(received.map((c) => c.data.bytes[0]).sort(), [4, 5, 6, 7]);
  },
});

Deno.test({
  name:
    "RIO (real): a zero-length registration is refused naming RIORegisterBuffer; the region is not held",
  ignore: !onWindows,
  fn(): void {
    using rio = Rio.open();
    using region = NativeRegion.allocate(4096);
    assert.throws(
      () => rio.registerBuffer(region, 0, 0),
      (e) => e instanceof WinsockError && e.call === "RIORegisterBuffer",
    );
    assert.equal(region.holds, 0);
    {
      using buffer = rio.registerBuffer(region);
      assert.notEqual(buffer.id, 0xffff_ffffn);
      assert.equal(region.holds, 1);
    }
    assert.equal(region.holds, 0);
  },
});

Deno.test({
  name: "RIO (real): bind to a port in use is a WinsockError naming bind (whatever the last error)",
  ignore: !onWindows,
  async fn(): Promise<void> {
    await using rio = Rio.open();
    await using cq = rio.createCompletionQueue({ size: 16 });
    const limits = { maxOutstandingReceive: 4, maxOutstandingSend: 4 };
    await using first = rio.udpSocket({ hostname: "127.0.0.1", port: 0, cq, ...limits });
    assert.throws(
      () => rio.udpSocket({ hostname: "127.0.0.1", port: first.addr.port, cq, ...limits }),
      (e) => e instanceof WinsockError && e.call === "bind",
    );
  },
});
