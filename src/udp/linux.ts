/**
 * The io_uring engine behind `UdpSocket` on Linux: one ring per socket, the
 * socket as fixed file 0, a provided-buffer ring (REGISTER_PBUF_RING) carved
 * from one native region for the receive slots, and the send slots in the
 * same region after it, then the send descriptors (linux_layout.ts says
 * where each is). Receives are one multishot RECVMSG whose template
 * reserves a control area, so the UDP_GRO segment size, the TOS / traffic
 * class and (on a wildcard bind) the packet info land in each buffer next
 * to the peer address. Sends are SEND or SENDMSG from the same region
 * (linux_send.ts); while traffic flows the ring is polled (linux_poll.ts).
 * The portable layer decides when a receive buffer goes back to the kernel.
 *
 * Sends copy in the kernel (copying SEND), not SEND_ZC: for small
 * datagrams zero-copy costs a second CQE and is slower (io_uring.md §2.2–2.3).
 *
 * This module opens the engine, receives, and closes it.
 *
 * @module
 */

import type { SocketAddress } from "../../ffi/inet.ts";
import { ERRNO, IO_URING_RECVMSG_OUT, UDP_LIMITS } from "../../ffi/linux/abi.ts";
import { ErrnoError } from "../errors.ts";
import { NativeRegion } from "../memory.ts";
import type {
  BackendEvents,
  BackendOffloads,
  BackendOptions,
  Membership,
  SocketSettings,
  UdpBackend,
} from "./backend.ts";
import { isPeerErrno } from "../linux/datagram_receive.ts";
import { pktinfoAddress, readReceiveControl } from "../linux/cmsg.ts";
import { ReceiveControl } from "../receive_control.ts";
import { enableUdpMetadata } from "../linux/udp_metadata.ts";
import { refRing, Uring } from "../linux/uring.ts";
import { socketDrops, SocketFd } from "../linux/socket.ts";
import type { FileTable } from "../linux/files.ts";
import type { ProvidedBufferRing } from "../linux/buf_ring.ts";
import type { DatagramEndpoint } from "../linux/datagram.ts";
import {
  setBroadcast,
  setMembership,
  setMulticastInterface,
  setMulticastLoopback,
  setMulticastTtl,
} from "../linux/multicast.ts";
import { decodeSockaddr } from "../linux/sockaddr.ts";
import { ADDR_AREA, CONTROL, GRO_ROOM, HEADER, NAME, RegionLayout } from "./linux_layout.ts";
import { RingPoller } from "./linux_poll.ts";
import { LinuxSends } from "./linux_send.ts";

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

