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
 * No offloads yet: URO/USO through the RIO control context, ECN and the
 * local address are reported off (`offloads`), so receives are never
 * coalesced and the portable layer sends trains one datagram per send.
 *
 * @module
 */

import type { SocketAddress } from "../../ffi/inet.ts";
import { Rio } from "../windows/rio.ts";
import { rioStatusKind } from "../windows/rio_status.ts";
import type { RioBufferPool, RioSlice, RioSlot } from "../windows/rio_buffer.ts";
import { refQueue, type RioCompletion, type RioCompletionQueue } from "../windows/rio_queue.ts";
import type { RioUdpSocket } from "../windows/rio_socket.ts";
import type {
  BackendEvents,
  BackendOffloads,
  BackendOptions,
  Membership,
  UdpBackend,
} from "./backend.ts";
import { UnsupportedError } from "../errors.ts";
import {
  setRioMembership,
  setRioMulticastInterface,
  setRioMulticastLoopback,
  setRioMulticastTtl,
} from "../windows/rio_multicast.ts";

const NO_OFFLOADS: BackendOffloads = { gro: false, gso: false, ecn: false, local: false };

const DEFER = { defer: true } as const;
/** Each wait is bounded, so closing never waits on a pool thread for long. */
const WAIT_MS = 250;

class WindowsBackend implements UdpBackend {
  readonly engine = "rio" as const;
  readonly addr: SocketAddress;
  readonly family: 4 | 6;
  readonly peer: SocketAddress | null;
  readonly receiveSlots: number;
  readonly sendSlots: number;
  readonly slotSize: number;
  readonly receiveRoom: number;
  readonly offloads = NO_OFFLOADS;
  readonly maxSegments = 1;
  readonly maxTrainBytes: number;
  readonly #rio: Rio;
  readonly #cq: RioCompletionQueue;
  readonly #sock: RioUdpSocket;
  readonly #pool: RioBufferPool;
  readonly #slots: readonly RioSlot[];
  readonly #payloads: Uint8Array[] = [];
  readonly #slotHost: (string | undefined)[];
  readonly #slotPort: Int32Array;
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
    if (o.reusePort) {
      throw new UnsupportedError(
        "UdpSocket reusePort on Windows",
        "Winsock has no SO_REUSEPORT that spreads one port's flows over several sockets: " +
          "SO_REUSEADDR lets a second socket bind the port but delivers each unicast datagram " +
          "to one of them, not balanced by flow (so regio does not use it), and the " +
          "per-processor port sharing MsQuic uses (SIO_SET_PORT_SHARING_PER_PROC_SOCKET) is " +
          "undocumented and spreads by the receiving processor within one process, not by flow",
      );
    }
    const receiveSlots = o.slots;
    const slots = receiveSlots + o.sendSlots;
    const rio = Rio.open();
    const opened: (() => void)[] = [() => rio.close()];
    try {
      // Every slot may be sending at once (replies and fresh sends), and every receive slot posted.
      const cq = rio.createCompletionQueue({
        size: receiveSlots + slots,
        batch: Math.min(1024, receiveSlots + slots),
      });
      opened.push(() => cq.close());
      const sock = rio.udpSocket({
        hostname: o.hostname,
        port: o.port,
        cq,
        maxOutstandingReceive: receiveSlots,
        maxOutstandingSend: slots,
        receiveBufferSize: o.receiveBufferSize,
        sendBufferSize: o.sendBufferSize,
        ipv6Only: o.ipv6Only,
        broadcast: o.broadcast,
        connect: o.connect,
      });
      opened.push(() => sock.close());
      const m = o.multicast;
      if (m?.ttl !== undefined) setRioMulticastTtl(sock, m.ttl);
      if (m?.loopback !== undefined) setRioMulticastLoopback(sock, m.loopback);
      if (m?.interface) setRioMulticastInterface(sock, m.interface.address, m.interface.ifindex);
      const pool = rio.createBufferPool({ slots, slotSize: o.slotSize });
      this.#rio = rio;
      this.#cq = cq;
      this.#sock = sock;
      this.#pool = pool;
    } catch (e) {
      for (const undo of opened.reverse()) undo();
      throw e;
    }
    this.addr = this.#sock.addr;
    this.peer = this.#sock.peer;
    this.family = this.addr.hostname.includes(":") ? 6 : 4;
    this.receiveSlots = receiveSlots;
    this.sendSlots = o.sendSlots;
    this.slotSize = o.slotSize;
    this.receiveRoom = o.slotSize;
    this.maxTrainBytes = o.slotSize;
    this.#slots = this.#pool.slots;
    for (const s of this.#slots) this.#payloads.push(s.data.bytes);
    this.#slotHost = new Array(o.sendSlots).fill(undefined);
    this.#slotPort = new Int32Array(o.sendSlots).fill(-1);
  }

