/**
 * The RIO engine behind `UdpSocket` on Windows: one {@link Rio} session, one
 * completion queue with a RIONotify event, one RIO UDP socket, and a
 * {@link RioBufferPool} with **one registration per slot**, so a slot that
 * is sending never restricts another (RIO's own rule is per RIO_BUF; one
 * registration per slot is regio's stricter choice, see rio_buffer.ts). Each slot holds
 * its SOCKADDR_INET next to its data, so RIOReceiveEx writes the sender
 * there and RIOSendEx replies to it from the same registered memory.
 *
 * Every RIO call goes through an `UnsafeFnPointer` (~1.4 µs), so requests
 * are posted with RIO_MSG_DEFER and committed once per tick, and
 * completions are dequeued in batches.
 *
 * Offloads and metadata go through each request's control slice
 * (`pControlContext`, a RIO_CMSG_BUFFER in the slot's own registration,
 * src/windows/cmsg.ts): a receive slot's area holds what RIOReceiveEx
 * wrote (URO segment size, ECN, packet info) and, after it, the cmsgs of
 * its replies; a send slot's area the cmsgs of its sends. A USO train is
 * one RIO_BUF with a UDP_SEND_MSG_SIZE cmsg. URO is **off unless
 * `bind({ gro: true })`**: some machines coalesce without
 * UDP_COALESCED_INFO (quinn#2092); such a receive is one datagram to regio,
 * cut at `slotSize` and counted as truncated when longer. Packet info is
 * asked for on wildcard binds only. Whether RIO honours any of this on
 * current Windows builds is UNCONFIRMED (reference §5.10: MsQuic's removed
 * RIO datapath is the only evidence).
 *
 * This module receives, runs the completion loop and closes; what it is
 * opened with is in windows_open.ts, how it sends in windows_send.ts.
 *
 * @module
 */

import type { SocketAddress } from "../../ffi/inet.ts";
import { USO_LIMITS, WIN32_ERROR, WSA_ERROR } from "../../ffi/windows/abi.ts";
import { WinsockError } from "../errors.ts";
import type { Rio } from "../windows/rio.ts";
import { rioStatusKind } from "../windows/rio_status.ts";
import type { RioBufferPool, RioSlot } from "../windows/rio_buffer.ts";
import { refQueue, type RioCompletion, type RioCompletionQueue } from "../windows/rio_queue.ts";
import type { RioReceiveOptions, RioUdpSocket } from "../windows/rio_socket.ts";
import { pktinfoAddress, readReceiveControl, RECEIVE_CONTROL_ROOM } from "../windows/cmsg.ts";
import { ReceiveControl } from "../receive_control.ts";
import type {
  BackendEvents,
  BackendOffloads,
  BackendOptions,
  Membership,
  SocketSettings,
  UdpBackend,
} from "./backend.ts";
import { setRioMembership } from "../windows/rio_multicast.ts";
import { applyRioSettings, openRioParts } from "./windows_open.ts";
import { RioSends, type RioSendsHost } from "./windows_send.ts";

/**
 * Completion statuses taken as "segmentation refused" for a USO send. Which
 * one a device that cannot segment gives is UNCONFIRMED; these are the
 * "invalid / unsupported" codes of both code spaces RIO may use (§5.3).
 */
const REFUSED = new Set<number>([
  WSA_ERROR.WSAEINVAL,
  WSA_ERROR.WSAEOPNOTSUPP,
  WIN32_ERROR.ERROR_INVALID_PARAMETER,
]);
/** Each wait is bounded, so closing never waits on a pool thread for long. */
const WAIT_MS = 250;

