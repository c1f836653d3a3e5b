/**
 * Datagram I/O at the ring level: one multishot RECVMSG on a fixed-file UDP
 * socket, selecting buffers from a provided-buffer ring, and SEND with
 * `addr2` (the sendto form) from the same region. Completions are dispatched
 * to callbacks with a reused message object, so the hot path allocates
 * nothing; SQEs queue up and go to the kernel in one batch per tick.
 *
 * @module
 */

import { BusyError, checkInteger, DisposedError, ErrnoError } from "../errors.ts";
import {
  ERRNO,
  IO_URING_RECVMSG_OUT,
  IO_URING_SQE,
  IORING_ASYNC_CANCEL,
  IORING_CQE,
  IORING_OP,
  IORING_RECVSEND,
  IOSQE,
  IOVEC,
  MSGHDR,
  SOCK,
  UDP_OPT,
} from "../../ffi/linux/abi.ts";
import { NativeRegion } from "../memory.ts";
import { trackLeak, untrackLeak } from "../leak.ts";
import type { RingCore } from "./ring.ts";
import { type Child, KIND, type Sink, type UseCounter } from "./ring_contracts.ts";
import { type FileTable, type FileTableState, liveFileTable } from "./files.ts";
import { type BufferRingState, liveBufferRing, type ProvidedBufferRing } from "./buf_ring.ts";
import { SOCKADDR_MAX } from "./sockaddr.ts";
import { newReceivedDatagram, type ReceivedDatagram } from "./received.ts";

const RECV = 0xffffffff; // token of the multishot receive
const REPLY = 0x80000000; // token bit: a reply whose buffer is recycled on completion
const HEADER = IO_URING_RECVMSG_OUT.SIZE;
const MAX_LEN = 0x7fffffff; // sqe.len is a u32 and cqe.res an s32
/** A SENDMSG's msghdr and its one iovec, before the caller's control data. */
export const MSG_AREA = MSGHDR.SIZE + IOVEC.SIZE;

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

/** Options for `Uring.openDatagramEndpoint`. */
export interface DatagramEndpointOptions {
  /** The file table holding the UDP socket. */
  files: FileTable;
  /** The socket's slot in `files`. */
  index: number;
  /**
   * The provided buffers receives land in; `sendTo` offsets are in its region
   * too, so sends count as operations on it (it cannot be disposed under them).
   */
  buffers: ProvidedBufferRing;
  /** Room reserved for the peer address in each buffer (default 28, `sockaddr_in6`). */
  nameLength?: number;
  /**
   * Room reserved for control messages in each buffer, after the address
   * (default 0: none). The kernel stores the cmsgs the socket asked for
   * there (`msg_controllen` of the template); see `ReceivedDatagram.controlOffset`.
   */
  controlLength?: number;
  /** Called for each datagram; the buffer is the application's until recycled or replied from. */
  onMessage(message: ReceivedDatagram): void;
  /**
   * Called when a send completes: `result` is bytes sent or `-errno`. For
   * {@link DatagramEndpoint.reply}, `token` is the buffer ID (already recycled).
   */
  onSent?(token: number, result: number, isReply: boolean): void;
  /**
   * Called when the receive fails for a reason other than cancellation or a
   * dry buffer ring, and once with the fatal `io_uring_enter` error if the
   * ring fails for good (every op of the endpoint is then settled; close it).
   */
  onError?(error: ErrnoError): void;
}

let construct: (core: RingCore, options: DatagramEndpointOptions) => DatagramEndpoint;

/**
 * A UDP socket driven through the ring: {@link DatagramEndpoint.start} arms
 * one multishot RECVMSG (re-armed whenever the kernel ends it), and
 * {@link DatagramEndpoint.sendTo} / {@link DatagramEndpoint.reply} queue
 * SENDs whose payload and destination live in the buffer ring's region.
 * Made by `Uring.openDatagramEndpoint`.
 */
