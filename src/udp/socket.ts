/**
 * `UdpSocket`: a UDP socket whose datagrams live in registered buffers end
 * to end — received into registered memory, echoed from that same memory,
 * never copied in JS — on io_uring (Linux) and Winsock RIO (Windows).
 *
 * This module is the facade over the parts parts.ts builds on one backend
 * (platform.ts picks it). What the socket promises is said where it is
 * kept: slot ownership and backpressure in slots.ts; oversized and empty
 * datagrams, offloads and per-datagram metadata in receive.ts; send errors,
 * trains and the segmentation fallback in outbox.ts; receive errors and a
 * failed engine in parts.ts. Bad arguments throw `TypeError`/`RangeError`
 * synchronously, before anything reaches the kernel.
 *
 * ## Lifetime
 *
 * Close a socket with `await using` (or {@link UdpSocket.close}).
 * `using` works too, while nothing is in flight (see
 * `[Symbol.dispose]`). Like `Deno.Conn`, a socket keeps the
 * process alive while it is open; {@link UdpSocket.unref} lets the process
 * exit anyway. A socket dropped without closing is reported as leaked when
 * it is garbage-collected (its kernel resources stay open until the process ends).
 *
 * @module
 */

import { BusyError, DisposedError } from "../errors.ts";
import { trackLeak, untrackLeak } from "../leak.ts";
import { assertCanUnref } from "../loop_ref.ts";
import type { SocketAddress } from "../../ffi/inet.ts";
import type { BackendFactory, BackendOptions, UdpBackend } from "./backend.ts";
import { membership, type UdpMembershipOptions } from "./multicast.ts";
import {
  backendOptions,
  connectOptions,
  socketSettings,
  type UdpSocketOptions,
  type UdpSocketSettings,
} from "./options.ts";
import { assembleParts } from "./parts.ts";
import { platformBackend } from "./platform.ts";
import type { ReceiveSide, UdpReceiveOptions, UdpReplyOptions } from "./receive.ts";
import type { SendSide, UdpSendManyOptions, UdpSendOptions } from "./send.ts";
import type { Slots, UdpPoolState, UdpStats } from "./slots.ts";
import { UdpDatagram, UdpSendSlot } from "./views.ts";

let construct: (backend: UdpBackend) => UdpSocket;

/** What a socket's engine does (see {@link UdpSocket.offloads}). */
export interface UdpOffloads {
  /** Receives may be coalesced (GRO); each datagram is still delivered on its own. */
  readonly gro: boolean;
  /** Segmented sends (GSO) are available for trains. */
  readonly gso: boolean;
  /** `datagram.ecn` is reported and sends may carry `{ ecn }`. */
  readonly ecn: boolean;
  /** `datagram.local` is the address each datagram arrived at, and replies leave from it. */
  readonly local: boolean;
}

/**
 * A UDP socket with a registered buffer pool.
 *
 * @example Echo server
 * ```ts ignore
 * import { UdpSocket } from "@regio/regio";
 *
 * await using socket = UdpSocket.bind({ hostname: "127.0.0.1", port: 9000 });
 * console.log("listening on", socket.addr);
 * for await (const batch of socket) {
 *   for (const datagram of batch) socket.reply(datagram); // from its own slot, no copy
 * }
 * ```
 *
 * @example Client
 * ```ts ignore
 * import { UdpSocket } from "@regio/regio";
 *
 * await using socket = UdpSocket.bind({ hostname: "127.0.0.1", port: 0 });
 * await socket.send(new TextEncoder().encode("ping"), { hostname: "127.0.0.1", port: 9000 });
 * const [echo] = await socket.receive({ timeoutMs: 1000 });
 * console.log(echo ? new TextDecoder().decode(echo.data) : "no answer");
 * ```
 */