class WindowsBackend implements UdpBackend, RioSendsHost {
  readonly engine = "rio" as const;
  readonly addr: SocketAddress;
  readonly family: 4 | 6;
  readonly peer: SocketAddress | null;
  readonly receiveSlots: number;
  readonly sendSlots: number;
  readonly slotSize: number;
  readonly offloads: BackendOffloads;
  readonly maxSegments = USO_LIMITS.MAX_SEGMENTS;
  readonly maxTrainBytes: number;
  readonly #rio: Rio;
  readonly #cq: RioCompletionQueue;
  readonly #sock: RioUdpSocket;
  readonly #pools: RioBufferPool[];
  readonly #slots: RioSlot[];
  readonly #payloads: Uint8Array[] = [];
  /** Per slot: the view of its pool's region, and where its control area is in it. */
  readonly #views: DataView[] = [];
  readonly #rxControl: number[] = [];
  readonly #receiveOptions: RioReceiveOptions[] = [];
  // Where each receive slot's packet info is (-1: none) and which struct it is.
  readonly #pktinfo: Int32Array;
  readonly #pktinfoFamily: Uint8Array;
  readonly #control = new ReceiveControl();
  readonly #sends: RioSends;
  #events: BackendEvents | undefined;
  #commitQueued = false;
  #stopping = false;
  #loop: Promise<void> = Promise.resolve();
  #closing: Promise<void> | undefined;
  readonly #commitTask = (): void => {
    this.#commitQueued = false;
    if (this.#stopping) return; // the socket's teardown commits what is deferred
    try {
      this.#sock.commit();
    } catch (e) {
      this.#fail(e as Error);
    }
  };

  constructor(o: BackendOptions) {
    const { rio, cq, sock, rx, tx } = openRioParts(o);
    const receiveSlots = o.slots;
    this.#rio = rio;
    this.#cq = cq;
    this.#sock = sock;
    this.#pools = [rx, tx];
    this.addr = sock.addr;
    this.peer = sock.peer;
    this.family = this.addr.hostname.includes(":") ? 6 : 4;
    this.receiveSlots = receiveSlots;
    this.sendSlots = o.sendSlots;
    this.slotSize = o.slotSize;
    const m = sock.metadata;
    this.offloads = {
      gro: m.maxCoalescedSize > 0,
      gso: true,
      ecn: m.receiveEcn,
      local: m.packetInfo,
    };
    this.maxTrainBytes = this.family === 6 ? USO_LIMITS.MAX_PAYLOAD_V6 : USO_LIMITS.MAX_PAYLOAD_V4;
    this.#slots = [...rx.slots, ...tx.slots];
    for (const [k, s] of this.#slots.entries()) {
      this.#payloads.push(s.data.bytes);
      this.#views.push(s.buffer.region.view);
      this.#rxControl.push(s.buffer.offset + s.control!.offset);
      if (k < receiveSlots) {
        const control = s.buffer.slice(s.control!.offset, RECEIVE_CONTROL_ROOM);
        this.#receiveOptions.push({ defer: true, control });
      }
    }
    this.#pktinfo = new Int32Array(receiveSlots).fill(-1);
    this.#pktinfoFamily = new Uint8Array(receiveSlots);
    this.#sends = new RioSends(this, sock, this.#slots, this.#pktinfo, this.#pktinfoFamily);
  }

  /** True once the engine failed or began closing: nothing more is posted. */
  get stopping(): boolean {
    return this.#stopping;
  }

  start(events: BackendEvents): void {
    this.#events = events;
    this.#sends.start(events);
    for (let slot = 0; slot < this.receiveSlots; slot++) this.#receive(slot);
    this.#loop = this.#run();
  }

