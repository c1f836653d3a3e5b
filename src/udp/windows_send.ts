/**
 * How the RIO engine sends: each send from its slot's own registered
 * memory, with the cmsgs it needs written into the slot's send control area
 * (src/windows/cmsg.ts), and the destination written into the slot's
 * SOCKADDR_INET only when it changed.
 *
 * Under regio's sharing rule nothing else may use a registration while a
 * send on it is in flight, so the sends of one slot (a fallback train sent
 * one datagram at a time, two trains replied from one receive) go out one
 * after the other: the next is issued when the last completes.
 *
 * @module
 */

import type { SocketAddress } from "../../ffi/inet.ts";
import type { RioSlice, RioSlot } from "../windows/rio_buffer.ts";
import type { RioCompletion } from "../windows/rio_queue.ts";
import type { RioUdpSocket } from "../windows/rio_socket.ts";
import { rioStatusKind } from "../windows/rio_status.ts";
import {
  firstCmsg,
  RECEIVE_CONTROL_ROOM,
  SEND_CONTROL_ROOM,
  writeControlHeader,
  writeEcn,
  writeReplyPktinfo,
  writeSendMsgSize,
} from "../windows/cmsg.ts";
import type { BackendEvents } from "./backend.ts";

/** A send waiting for its slot's previous send to complete. */
interface Waiting {
  offset: number;
  length: number;
  segment: number;
  ecn: number;
  token: number;
  reply: boolean;
  /** The address to write first, or null (a reply, or a connected socket's send). */
  remote: SocketAddress | null;
}

/** What the sends need from the engine that owns them. */
export interface RioSendsHost {
  /** The socket's family. */
  readonly family: 4 | 6;
  /** The connected peer, or null. */
  readonly peer: SocketAddress | null;
  /** Receive slots (send slots follow them). */
  readonly receiveSlots: number;
  /** Send slots. */
  readonly sendSlots: number;
  /** True once the engine stops (failed or closing): nothing more is issued. */
  readonly stopping: boolean;
  /** Commits the deferred requests at the end of this tick. */
  commitSoon(): void;
}

/** The RIO engine's sends, one at a time per slot, and their completions. */
export class RioSends {
  readonly #host: RioSendsHost;
  readonly #sock: RioUdpSocket;
  readonly #slots: RioSlot[];
  readonly #slotHost: (string | undefined)[];
  readonly #slotPort: Int32Array;
  /** Per slot: the view of its pool's region, and where its send control area is in it. */
  readonly #views: DataView[] = [];
  readonly #txControl: number[] = [];
  readonly #txSlice: RioSlice[] = [];
  // The receive side's packet info per receive slot (-1: none), read by replies.
  readonly #pktinfo: Int32Array;
  readonly #pktinfoFamily: Uint8Array;
  /** Per slot: a send is in flight; the sends waiting for it, in order. */
  readonly #busy: Uint8Array;
  readonly #waiting: (Waiting[] | undefined)[];
  // The slot of each send in flight, by token (tokens are small reused integers).
  readonly #tokenSlot: number[] = [];
  #events: BackendEvents | undefined;

  /**
   * Sends on `sock` from `slots` (receive slots first); replies read the
   * packet info the receive side records in `pktinfo` / `pktinfoFamily`.
   */
  constructor(
    host: RioSendsHost,
    sock: RioUdpSocket,
    slots: RioSlot[],
    pktinfo: Int32Array,
    pktinfoFamily: Uint8Array,
  ) {
    this.#host = host;
    this.#sock = sock;
    this.#slots = slots;
    this.#pktinfo = pktinfo;
    this.#pktinfoFamily = pktinfoFamily;
    for (const [k, s] of slots.entries()) {
      const area = s.buffer.offset + s.control!.offset;
      // A receive slot's replies write their cmsgs after what RIOReceiveEx wrote.
      const tx = k < host.receiveSlots ? area + RECEIVE_CONTROL_ROOM : area;
      this.#views.push(s.buffer.region.view);
      this.#txControl.push(tx);
      this.#txSlice.push(s.buffer.slice(tx - s.buffer.offset, SEND_CONTROL_ROOM));
    }
    this.#busy = new Uint8Array(slots.length);
    this.#waiting = new Array(slots.length).fill(undefined);
    this.#slotHost = new Array(host.sendSlots).fill(undefined);
    this.#slotPort = new Int32Array(host.sendSlots).fill(-1);
  }