export class UdpSocket implements Disposable, AsyncDisposable, AsyncIterable<UdpDatagram[]> {
  /** The bound address (with the port the system picked for port 0). */
  readonly addr: SocketAddress;
  /** The peer of a socket made by {@link UdpSocket.connect}, or null. */
  readonly peer: SocketAddress | null;
  /** Which kernel API drives it: `"io_uring"` (Linux) or `"rio"` (Windows). */
  readonly engine: "io_uring" | "rio";
  /** Receive slots (see {@link UdpSocketOptions.slots}). */
  readonly receiveSlots: number;
  /** Send slots. */
  readonly sendSlots: number;
  /** Payload bytes per slot. */
  readonly slotSize: number;
  /**
   * What this socket's engine does: receive coalescing (`gro`), segmented
   * sends (`gso`; see `stats.segmentation` for whether they are still on),
   * ECN codepoints (`ecn`) and per-datagram local addresses (`local`).
   */
  readonly offloads: UdpOffloads;
  /** The most recent send the kernel rejected, or null. */
  lastSendError: Error | null = null;

  readonly #backend: UdpBackend;
  readonly #slots: Slots;
  readonly #receive: ReceiveSide;
  readonly #send: SendSide;
  #closing: Promise<void> | undefined;

  static {
    construct = (backend) => new UdpSocket(backend);
  }

  private constructor(backend: UdpBackend) {
    this.#backend = backend;
    this.addr = backend.addr;
    this.peer = backend.peer;
    this.engine = backend.engine;
    this.receiveSlots = backend.receiveSlots;
    this.sendSlots = backend.sendSlots;
    this.slotSize = backend.slotSize;
    this.offloads = { ...backend.offloads };
    // The engine must not keep the socket itself reachable: a socket dropped
    // without close could then never be collected and reported (leak.ts).
    const self = new WeakRef(this);
    const parts = assembleParts(backend, (error) => {
      const socket = self.deref();
      if (socket) socket.lastSendError = error;
    });
    this.#slots = parts.slots;
    this.#receive = parts.receive;
    this.#send = parts.send;
    trackLeak(this, `a UdpSocket bound to port ${this.addr.port}`);
  }

  /**
   * Opens a UDP socket bound to `hostname:port` with its own registered
   * buffer pool, receiving at once. Close it with `await using` (or
   * {@link UdpSocket.close}).
   * @throws {TypeError} for a hostname that is not a numeric IP address or options that are not an object.
   * @throws {RangeError} for a bad port, slot count, slot size or buffer size (nothing is opened).
   * @throws {ErrnoError} (Linux) / {@link WinsockError} (Windows) from the kernel,
   *   e.g. EADDRINUSE / WSAEADDRINUSE for a port in use, or a failed
   *   `setsockopt` for a buffer size; nothing is left open.
   * @throws {UnsupportedError} on other operating systems, or when io_uring / RIO is unavailable.
   */
  static bind(options: UdpSocketOptions = {}): UdpSocket {
    return bindUdpWith(platformBackend(), options);
  }

  /**
   * Opens a **connected** UDP socket: bound to `options.hostname:port`
   * (default: the wildcard address of the peer's family, port 0), then
   * connected to `peer`. The kernel delivers only `peer`'s datagrams;
   * {@link UdpSocket.send} needs no destination; and when the peer answers
   * with an ICMP error (port unreachable …) the pending or next
   * {@link UdpSocket.receive} rejects with it once — {@link ErrnoError}
   * ECONNREFUSED on Linux, {@link WinsockError} WSAECONNRESET on Windows — and
   * the socket goes on working. A send that meets the error also counts it
   * in `stats.sendErrors`.
   * @throws like {@link UdpSocket.bind}, plus {@link TypeError} for a peer of
   *   the other family and the kernel's `connect` error (e.g. ENETUNREACH).
   */
  static connect(peer: SocketAddress, options: UdpSocketOptions = {}): UdpSocket {
    return connectUdpWith(platformBackend(), peer, options);
  }

