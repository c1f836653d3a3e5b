/**
 * The send half of a DatagramEndpoint on the wire: what a send may name in
 * the region, and the SQEs of a SEND with `addr2` (the sendto form) and of a
 * SENDMSG with the `msghdr` and its one `iovec` written in the region before
 * the caller's control data. The endpoint counts the ops.
 *
 * @module
 */

import { checkInteger } from "../errors.ts";
import { IO_URING_SQE, IORING_OP, IOSQE, IOVEC, MSGHDR } from "../../ffi/linux/abi.ts";
import type { NativeRegion } from "../memory.ts";
import type { RingCore } from "./ring.ts";

/** sqe.len is a u32 and cqe.res an s32. */
const MAX_LEN = 0x7fffffff;
/** A SENDMSG's msghdr and its one iovec, before the caller's control data. */
export const MSG_AREA = MSGHDR.SIZE + IOVEC.SIZE;

/** Queues one endpoint's sends on its socket's fixed file, from its buffer ring's region. */
export class DatagramSender {
  readonly #core: RingCore;
  readonly #index: number;
  readonly #sinkId: number;
  readonly #region: NativeRegion;
  readonly #view: DataView;
  readonly #base: number; // region address as a number

  /** Sends on fixed file `index`, completing to sink `sinkId`, from `region`. */
  constructor(core: RingCore, index: number, sinkId: number, region: NativeRegion) {
    this.#core = core;
    this.#index = index;
    this.#sinkId = sinkId;
    this.#region = region;
    this.#view = region.view;
    this.#base = Number(region.address);
  }

  /**
   * Checks a payload `[offset, offset+length)` and a sockaddr
   * `[addrOffset, addrOffset+addrLength)` of the region.
   * @throws {RangeError}
   */
  checkSlices(offset: number, length: number, addrOffset: number, addrLength: number): void {
    this.#region.checkRange(offset, length);
    checkInteger("length", length, 0, MAX_LEN); // the region may be larger than the u32 `len`
    this.#region.checkRange(addrOffset, addrLength, 2);
    checkInteger("addrLength", addrLength, 2, 128);
  }

  /** Queues a SEND of the payload at `offset` to the sockaddr at `addrOffset` (both checked). */
  send(
    token: number,
    offset: number,
    length: number,
    addrOffset: number,
    addrLength: number,
  ): void {
    const core = this.#core;
    const w = core.prep(IORING_OP.SEND, IOSQE.FIXED_FILE, this.#index, this.#sinkId, token);
    core.set64(w, IO_URING_SQE.addr, this.#base + offset);
    core.set32(w, IO_URING_SQE.len, length);
    core.set64(w, IO_URING_SQE.addr2, this.#base + addrOffset);
    core.set16(w, IO_URING_SQE.addr_len, addrLength);
  }

  /**
   * Writes the msghdr and iovec at `headerOffset`, naming the payload, the
   * sockaddr and `controlLength` bytes of control at `headerOffset + MSG_AREA`,
   * and queues a SENDMSG of it (everything checked).
   */
  sendMsg(
    token: number,
    offset: number,
    length: number,
    addrOffset: number,
    addrLength: number,
    headerOffset: number,
    controlLength: number,
  ): void {
    const v = this.#view;
    const b = this.#base;
    const iov = headerOffset + MSGHDR.SIZE;
    v.setBigUint64(headerOffset + MSGHDR.name, BigInt(b + addrOffset), true);
    v.setUint32(headerOffset + MSGHDR.namelen, addrLength, true);
    v.setUint32(headerOffset + MSGHDR.namelen + 4, 0, true);
    v.setBigUint64(headerOffset + MSGHDR.iov, BigInt(b + iov), true);
    v.setBigUint64(headerOffset + MSGHDR.iovlen, 1n, true);
    v.setBigUint64(
      headerOffset + MSGHDR.control,
      controlLength ? BigInt(b + iov + IOVEC.SIZE) : 0n,
      true,
    );
    v.setBigUint64(headerOffset + MSGHDR.controllen, BigInt(controlLength), true);
    v.setBigUint64(headerOffset + MSGHDR.flags, 0n, true);
    v.setBigUint64(iov + IOVEC.base, BigInt(b + offset), true);
    v.setBigUint64(iov + IOVEC.len, BigInt(length), true);
    const core = this.#core;
    const w = core.prep(IORING_OP.SENDMSG, IOSQE.FIXED_FILE, this.#index, this.#sinkId, token);
    core.set64(w, IO_URING_SQE.addr, b + headerOffset);
    core.set32(w, IO_URING_SQE.len, 1);
  }
}
