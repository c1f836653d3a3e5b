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
 * Under regio's sharing rule nothing else may use a registration while a
 * send on it is in flight, so the sends of one slot (a fallback train sent
 * one datagram at a time, two trains replied from one receive) go out one
 * after the other: the next is issued when the last completes.
 *
 * @module
 */

import { parseIpv4, parseIpv6, type SocketAddress } from "../../ffi/inet.ts";
import { USO_LIMITS, WIN32_ERROR, WSA_ERROR } from "../../ffi/windows/abi.ts";
import { UnsupportedError, WinsockError } from "../errors.ts";
import { Rio } from "../windows/rio.ts";
import { rioStatusKind } from "../windows/rio_status.ts";
import type { RioBufferPool, RioSlice, RioSlot } from "../windows/rio_buffer.ts";
import { refQueue, type RioCompletion, type RioCompletionQueue } from "../windows/rio_queue.ts";
import type { RioReceiveOptions, RioUdpSocket } from "../windows/rio_socket.ts";
import {
  firstCmsg,
  pktinfoAddress,
  readReceiveControl,
  RECEIVE_CONTROL_ROOM,
  ReceiveControl,
  SEND_CONTROL_ROOM,
  writeControlHeader,
  writeEcn,
  writeReplyPktinfo,
  writeSendMsgSize,
} from "../windows/cmsg.ts";
import type {
  BackendEvents,
  BackendOffloads,
  BackendOptions,
  Membership,
  UdpBackend,
} from "./backend.ts";
import {
  setRioMembership,
  setRioMulticastInterface,
  setRioMulticastLoopback,
  setRioMulticastTtl,
} from "../windows/rio_multicast.ts";

/** A whole URO super-packet (UDP_RECV_MAX_COALESCED_SIZE asked for, and each receive's room). */
const URO_ROOM = 65535;
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

