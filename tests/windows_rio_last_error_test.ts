/**
 * Last-error codes are best effort from Deno (shared/reference/windows-api.md
 * §5.2): WSAGetLastError is a separate FFI call, and runtime code may run
 * before it. Every Winsock/RIO failure path runs here with the fake's last
 * error kept, lost (0) and unrelated (WSAEWOULDBLOCK): each must still be a
 * typed error naming the call, leave nothing open, and never depend on the
 * code it read.
 */

import assert from "node:assert/strict";
import { installFakeWindows } from "./fakes/windows.ts";
import { assertRioClean } from "./rio_fake_util.ts";
import { openFakeHost } from "./fakes/fake_base.ts";
import { windowsAllocator } from "../src/windows/api.ts";
import {
  NativeRegion,
  Rio,
  type RioCompletionQueue,
  UnsupportedError,
  WinsockError,
} from "../src/windows/mod.ts";
import { bindUdpWith } from "../src/udp/socket.ts";
import { openWindowsBackend } from "../src/udp/windows.ts";

openFakeHost(); // the fake's host memory, opened before any test (resource sanitizer)

const WSAENOBUFS = 10055;
const MODES = ["kept", "lost", "unrelated"] as const;
type Mode = typeof MODES[number];
type Fake = ReturnType<typeof installFakeWindows>;

/** Asserts `e` is a WinsockError naming `call`, with the code the mode lets through. */
function assertNames(e: unknown, call: string, mode: Mode, code: number): void {
  assert.ok(e instanceof WinsockError, `expected a WinsockError, got ${e}`);
  assert.equal(e.call, call);
  assert.ok(e.message.startsWith(call), e.message);
  if (mode === "kept") assert.equal(e.code, code);
  if (mode === "lost") {
    assert.equal(e.code, 0);
    assert.match(e.message, /WSAGetLastError returned 0/, "says the code was lost");
  }
}

/** Runs `fn`, which must throw, and returns what it threw. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  assert.fail("nothing was thrown");
}

/** A test per last-error mode, with the fake installed and checked clean afterwards. */
function test(name: string, fn: (fake: Fake, mode: Mode) => void | Promise<void>): void {
  for (const mode of MODES) {
    Deno.test(`last error ${mode}: ${name}`, async () => {
      using fake = installFakeWindows({ winsock: { lastError: mode } });
      await fn(fake, mode);
      assertRioClean(fake);
    });
  }
}

/** An open session with a CQ, closed by the caller. */
function session(): { rio: Rio; cq: RioCompletionQueue } {
  const rio = Rio.open();
  return { rio, cq: rio.createCompletionQueue({ size: 16 }) };
}

const LIMITS = { maxOutstandingReceive: 2, maxOutstandingSend: 2 } as const;

test(
  "Rio.open: the table ioctl and its socket fail as UnsupportedError caused by the call",
  (fake, mode) => {
    for (const call of ["WSAIoctl", "WSASocketW"]) {
      fake.winsock.failNext(call, WSAENOBUFS);
      const e = thrown(() => Rio.open());
      assert.ok(e instanceof UnsupportedError, `${e}`);
      assertNames(e.cause, call, mode, WSAENOBUFS);
      assert.equal(fake.winsock.startups, 0, "WSACleanup ran");
    }
  },
);

test(
  "udpSocket: WSASocketW, setsockopt, bind, getsockname, RIOCreateRequestQueue",
  async (fake, mode) => {
    const { rio, cq } = session();
    for (const call of ["WSASocketW", "bind", "getsockname", "RIOCreateRequestQueue"]) {
      fake.winsock.failNext(call, WSAENOBUFS);
      const e = thrown(() => rio.udpSocket({ hostname: "127.0.0.1", port: 0, cq, ...LIMITS }));
      assertNames(e, call, mode, WSAENOBUFS);
      assert.equal(fake.winsock.openSockets, 0, `${call}: nothing left open`);
    }
    fake.winsock.failNext("setsockopt", WSAENOBUFS);
    const e = thrown(() =>
      rio.udpSocket({ hostname: "127.0.0.1", port: 0, cq, receiveBufferSize: 1 << 20, ...LIMITS })
    );
    assertNames(e, "setsockopt(SO_RCVBUF)", mode, WSAENOBUFS);
    cq.close();
    await rio[Symbol.asyncDispose]();
  },
);

