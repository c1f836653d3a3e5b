/**
 * Where everything sits in the Linux engine's one native region: the
 * receive buffers of the provided-buffer ring first (io_uring_recvmsg_out,
 * the sender's name, the control area, then the payload), the send slots
 * after them (the destination sockaddr, then the payload), then the send
 * descriptors (msghdr + iovec + cmsgs of the SENDMSGs in flight).
 *
 * @module
 */

import { IO_URING_RECVMSG_OUT } from "../../ffi/linux/abi.ts";
import { RECEIVE_CONTROL_ROOM, SEND_CONTROL_ROOM } from "../linux/cmsg.ts";
import { MSG_AREA } from "../linux/datagram_send.ts";
import { SOCKADDR_MAX } from "../linux/sockaddr.ts";

/** io_uring_recvmsg_out, at the start of each receive buffer. */
export const HEADER = IO_URING_RECVMSG_OUT.SIZE;
/** Room for a sockaddr_in6 in each receive buffer. */
export const NAME = SOCKADDR_MAX;
/** cmsg room in each receive buffer, after the name. */
export const CONTROL = RECEIVE_CONTROL_ROOM;
/** A send slot starts with its destination sockaddr. */
export const ADDR_AREA = 32;
const ALIGN = 64;
/** A send descriptor: msghdr, iovec, then the cmsgs. */
const DESC = roundUp(MSG_AREA + SEND_CONTROL_ROOM, ALIGN);
/** A whole GRO super-packet (liburing#1096: each provided buffer must hold one). */
export const GRO_ROOM = 65535;

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/** The region's offsets and sizes for one socket's slot counts. */
export class RegionLayout {
  /** Bytes per receive buffer: header, name, control area, payload room. */
  readonly bufferSize: number;
  /** Where the send slots start. */
  readonly sendBase: number;
  /** Bytes per send slot: its sockaddr area, then the payload. */
  readonly sendStride: number;
  /** Where the send descriptors start. */
  readonly descBase: number;
  /** How many send descriptors there are. */
  readonly descriptors: number;
  /** The region's whole size in bytes. */
  readonly size: number;

  /** The layout for `receiveSlots` buffers of `receiveRoom` payload bytes and `sendSlots` slots. */
  constructor(receiveSlots: number, sendSlots: number, slotSize: number, receiveRoom: number) {
    this.bufferSize = HEADER + NAME + CONTROL + receiveRoom;
    this.sendBase = roundUp(receiveSlots * this.bufferSize, ALIGN);
    this.sendStride = roundUp(ADDR_AREA + slotSize, ALIGN);
    this.descBase = this.sendBase + sendSlots * this.sendStride;
    // Every slot sending at once, plus spare for a coalesced receive replied in pieces.
    this.descriptors = receiveSlots + sendSlots + 64;
    this.size = this.descBase + this.descriptors * DESC;
  }

  /** Where receive slot `slot`'s buffer (its io_uring_recvmsg_out) starts. */
  buffer(slot: number): number {
    return slot * this.bufferSize;
  }

  /** Where send slot `i` (counted from the first send slot) starts: its sockaddr. */
  sendSlot(i: number): number {
    return this.sendBase + i * this.sendStride;
  }

  /** Where send descriptor `d` starts: its msghdr. */
  descriptor(d: number): number {
    return this.descBase + d * DESC;
  }
}