  /** Send completions go to `events` from now on. */
  start(events: BackendEvents): void {
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
    if (this.#busy[slot]) {
      this.#wait(slot, { offset, length, segment, ecn, token, reply: true, remote: null });
    } else this.#issue(slot, offset, length, segment, ecn, token, true);
  }

  /** See {@link UdpBackend.sendTo}. */
  sendTo(
    slot: number,
    offset: number,
    length: number,
    remote: SocketAddress | null,
    segment: number,
    ecn: number,
    token: number,
  ): void {
    if (this.#busy[slot]) {
      this.#wait(slot, { offset, length, segment, ecn, token, reply: false, remote });
      return;
    }
    // `remote` was checked by the portable layer (numeric, this family, port 1–65535);
    // null: connected, no address to write.
    if (remote) this.#writeAddress(slot, remote);
    this.#issue(slot, offset, length, segment, ecn, token, false);
  }

  /** A send completed: reported under its token, and its slot's next send issued. */
  completed(c: RioCompletion): void {
    const events = this.#events!;
    const token = c.context as number;
    const from = this.#tokenSlot[token];
    this.#busy[from] = 0;
    events.sent(token, c.bytes, c.error);
    if (c.error && this.#host.peer && rioStatusKind(c.status) === "unreachable") {
      events.peerError(c.error);
    }
    this.#next(from);
  }

  /** Issues the first send waiting for slot `slot`, if it is free (a failure is that send's). */
  #next(slot: number): void {
    const queue = this.#waiting[slot];
    if (this.#busy[slot] || !queue || queue.length === 0 || this.#host.stopping) return;
    const w = queue.shift()!;
    try {
      if (w.remote) this.#writeAddress(slot, w.remote);
      this.#issue(slot, w.offset, w.length, w.segment, w.ecn, w.token, w.reply);
    } catch (e) {
      this.#events?.sent(w.token, 0, e as Error);
      this.#next(slot);
    }
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
      if (ecn !== 0) p += writeEcn(v, p, this.#host.family, ecn);
      if (pktinfo >= 0) {
        p += writeReplyPktinfo(v, p, this.#pktinfoFamily[slot] as 4 | 6, pktinfo);
      }
      const controlLength = writeControlHeader(v, at, p - firstCmsg(at));
      options = { defer: true, length, control: this.#txSlice[slot], controlLength };
    } else options = { defer: true, length };
    // A connected socket sends with no address (the documented NULL pRemoteAddress).
    if (this.#host.peer) this.#sock.send(this.#data(s, offset), token, options);
    else this.#sock.sendEx(this.#data(s, offset), s.address, token, options);
    this.#busy[slot] = 1;
    this.#tokenSlot[token] = slot;
    this.#host.commitSoon();
  }

  #wait(slot: number, w: Waiting): void {
    (this.#waiting[slot] ??= []).push(w);
  }

  /** Writes `remote` into send slot `slot`'s address area (only when it changed). */
  #writeAddress(slot: number, remote: SocketAddress): void {
    const i = slot - this.#host.receiveSlots;
    if (this.#slotHost[i] === remote.hostname && this.#slotPort[i] === remote.port) return;
    this.#slotHost[i] = undefined;
    this.#slots[slot].address.write(remote); // TypeError / RangeError for a bad address
    this.#slotHost[i] = remote.hostname;
    this.#slotPort[i] = remote.port;
  }
}