test("createCompletionQueue and registerBuffer fail naming the RIO call", async (fake, mode) => {
  const { rio, cq } = session();
  fake.winsock.failNext("RIOCreateCompletionQueue", WSAENOBUFS);
  assertNames(
    thrown(() => rio.createCompletionQueue({ size: 4 })),
    "RIOCreateCompletionQueue",
    mode,
    WSAENOBUFS,
  );
  using region = NativeRegion.allocate(4096, { allocator: windowsAllocator() });
  fake.winsock.failNext("RIORegisterBuffer", WSAENOBUFS);
  assertNames(thrown(() => rio.registerBuffer(region)), "RIORegisterBuffer", mode, WSAENOBUFS);
  assert.equal(region.holds, 0, "the region is not held");
  cq.close();
  await rio[Symbol.asyncDispose]();
});

test(
  "receiveEx, sendEx and commit: FALSE is a WinsockError, nothing posted",
  async (fake, mode) => {
    const { rio, cq } = session();
    const pool = rio.createBufferPool({ slots: 2, slotSize: 64 });
    const socket = rio.udpSocket({ hostname: "127.0.0.1", port: 0, cq, ...LIMITS });
    const [a, b] = pool.slots;
    fake.winsock.failNext("RIOReceiveEx", WSAENOBUFS);
    assertNames(
      thrown(() => socket.receiveEx(a.data, a.address)),
      "RIOReceiveEx",
      mode,
      WSAENOBUFS,
    );
    b.address.write(socket.addr);
    fake.winsock.failNext("RIOSendEx", WSAENOBUFS);
    assertNames(thrown(() => socket.sendEx(b.data, b.address)), "RIOSendEx", mode, WSAENOBUFS);
    assert.equal(socket.receivesOutstanding + socket.sendsOutstanding, 0, "nothing posted");
    socket.receiveEx(a.data, a.address, "deferred", { defer: true });
    fake.winsock.failNext("RIOReceiveEx", WSAENOBUFS); // the COMMIT_ONLY call
    assertNames(thrown(() => socket.commit()), "RIOReceiveEx", mode, WSAENOBUFS);
    await rio[Symbol.asyncDispose](); // closesocket completes the deferred receive
  },
);

test("closesocket and WSACleanup failures name the call", async (fake, mode) => {
  const { rio, cq } = session();
  const socket = rio.udpSocket({ hostname: "127.0.0.1", port: 0, cq, ...LIMITS });
  fake.winsock.failNext("closesocket", WSAENOBUFS);
  assertNames(thrown(() => socket.close()), "closesocket", mode, WSAENOBUFS);
  // The refused close changed nothing the kernel holds; a second close goes through.
  await socket[Symbol.asyncDispose]();
  cq.close();
  fake.winsock.failNext("WSACleanup", WSAENOBUFS);
  assertNames(thrown(() => rio.close()), "WSACleanup", mode, WSAENOBUFS);
  // The session is over either way (WSACleanup is not retried); balance the fake's count.
  assert.equal(rio.closed, true);
  assert.equal(fake.api.ws2.WSACleanup(), 0);
});

test(
  "UdpSocket.bind on a port in use is a WinsockError naming bind; nothing is left open",
  async (fake, mode) => {
    await using first = bindUdpWith(openWindowsBackend, { port: 0, slots: 4, slotSize: 64 });
    const e = thrown(() =>
      bindUdpWith(openWindowsBackend, { port: first.addr.port, slots: 4, slotSize: 64 })
    );
    assertNames(e, "bind", mode, 10048); // WSAEADDRINUSE
    assert.equal(fake.winsock.openSockets, 1, "only the first socket");
    assert.equal(fake.winsock.startups, 1, "the failed bind's session ended");
  },
);
