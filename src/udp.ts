/**
 * `UdpSocket`: a UDP socket whose datagrams live in registered buffers end
 * to end — received into registered memory, echoed from that same memory,
 * never copied in JS — on io_uring (Linux) and Winsock RIO (Windows).
 *
 * ## Slot ownership
 *
 * The socket owns a fixed pool of slots. Receive slots belong to the kernel
 * until a datagram lands in one; the datagram then **holds its slot** until
 * you {@link UdpSocket.reply} from it or {@link UdpSocket.release} it.
 * Anything still held when you ask for the next batch (`receive()` or the
 * next turn of `for await`) is released automatically, and its `data`
 * becomes invalid: copy what you keep. A reply's slot goes back to the
 * kernel when the kernel has finished sending it, never earlier.
 *
 * Send slots carry fresh data: {@link UdpSocket.send} copies bytes into one
 * (the only copy), or fill one yourself from {@link UdpSocket.acquire}. A
 * send slot is free again when the kernel reports the send done.
 *
 * ## Backpressure
 *
 * Nothing queues without bound. When every receive slot is held or
 * replying, the kernel stops receiving into the pool (the socket's own
 * receive buffer then fills, then the kernel drops; counted as a
 * `poolEmpty` event here). When every send slot is busy, `send()` and
 * `acquire()` wait for one.
 *
 * ## Oversized and empty datagrams
 *
 * A datagram longer than `slotSize` is delivered **truncated**: `data` is
 * its first `slotSize` bytes, `truncated` is true and `stats.truncated`
 * counts it. Replying to it sends the truncated bytes (the echo example
 * drops such datagrams instead). Zero-length datagrams are delivered and
 * can be replied to like any other.
 *
 * ## Errors
 *
 * UDP sends are fire-and-forget: a send the kernel rejects (no route,
 * ENETUNREACH / WSAENETUNREACH …) frees its slot and is counted in
 * `stats.sendErrors` (the latest is {@link UdpSocket.lastSendError}); it
 * never throws later. A peer that vanished is not an error on Linux
 * (unconnected sockets ignore ICMP); on Windows a receive that completes
 * with WSAECONNRESET is counted in `stats.receiveErrors` and the slot is
 * posted again. Bad arguments throw `TypeError`/`RangeError` synchronously,
 * before anything reaches the kernel.
 *
 * A socket whose engine fails for good (its receive cannot be re-armed, its
 * completion queue is corrupt …) stops: `receive()` rejects with that error,
 * and so do `send()`, `acquire()`, `tryAcquire()` and the sends waiting for
 * a slot (a busy slot may never come back). Close it and bind a new one.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { parseIpv4, parseIpv6, type SocketAddress } from "../ffi/inet.ts";
import { checkInteger, DisposedError, RegioError, UnsupportedError } from "./errors.ts";
import { trackLeak, untrackLeak } from "./leak.ts";
import type { BackendEvents, BackendFactory, UdpBackend } from "./udp/backend.ts";
import { openLinuxBackend } from "./udp/linux.ts";
import { openWindowsBackend } from "./udp/windows.ts";

/** Options for {@link UdpSocket.bind}. */
export interface UdpSocketOptions {
  /** Numeric IPv4 or IPv6 address to bind (default `"127.0.0.1"`; no name resolution). */
  hostname?: string;
  /** Port to bind (default 0: the system picks one; see {@link UdpSocket.addr}). */
  port?: number;
  /**
   * Receive slots (default 1024, at most 32768). On Linux the count is
   * rounded up to a power of two (a provided-buffer ring's size);
   * {@link UdpSocket.receiveSlots} reports the real count.
   */
  slots?: number;
  /** Payload bytes per slot (default 2048, at most 65535). Longer datagrams are truncated. */
  slotSize?: number;
  /** Slots for fresh sends (default 256, at most 32768). */
  sendSlots?: number;
  /**
   * The socket's own receive buffer in bytes (`SO_RCVBUF`, 1 to 2³¹−1; default:
   * the OS default). It holds the datagrams the kernel has not yet put in a
   * slot (a burst, or every slot held); past it the kernel drops. Set right
   * after the socket is created, before `bind`.
   *
   * Linux: the kernel caps the value at `net.core.rmem_max` without an error
   * (root or not: only `SO_RCVBUFFORCE` with CAP_NET_ADMIN goes past the cap,
   * and regio does not use it), then doubles it for its own bookkeeping, so
   * `getsockopt` reports `2 × min(value, rmem_max)`. Raise the sysctl for
   * more. Windows: the value is passed to Winsock as given.
   */
  receiveBufferSize?: number;
  /**
   * The socket's send buffer in bytes (`SO_SNDBUF`, 1 to 2³¹−1; default: the
   * OS default). Same rules as {@link UdpSocketOptions.receiveBufferSize},
   * with `net.core.wmem_max` on Linux.
   */
  sendBufferSize?: number;
}

