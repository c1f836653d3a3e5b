/**
 * The receive half of a DatagramEndpoint on the wire: the msghdr template
 * and SQE of the multishot RECVMSG, the `io_uring_recvmsg_out` header each
 * selected buffer starts with (decoded into the reused `ReceivedDatagram`),
 * and which errors re-arm the receive. Stateless: whether the receive is
 * armed or wanted is the endpoint's.
 *
 * @module
 */

import {
  ERRNO,
  IO_URING_RECVMSG_OUT,
  IO_URING_SQE,
  IORING_OP,
  IORING_RECVSEND,
  IOSQE,
  MSGHDR,
  SOCK,
  UDP_OPT,
} from "../../ffi/linux/abi.ts";
import { NativeRegion } from "../memory.ts";
import type { RingCore } from "./ring.ts";
import type { ReceivedDatagram } from "./received.ts";

/** The `io_uring_recvmsg_out` header at the start of each received buffer. */
export const HEADER = IO_URING_RECVMSG_OUT.SIZE;

/**
 * Errors a UDP receive reports once for an ICMP message about the connected
 * peer (ip(7): port/host/net unreachable …); the kernel clears them as it
 * reports them, so the receive is armed again.
 */
const PEER_ERRORS: ReadonlySet<number> = new Set([
  ERRNO.ECONNREFUSED,
  ERRNO.EHOSTUNREACH,
  ERRNO.ENETUNREACH,
  ERRNO.EHOSTDOWN,
  ERRNO.ENONET,
  ERRNO.ENOPROTOOPT,
]);

/** True for an errno that reports an ICMP error about a connected UDP socket's peer. */
export function isPeerErrno(errno: number): boolean {
  return PEER_ERRORS.has(errno);
}

/**
 * True when a multishot receive whose final CQE has `res` (not -ENOBUFS) is
 * to be armed again: it ended without failing, was interrupted, or reported
 * a peer error.
 */
export function rearmsAfter(res: number): boolean {
  return res >= 0 || res === -ERRNO.EINTR || res === -ERRNO.EAGAIN || PEER_ERRORS.has(-res);
}

/**
 * The msghdr of the multishot receive. It only reserves room (namelen,
 * controllen); the kernel reads it at submission.
 */
export function receiveTemplate(nameLength: number, controlLength: number): NativeRegion {
  const msghdr = NativeRegion.allocate(MSGHDR.SIZE);
  msghdr.view.setUint32(MSGHDR.namelen, nameLength, true);
  msghdr.view.setBigUint64(MSGHDR.controllen, BigInt(controlLength), true);
  return msghdr;
}

/** Queues the multishot RECVMSG on fixed file `index`, selecting buffers from group `groupId`. */
export function prepReceive(
  core: RingCore,
  index: number,
  sinkId: number,
  token: number,
  msghdr: NativeRegion,
  groupId: number,
): void {
  const w = core.prep(
    IORING_OP.RECVMSG,
    IOSQE.FIXED_FILE | IOSQE.BUFFER_SELECT,
    index,
    sinkId,
    token,
  );
  core.set16(w, IO_URING_SQE.ioprio, IORING_RECVSEND.RECV_MULTISHOT);
  core.set64(w, IO_URING_SQE.addr, Number(msghdr.address));
  core.set32(w, IO_URING_SQE.len, 1);
  // MSG_TRUNC makes payloadlen the datagram's full length.
  core.set32(w, IO_URING_SQE.op_flags, SOCK.MSG_TRUNC);
  core.set16(w, IO_URING_SQE.buf_group, groupId);
}

/**
 * Fills `m` from the buffer `bid` at `at` that a receive of `res` bytes
 * filled: the header, then `nameRoom` bytes of address, `controlRoom` bytes
 * of control, then the payload.
 */
export function readReceived(
  view: DataView,
  at: number,
  bid: number,
  res: number,
  nameRoom: number,
  controlRoom: number,
  m: ReceivedDatagram,
): void {
  const namelen = view.getUint32(at + IO_URING_RECVMSG_OUT.namelen, true);
  const payloadlen = view.getUint32(at + IO_URING_RECVMSG_OUT.payloadlen, true);
  const msgFlags = view.getUint32(at + IO_URING_RECVMSG_OUT.flags, true);
  m.bufferId = bid;
  m.nameOffset = at + HEADER;
  m.nameLength = Math.min(namelen, nameRoom);
  m.controlOffset = at + HEADER + nameRoom;
  m.controlLength = Math.min(
    view.getUint32(at + IO_URING_RECVMSG_OUT.controllen, true),
    controlRoom,
  );
  m.controlTruncated = (msgFlags & UDP_OPT.MSG_CTRUNC) !== 0;
  m.payloadOffset = m.controlOffset + controlRoom;
  m.length = res - HEADER - nameRoom - controlRoom;
  m.datagramLength = payloadlen;
  m.truncated = (msgFlags & SOCK.MSG_TRUNC) !== 0 || payloadlen > m.length;
}