  start(events: BackendEvents): void {
    this.#events = events;
    for (let slot = 0; slot < this.receiveSlots; slot++) this.#receive(slot);
    this.#loop = this.#run();
  }

  #receive(slot: number): void {
    const s = this.#slots[slot];
    this.#sock.receiveEx(s.data, s.address, slot, DEFER);
    this.#commitSoon();
  }

  #commitSoon(): void {
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
    const slot = c.context as number; // a receive's slot, or a send's token
    const events = this.#events!;
    if (c.kind === "receive") {
      // By meaning, not by code: RIO's status code space is undocumented (rio_status.ts).
      const kind = rioStatusKind(c.status);
      if (kind === "ok") events.received(slot, c.bytes, c.bytes, 0, 0);
      else if (kind === "truncated") events.received(slot, c.bytes, c.bytes + 1, 0, 0);
      else if (kind === "cancelled" || this.#stopping) return;
      else {
        // An ICMP error (any spelling) or another failed receive: counted, and the socket goes on;
        // a connected socket's receive() also sees the peer's.
        if (this.peer && kind === "unreachable") events.peerError(c.error!);
        else events.receiveError(c.error!);
        this.#receive(slot);
      }
      return;
    }
    events.sent(slot, c.bytes, c.error);
    if (c.error && this.peer && rioStatusKind(c.status) === "unreachable") {
      events.peerError(c.error);
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

  local(): SocketAddress {
    return this.addr;
  }

  release(slot: number): void {
    if (!this.#stopping) this.#receive(slot);
  }

  /** The data slice a send names: the slot's own, or a part of it (a train sent one by one). */
  #data(s: RioSlot, offset: number, segment: number, ecn: number): RioSlice {
    if (segment !== 0 || ecn !== 0) {
      throw new RangeError("the RIO engine has no segmentation offload or ECN yet");
    }
    return offset === 0 ? s.data : s.buffer.slice(s.data.offset + offset, s.data.length - offset);
  }

  reply(
    slot: number,
    offset: number,
    length: number,
    segment: number,
    ecn: number,
    token: number,
  ): void {
    const s = this.#slots[slot];
    const data = this.#data(s, offset, segment, ecn);
    // A connected socket's sender is its peer: no address (the documented NULL pRemoteAddress).
    if (this.peer) this.#sock.send(data, token, { defer: true, length });
    else this.#sock.sendEx(data, s.address, token, { defer: true, length });
    this.#commitSoon();
  }

  setMembership(join: boolean, membership: Membership): void {
    setRioMembership(this.#sock, join, membership);
  }

  refusedSegmentation(): boolean {
    return false;
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
    const s = this.#slots[slot];
    const data = this.#data(s, offset, segment, ecn);
    if (remote === null) {
      // Connected: RIOSendEx without an address (the documented NULL pRemoteAddress).
      this.#sock.send(data, token, { defer: true, length });
      this.#commitSoon();
      return;
    }
    const i = slot - this.receiveSlots;
    if (this.#slotHost[i] !== remote.hostname || this.#slotPort[i] !== remote.port) {
      this.#slotHost[i] = undefined;
      s.address.write(remote); // TypeError / RangeError for a bad address
      const v6 = s.address.read()?.hostname.includes(":") ?? false;
      if (v6 !== (this.family === 6)) {
        throw new TypeError(
          `an IPv${this.family} socket cannot send to ${remote.hostname} (another address family)`,
        );
      }
      this.#slotHost[i] = remote.hostname;
      this.#slotPort[i] = remote.port;
    }
    this.#sock.sendEx(data, s.address, token, { defer: true, length });
    this.#commitSoon();
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
    await step(() => this.#pool[Symbol.asyncDispose]());
    await step(() => this.#rio[Symbol.asyncDispose]());
    if (first) throw first;
  }
}

/** Opens the RIO engine. @throws {WinsockError} WSAEADDRINUSE etc. (nothing left open). */
export function openWindowsBackend(options: BackendOptions): UdpBackend {
  return new WindowsBackend(options);
}