/** Counters since the socket was bound. */
export interface UdpStats {
  /** Datagrams received (truncated ones included). */
  datagramsIn: number;
  /** Payload bytes received (after truncation). */
  bytesIn: number;
  /** Datagrams the kernel reported sent (replies and fresh sends). */
  datagramsOut: number;
  /** Payload bytes sent. */
  bytesOut: number;
  /** Datagrams longer than a slot (delivered truncated). */
  truncated: number;
  /** Times every receive slot was out of the kernel's hands (receiving paused). */
  poolEmpty: number;
  /** Sends the kernel rejected. */
  sendErrors: number;
  /** Receives that completed with an error the socket recovered from. */
  receiveErrors: number;
}

/** Where every slot is, for accounting (a snapshot). */
export interface UdpPoolState {
  /** Receive slots in total. */
  receiveSlots: number;
  /** Receive slots in the kernel's hands, ready for datagrams. */
  receiving: number;
  /** Holding a datagram not yet handed to `receive()`. */
  ready: number;
  /** Holding a datagram handed out and not yet replied to or released. */
  held: number;
  /** Replies the kernel has not finished. */
  replying: number;
  /** Send slots in total. */
  sendSlots: number;
  /** Send slots free. */
  sendFree: number;
  /** Send slots acquired with `acquire()` and not yet sent. */
  acquired: number;
  /** Fresh sends the kernel has not finished. */
  sending: number;
}

/** Options for {@link UdpSocket.receive}. */
export interface UdpReceiveOptions {
  /** Resolve with `[]` when nothing arrives within this many milliseconds. */
  timeoutMs?: number;
  /** Most datagrams in one batch (default: all that are ready). */
  max?: number;
}

// Receive slot states.
const KERNEL = 0;
const READY = 1;
const HELD = 2;
const REPLYING = 3;
// Send slot states.
const FREE = 0;
const ACQUIRED = 1;
const SENDING = 2;

const RESOLVED: Promise<void> = Promise.resolve();
const MAX_SLOTS = 32768;
const MAX_SLOT_SIZE = 65535;
/** SO_RCVBUF / SO_SNDBUF take a C int. */
const MAX_SOCKET_BUFFER = 2 ** 31 - 1;
/** Longest run of batches without letting the event loop turn (ms). */
const YIELD_MS = 1;

/** What a datagram or send slot reads from its socket. */
interface Owner {
  readonly backend: UdpBackend;
  readonly state: Uint8Array;
  readonly gens: Uint32Array;
  closed: boolean;
}

/**
 * One received datagram. Its bytes stay in the socket's registered slot;
 * the object is valid until you reply from it, release it, or ask for the
 * next batch (see the module's slot-ownership rule).
 */
export class UdpDatagram {
  /** The receive slot holding it. */
  readonly slot: number;
  /** Payload bytes received (at most the slot size). */
  readonly length: number;
  /** True when the datagram was longer than the slot and was cut to `length` bytes. */
  readonly truncated: boolean;
  readonly #owner: Owner;
  readonly #gen: number;
  #data: Uint8Array | undefined;
  #remote: SocketAddress | undefined;