export class DatagramEndpoint implements Disposable, AsyncDisposable {
  /** The message object passed to `onMessage` (reused). */
  readonly message: ReceivedDatagram;
  readonly #core: RingCore;
  readonly #files: FileTableState;
  readonly #index: number;
  readonly #ring: BufferRingState;
  readonly #buffers: ProvidedBufferRing;
  readonly #region: NativeRegion;
  readonly #view: DataView;
  readonly #base: number; // region address as a number
  readonly #nameLength: number;
  readonly #controlLength: number;
  readonly #msghdr: NativeRegion;
  readonly #sinkId: number;
  readonly #onMessage: (message: ReceivedDatagram) => void;
  readonly #onSent: ((token: number, result: number, isReply: boolean) => void) | undefined;
  readonly #onError: ((error: ErrnoError) => void) | undefined;
  readonly #child: Child;
  readonly #stopWatching: () => void;
  #inFlight = 0;
  #armed = false;
  #wanted = false; // should be receiving
  #closing = false;
  #closed = false;
  #failed = false; // the ring failed: every op was settled, no CQE comes any more

  static {
    construct = (core, options) => new DatagramEndpoint(core, options);
  }

  private constructor(core: RingCore, o: DatagramEndpointOptions) {
    core.assertOpen();
    if (typeof o.onMessage !== "function") throw new TypeError("onMessage must be a function");
    this.#files = liveFileTable(core, o.files);
    checkInteger("file index", o.index, 0, this.#files.slots.length - 1);
    if (this.#files.slots[o.index] < 0) throw new RangeError(`file slot ${o.index} is empty`);
    this.#ring = liveBufferRing(core, o.buffers);
    this.#nameLength = checkInteger("nameLength", o.nameLength ?? SOCKADDR_MAX, 0, 128);
    this.#controlLength = checkInteger("controlLength", o.controlLength ?? 0, 0, 4096);
    if (o.buffers.bufferSize <= HEADER + this.#nameLength + this.#controlLength) {
      throw new RangeError(
        `bufferSize ${o.buffers.bufferSize} leaves no room for a payload after the ` +
          `${HEADER}-byte header, ${this.#nameLength} bytes of address and ` +
          `${this.#controlLength} bytes of control`,
      );
    }
    this.#core = core;
    this.#index = o.index;
    this.#buffers = o.buffers;
    this.#region = o.buffers.region;
    this.#view = this.#region.view;
    this.#base = Number(this.#region.address);
    this.#onMessage = o.onMessage;
    this.#onSent = o.onSent;
    this.#onError = o.onError;
    this.message = newReceivedDatagram(this.#region);
    // The msghdr only reserves room (namelen, controllen); the kernel reads it at submission.
    this.#msghdr = NativeRegion.allocate(MSGHDR.SIZE);
    this.#msghdr.view.setUint32(MSGHDR.namelen, this.#nameLength, true);
    this.#msghdr.view.setBigUint64(MSGHDR.controllen, BigInt(this.#controlLength), true);
    const sink: Sink = {
      complete: (token, res, flags) => this.#complete(token, res, flags),
      inFlight: () => this.#inFlight,
      cancelFor: (user) => this.#cancelFor(user),
      fail: (error) => this.#fail(error),
    };
    this.#sinkId = core.addSink(sink);
    this.#stopWatching = this.#ring.onRecycle(() => {
      if (this.#wanted && !this.#armed && !this.#closing) this.#arm();
    });
    this.#child = {
      disposeNow: () => this.close(),
      disposeDrained: () => this[Symbol.asyncDispose](),
      ringClosed: () => {},
      ringFailed: () => 0, // the buffer ring leaks the region; the msghdr is only read at submission
    };
    core.adopt(this.#child);
    trackLeak(this, "a DatagramEndpoint");
  }

  /** Operations in flight (the receive, while armed, plus sends). */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** True while the multishot receive is armed. */
  get receiving(): boolean {
    return this.#armed;
  }

  /**
   * Starts receiving (idempotent). The SQE goes to the kernel with the next batch.
   * @throws {DisposedError} once the endpoint, its file table or its buffer ring is disposed.
   */
  start(): void {
    this.#assertOpen();
    this.#wanted = true;
    if (!this.#armed) this.#arm();
  }

  #arm(): void {
    if (this.#files.life.disposed || this.#ring.life.disposed) return;
    const core = this.#core;
    const w = core.prep(
      IORING_OP.RECVMSG,
      IOSQE.FIXED_FILE | IOSQE.BUFFER_SELECT,
      this.#index,
      this.#sinkId,
      RECV,
    );
    core.set16(w, IO_URING_SQE.ioprio, IORING_RECVSEND.RECV_MULTISHOT);
    core.set64(w, IO_URING_SQE.addr, Number(this.#msghdr.address));
    core.set32(w, IO_URING_SQE.len, 1);
    // MSG_TRUNC makes payloadlen the datagram's full length.
    core.set32(w, IO_URING_SQE.op_flags, SOCK.MSG_TRUNC);
    core.set16(w, IO_URING_SQE.buf_group, this.#ring.groupId);
    this.#armed = true;
    this.#begin();
  }

  /**
   * Queues a SEND of `[offset, offset+length)` of the buffer ring's region to
   * the sockaddr at `[addrOffset, addrOffset+addrLength)` of the same region.
   * The payload must stay untouched until `onSent(token, …)`.
   * @throws {RangeError} for a slice outside the region or a bad token;
   *   {@link DisposedError} once the endpoint, its file table or its buffer ring is disposed.
   */
  sendTo(offset: number, length: number, addrOffset: number, addrLength: number, token = 0): void {
    this.#assertOpen();
    this.#region.checkRange(offset, length);
    checkInteger("length", length, 0, MAX_LEN); // the region may be larger than the u32 `len`
    this.#region.checkRange(addrOffset, addrLength, 2);
    checkInteger("addrLength", addrLength, 2, 128);
    checkInteger("token", token, 0, REPLY - 1);
    this.#send(offset, length, addrOffset, addrLength, token);
  }

  /**
   * Sends `length` bytes from the payload of buffer `bufferId` back to the
   * peer recorded in it, then recycles the buffer when the send completes.
   * @throws {RangeError} for a bad ID, a buffer the application does not own, or a bad length;
   *   {@link DisposedError} once the endpoint, its file table or its buffer ring is disposed.
   */
  reply(bufferId: number, length: number): void {
    this.#assertOpen();
    if (!this.#buffers.owned(bufferId)) {
      throw new RangeError(
        `buffer ${bufferId} is not the application's (not received, recycled, or being replied from)`,
      );
    }
    const at = this.#buffers.bufferOffset(bufferId);
    const room = this.#buffers.bufferSize - HEADER - this.#nameLength - this.#controlLength;
    checkInteger("length", length, 0, room);
    const nameLength = Math.min(
      this.#view.getUint32(at + IO_URING_RECVMSG_OUT.namelen, true),
      this.#nameLength,
    );
    const payload = at + HEADER + this.#nameLength + this.#controlLength;
    this.#send(payload, length, at + HEADER, nameLength, REPLY | bufferId);
    this.#ring.lend(bufferId);
  }

  /**
   * Queues a SENDMSG of `[offset, offset+length)` of the region to the
   * sockaddr at `[addrOffset, addrOffset+addrLength)`, with the control
   * messages the caller wrote at `headerOffset + 72` (`controlLength`
   * bytes). The endpoint writes the `msghdr` (56 B) and its one `iovec`
   * (16 B) at `headerOffset`. Everything is in the buffer ring's region and
   * must stay untouched until `onSent(token, …)`: the kernel may read the
   * control data again when the send is retried.
   * @throws {RangeError} for a slice outside the region or a bad token;
   *   {@link DisposedError} once the endpoint, its file table or its buffer ring is disposed.
   */
  sendMsg(
    offset: number,
    length: number,
    addrOffset: number,
    addrLength: number,
    headerOffset: number,
    controlLength: number,
    token = 0,
  ): void {
    this.#assertOpen();
    this.#region.checkRange(offset, length);
    checkInteger("length", length, 0, MAX_LEN);
    this.#region.checkRange(addrOffset, addrLength, 2);
    checkInteger("addrLength", addrLength, 2, 128);
    checkInteger("controlLength", controlLength, 0, 4096);
    this.#region.checkRange(headerOffset, MSG_AREA + controlLength, 8);
    checkInteger("token", token, 0, REPLY - 1);
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
    this.#begin();
  }

  /** Gives buffer `bufferId` back to the kernel without replying. */
  release(bufferId: number): void {
    this.#buffers.recycle(bufferId);
  }

  #send(
    offset: number,
    length: number,
    addrOffset: number,
    addrLength: number,
    token: number,
  ): void {
    const core = this.#core;
    const w = core.prep(IORING_OP.SEND, IOSQE.FIXED_FILE, this.#index, this.#sinkId, token);
    core.set64(w, IO_URING_SQE.addr, this.#base + offset);
    core.set32(w, IO_URING_SQE.len, length);
    core.set64(w, IO_URING_SQE.addr2, this.#base + addrOffset);
    core.set16(w, IO_URING_SQE.addr_len, addrLength);
    this.#begin();
  }

  // Every op uses both registrations: the socket's slot, and the buffer ring,
  // which holds the region that receives fill and sends read.
  #begin(): void {
    this.#inFlight++;
    this.#files.life.begin();
    this.#ring.life.begin();
    this.#core.expect(1);
  }

  #end(): void {
    this.#inFlight--;
    this.#files.life.end();
    this.#ring.life.end();
    this.#core.expect(-1);
  }

  #complete(token: number, res: number, flags: number): void {
    if (this.#failed) return;
    if (token === RECV) return this.#received(res, flags);
    this.#end();
    const isReply = (token & REPLY) !== 0;
    const id = isReply ? token & 0xffff : token;
    if (isReply) this.#ring.giveBack(id);
    if (!this.#onSent) return;
    try {
      this.#onSent(id, res, isReply);
    } catch (e) {
      reportError(e); // a callback's bug must not stop the reap loop
    }
  }

  #received(res: number, flags: number): void {
    if (flags & IORING_CQE.F_BUFFER) {
      const bid = flags >>> IORING_CQE.BUFFER_SHIFT;
      // Not the public recycle: it throws once the buffer ring is being disposed,
      // which would skip the bookkeeping below.
      this.#ring.take(bid);
      if (res >= 0) this.#deliver(bid, res);
      else this.#putBack(bid);
    } else if (res < 0 && res !== -ERRNO.ENOBUFS && res !== -ERRNO.ECANCELED && this.#onError) {
      try {
        this.#onError(new ErrnoError(-res, "IORING_OP_RECVMSG (multishot)"));
      } catch (e) {
        reportError(e);
      }
    }
    if (flags & IORING_CQE.F_MORE) return;
    // Final CQE: the kernel ended the multishot (CQ full, error, cancel, dry ring).
    this.#armed = false;
    this.#end();
    if (!this.#wanted || this.#closing) return;
    if (res === -ERRNO.ENOBUFS) {
      if (this.#ring.available() > 0) this.#arm(); // otherwise the next recycle re-arms
    } else if (res >= 0 || res === -ERRNO.EINTR || res === -ERRNO.EAGAIN || PEER_ERRORS.has(-res)) {
      this.#arm();
    } else {
      this.#wanted = false; // cancelled or failed: stop (reported above)
    }
  }

  #deliver(bid: number, res: number): void {
    const v = this.#view;
    const at = this.#buffers.offset + bid * this.#buffers.bufferSize;
    const m = this.message;
    const namelen = v.getUint32(at + IO_URING_RECVMSG_OUT.namelen, true);
    const payloadlen = v.getUint32(at + IO_URING_RECVMSG_OUT.payloadlen, true);
    const msgFlags = v.getUint32(at + IO_URING_RECVMSG_OUT.flags, true);
    m.bufferId = bid;
    m.nameOffset = at + HEADER;
    m.nameLength = Math.min(namelen, this.#nameLength);
    m.controlOffset = at + HEADER + this.#nameLength;
    m.controlLength = Math.min(
      v.getUint32(at + IO_URING_RECVMSG_OUT.controllen, true),
      this.#controlLength,
    );
    m.controlTruncated = (msgFlags & UDP_OPT.MSG_CTRUNC) !== 0;
    m.payloadOffset = m.controlOffset + this.#controlLength;
    m.length = res - HEADER - this.#nameLength - this.#controlLength;
    m.datagramLength = payloadlen;
    m.truncated = (msgFlags & SOCK.MSG_TRUNC) !== 0 || payloadlen > m.length;
    try {
      this.#onMessage(m);
    } catch (e) {
      reportError(e); // the bookkeeping after the callback must still run
    }
  }

  /** Gives back a buffer a failed receive selected; a re-arm it triggers must not throw here. */
  #putBack(bid: number): void {
    try {
      this.#ring.putBack(bid);
    } catch (e) {
      reportError(e);
    }
  }

  /** The ring failed for good: settle every op now, report the error after. */
  #fail(error: Error): void {
    const n = this.#inFlight;
    this.#failed = true;
    this.#armed = false;
    this.#wanted = false;
    this.#inFlight = 0;
    for (let i = 0; i < n; i++) {
      this.#files.life.end();
      this.#ring.life.end();
    }
    this.#core.expect(-n);
    const onError = this.#onError;
    queueMicrotask(() => {
      try {
        if (!(error instanceof ErrnoError)) reportError(error); // not from the kernel: a bug
        else onError?.(error);
      } catch (e) {
        reportError(e);
      }
    });
  }

  /** A registration it uses is being drained: cancel what uses it. */
  #cancelFor(user: UseCounter): void {
    if (this.#inFlight === 0) return;
    if (user === this.#files.life) {
      const w = this.#core.prep(IORING_OP.ASYNC_CANCEL, 0, this.#index, KIND.IGNORE, 0);
      const C = IORING_ASYNC_CANCEL;
      this.#core.set32(w, IO_URING_SQE.op_flags, C.FD | C.FD_FIXED | C.ALL);
      this.#wanted = false;
    } else if (user === this.#ring.life && this.#armed) {
      this.#core.prepCancel(this.#sinkId, RECV);
      this.#wanted = false;
    }
  }

  /** A disposed table's slot may name another socket, and a disposed ring no longer holds the region. */
  #assertOpen(): void {
    if (this.#closing) throw new DisposedError("DatagramEndpoint");
    this.#core.assertOpen(); // the fatal error, once the ring failed
    this.#files.life.assertLive();
    this.#ring.life.assertLive();
  }

  /**
   * Closes now.
   * @throws {BusyError} while operations are in flight, e.g. an armed receive
   *   (nothing is changed; `[Symbol.asyncDispose]` cancels it first).
   */
  close(): void {
    if (this.#closed) return;
    if (this.#inFlight > 0) throw new BusyError("DatagramEndpoint", this.#inFlight);
    this.#closing = this.#closed = true;
    this.#stopWatching();
    this.#core.removeSink(this.#sinkId);
    this.#core.disown(this.#child);
    this.#msghdr.free();
    untrackLeak(this);
  }

  /** Same as {@link DatagramEndpoint.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Stops receiving (cancels the multishot receive), waits for sends to finish, then closes. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#closed) return;
    this.#closing = true;
    this.#wanted = false;
    if (this.#armed) this.#core.prepCancel(this.#sinkId, RECV);
    await this.#core.until(() => this.#inFlight === 0, "draining a DatagramEndpoint");
    this.close();
  }
}

/** @internal Opens an endpoint on `core`. */
export function openDatagramEndpoint(
  core: RingCore,
  options: DatagramEndpointOptions,
): DatagramEndpoint {
  return construct(core, options);
}
