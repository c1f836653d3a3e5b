/**
 * The io_uring engine behind `UdpSocket` on Linux: one ring per socket, the
 * socket as fixed file 0, a provided-buffer ring (REGISTER_PBUF_RING) carved
 * from one native region for the receive slots, and the send slots in the
 * same region after it. Receives are one multishot RECVMSG; replies are
 * SEND + addr2 straight from the receive buffer (the peer address is in the
 * buffer too), recycled when the send's CQE arrives. All of that is the
 * existing {@link DatagramEndpoint}; this file only maps slots onto it.
 *
 * Sends copy in the kernel (copying SEND), not SEND_ZC: for small
 * datagrams zero-copy costs a second CQE and is slower (io_uring.md §2.2–2.3).
 *
 * @module
 */

import { setImmediate } from "node:timers";
import type { SocketAddress } from "../../ffi/inet.ts";
import { IO_URING_RECVMSG_OUT } from "../../ffi/linux/abi.ts";
import { ErrnoError } from "../errors.ts";
import { NativeRegion } from "../memory.ts";
import type { BackendEvents, BackendOptions, UdpBackend } from "./backend.ts";
import { refRing, Uring } from "../linux/uring.ts";
import { socketDrops, SocketFd } from "../linux/socket.ts";
import type { FileTable } from "../linux/files.ts";
import type { ProvidedBufferRing } from "../linux/buf_ring.ts";
import type { DatagramEndpoint } from "../linux/datagram.ts";
import { decodeSockaddr, encodeSockaddr, SOCKADDR_MAX } from "../linux/sockaddr.ts";

const HEADER = IO_URING_RECVMSG_OUT.SIZE; // io_uring_recvmsg_out
const NAME = SOCKADDR_MAX; // room for a sockaddr_in6 in each receive buffer
const ADDR_AREA = 32; // a send slot starts with its destination sockaddr
const ALIGN = 64;
/** Polls in a row that may find nothing before the socket goes back to waiting on the eventfd. */
const SPIN_IDLE = 64;

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

function pow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

class LinuxBackend implements UdpBackend {
  readonly engine = "io_uring" as const;
  readonly addr: SocketAddress;
  readonly family: 4 | 6;
  readonly receiveSlots: number;
  readonly sendSlots: number;
  readonly slotSize: number;
  readonly #sock: SocketFd;
  readonly #region: NativeRegion;
  readonly #view: DataView;
  readonly #ring: Uring;
  readonly #files: FileTable;
  readonly #buffers: ProvidedBufferRing;
  readonly #bufferSize: number;
  readonly #sendBase: number;
  readonly #sendStride: number;
  readonly #payloads: Uint8Array[] = [];
  // The destination last written into each send slot, so repeated sends to one peer encode once.
  readonly #slotHost: (string | undefined)[];
  readonly #slotPort: Int32Array;
  readonly #slotAddrLen: Uint8Array;
  #endpoint: DatagramEndpoint | undefined;
  #events: BackendEvents | undefined;
  #closing: Promise<void> | undefined;
  /** The drop count read just before the socket closed (null if that read failed). */
  #finalDrops: number | null | undefined;
  #completions = 0; // datagrams and send completions seen (for the poll loop)
  #polling = false;
  #idlePolls = 0;
  #refed = true;
  /**
   * While traffic flows, poll the ring from `setImmediate` instead of
   * waiting for the eventfd: a wake-up through Deno's blocking pool costs
   * tens of microseconds, a poll one `io_uring_enter`. Timers and other I/O
   * still run between polls. After {@link SPIN_IDLE} empty polls in a row
   * the ring's own eventfd wait takes over again.
   */
  readonly #poll = (): void => {
    if (this.#closing) {
      this.#polling = false;
      return;
    }
    const before = this.#completions;
    try {
      this.#ring.submit();
    } catch (e) {
      this.#polling = false;
      this.#events?.failed(e as Error);
      return;
    }
    this.#idlePolls = this.#completions === before ? this.#idlePolls + 1 : 0;
    if (this.#idlePolls < SPIN_IDLE) this.#pollSoon();
    else this.#polling = false;
  };

  constructor(o: BackendOptions) {
    const receiveSlots = pow2(o.slots); // a provided-buffer ring's size is a power of two
    const bufferSize = HEADER + NAME + o.slotSize;
    const sendBase = roundUp(receiveSlots * bufferSize, ALIGN);
    const sendStride = roundUp(ADDR_AREA + o.slotSize, ALIGN);
    // Bind first: a port in use fails before anything else exists.
    const sock = SocketFd.bindUdp({ hostname: o.hostname, port: o.port }, {
      receiveBufferSize: o.receiveBufferSize,
      sendBufferSize: o.sendBufferSize,
    });
    const opened: (() => void)[] = [() => sock.close()];
    try {
      const region = NativeRegion.allocate(sendBase + o.sendSlots * sendStride);
      opened.push(() => region.free());
      const slots = receiveSlots + o.sendSlots;
      const ring = Uring.create({
        entries: Math.min(1024, pow2(slots)),
        cqEntries: Math.min(65536, Math.max(4096, pow2(2 * slots))),
      });
      opened.push(() => ring.close());
      const files = ring.registerFiles([sock.fd]);
      opened.push(() => files.close());
      const buffers = ring.registerBufferRing({ region, count: receiveSlots, bufferSize });
      this.#sock = sock;
      this.#region = region;
      this.#view = region.view;
      this.#ring = ring;
      this.#files = files;
      this.#buffers = buffers;
    } catch (e) {
      for (const undo of opened.reverse()) undo();
      throw e;
    }
    this.addr = sock.localAddress;
    this.family = this.addr.hostname.includes(":") ? 6 : 4;
    this.receiveSlots = receiveSlots;
    this.sendSlots = o.sendSlots;
    this.slotSize = o.slotSize;
    this.#bufferSize = bufferSize;
    this.#sendBase = sendBase;
    this.#sendStride = sendStride;
    const bytes = this.#region.bytes;
    for (let s = 0; s < receiveSlots; s++) {
      const at = s * bufferSize + HEADER + NAME;
      this.#payloads.push(bytes.subarray(at, at + o.slotSize));
    }
    for (let i = 0; i < o.sendSlots; i++) {
      const at = sendBase + i * sendStride + ADDR_AREA;
      this.#payloads.push(bytes.subarray(at, at + o.slotSize));
    }
    this.#slotHost = new Array(o.sendSlots).fill(undefined);
    this.#slotPort = new Int32Array(o.sendSlots).fill(-1);
    this.#slotAddrLen = new Uint8Array(o.sendSlots);
  }