  /** @internal Made by the socket. */
  constructor(owner: Owner, slot: number, gen: number, length: number, truncated: boolean) {
    this.#owner = owner;
    this.slot = slot;
    this.#gen = gen;
    this.length = length;
    this.truncated = truncated;
  }

  /** True while the datagram still holds its slot. */
  get valid(): boolean {
    const o = this.#owner;
    return !o.closed && o.gens[this.slot] === this.#gen && o.state[this.slot] === HELD;
  }

  /** @internal The owner, after checking this is still the slot's datagram. */
  hold(owner: Owner): void {
    if (owner !== this.#owner) throw new TypeError("this datagram belongs to another UdpSocket");
    if (!this.valid) {
      throw new RangeError(
        `the datagram in slot ${this.slot} is no longer held (already replied to or released, ` +
          "auto-released by the next receive, or the socket closed)",
      );
    }
  }

  /**
   * The payload: a view into the registered slot (no copy). Writable, so a
   * reply of at most `length` bytes can be built in place.
   * @throws {RangeError} once the datagram no longer holds its slot.
   */
  get data(): Uint8Array {
    this.hold(this.#owner);
    return (this.#data ??= this.#owner.backend.payload(this.slot).subarray(0, this.length));
  }

  /**
   * The sender, decoded on first use and kept (a copy: it stays readable
   * after the slot is released).
   * @throws {RangeError} when first read after the datagram no longer holds its slot.
   */
  get remote(): SocketAddress {
    if (this.#remote) return this.#remote;
    this.hold(this.#owner);
    return (this.#remote = this.#owner.backend.remote(this.slot));
  }
}

/** A send slot taken with {@link UdpSocket.acquire}: fill `bytes`, then `send` it. */
export class UdpSendSlot {
  /** Its number in the socket's pool. */
  readonly slot: number;
  readonly #owner: Owner;
  readonly #bytes: Uint8Array;

  /** @internal Made by the socket. */
  constructor(owner: Owner, slot: number) {
    this.#owner = owner;
    this.slot = slot;
    this.#bytes = owner.backend.payload(slot);
  }

  /** @internal Checks this slot is acquired from `owner`. */
  hold(owner: Owner): void {
    if (owner !== this.#owner) throw new TypeError("this send slot belongs to another UdpSocket");
    if (owner.closed || owner.state[this.slot] !== ACQUIRED) {
      throw new RangeError(`send slot ${this.slot} is not acquired (already sent or released)`);
    }
  }

  /**
   * The whole payload area (`slotSize` bytes of registered memory).
   * @throws {RangeError} once sent or released.
   */
  get bytes(): Uint8Array {
    this.hold(this.#owner);
    return this.#bytes;
  }
}

interface SendWaiter {
  data: Uint8Array | null; // null: an acquire()
  remote: SocketAddress | null;
  length: number;
  resolve: (slot: UdpSendSlot | undefined) => void;
  reject: (e: Error) => void;
}

interface ReceiveWaiter {
  resolve: (batch: UdpDatagram[]) => void;
  reject: (e: Error) => void;
  max: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

let construct: (backend: UdpBackend) => UdpSocket;

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
export class UdpSocket implements AsyncDisposable, AsyncIterable<UdpDatagram[]> {
  /** The bound address (with the port the system picked for port 0). */
  readonly addr: SocketAddress;
  /** Which kernel API drives it: `"io_uring"` (Linux) or `"rio"` (Windows). */
  readonly engine: "io_uring" | "rio";
  /** Receive slots (see {@link UdpSocketOptions.slots}). */
  readonly receiveSlots: number;
  /** Send slots. */
  readonly sendSlots: number;
  /** Payload bytes per slot. */
  readonly slotSize: number;
  /** The most recent send the kernel rejected, or null. */
  lastSendError: Error | null = null;

  readonly #backend: UdpBackend;
  readonly #owner: Owner;
  readonly #state: Uint8Array;
  readonly #gens: Uint32Array;
  readonly #family: 4 | 6;
  // Datagrams received and not yet handed out, in arrival order (a ring).
  readonly #readySlot: Int32Array;
  readonly #readyLength: Int32Array;
  readonly #readyTruncated: Uint8Array;
  #readyHead = 0;
  #readyCount = 0;
  // Slots handed out in the last batch (released on the next request).
  readonly #held: Int32Array;
  #heldCount = 0;
  #receiving: number; // receive slots in the kernel's hands
  readonly #freeSend: number[] = [];
  readonly #sendSlotObjects: UdpSendSlot[] = [];
  readonly #sendWaiters: SendWaiter[] = [];
  #receiveWaiter: ReceiveWaiter | undefined;
  #deliverQueued = false;
  #failure: Error | undefined;
  #closing: Promise<void> | undefined;
  // The last destination that passed the checks (sends to one peer check once).
  #okHost: string | undefined;
  #okPort = -1;
  // Counters (see UdpStats).
  #datagramsIn = 0;
  #bytesIn = 0;
  #datagramsOut = 0;
  #bytesOut = 0;
  #truncated = 0;
  #poolEmpty = 0;
  #sendErrors = 0;
  #receiveErrors = 0;
  // When the last turn of the event loop was (see #mustYield).
  #lastTurn = performance.now();
  readonly #turn = (): void => {
    this.#lastTurn = performance.now();
    this.#deliver();
  };
  readonly #deliver = (): void => {
    this.#deliverQueued = false;
    const w = this.#receiveWaiter;
    if (!w || this.#readyCount === 0) return;
    if (this.#mustYield()) {
      this.#deliverQueued = true;
      setImmediate(this.#turn);
      return;
    }
    this.#receiveWaiter = undefined;
    if (w.timer !== undefined) clearTimeout(w.timer);
    w.resolve(this.#take(w.max));
  };

  static {
    construct = (backend) => new UdpSocket(backend);
  }

  private constructor(backend: UdpBackend) {
    this.#backend = backend;
    this.addr = backend.addr;
    this.engine = backend.engine;
    this.receiveSlots = backend.receiveSlots;
    this.sendSlots = backend.sendSlots;
    this.slotSize = backend.slotSize;
    this.#family = backend.family;
    const total = backend.receiveSlots + backend.sendSlots;
    this.#state = new Uint8Array(total);
    this.#gens = new Uint32Array(backend.receiveSlots);
    this.#owner = { backend, state: this.#state, gens: this.#gens, closed: false };
    this.#readySlot = new Int32Array(backend.receiveSlots);
    this.#readyLength = new Int32Array(backend.receiveSlots);
    this.#readyTruncated = new Uint8Array(backend.receiveSlots);
    this.#held = new Int32Array(backend.receiveSlots);
    this.#receiving = backend.receiveSlots;
    for (let s = total - 1; s >= backend.receiveSlots; s--) this.#freeSend.push(s);
    for (let s = backend.receiveSlots; s < total; s++) {
      this.#sendSlotObjects.push(new UdpSendSlot(this.#owner, s));
    }
    const events: BackendEvents = {
      received: (slot, length, truncated) => this.#received(slot, length, truncated),
      sent: (slot, bytes, error) => this.#sent(slot, bytes, error),
      receiveError: () => this.#receiveErrors++,
      failed: (error) => this.#failed(error),
    };
    backend.start(events);
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
    const os = Deno.build.os;
    if (os !== "linux" && os !== "windows") {
      throw new UnsupportedError("UdpSocket", `Linux (io_uring) or Windows (RIO), not ${os}`);
    }
    return bindUdpWith(os === "windows" ? openWindowsBackend : openLinuxBackend, options);
  }

  /** True once {@link UdpSocket.close} has begun. */
  get closed(): boolean {
    return this.#owner.closed;
  }

  /** A snapshot of the counters. */
  get stats(): UdpStats {
    return {
      datagramsIn: this.#datagramsIn,
      bytesIn: this.#bytesIn,
      datagramsOut: this.#datagramsOut,
      bytesOut: this.#bytesOut,
      truncated: this.#truncated,
      poolEmpty: this.#poolEmpty,
      sendErrors: this.#sendErrors,
      receiveErrors: this.#receiveErrors,
    };
  }

  /** Where every slot is (a snapshot, for accounting and tests). */
  get pool(): UdpPoolState {
    let held = 0, replying = 0, acquired = 0, sending = 0;
    const r = this.receiveSlots;
    for (let s = 0; s < this.#state.length; s++) {
      const st = this.#state[s];
      if (s < r) {
        if (st === HELD) held++;
        else if (st === REPLYING) replying++;
      } else if (st === ACQUIRED) acquired++;
      else if (st === SENDING) sending++;
    }
    return {
      receiveSlots: r,
      receiving: this.#receiving,
      ready: this.#readyCount,
      held,
      replying,
      sendSlots: this.sendSlots,
      sendFree: this.#freeSend.length,
      acquired,
      sending,
    };
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
    return this.#freeSend.length;
  }

  // ---- receiving ----

  #received(slot: number, length: number, truncated: boolean): void {
    this.#datagramsIn++;
    this.#bytesIn += length;
    if (truncated) this.#truncated++;
    if (--this.#receiving === 0) this.#poolEmpty++;
    this.#state[slot] = READY;
    let i = this.#readyHead + this.#readyCount++;
    if (i >= this.receiveSlots) i -= this.receiveSlots;
    this.#readySlot[i] = slot;
    this.#readyLength[i] = length;
    this.#readyTruncated[i] = truncated ? 1 : 0;
    // Deliver after the whole completion batch has been reaped.
    if (this.#receiveWaiter && !this.#deliverQueued) {
      this.#deliverQueued = true;
      queueMicrotask(this.#deliver);
    }
  }

  #take(max: number): UdpDatagram[] {
    const n = Math.min(max, this.#readyCount);
    const batch = new Array<UdpDatagram>(n);
    const owner = this.#owner;
    for (let k = 0; k < n; k++) {
      const i = this.#readyHead;
      const slot = this.#readySlot[i];
      const gen = (this.#gens[slot] = (this.#gens[slot] + 1) >>> 0);
      this.#state[slot] = HELD;
      this.#held[this.#heldCount++] = slot;
      batch[k] = new UdpDatagram(
        owner,
        slot,
        gen,
        this.#readyLength[i],
        this.#readyTruncated[i] === 1,
      );
      this.#readyHead = i + 1 === this.receiveSlots ? 0 : i + 1;
    }
    this.#readyCount -= n;
    return batch;
  }

  /** Gives the kernel back every slot of the last batch that is still held. */
  #releaseHeld(): void {
    const n = this.#heldCount;
    this.#heldCount = 0;
    for (let k = 0; k < n; k++) {
      const slot = this.#held[k];
      if (this.#state[slot] === HELD) this.#giveBack(slot);
    }
  }

  #giveBack(slot: number): void {
    this.#state[slot] = KERNEL;
    this.#receiving++;
    this.#backend.release(slot);
  }

  /**
   * The next batch of datagrams: every datagram that has arrived (up to
   * `max`), waiting for at least one. Datagrams still held from the previous
   * batch are released first.
   * Rejects with {@link DisposedError} once the socket is closed (also when
   * it closes while waiting), or with the error that stopped receiving.
   * @throws {RangeError} for bad options.
   */
  receive(options?: UdpReceiveOptions): Promise<UdpDatagram[]> {
    const max = options?.max === undefined
      ? this.receiveSlots
      : checkInteger("max", options.max, 1, this.receiveSlots);
    const timeoutMs = options?.timeoutMs;
    if (timeoutMs !== undefined) checkInteger("timeoutMs", timeoutMs, 0, 2 ** 31 - 1);
    if (this.#owner.closed) return Promise.reject(new DisposedError("UdpSocket"));
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#receiveWaiter) {
      return Promise.reject(new RegioError("UdpSocket: a receive() is already waiting"));
    }
    this.#releaseHeld();
    if (this.#readyCount > 0 && !this.#mustYield()) return Promise.resolve(this.#take(max));
    const { promise, resolve, reject } = Promise.withResolvers<UdpDatagram[]>();
    const w: ReceiveWaiter = { resolve, reject, max, timer: undefined };
    if (timeoutMs !== undefined) {
      w.timer = setTimeout(() => {
        if (this.#receiveWaiter !== w) return;
        this.#receiveWaiter = undefined;
        resolve([]);
      }, timeoutMs);
    }
    this.#receiveWaiter = w;
    if (this.#readyCount > 0) {
      this.#deliverQueued = true;
      setImmediate(this.#turn);
    }
    return promise;
  }

  /**
   * Under a steady flood, completions reaped while submitting replies keep
   * every batch inside one chain of microtasks, and timers and other I/O
   * would starve. After {@link YIELD_MS} without a turn of the event loop,
   * the next batch waits for one (a `setImmediate`, a few microseconds).
   */
  #mustYield(): boolean {
    return performance.now() - this.#lastTurn > YIELD_MS;
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
      if (!this.#owner.closed) this.#releaseHeld();
    }
  }

  // ---- replying and releasing ----

  /**
   * Sends the first `length` bytes (default: all) of `datagram.data` back to
   * its sender, from the slot itself — no copy in JS; edit `data` in place
   * first to reply with other bytes of the same length or less. The slot
   * goes back to the kernel for receiving once the send completes. A longer
   * reply needs a send slot ({@link UdpSocket.acquire}): past the datagram,
   * the slot still holds bytes of earlier datagrams, possibly other peers'.
   * @throws {RangeError} when the datagram no longer holds its slot, or for a
   *   length that is not an integer in `[0, datagram.length]`.
   * @throws {TypeError} for a datagram of another socket.
   */
  reply(datagram: UdpDatagram, length?: number): void {
    if (!(datagram instanceof UdpDatagram)) throw new TypeError("reply() takes a UdpDatagram");
    datagram.hold(this.#owner);
    const n = length === undefined ? datagram.length : checkInteger(
      "length",
      length,
      0,
      datagram.length,
    );
    const slot = datagram.slot;
    this.#state[slot] = REPLYING;
    try {
      this.#backend.reply(slot, n);
    } catch (e) {
      this.#state[slot] = HELD;
      throw e;
    }
  }

  /**
   * Gives a datagram's slot back to the kernel without replying, or returns
   * an acquired send slot unsent. Its bytes become invalid.
   * @throws {RangeError} when it is no longer held; {@link TypeError} for another socket's.
   */
  release(item: UdpDatagram | UdpSendSlot): void {
    if (item instanceof UdpDatagram) {
      item.hold(this.#owner);
      this.#giveBack(item.slot);
    } else if (item instanceof UdpSendSlot) {
      item.hold(this.#owner);
      this.#freeSendSlot(item.slot);
    } else {
      throw new TypeError("release() takes a UdpDatagram or a UdpSendSlot");
    }
  }

  // ---- sending ----

  #checkRemote(remote: SocketAddress): void {
    if (remote === null || typeof remote !== "object") {
      throw new TypeError("remote must be a { hostname, port } object");
    }
    const { hostname, port } = remote;
    if (hostname === this.#okHost && port === this.#okPort) return;
    if (typeof hostname !== "string") throw new TypeError("remote.hostname must be a string");
    checkInteger("remote.port", port, 1, 65535);
    const family = parseIpv4(hostname) ? 4 : parseIpv6(hostname) ? 6 : 0;
    if (family === 0) {
      throw new TypeError(`"${hostname}" is not a numeric IPv4 or IPv6 address`);
    }
    if (family !== this.#family) {
      throw new TypeError(
        `an IPv${this.#family} socket cannot send to ${hostname} (an IPv${family} address)`,
      );
    }
    this.#okHost = hostname;
    this.#okPort = port;
  }

  /**
   * Sends a datagram to `remote`.
   *
   * - `data` as bytes: copied once into a free send slot (the only copy).
   *   When every send slot is busy, the promise waits for one; keep `data`
   *   unchanged until it resolves.
   * - `data` as a slot from {@link UdpSocket.acquire}: sent from the slot
   *   itself (`length` bytes, default all of it).
   *
   * The promise resolves once the datagram is handed to the kernel (not
   * when it is on the wire); a send the kernel rejects is counted in
   * `stats.sendErrors`. Rejects with {@link DisposedError} when the socket
   * closes while waiting, or with the socket's failure when it fails meanwhile.
   * @throws {TypeError} for a hostname that is not numeric or of the other family.
   * @throws {RangeError} for a bad port, or more bytes than a slot holds.
   * @throws {DisposedError} once the socket is closed; the socket's failure once it failed.
   */
  send(data: Uint8Array | UdpSendSlot, remote: SocketAddress, length?: number): Promise<void> {
    if (this.#owner.closed) throw new DisposedError("UdpSocket");
    if (this.#failure) throw this.#failure;
    this.#checkRemote(remote);
    if (data instanceof UdpSendSlot) {
      data.hold(this.#owner);
      const n = length === undefined ? this.slotSize : checkInteger(
        "length",
        length,
        0,
        this.slotSize,
      );
      this.#sendFrom(data.slot, n, remote);
      return RESOLVED;
    }
    if (!(data instanceof Uint8Array)) {
      throw new TypeError("send() takes a Uint8Array or a UdpSendSlot");
    }
    const n = length === undefined ? data.length : checkInteger("length", length, 0, data.length);
    if (n > this.slotSize) {
      throw new RangeError(`${n} bytes do not fit a ${this.slotSize}-byte slot`);
    }
    const slot = this.#freeSend.pop();
    if (slot === undefined) {
      const { promise, resolve, reject } = Promise.withResolvers<UdpSendSlot | undefined>();
      this.#sendWaiters.push({ data, remote, length: n, resolve, reject });
      return promise as Promise<unknown> as Promise<void>;
    }
    this.#copySend(slot, data, n, remote);
    return RESOLVED;
  }

  #copySend(slot: number, data: Uint8Array, n: number, remote: SocketAddress): void {
    if (n > 0) this.#backend.payload(slot).set(n === data.length ? data : data.subarray(0, n));
    this.#state[slot] = ACQUIRED;
    this.#sendFrom(slot, n, remote);
  }

  #sendFrom(slot: number, n: number, remote: SocketAddress): void {
    try {
      this.#backend.sendTo(slot, n, remote);
    } catch (e) {
      this.#freeSendSlot(slot);
      throw e;
    }
    this.#state[slot] = SENDING;
  }

  /**
   * A free send slot to fill in place (`slot.bytes`), then
   * {@link UdpSocket.send} it (or {@link UdpSocket.release} it). Waits while
   * every send slot is busy. Rejects with {@link DisposedError} on close,
   * or with the socket's failure.
   */
  acquire(): Promise<UdpSendSlot> {
    if (this.#owner.closed) return Promise.reject(new DisposedError("UdpSocket"));
    if (this.#failure) return Promise.reject(this.#failure);
    const slot = this.tryAcquire();
    if (slot) return Promise.resolve(slot);
    const { promise, resolve, reject } = Promise.withResolvers<UdpSendSlot | undefined>();
    this.#sendWaiters.push({ data: null, remote: null, length: 0, resolve, reject });
    return promise as Promise<UdpSendSlot>;
  }

  /**
   * Like {@link UdpSocket.acquire}, without waiting: null when every send slot is busy.
   * @throws {DisposedError} once closed; the socket's failure once it failed.
   */
  tryAcquire(): UdpSendSlot | null {
    if (this.#owner.closed) throw new DisposedError("UdpSocket");
    if (this.#failure) throw this.#failure;
    const slot = this.#freeSend.pop();
    if (slot === undefined) return null;
    this.#state[slot] = ACQUIRED;
    return this.#sendSlotObjects[slot - this.receiveSlots];
  }

  #sent(slot: number, bytes: number, error: Error | null): void {
    if (error) {
      this.#sendErrors++;
      this.lastSendError = error;
    } else {
      this.#datagramsOut++;
      this.#bytesOut += bytes;
    }
    if (slot < this.receiveSlots) {
      // A reply: the backend has given the slot back to the kernel.
      this.#state[slot] = KERNEL;
      this.#receiving++;
    } else {
      this.#freeSendSlot(slot);
    }
  }

  #freeSendSlot(slot: number): void {
    this.#state[slot] = FREE;
    if (this.#owner.closed) return;
    const w = this.#sendWaiters.shift();
    if (!w) {
      this.#freeSend.push(slot);
      return;
    }
    if (w.data === null) {
      this.#state[slot] = ACQUIRED;
      w.resolve(this.#sendSlotObjects[slot - this.receiveSlots]);
      return;
    }
    try {
      this.#copySend(slot, w.data, w.length, w.remote!);
      w.resolve(undefined);
    } catch (e) {
      w.reject(e as Error); // the slot was freed again by #sendFrom
    }
  }

  #failed(error: Error): void {
    this.#failure ??= error;
    // A send slot may never come back (on RIO nothing is dequeued any more).
    for (const s of this.#sendWaiters.splice(0)) s.reject(error);
    const w = this.#receiveWaiter;
    if (!w) return;
    this.#receiveWaiter = undefined;
    if (w.timer !== undefined) clearTimeout(w.timer);
    w.reject(error);
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
    this.#owner.closed = true;
    const w = this.#receiveWaiter;
    this.#receiveWaiter = undefined;
    if (w) {
      if (w.timer !== undefined) clearTimeout(w.timer);
      w.reject(new DisposedError("UdpSocket"));
    }
    for (const s of this.#sendWaiters.splice(0)) s.reject(new DisposedError("UdpSocket"));
    this.#closing = this.#backend.close().finally(() => untrackLeak(this));
    return this.#closing;
  }

  /** Same as {@link UdpSocket.close} (`await using`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** @internal Binds with a given engine (tests use it to drive the RIO engine through the fake). */
export function bindUdpWith(factory: BackendFactory, options: UdpSocketOptions = {}): UdpSocket {
  if (options === null || typeof options !== "object") {
    throw new TypeError("UdpSocket.bind options must be an object");
  }
  const hostname = options.hostname ?? "127.0.0.1";
  if (typeof hostname !== "string" || (!parseIpv4(hostname) && !parseIpv6(hostname))) {
    throw new TypeError(`hostname must be a numeric IPv4 or IPv6 address, got ${String(hostname)}`);
  }
  const port = checkInteger("port", options.port ?? 0, 0, 65535);
  const slots = checkInteger("slots", options.slots ?? 1024, 1, MAX_SLOTS);
  const slotSize = checkInteger("slotSize", options.slotSize ?? 2048, 1, MAX_SLOT_SIZE);
  const sendSlots = checkInteger("sendSlots", options.sendSlots ?? 256, 1, MAX_SLOTS);
  const receiveBufferSize = options.receiveBufferSize === undefined
    ? undefined
    : checkInteger("receiveBufferSize", options.receiveBufferSize, 1, MAX_SOCKET_BUFFER);
  const sendBufferSize = options.sendBufferSize === undefined
    ? undefined
    : checkInteger("sendBufferSize", options.sendBufferSize, 1, MAX_SOCKET_BUFFER);
  const backend = factory({
    hostname,
    port,
    slots,
    slotSize,
    sendSlots,
    receiveBufferSize,
    sendBufferSize,
  });
  try {
    return construct(backend);
  } catch (e) {
    backend.close().catch(() => {});
    throw e;
  }
}
