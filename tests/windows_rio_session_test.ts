/**
 * The RIO function table and the Winsock session it came from
 * (shared/reference/windows-api.md §5.1): the fake serves the table the way
 * ws2_32 does (WSAIoctl writes 13 real function pointers), so the project's
 * query and binding code runs here, and it records a call through a table
 * whose provider was unloaded by the WSACleanup that brought the count to
 * zero. Sessions in a row, and UdpSockets one after the other, must never
 * make such a call.
 */

import assert from "node:assert/strict";
import { installFakeWindows } from "./fakes/windows.ts";
import { assertRioClean } from "./rio_fake_util.ts";
import { openFakeHost } from "./fakes/fake_base.ts";
import { bindRioTable, queryRioTable } from "../src/windows/rio_functions.ts";
import { windowsAllocator } from "../src/windows/api.ts";
import { NativeRegion, Rio } from "../src/windows/mod.ts";
import { bindUdpWith } from "../src/udp/socket.ts";
import { openWindowsBackend } from "../src/udp/windows.ts";

openFakeHost(); // the fake's host memory, opened before any test (resource sanitizer)

Deno.test("RIO table: WSAIoctl hands out 13 function pointers; the project's binding calls them", () => {
  using fake = installFakeWindows();
  const { kernel, ws2 } = fake.api;
  assert.equal(ws2.WSAStartup(0x0202, new Uint8Array(408)), 0);
  const addresses = queryRioTable(kernel, ws2);
  assert.equal(addresses.length, 13);
  assert.equal(new Set(addresses).size, 13, "13 distinct entries");
  assert.equal(fake.winsock.tableFetches, 1);
  const fn = bindRioTable(addresses);
  // Through Deno.UnsafeFnPointer into the fake: the 13 signatures really run.
  const cq = fn.RIOCreateCompletionQueue(8, null);
  assert.ok(cq, "RIOCreateCompletionQueue through the bound table");
  assert.equal(fake.winsock.openCompletionQueues, 1);
  const p = kernel.VirtualAlloc(null, 4096n, 0x3000, 0x04)!;
  const id = fn.RIORegisterBuffer(p, 4096);
  assert.equal(typeof id, "bigint");
  assert.notEqual(id, 0xffff_ffffn);
  assert.equal(fn.RIODequeueCompletion(cq, p, 1), 0, "an empty CQ");
  fn.RIODeregisterBuffer(id);
  fn.RIOCloseCompletionQueue(cq);
  kernel.VirtualFree(p, 0n, 0x8000);
  assert.equal(ws2.WSACleanup(), 0);
  assertRioClean(fake);
});

Deno.test("RIO table: a call after the WSACleanup that brought the count to zero is a violation", () => {
  using fake = installFakeWindows();
  const { kernel, ws2 } = fake.api;
  assert.equal(ws2.WSAStartup(0x0202, new Uint8Array(408)), 0);
  assert.equal(ws2.WSAStartup(0x0202, new Uint8Array(408)), 0);
  const fn = bindRioTable(queryRioTable(kernel, ws2));
  assert.equal(ws2.WSACleanup(), 0); // count 1: the provider stays loaded
  const cq = fn.RIOCreateCompletionQueue(4, null);
  assert.ok(cq);
  fn.RIOCloseCompletionQueue(cq);
  assert.deepEqual(fake.winsock.violations, []);
  assert.equal(ws2.WSACleanup(), 0); // count 0: mswsock.dll may be unloaded
  assert.equal(fn.RIOCreateCompletionQueue(4, null), null, "refused");
  assert.equal(fake.winsock.violations.length, 1);
  assert.match(fake.winsock.violations[0], /RIOCreateCompletionQueue called through the RIO table/);
  // A new session does not revive the old table: its provider is another load.
  assert.equal(ws2.WSAStartup(0x0202, new Uint8Array(408)), 0);
  assert.equal(fn.RIONotify(null), 10022, "refused (WSAEINVAL)");
  assert.equal(fake.winsock.violations.length, 2);
  assert.match(fake.winsock.violations[1], /RIONotify .*session 1/);
  const fresh = bindRioTable(queryRioTable(kernel, ws2));
  const cq2 = fresh.RIOCreateCompletionQueue(4, null);
  assert.ok(cq2, "the new session's own table works");
  fresh.RIOCloseCompletionQueue(cq2);
  assert.equal(fake.winsock.violations.length, 2);
  assert.equal(ws2.WSACleanup(), 0);
});

Deno.test("Rio: two sessions in a row (open, register, CQ, close; open again…) use their own tables", async () => {
  using fake = installFakeWindows();
  for (let round = 1; round <= 2; round++) {
    await using rio = Rio.open();
    using region = NativeRegion.allocate(4096, { allocator: windowsAllocator() });
    await using buffer = rio.registerBuffer(region);
    await using cq = rio.createCompletionQueue({ size: 8 });
    const limits = { maxOutstandingReceive: 2, maxOutstandingSend: 2 };
    await using socket = rio.udpSocket({ hostname: "127.0.0.1", port: 0, cq, ...limits });
    socket.receiveEx(buffer.slice(0, 1024), buffer.addressSlice(1024), round);
    assert.equal(fake.winsock.tableFetches, round, "the table is fetched once per session");
  }
  assertRioClean(fake);
});

Deno.test("Rio: a session opened while another is open, then outliving it", async () => {
  using fake = installFakeWindows();
  const first = Rio.open();
  const second = Rio.open();
  first.close(); // the count stays at 1: the provider is still loaded
  {
    await using cq = second.createCompletionQueue({ size: 4 });
    assert.equal(cq.dequeue().length, 0);
  }
  second.close();
  assertRioClean(fake);
});

Deno.test("UdpSocket: two sockets one after the other in one process, each echoing", async () => {
  using fake = installFakeWindows();
  for (let round = 1; round <= 2; round++) {
    await using server = bindUdpWith(openWindowsBackend, { port: 0, slots: 4, slotSize: 64 });
    await using client = bindUdpWith(openWindowsBackend, { port: 0, slots: 4, slotSize: 64 });
    await client.send(new Uint8Array([round]), server.addr);
    const [d] = await server.receive({ timeoutMs: 1000 });
    assert.deepEqual(d.data, new Uint8Array([round]));
    server.reply(d);
    const [back] = await client.receive({ timeoutMs: 1000 });
    assert.deepEqual(back.data, new Uint8Array([round]));
  }
  assertRioClean(fake);
});
