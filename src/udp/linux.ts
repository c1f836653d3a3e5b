/**
 * The io_uring engine behind `UdpSocket` on Linux: one ring per socket, the
 * socket as fixed file 0, a provided-buffer ring (REGISTER_PBUF_RING) carved
 * from one native region for the receive slots, and the send slots in the
 * same region after it, then the send descriptors (msghdr + iovec + cmsgs
 * of the SENDMSGs in flight). Receives are one multishot RECVMSG whose
 * template reserves a control area, so the UDP_GRO segment size, the TOS /
 * traffic class and (on a wildcard bind) the packet info land in each
 * buffer next to the peer address. A send that needs no cmsg (no segments,
 * no ECN mark, no source to pick) is SEND + addr2 straight from the slot,
 * as before; the others are SENDMSG with UDP_SEGMENT / IP_TOS / IPV6_TCLASS
 * / IP_PKTINFO / IPV6_PKTINFO cmsgs (src/linux/cmsg.ts). The portable layer
 * decides when a receive buffer goes back to the kernel.
 *
 * Sends copy in the kernel (copying SEND), not SEND_ZC: for small
 * datagrams zero-copy costs a second CQE and is slower (io_uring.md §2.2–2.3).
 *
 * @module
 */

import { setImmediate } from "node:timers";
import type { SocketAddress } from "../../ffi/inet.ts";
import { ERRNO, IO_URING_RECVMSG_OUT, UDP_LIMITS } from "../../ffi/linux/abi.ts";
import { ErrnoError } from "../errors.ts";
import { NativeRegion } from "../memory.ts";
import type {
  BackendEvents,
  BackendOffloads,
  BackendOptions,
  Membership,
  UdpBackend,
} from "./backend.ts";
import { isPeerErrno, MSG_AREA } from "../linux/datagram.ts";
import {
  pktinfoAddress,
  readReceiveControl,
  RECEIVE_CONTROL_ROOM,
  ReceiveControl,
  SEND_CONTROL_ROOM,
  writeReplyPktinfo,
  writeSegment,
  writeTrafficClass,
} from "../linux/cmsg.ts";
import { enableUdpMetadata } from "../linux/udp_metadata.ts";
import { refRing, Uring } from "../linux/uring.ts";
import { socketDrops, SocketFd } from "../linux/socket.ts";
import type { FileTable } from "../linux/files.ts";
import type { ProvidedBufferRing } from "../linux/buf_ring.ts";
import type { DatagramEndpoint } from "../linux/datagram.ts";
import {
  setMembership,
  setMulticastInterface,
  setMulticastLoopback,
  setMulticastTtl,
} from "../linux/multicast.ts";
import { decodeSockaddr, encodeSockaddr, SOCKADDR_MAX } from "../linux/sockaddr.ts";

const HEADER = IO_URING_RECVMSG_OUT.SIZE; // io_uring_recvmsg_out
const NAME = SOCKADDR_MAX; // room for a sockaddr_in6 in each receive buffer
const CONTROL = RECEIVE_CONTROL_ROOM; // cmsg room in each receive buffer, after the name
const ADDR_AREA = 32; // a send slot starts with its destination sockaddr
const ALIGN = 64;
/** A send descriptor: msghdr, iovec, then the cmsgs. */
const DESC = Math.ceil((MSG_AREA + SEND_CONTROL_ROOM) / ALIGN) * ALIGN;
/** Endpoint-token bit: the send used descriptor `token & ~WITH_DESC`. */
const WITH_DESC = 0x40000000;
/** A whole GRO super-packet (liburing#1096: each provided buffer must hold one). */
const GRO_ROOM = 65535;
/** Polls in a row that may find nothing before the socket goes back to waiting on the eventfd. */
const SPIN_IDLE = 64;

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/** Test seams: conditions real kernels have, forced on a loopback socket. */
export interface LinuxBackendSeams {
  /**
   * Turn the UDP checksum off (SO_NO_CHECK / UDP_NO_CHECK6_TX+RX): the
   * kernel then refuses every segmented send with EINVAL, as it refuses GSO
   * with EIO on devices that cannot checksum it.
   */
  noChecksum?: boolean;
  /**
   * Payload room of each receive buffer with GRO on, instead of a whole
   * 64 KiB super-packet: a super-packet larger than it arrives truncated.
   */
  groRoom?: number;
}

/** A send waiting for a free descriptor (rare: only when more SENDMSGs are in flight than descriptors). */
interface Deferred {
  slot: number;
  offset: number;
  length: number;
  remote: SocketAddress | null;
  segment: number;
  ecn: number;
  token: number;
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
  readonly peer: SocketAddress | null;
  readonly receiveSlots: number;
  readonly sendSlots: number;
  readonly slotSize: number;
  readonly receiveRoom: number;
  readonly offloads: BackendOffloads;
  readonly maxSegments = UDP_LIMITS.MAX_SEGMENTS;
  readonly maxTrainBytes: number;
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
  // Where each receive buffer's packet info is (-1: none) and which struct it is.
  readonly #pktinfo: Int32Array;
  readonly #pktinfoFamily: Uint8Array;
  readonly #control = new ReceiveControl();
  readonly #descBase: number;
  readonly #freeDesc: number[] = [];
  readonly #descToken: Int32Array;
  #deferred: Deferred[] = [];
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

