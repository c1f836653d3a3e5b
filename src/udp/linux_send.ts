/**
 * How the Linux engine sends. A send that needs no cmsg (no segments, no
 * ECN mark, no source to pick) is SEND + addr2 straight from the slot; the
 * others are SENDMSG through a send descriptor, with UDP_SEGMENT / IP_TOS /
 * IPV6_TCLASS / IP_PKTINFO / IPV6_PKTINFO cmsgs (src/linux/cmsg.ts). This
 * module holds the descriptors, the sends waiting for one, each send slot's
 * cached destination, and the accounting of send completions.
 *
 * @module
 */

import type { SocketAddress } from "../../ffi/inet.ts";
import { IO_URING_RECVMSG_OUT } from "../../ffi/linux/abi.ts";
import { ErrnoError } from "../errors.ts";
import { writeReplyPktinfo, writeSegment, writeTrafficClass } from "../linux/cmsg.ts";
import type { DatagramEndpoint } from "../linux/datagram.ts";
import { isPeerErrno } from "../linux/datagram_receive.ts";
import { MSG_AREA } from "../linux/datagram_send.ts";
import { encodeSockaddr } from "../linux/sockaddr.ts";
import type { BackendEvents } from "./backend.ts";
import { ADDR_AREA, CONTROL, HEADER, NAME, type RegionLayout } from "./linux_layout.ts";

/** Endpoint-token bit: the send used descriptor `token & ~WITH_DESC`. */
const WITH_DESC = 0x40000000;

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

/** The Linux engine's sends and their completions. */
export class LinuxSends {
  readonly #view: DataView;
  readonly #layout: RegionLayout;
  readonly #family: 4 | 6;
  readonly #peer: SocketAddress | null;
  readonly #receiveSlots: number;
  // The receive side's packet info per receive buffer (-1: none), read by replies.
  readonly #pktinfo: Int32Array;
  readonly #pktinfoFamily: Uint8Array;
  // The destination last written into each send slot, so repeated sends to one peer encode once.
  readonly #slotHost: (string | undefined)[];
  readonly #slotPort: Int32Array;
  readonly #slotAddrLen: Uint8Array;
  readonly #freeDesc: number[] = [];
  readonly #descToken: Int32Array;
  #deferred: Deferred[] = [];
  #endpoint: DatagramEndpoint | undefined;
  #events: BackendEvents | undefined;

  /**
   * Sends from the region `view` shows, laid out as `layout`; replies read
   * the packet info the receive side records in `pktinfo` / `pktinfoFamily`.
   */
  constructor(
    view: DataView,
    layout: RegionLayout,
    socket: { family: 4 | 6; peer: SocketAddress | null; receiveSlots: number; sendSlots: number },
    pktinfo: Int32Array,
    pktinfoFamily: Uint8Array,
  ) {
    this.#view = view;
    this.#layout = layout;
    this.#family = socket.family;
    this.#peer = socket.peer;
    this.#receiveSlots = socket.receiveSlots;
    this.#pktinfo = pktinfo;
    this.#pktinfoFamily = pktinfoFamily;
    this.#descToken = new Int32Array(layout.descriptors);
    for (let d = layout.descriptors - 1; d >= 0; d--) this.#freeDesc.push(d);
    this.#slotHost = new Array(socket.sendSlots).fill(undefined);
    this.#slotPort = new Int32Array(socket.sendSlots).fill(-1);
    this.#slotAddrLen = new Uint8Array(socket.sendSlots);
  }

  /** Sends go through `endpoint` from now on; their completions go to `events`. */
  start(endpoint: DatagramEndpoint, events: BackendEvents): void {
    this.#endpoint = endpoint;
    this.#events = events;
  }

  /** See {@link UdpBackend.reply}. */
  reply(
    slot: number,
    offset: number,
    length: number,
    segment: number,
    ecn: number,
    token: number,
  ): void {
    const at = this.#layout.buffer(slot);
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

  /** See {@link UdpBackend.sendTo}. */
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
    const remote = to ?? this.#peer!;
    const i = slot - this.#receiveSlots;
    const at = this.#layout.sendSlot(i);
    if (this.#slotHost[i] !== remote.hostname || this.#slotPort[i] !== remote.port) {
      this.#slotHost[i] = undefined; // half-written if encoding throws
      // `remote` was checked by the portable layer (numeric, this family, port 1–65535).
      const n = encodeSockaddr(remote, this.#view, at);
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

  /**
   * A send completed with `result` (bytes, or -errno): frees its descriptor
   * and reports it under the socket's own token.
   */
  completed(endpointToken: number, result: number): void {
    const events = this.#events!;
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
      if (this.#peer && isPeerErrno(-result)) events.peerError(error);
    }
  }

  /** True while sends wait for a descriptor. */
  get deferred(): boolean {
    return this.#deferred.length > 0;
  }

  /** Descriptors came free: send what waited for one, in order. */
  sendDeferred(): void {
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
    const header = this.#layout.descriptor(d);
    let at = header + MSG_AREA;
    if (segment > 0) at += writeSegment(v, at, segment);
    if (ecn !== 0) at += writeTrafficClass(v, at, this.#family, ecn);
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
}