function pow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * Applies bound-socket settings (bind's multicast options too). The
 * interface goes first: it is the one the kernel can refuse once checked
 * (EADDRNOTAVAIL, ENODEV), and then nothing else has changed.
 */
function applySettings(sock: SocketFd, s: SocketSettings): void {
  const m = s.multicast;
  if (m?.interface) setMulticastInterface(sock, m.interface.address, m.interface.ifindex);
  if (s.broadcast !== undefined) setBroadcast(sock, s.broadcast);
  if (m?.ttl !== undefined) setMulticastTtl(sock, m.ttl);
  if (m?.loopback !== undefined) setMulticastLoopback(sock, m.loopback);
}

class LinuxBackend implements UdpBackend {
  readonly engine = "io_uring" as const;
  readonly addr: SocketAddress;
  readonly family: 4 | 6;
  readonly peer: SocketAddress | null;
  readonly receiveSlots: number;
  readonly sendSlots: number;
  readonly slotSize: number;
  readonly offloads: BackendOffloads;
  readonly maxSegments = UDP_LIMITS.MAX_SEGMENTS;
  readonly maxTrainBytes: number;
  readonly #sock: SocketFd;
  readonly #region: NativeRegion;
  readonly #view: DataView;
  readonly #ring: Uring;
  readonly #files: FileTable;
  readonly #buffers: ProvidedBufferRing;
  readonly #layout: RegionLayout;
  readonly #payloads: Uint8Array[] = [];
  // Where each receive buffer's packet info is (-1: none) and which struct it is.
  readonly #pktinfo: Int32Array;
  readonly #pktinfoFamily: Uint8Array;
  readonly #control = new ReceiveControl();
  readonly #sends: LinuxSends;
  readonly #poller: RingPoller;
  #endpoint: DatagramEndpoint | undefined;
  #events: BackendEvents | undefined;
  #closing: Promise<void> | undefined;
  /** The drop count read just before the socket closed (null if that read failed). */
  #finalDrops: number | null | undefined;

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
      applySettings(sock, { multicast: o.multicast });
      if (o.connect) sock.connect(o.connect);
    } catch (e) {
      sock.close();
      throw e;
    }
    const receiveRoom = gro ? Math.max(o.slotSize, seams.groRoom ?? GRO_ROOM) : o.slotSize;
    const layout = new RegionLayout(receiveSlots, o.sendSlots, o.slotSize, receiveRoom);
    try {
      const region = NativeRegion.allocate(layout.size);
      opened.push(() => region.free());
      const slots = receiveSlots + o.sendSlots;
      const ring = Uring.create({
        entries: Math.min(1024, pow2(slots)),
        cqEntries: Math.min(65536, Math.max(4096, pow2(2 * slots))),
      });
      opened.push(() => ring.close());
      const files = ring.registerFiles([sock.fd]);
      opened.push(() => files.close());
      const buffers = ring.registerBufferRing({
        region,
        count: receiveSlots,
        bufferSize: layout.bufferSize,
      });
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
    this.offloads = { gro, gso: true, ecn: true, local };
    this.maxTrainBytes = this.family === 6 ? UDP_LIMITS.MAX_PAYLOAD_V6 : UDP_LIMITS.MAX_PAYLOAD_V4;
    this.#pktinfo = new Int32Array(receiveSlots).fill(-1);
    this.#pktinfoFamily = new Uint8Array(receiveSlots);
    this.#layout = layout;
    const bytes = this.#region.bytes;
    for (let s = 0; s < receiveSlots; s++) {
      const at = layout.buffer(s) + HEADER + NAME + CONTROL;
      this.#payloads.push(bytes.subarray(at, at + receiveRoom));
    }
    for (let i = 0; i < o.sendSlots; i++) {
      const at = layout.sendSlot(i) + ADDR_AREA;
      this.#payloads.push(bytes.subarray(at, at + o.slotSize));
    }
    this.#sends = new LinuxSends(this.#view, layout, this, this.#pktinfo, this.#pktinfoFamily);
    this.#poller = new RingPoller(
      this.#ring,
      () => this.#closing !== undefined,
      (error) => this.#events?.failed(error),
    );
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
        this.#poller.received();
        const c = this.#control;
        readReceiveControl(this.#view, m.controlOffset, m.controlLength, c);
        this.#pktinfo[m.bufferId] = c.pktinfo;
        this.#pktinfoFamily[m.bufferId] = c.pktinfoFamily;
        events.received(m.bufferId, m.length, m.datagramLength, c.segment, c.ecn);
      },
      onSent: (endpointToken, result) => {
        this.#poller.sent();
        const sends = this.#sends;
        sends.completed(endpointToken, result);
        if (sends.deferred && !this.#closing) sends.sendDeferred();
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
    this.#sends.start(endpoint, events);
    endpoint.start();
  }

  ref(on: boolean): void {
    this.#poller.ref(on);
    refRing(this.#ring, on);
  }

  payload(slot: number): Uint8Array {
    return this.#payloads[slot];
  }

  remote(slot: number): SocketAddress {
    const at = this.#layout.buffer(slot);
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
    this.#sends.reply(slot, offset, length, segment, ecn, token);
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
    this.#sends.sendTo(slot, offset, length, to, segment, ecn, token);
  }

  setMembership(join: boolean, membership: Membership): void {
    setMembership(this.#sock, join, membership);
  }

  setOptions(settings: SocketSettings): void {
    applySettings(this.#sock, settings);
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