  constructor(o: BackendOptions, seams: LinuxBackendSeams) {
    const receiveSlots = pow2(o.slots); // a provided-buffer ring's size is a power of two
    // Bind first: a port in use fails before anything else exists.
    const sock = SocketFd.bindUdp({ hostname: o.hostname, port: o.port }, {
      receiveBufferSize: o.receiveBufferSize,
      sendBufferSize: o.sendBufferSize,
      ipv6Only: o.ipv6Only,
      reusePort: o.reusePort,
      broadcast: o.broadcast,
    });
    const opened: (() => void)[] = [() => sock.close()];
    let gro: boolean, local: boolean;
    try {
      ({ gro, local } = enableUdpMetadata(sock, {
        gro: o.gro ?? true,
        noChecksum: seams.noChecksum,
      }));
      const m = o.multicast;
      if (m?.ttl !== undefined) setMulticastTtl(sock, m.ttl);
      if (m?.loopback !== undefined) setMulticastLoopback(sock, m.loopback);
      if (m?.interface) setMulticastInterface(sock, m.interface.address, m.interface.ifindex);
      if (o.connect) sock.connect(o.connect);
    } catch (e) {
      sock.close();
      throw e;
    }
    const receiveRoom = gro ? Math.max(o.slotSize, seams.groRoom ?? GRO_ROOM) : o.slotSize;
    const bufferSize = HEADER + NAME + CONTROL + receiveRoom;
    const sendBase = roundUp(receiveSlots * bufferSize, ALIGN);
    const sendStride = roundUp(ADDR_AREA + o.slotSize, ALIGN);
    const descBase = sendBase + o.sendSlots * sendStride;
    // Every slot sending at once, plus spare for a coalesced receive replied in pieces.
    const descriptors = receiveSlots + o.sendSlots + 64;
    try {
      const region = NativeRegion.allocate(descBase + descriptors * DESC);
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
    this.peer = sock.remoteAddress;
    this.family = this.addr.hostname.includes(":") ? 6 : 4;
    this.receiveSlots = receiveSlots;
    this.sendSlots = o.sendSlots;
    this.slotSize = o.slotSize;
    this.receiveRoom = receiveRoom;
    this.offloads = { gro, gso: true, ecn: true, local };
    this.maxTrainBytes = this.family === 6 ? UDP_LIMITS.MAX_PAYLOAD_V6 : UDP_LIMITS.MAX_PAYLOAD_V4;
    this.#pktinfo = new Int32Array(receiveSlots).fill(-1);
    this.#pktinfoFamily = new Uint8Array(receiveSlots);
    this.#descBase = descBase;
    this.#descToken = new Int32Array(descriptors);
    for (let d = descriptors - 1; d >= 0; d--) this.#freeDesc.push(d);
    this.#bufferSize = bufferSize;
    this.#sendBase = sendBase;
    this.#sendStride = sendStride;
    const bytes = this.#region.bytes;
    for (let s = 0; s < receiveSlots; s++) {
      const at = s * bufferSize + HEADER + NAME + CONTROL;
      this.#payloads.push(bytes.subarray(at, at + receiveRoom));
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
    const endpoint = this.#ring.openDatagramEndpoint({
      files: this.#files,
      index: 0,
      buffers: this.#buffers,
      nameLength: NAME,
      controlLength: CONTROL,
      onMessage: (m) => {
        this.#completions++;
        if (!this.#polling) this.#startPolling();
        const c = this.#control;
        readReceiveControl(this.#view, m.controlOffset, m.controlLength, c);
        this.#pktinfo[m.bufferId] = c.pktinfo;
        this.#pktinfoFamily[m.bufferId] = c.pktinfoFamily;
        events.received(m.bufferId, m.length, m.datagramLength, c.segment, c.ecn);
      },
      onSent: (endpointToken, result) => {
        this.#completions++;
        let token = endpointToken;
        let call = "IORING_OP_SEND";
        if (token & WITH_DESC) {
          const d = token & ~WITH_DESC;
          token = this.#descToken[d];
          call = "IORING_OP_SENDMSG";
          this.#freeDesc.push(d);
        }
        if (result >= 0) events.sent(token, result, null);
        else {
          const error = new ErrnoError(-result, call);
          events.sent(token, 0, error);
          // The kernel reports a peer's ICMP error once, to whichever call comes first.
          if (this.peer && isPeerErrno(-result)) events.peerError(error);
        }
        if (this.#deferred.length > 0 && !this.#closing) this.#sendDeferred();
      },
      onError: (error) => {
        // The endpoint decides whether the multishot goes on; look after it has.
        queueMicrotask(() => {
          if (this.#closing) return;
          if (!endpoint.receiving) events.failed(error);
          else if (this.peer && isPeerErrno(error.code)) events.peerError(error);
          else events.receiveError(error);
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

  local(slot: number): SocketAddress {
    const at = this.#pktinfo[slot];
    if (at < 0) return this.addr;
    const family = this.#pktinfoFamily[slot] as 4 | 6;
    return { hostname: pktinfoAddress(this.#view, at, family), port: this.addr.port };
  }

  release(slot: number): void {
    this.#endpoint!.release(slot);
  }

  reply(
    slot: number,
    offset: number,
    length: number,
    segment: number,
    ecn: number,
    token: number,
  ): void {
    const at = slot * this.#bufferSize;
    const name = at + HEADER;
    const nameLength = Math.min(
      this.#view.getUint32(at + IO_URING_RECVMSG_OUT.namelen, true),
      NAME,
    );
    const payload = name + NAME + CONTROL + offset;
    const pktinfo = this.#pktinfo[slot];
    if (segment === 0 && ecn === 0 && pktinfo < 0) {
      this.#endpoint!.sendTo(payload, length, name, nameLength, token);
      return;
    }
    const d = this.#freeDesc.pop();
    if (d === undefined) {
      this.#deferred.push({ slot, offset, length, remote: null, segment, ecn, token });
      return;
    }
    const family = this.#pktinfoFamily[slot] as 4 | 6;
    this.#sendMsg(d, payload, length, name, nameLength, segment, ecn, pktinfo, family, token);
  }

  #sendMsg(
    d: number,
    payload: number,
    length: number,
    name: number,
    nameLength: number,
    segment: number,
    ecn: number,
    pktinfo: number,
    pktinfoFamily: 4 | 6,
    token: number,
  ): void {
    const v = this.#view;
    const header = this.#descBase + d * DESC;
    let at = header + MSG_AREA;
    if (segment > 0) at += writeSegment(v, at, segment);
    if (ecn !== 0) at += writeTrafficClass(v, at, this.family, ecn);
    if (pktinfo >= 0) at += writeReplyPktinfo(v, at, pktinfoFamily, pktinfo);
    this.#descToken[d] = token;
    try {
      this.#endpoint!.sendMsg(
        payload,
        length,
        name,
        nameLength,
        header,
        at - header - MSG_AREA,
        WITH_DESC | d,
      );
    } catch (e) {
      this.#freeDesc.push(d);
      throw e;
    }
  }

  /** Descriptors came free: send what waited for one, in order. */
  #sendDeferred(): void {
    const waiting = this.#deferred;
    this.#deferred = [];
    for (let i = 0; i < waiting.length; i++) {
      const w = waiting[i];
      try {
        if (w.remote) {
          this.sendTo(w.slot, w.offset, w.length, w.remote, w.segment, w.ecn, w.token);
        } else this.reply(w.slot, w.offset, w.length, w.segment, w.ecn, w.token);
      } catch (e) {
        this.#events?.sent(w.token, 0, e as Error);
      }
    }
  }

  refusedSegmentation(error: Error): boolean {
    // EIO: the device cannot checksum a GSO skb; EINVAL: no checksum at all, or a size it rejects.
    return error instanceof ErrnoError && error.call === "IORING_OP_SENDMSG" &&
      (error.code === ERRNO.EIO || error.code === ERRNO.EINVAL);
  }

  sendTo(
    slot: number,
    offset: number,
    length: number,
    to: SocketAddress | null,
    segment: number,
    ecn: number,
    token: number,
  ): void {
    // A connected socket's peer, named explicitly: the same destination, and one send path.
    const remote = to ?? this.peer!;
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
    const payload = at + ADDR_AREA + offset;
    if (segment === 0 && ecn === 0) {
      this.#endpoint!.sendTo(payload, length, at, this.#slotAddrLen[i], token);
      return;
    }
    const d = this.#freeDesc.pop();
    if (d === undefined) {
      this.#deferred.push({ slot, offset, length, remote, segment, ecn, token });
      return;
    }
    this.#sendMsg(d, payload, length, at, this.#slotAddrLen[i], segment, ecn, -1, 4, token);
  }

  setMembership(join: boolean, membership: Membership): void {
    setMembership(this.#sock, join, membership);
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
  return new LinuxBackend(options, {});
}

/** @internal Opens the Linux engine with test seams (see {@link LinuxBackendSeams}). */
export function openLinuxBackendWith(
  options: BackendOptions,
  seams: LinuxBackendSeams,
): UdpBackend {
  return new LinuxBackend(options, seams);
}