  /**
   * Joins the multicast `group` (an IPv4 224.0.0.0/4 or IPv6 ff00::/8
   * address of the socket's family) on `options.interface`; with
   * `options.source`, only that sender's datagrams are delivered.
   * The socket must be bound to the group's port (and to the wildcard
   * address or the group itself to receive it).
   * @throws {TypeError} for an address that is not a multicast address of the
   *   socket's family, or a bad interface; the kernel's error (e.g. a second
   *   join of the same group: EADDRINUSE / WSAEADDRINUSE).
   */
  addMembership(group: string, options?: UdpMembershipOptions): void {
    if (this.#slots.closed) throw new DisposedError("UdpSocket");
    this.#backend.setMembership(true, membership(this.#backend.family, group, options));
  }

  /**
   * Leaves a group joined with {@link UdpSocket.addMembership} (the same
   * group, interface and source).
   * @throws like {@link UdpSocket.addMembership}; the kernel's error for a
   *   membership not held (on Linux 6.x EADDRNOTAVAIL for an any-source
   *   group, EINVAL for a source-specific one).
   */
  dropMembership(group: string, options?: UdpMembershipOptions): void {
    if (this.#slots.closed) throw new DisposedError("UdpSocket");
    this.#backend.setMembership(false, membership(this.#backend.family, group, options));
  }

  /**
   * Changes options of the bound socket: `broadcast`, `multicastTTL`,
   * `multicastLoopback` and `multicastInterface`, with the meaning and
   * checks they have in {@link UdpSocket.bind}. All are checked before any
   * is applied, and the interface is applied first, so an interface the
   * kernel refuses (EADDRNOTAVAIL / ENODEV, or Winsock's) leaves the others
   * unchanged. Options left out stay as they are.
   *
   * @example Raise the multicast TTL once the socket is bound
   * ```ts ignore
   * import { UdpSocket } from "@regio/regio";
   *
   * await using socket = UdpSocket.bind({ hostname: "0.0.0.0" });
   * socket.setOptions({ multicastTTL: 8, multicastLoopback: false });
   * ```
   * @throws {TypeError} for an option `bind` takes but a bound socket cannot
   *   change (or an unknown one), or a bad value; {@link RangeError} for a TTL
   *   outside 0–255; the kernel's error.
   */
  setOptions(options: UdpSocketSettings): void {
    if (this.#slots.closed) throw new DisposedError("UdpSocket");
    this.#backend.setOptions(socketSettings(this.#backend.family, options));
  }

  /** True once {@link UdpSocket.close} has begun. */
  get closed(): boolean {
    return this.#slots.closed;
  }

  /** A snapshot of the counters. */
  get stats(): UdpStats {
    return this.#slots.stats();
  }

  /** Where every slot is (a snapshot, for accounting and tests). */
  get pool(): UdpPoolState {
    return this.#slots.pool(this.#receive.ready, this.#send.free);
  }

  /** Receive slots the kernel itself reports holding (cross-checks {@link UdpPoolState.receiving}). */
  get kernelReceiveSlots(): number {
    return this.#backend.kernelReceiveSlots();
  }

  /** Requests in flight at the kernel (the armed/posted receives plus sends). */
  get inFlight(): number {
    return this.#backend.inFlight();
  }

  /** Free send slots right now (`send()` with bytes will not wait while this is > 0). */
  get sendSlotsFree(): number {
    return this.#send.free;
  }

  // ---- receiving ----

  /**
   * The next batch of datagrams: every datagram that has arrived (up to
   * `max`), waiting for at least one. Datagrams still held from the previous
   * batch are released first.
   * Rejects with {@link DisposedError} once the socket is closed (also when
   * it closes while waiting), or with the error that stopped receiving.
   * @throws {RangeError} for bad options.
   */
  receive(options?: UdpReceiveOptions): Promise<UdpDatagram[]> {
    return this.#receive.receive(options);
  }

  /**
   * Batches until the socket closes: `for await (const batch of socket)`.
   * Leaving the loop releases what the last batch still holds.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<UdpDatagram[], void, undefined> {
    try {
      for (;;) {
        let batch: UdpDatagram[];
        try {
          batch = await this.receive();
        } catch (e) {
          if (e instanceof DisposedError) return;
          throw e;
        }
        yield batch;
      }
    } finally {
      if (!this.#slots.closed) this.#receive.releaseHeld();
    }
  }

  // ---- replying and releasing ----

  /**
   * Sends the first `length` bytes (default: all) of `datagram.data` back to
   * its sender, from the slot itself — no copy in JS; edit `data` in place
   * first to reply with other bytes of the same length or less. The second
   * argument is that length, or `{ length, ecn }` to also mark the reply
   * with an ECN codepoint. The reply leaves from the address the datagram
   * arrived at (`datagram.local`). The slot goes back to the kernel for
   * receiving once the send completes (for a coalesced receive: once every
   * datagram in it is done). A longer reply needs a send slot
   * ({@link UdpSocket.acquire}): past the datagram, the slot still holds
   * bytes of other datagrams, possibly other peers'.
   *
   * Replies to consecutive datagrams of one coalesced receive, in order and
   * unchanged in length, leave as one segmented send at the end of the
   * current microtask (see the module doc of outbox.ts).
   * @throws {RangeError} when the datagram no longer holds its slot, or for a
   *   length that is not an integer in `[0, datagram.length]`, or an `ecn` outside 0–3.
   * @throws {TypeError} for a datagram of another socket.
   * @throws {UnsupportedError} for an ECN mark the engine cannot set.
   */
  reply(datagram: UdpDatagram, length?: number | UdpReplyOptions): void {
    if (!(datagram instanceof UdpDatagram)) throw new TypeError("reply() takes a UdpDatagram");
    this.#receive.reply(datagram, length);
  }

  /**
   * Gives a datagram's slot back to the kernel without replying, or returns
   * an acquired send slot unsent. Its bytes become invalid.
   * @throws {RangeError} when it is no longer held; {@link TypeError} for another socket's.
   */
  release(item: UdpDatagram | UdpSendSlot): void {
    if (item instanceof UdpDatagram) this.#receive.release(item);
    else if (item instanceof UdpSendSlot) this.#send.release(item);
    else throw new TypeError("release() takes a UdpDatagram or a UdpSendSlot");
  }

  // ---- sending ----

  /**
   * Sends a datagram to `remote` (on a connected socket: leave `remote`
   * out, or pass the peer itself; any other address is a `TypeError`).
   *
   * - `data` as bytes: copied once into a free send slot (the only copy).
   *   When every send slot is busy, the promise waits for one; keep `data`
   *   unchanged until it resolves.
   * - `data` as a slot from {@link UdpSocket.acquire}: sent from the slot
   *   itself (`length` bytes, default all of it).
   *
   * The third argument is that length, or `{ length, ecn }` to also mark
   * the datagram with an ECN codepoint (0–3).
   *
   * The promise resolves once the datagram is handed to the kernel (not
   * when it is on the wire); a send the kernel rejects is counted in
   * `stats.sendErrors`. Rejects with {@link DisposedError} when the socket
   * closes while waiting, or with the socket's failure when it fails meanwhile.
   * @throws {TypeError} for a hostname that is not numeric or of the other family.
   * @throws {RangeError} for a bad port, more bytes than a slot holds, or an `ecn` outside 0–3.
   * @throws {UnsupportedError} for an ECN mark the engine cannot set.
   * @throws {DisposedError} once the socket is closed; the socket's failure once it failed.
   */
  send(
    data: Uint8Array | UdpSendSlot,
    remote?: SocketAddress,
    length?: number | UdpSendOptions,
  ): Promise<void> {
    return this.#send.send(data, remote, length);
  }

  /**
   * Sends `payloads` to `remote` as trains: each train is copied into one
   * send slot (the only copy) and leaves as one segmented send (UDP_SEGMENT)
   * when the engine has segmentation — the kernel cuts it into the
   * datagrams. A train holds consecutive payloads of one length (the last
   * may be shorter), at most 64 of them and at most `slotSize` bytes (and
   * 65,507 / 65,527 bytes for IPv4 / IPv6); a longer list becomes several
   * trains. Bind with a larger `slotSize` for longer trains. Without
   * segmentation (an engine without it, or after the kernel refused it:
   * `stats.segmentation`) each train still shares one slot and goes out one
   * datagram per send. Resolves once every train is handed to the kernel;
   * waits for send slots like {@link UdpSocket.send}.
   * @throws {TypeError} for a bad remote or payloads that are not an array of Uint8Array.
   * @throws {RangeError} for a payload longer than a slot, or an `ecn` outside 0–3.
   * @throws {UnsupportedError} for an ECN mark the engine cannot set.
   * @throws {DisposedError} once the socket is closed; the socket's failure once it failed.
   */
  sendMany(
    remote: SocketAddress,
    payloads: readonly Uint8Array[],
    options?: UdpSendManyOptions,
  ): Promise<void> {
    return this.#send.sendMany(remote, payloads, options);
  }

  /**
   * A free send slot to fill in place (`slot.bytes`), then
   * {@link UdpSocket.send} it (or {@link UdpSocket.release} it). Waits while
   * every send slot is busy. Rejects with {@link DisposedError} on close,
   * or with the socket's failure.
   */
  acquire(): Promise<UdpSendSlot> {
    return this.#send.acquire();
  }

  /**
   * Like {@link UdpSocket.acquire}, without waiting: null when every send slot is busy.
   * @throws {DisposedError} once closed; the socket's failure once it failed.
   */
  tryAcquire(): UdpSendSlot | null {
    return this.#send.tryAcquire();
  }

  // ---- closing ----

  /**
   * Closes in the platform's safe order: stops receiving, waits until the
   * kernel has finished every receive and send, then deregisters and frees
   * (io_uring: cancel → drain CQEs → unregister → close ring → close fd →
   * free; RIO: closesocket → drain → close CQ → deregister → free →
   * WSACleanup). A pending `receive()`, `send()` or `acquire()` rejects with
   * {@link DisposedError}; held datagrams become invalid. Idempotent.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#slots.closed = true;
    this.#receive.reject();
    this.#send.reject();
    this.#closing = this.#backend.close().finally(() => untrackLeak(this));
    return this.#closing;
  }

  /** Same as {@link UdpSocket.close} (`await using`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Closes the socket now (`using`), when nothing is in flight: no send or
   * reply the kernel has not finished, no `receive()` waiting, no `send()` /
   * `acquire()` waiting for a slot. Then, as {@link UdpSocket.close}: it
   * stops receiving at once, held datagrams and acquired send slots become
   * invalid, and the kernel side is torn down in the same safe order, which
   * finishes after this returns (the receive the kernel always holds must be
   * cancelled and drained before anything is freed). `await socket.close()`
   * waits for that teardown (it frees the port) and rejects if it failed.
   * Idempotent.
   * @throws {BusyError} while anything is in flight (nothing is changed).
   */
  [Symbol.dispose](): void {
    if (this.#closing) return;
    const p = this.pool;
    const busy = p.sending + p.replying + this.#receive.waiting + this.#send.waiting;
    if (busy > 0) {
      throw new BusyError(
        "UdpSocket",
        busy,
        "operation(s) in flight (sends or replies at the kernel, or calls waiting)",
      );
    }
    void this.close();
  }

  /**
   * Lets the process exit while this socket is open and nothing else keeps
   * it alive, like `Deno.Conn.unref()`: waiting for datagrams no longer
   * holds the event loop. Receiving goes on while the process runs.
   * @throws {UnsupportedError} when this Deno cannot unref a pending FFI call.
   */
  unref(): void {
    assertCanUnref("UdpSocket");
    this.#backend.ref(false);
  }

  /** Undoes {@link UdpSocket.unref}: an open socket keeps the process alive again (the default). */
  ref(): void {
    this.#backend.ref(true);
  }
}

/** @internal Binds with a given engine (tests use it to drive the RIO engine through the fake). */
export function bindUdpWith(factory: BackendFactory, options: UdpSocketOptions = {}): UdpSocket {
  return open(factory, backendOptions(options));
}

/** @internal Connects with a given engine (tests drive the RIO engine through the fake). */
export function connectUdpWith(
  factory: BackendFactory,
  peer: SocketAddress,
  options: UdpSocketOptions = {},
): UdpSocket {
  return open(factory, connectOptions(peer, options));
}

function open(factory: BackendFactory, options: BackendOptions): UdpSocket {
  const backend = factory(options);
  try {
    return construct(backend);
  } catch (e) {
    backend.close().catch(() => {});
    throw e;
  }
}