  #receive(slot: number): void {
    const s = this.#slots[slot];
    // No stale control data survives into the next receive, whatever RIO writes.
    this.#views[slot].setUint32(this.#rxControl[slot], 0, true);
    this.#sock.receiveEx(s.data, s.address, slot, this.#receiveOptions[slot]);
    this.commitSoon();
  }

  /** Commits the deferred requests once, at the end of this tick. */
  commitSoon(): void {
    if (this.#commitQueued) return;
    this.#commitQueued = true;
    queueMicrotask(this.#commitTask);
  }

  /** Waits on the RIONotify event off the JS thread, then dequeues everything ready. */
  async #run(): Promise<void> {
    while (!this.#stopping) {
      let ready: boolean;
      try {
        ready = await this.#cq.wait({ timeoutMs: WAIT_MS });
      } catch (e) {
        if (!this.#stopping) this.#fail(e as Error);
        return;
      }
      if (this.#stopping) return;
      if (ready) this.#drain();
    }
  }

  #drain(): void {
    try {
      for (;;) {
        const batch = this.#cq.dequeue();
        if (batch.length === 0) return;
        for (let i = 0; i < batch.length; i++) this.#completed(batch[i]);
      }
    } catch (e) {
      this.#fail(e as Error); // RIO_CORRUPT_CQ: nothing more can be trusted
    }
  }

  #completed(c: RioCompletion): void {
    if (c.kind !== "receive") {
      this.#sends.completed(c);
      return;
    }
    const slot = c.context as number;
    const events = this.#events!;
    // By meaning, not by code: RIO's status code space is undocumented (rio_status.ts).
    const kind = rioStatusKind(c.status);
    if (kind === "ok" || kind === "truncated") {
      const m = this.#control;
      readReceiveControl(this.#views[slot], this.#rxControl[slot], RECEIVE_CONTROL_ROOM, m);
      this.#pktinfo[slot] = m.pktinfo;
      this.#pktinfoFamily[slot] = m.pktinfoFamily;
      const full = kind === "ok" ? c.bytes : c.bytes + 1;
      events.received(slot, c.bytes, full, m.segment, m.ecn);
    } else if (kind === "cancelled" || this.#stopping) return;
    else {
      // An ICMP error (any spelling) or another failed receive: counted, and the socket goes on;
      // a connected socket's receive() also sees the peer's.
      if (this.peer && kind === "unreachable") events.peerError(c.error!);
      else events.receiveError(c.error!);
      this.#receive(slot);
    }
  }

  #fail(error: Error): void {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#events?.failed(error);
  }

  payload(slot: number): Uint8Array {
    return this.#payloads[slot];
  }

  remote(slot: number): SocketAddress {
    const a = this.#slots[slot].address.read();
    if (!a) throw new TypeError(`slot ${slot} holds no sender address`);
    return a;
  }

  local(slot: number): SocketAddress {
    const at = this.#pktinfo[slot];
    if (at < 0) return this.addr;
    const family = this.#pktinfoFamily[slot] as 4 | 6;
    return { hostname: pktinfoAddress(this.#views[slot], at, family), port: this.addr.port };
  }

  release(slot: number): void {
    if (!this.#stopping) this.#receive(slot);
  }

  reply(
    slot: number,
    offset: number,
    length: number,
    segment: number,
    ecn: number,
    token: number,
  ): void {
    this.#sends.reply(slot, offset, length, segment, ecn, token);
  }

  refusedSegmentation(error: Error): boolean {
    return error instanceof WinsockError && error.call === "RIOSendEx" && REFUSED.has(error.code);
  }

  sendTo(
    slot: number,
    offset: number,
    length: number,
    remote: SocketAddress | null,
    segment: number,
    ecn: number,
    token: number,
  ): void {
    this.#sends.sendTo(slot, offset, length, remote, segment, ecn, token);
  }

  setMembership(join: boolean, membership: Membership): void {
    setRioMembership(this.#sock, join, membership);
  }

  setOptions(settings: SocketSettings): void {
    applyRioSettings(this.#sock, settings);
  }

  kernelReceiveSlots(): number {
    return this.#sock.receivesOutstanding;
  }

  inFlight(): number {
    return this.#sock.receivesOutstanding + this.#sock.sendsOutstanding;
  }

  ref(on: boolean): void {
    refQueue(this.#cq, on);
  }

  /** Winsock keeps no per-socket drop count (only system-wide UDP statistics). */
  kernelDrops(): null {
    return null;
  }

  close(): Promise<void> {
    return (this.#closing ??= this.#close());
  }

  /** RIO order: closesocket → drain → close the CQ → deregister → free → WSACleanup. */
  async #close(): Promise<void> {
    this.#stopping = true;
    let first: unknown;
    const step = async (f: () => unknown): Promise<void> => {
      try {
        await f();
      } catch (e) {
        first ??= e;
      }
    };
    await step(() => this.#sock[Symbol.asyncDispose]());
    await step(() => this.#cq[Symbol.asyncDispose]()); // also wakes the loop's wait
    await step(() => this.#loop);
    for (const pool of this.#pools) await step(() => pool[Symbol.asyncDispose]());
    await step(() => this.#rio[Symbol.asyncDispose]());
    if (first) throw first;
  }
}

/** Opens the RIO engine. @throws {WinsockError} WSAEADDRINUSE etc. (nothing left open). */
export function openWindowsBackend(options: BackendOptions): UdpBackend {
  return new WindowsBackend(options);
}