  start(events: BackendEvents): void {
    this.#events = events;
    const receiveSlots = this.receiveSlots;
    const endpoint = this.#ring.openDatagramEndpoint({
      files: this.#files,
      index: 0,
      buffers: this.#buffers,
      nameLength: NAME,
      onMessage: (m) => {
        this.#completions++;
        if (!this.#polling) this.#startPolling();
        events.received(m.bufferId, m.length, m.truncated);
      },
      onSent: (token, result, isReply) => {
        this.#completions++;
        const slot = isReply ? token : receiveSlots + token;
        if (result >= 0) events.sent(slot, result, null);
        else events.sent(slot, 0, new ErrnoError(-result, "IORING_OP_SEND"));
      },
      onError: (error) => {
        // The endpoint decides whether the multishot goes on; look after it has.
        queueMicrotask(() => {
          if (this.#closing) return;
          if (endpoint.receiving) events.receiveError(error);
          else events.failed(error);
        });
      },
    });
    this.#endpoint = endpoint;
    endpoint.start();
  }

  #startPolling(): void {
    this.#polling = true;
    this.#idlePolls = 0;
    this.#pollSoon();
  }

  #pollSoon(): void {
    const next = setImmediate(this.#poll);
    if (!this.#refed) next.unref(); // traffic alone must not keep an unref'd socket's process alive
  }

  ref(on: boolean): void {
    this.#refed = on;
    refRing(this.#ring, on);
  }

  payload(slot: number): Uint8Array {
    return this.#payloads[slot];
  }

  remote(slot: number): SocketAddress {
    const at = slot * this.#bufferSize;
    const namelen = this.#view.getUint32(at + IO_URING_RECVMSG_OUT.namelen, true);
    return decodeSockaddr(this.#view, at + HEADER, Math.min(namelen, NAME));
  }

  release(slot: number): void {
    this.#endpoint!.release(slot);
  }

  reply(slot: number, length: number): void {
    this.#endpoint!.reply(slot, length);
  }

  sendTo(slot: number, length: number, remote: SocketAddress): void {
    const i = slot - this.receiveSlots;
    const at = this.#sendBase + i * this.#sendStride;
    if (this.#slotHost[i] !== remote.hostname || this.#slotPort[i] !== remote.port) {
      this.#slotHost[i] = undefined; // half-written if encoding throws
      const n = encodeSockaddr(remote, this.#view, at);
      if ((n === SOCKADDR_MAX) !== (this.family === 6)) {
        throw new TypeError(
          `an IPv${this.family} socket cannot send to ${remote.hostname} (another address family)`,
        );
      }
      this.#slotHost[i] = remote.hostname;
      this.#slotPort[i] = remote.port;
      this.#slotAddrLen[i] = n;
    }
    this.#endpoint!.sendTo(at + ADDR_AREA, length, at, this.#slotAddrLen[i], i);
  }

  kernelReceiveSlots(): number {
    return this.#buffers.available;
  }

  inFlight(): number {
    return this.#ring.inFlight;
  }

  kernelDrops(): number | null {
    return this.#finalDrops === undefined ? socketDrops(this.#sock) : this.#finalDrops;
  }

  close(): Promise<void> {
    return (this.#closing ??= this.#close());
  }

  /** io_uring order: cancel the receive, drain every CQE, unregister, close the ring, then fd and memory. */
  async #close(): Promise<void> {
    let first: unknown;
    const step = async (f: () => unknown): Promise<void> => {
      try {
        await f();
      } catch (e) {
        first ??= e;
      }
    };
    if (this.#endpoint) await step(() => this.#endpoint![Symbol.asyncDispose]());
    await step(() => this.#buffers[Symbol.asyncDispose]());
    await step(() => this.#files[Symbol.asyncDispose]());
    await step(() => this.#ring[Symbol.asyncDispose]());
    try {
      this.#finalDrops = socketDrops(this.#sock); // the stats outlive the socket
    } catch {
      this.#finalDrops = null; // a count is not worth failing the close for
    }
    await step(() => this.#sock.close());
    // Only once the ring is gone can nothing touch the region.
    if (this.#ring.closed) await step(() => this.#region.free());
    if (first) throw first;
  }
}

/** Opens the Linux engine. @throws {ErrnoError} EADDRINUSE etc. from bind (nothing left open). */
export function openLinuxBackend(options: BackendOptions): UdpBackend {
  return new LinuxBackend(options);
}