class WindowsBackend implements UdpBackend {
  readonly engine = "rio" as const;
  readonly addr: SocketAddress;
  readonly family: 4 | 6;
  readonly peer: SocketAddress | null;
  readonly receiveSlots: number;
  readonly sendSlots: number;
  readonly slotSize: number;
  readonly receiveRoom: number;
  readonly offloads: BackendOffloads;
  readonly maxSegments = USO_LIMITS.MAX_SEGMENTS;
  readonly maxTrainBytes: number;
  readonly #rio: Rio;
  readonly #cq: RioCompletionQueue;
  readonly #sock: RioUdpSocket;
  readonly #pools: RioBufferPool[];
  readonly #slots: RioSlot[];
  readonly #payloads: Uint8Array[] = [];
  readonly #slotHost: (string | undefined)[];
  readonly #slotPort: Int32Array;
  /** Per slot: the view of its pool's region, and where its control areas are in it. */
  readonly #views: DataView[] = [];
  readonly #rxControl: number[] = [];
  readonly #txControl: number[] = [];
  readonly #txSlice: RioSlice[] = [];
  readonly #receiveOptions: RioReceiveOptions[] = [];
  // Where each receive slot's packet info is (-1: none) and which struct it is.
  readonly #pktinfo: Int32Array;
  readonly #pktinfoFamily: Uint8Array;
  readonly #control = new ReceiveControl();
  /** Per slot: a send is in flight; the sends waiting for it, in order. */
  readonly #busy: Uint8Array;
  readonly #waiting: (Waiting[] | undefined)[];
  readonly #tokenSlot = new Map<number, number>();
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
    const gro = o.gro === true; // off by default on Windows (quinn#2092)
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
        packetInfo: isWildcard(o.hostname),
        receiveEcn: true,
        maxCoalescedSize: gro ? URO_ROOM : 0,
        broadcast: o.broadcast,
        connect: o.connect,
      });
      opened.push(() => sock.close());
      const m = o.multicast;
      if (m?.ttl !== undefined) setRioMulticastTtl(sock, m.ttl);
      if (m?.loopback !== undefined) setRioMulticastLoopback(sock, m.loopback);
      if (m?.interface) setRioMulticastInterface(sock, m.interface.address, m.interface.ifindex);
      const uro = sock.metadata.maxCoalescedSize > 0;
      // Receive slots hold a whole super-packet with URO on; each has room for its
      // received control data and, after it, its replies' cmsgs. Send slots: sends' cmsgs.
      const rx = rio.createBufferPool({
        slots: receiveSlots,
        slotSize: uro ? Math.max(o.slotSize, URO_ROOM) : o.slotSize,
        controlSize: RECEIVE_CONTROL_ROOM + SEND_CONTROL_ROOM,
      });
      opened.push(() => rx.close());
      const tx = rio.createBufferPool({
        slots: o.sendSlots,
        slotSize: o.slotSize,
        controlSize: SEND_CONTROL_ROOM,
      });
      this.#rio = rio;
      this.#cq = cq;
      this.#sock = sock;
      this.#pools = [rx, tx];
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
    const m = this.#sock.metadata;
    this.offloads = {
      gro: m.maxCoalescedSize > 0,
      gso: true,
      ecn: m.receiveEcn,
      local: m.packetInfo,
    };
    const [rx, tx] = this.#pools;
    this.receiveRoom = rx.slots[0].data.length;
    this.maxTrainBytes = this.family === 6 ? USO_LIMITS.MAX_PAYLOAD_V6 : USO_LIMITS.MAX_PAYLOAD_V4;
    this.#slots = [...rx.slots, ...tx.slots];
    for (const [k, s] of this.#slots.entries()) {
      this.#payloads.push(s.data.bytes);
      const view = s.buffer.region.view;
      const area = s.buffer.offset + s.control!.offset;
      const receive = k < receiveSlots;
      const tx = receive ? area + RECEIVE_CONTROL_ROOM : area;
      this.#views.push(view);
      this.#rxControl.push(area);
      this.#txControl.push(tx);
      this.#txSlice.push(s.buffer.slice(tx - s.buffer.offset, SEND_CONTROL_ROOM));
      if (receive) {
        const control = s.buffer.slice(s.control!.offset, RECEIVE_CONTROL_ROOM);
        this.#receiveOptions.push({ defer: true, control });
      }
    }
    this.#pktinfo = new Int32Array(receiveSlots).fill(-1);
    this.#pktinfoFamily = new Uint8Array(receiveSlots);
    this.#busy = new Uint8Array(slots);
    this.#waiting = new Array(slots).fill(undefined);
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
    // No stale control data survives into the next receive, whatever RIO writes.
    this.#views[slot].setUint32(this.#rxControl[slot], 0, true);
    this.#sock.receiveEx(s.data, s.address, slot, this.#receiveOptions[slot]);
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
      return;
    }
    const token = slot;
    const from = this.#tokenSlot.get(token)!;
    this.#tokenSlot.delete(token);
    this.#busy[from] = 0;
    events.sent(token, c.bytes, c.error);
    if (c.error && this.peer && rioStatusKind(c.status) === "unreachable") {
      events.peerError(c.error);
    }
    this.#next(from);
  }

  /** Issues the first send waiting for slot `slot`, if it is free (a failure is that send's). */
  #next(slot: number): void {
    const queue = this.#waiting[slot];
    if (this.#busy[slot] || !queue || queue.length === 0 || this.#stopping) return;
    const w = queue.shift()!;
    try {
      if (w.remote) this.#writeAddress(slot, w.remote);
      this.#issue(slot, w.offset, w.length, w.segment, w.ecn, w.token, w.reply);
    } catch (e) {
      this.#events?.sent(w.token, 0, e as Error);
      this.#next(slot);
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

  /** The data slice a send names: the slot's own, or a part of it (a train sent one by one). */
  #data(s: RioSlot, offset: number): RioSlice {
    return offset === 0 ? s.data : s.buffer.slice(s.data.offset + offset, s.data.length - offset);
  }

  /**
   * Sends from `slot` now, with the cmsgs it needs in the slot's send
   * control area: UDP_SEND_MSG_SIZE for a train of more than one datagram,
   * IP_ECN / IPV6_ECN for a mark, and for a reply the packet info of the
   * receive, so it leaves from the address the datagram arrived at.
   */
  #issue(
    slot: number,
    offset: number,
    length: number,
    segment: number,
    ecn: number,
    token: number,
    reply: boolean,
  ): void {
    const s = this.#slots[slot];
    const pktinfo = reply ? this.#pktinfo[slot] : -1;
    const uso = segment > 0 && length > segment;
    let options;
    if (uso || ecn !== 0 || pktinfo >= 0) {
      const v = this.#views[slot];
      const at = this.#txControl[slot];
      let p = firstCmsg(at);
      if (uso) p += writeSendMsgSize(v, p, segment);
      if (ecn !== 0) p += writeEcn(v, p, this.family, ecn);
      if (pktinfo >= 0) {
        p += writeReplyPktinfo(v, p, this.#pktinfoFamily[slot] as 4 | 6, pktinfo);
      }
      const controlLength = writeControlHeader(v, at, p - firstCmsg(at));
      options = { defer: true, length, control: this.#txSlice[slot], controlLength };
    } else options = { defer: true, length };
    // A connected socket sends with no address (the documented NULL pRemoteAddress).
    if (this.peer) this.#sock.send(this.#data(s, offset), token, options);
    else this.#sock.sendEx(this.#data(s, offset), s.address, token, options);
    this.#busy[slot] = 1;
    this.#tokenSlot.set(token, slot);
    this.#commitSoon();
  }

  reply(
    slot: number,
    offset: number,
    length: number,
    segment: number,
    ecn: number,
    token: number,
  ): void {
    if (this.#busy[slot]) this.#wait(slot, { offset, length, segment, ecn, token, reply: true });
    else this.#issue(slot, offset, length, segment, ecn, token, true);
  }

  #wait(slot: number, w: Waiting): void {
    (this.#waiting[slot] ??= []).push(w);
  }

  refusedSegmentation(error: Error): boolean {
    return error instanceof WinsockError && error.call === "RIOSendEx" && REFUSED.has(error.code);
  }

  /** Writes `remote` into send slot `slot`'s address area (only when it changed). */
  #writeAddress(slot: number, remote: SocketAddress): void {
    const i = slot - this.receiveSlots;
    if (this.#slotHost[i] === remote.hostname && this.#slotPort[i] === remote.port) return;
    this.#slotHost[i] = undefined;
    this.#slots[slot].address.write(remote); // TypeError / RangeError for a bad address
    this.#slotHost[i] = remote.hostname;
    this.#slotPort[i] = remote.port;
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
    if (remote === null) {
      // Connected: no address to write.
      if (this.#busy[slot]) this.#wait(slot, { offset, length, segment, ecn, token, reply: false });
      else this.#issue(slot, offset, length, segment, ecn, token, false);
      return;
    }
    const v6 = parseIpv4(remote.hostname) === null && parseIpv6(remote.hostname) !== null;
    if (v6 !== (this.family === 6) && (v6 || parseIpv4(remote.hostname) !== null)) {
      throw new TypeError(
        `an IPv${this.family} socket cannot send to ${remote.hostname} (another address family)`,
      );
    }
    if (this.#busy[slot]) {
      this.#writeCheck(remote);
      this.#wait(slot, { offset, length, segment, ecn, token, reply: false, remote });
      return;
    }
    this.#writeAddress(slot, remote);
    this.#issue(slot, offset, length, segment, ecn, token, false);
  }

  /** What writing `remote` would throw, thrown now (the slot's address area is busy). */
  #writeCheck(remote: SocketAddress): void {
    if (parseIpv4(remote.hostname) === null && parseIpv6(remote.hostname) === null) {
      throw new TypeError(`not a numeric IPv4 or IPv6 address: ${JSON.stringify(remote.hostname)}`);
    }
    if (!Number.isInteger(remote.port) || remote.port < 0 || remote.port > 65535) {
      throw new RangeError(`port must be an integer in [0, 65535], got ${String(remote.port)}`);
    }
  }

  setMembership(join: boolean, membership: Membership): void {
    setRioMembership(this.#sock, join, membership);
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

/** A send waiting for its slot's previous send to complete. */
interface Waiting {
  offset: number;
  length: number;
  segment: number;
  ecn: number;
  token: number;
  reply: boolean;
  remote?: SocketAddress;
}

/** True for 0.0.0.0 and ::, where Winsock, not the bind, picks each datagram's local address. */
function isWildcard(hostname: string): boolean {
  const b = parseIpv4(hostname) ?? parseIpv6(hostname);
  return b !== null && b.every((x) => x === 0);
}

/** Opens the RIO engine. @throws {WinsockError} WSAEADDRINUSE etc. (nothing left open). */
export function openWindowsBackend(options: BackendOptions): UdpBackend {
  return new WindowsBackend(options);
}
