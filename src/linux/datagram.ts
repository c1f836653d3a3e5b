/**
 * Datagram I/O at the ring level: one multishot RECVMSG on a fixed-file UDP
 * socket, selecting buffers from a provided-buffer ring, and SEND with
 * `addr2` (the sendto form) from the same region. Completions are dispatched
 * to callbacks with a reused message object, so the hot path allocates
 * nothing; SQEs queue up and go to the kernel in one batch per tick.
 *
 * This module holds the endpoint: its options, tokens, in-flight counts,
 * completions and teardown. What each op looks like to the kernel is in
 * datagram_receive.ts (RECVMSG) and datagram_send.ts (SEND, SENDMSG).
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
} from "../../ffi/linux/abi.ts";
import type { NativeRegion } from "../memory.ts";
import { trackLeak, untrackLeak } from "../leak.ts";
import { charge } from "../budget.ts";
import type { RingCore } from "./ring.ts";
import { type Child, KIND, type Sink, type UseCounter } from "./ring_contracts.ts";
import type { FileTableState } from "./files.ts";
import type { BufferRingState, ProvidedBufferRing } from "./buf_ring.ts";
import { checkEndpointOptions, type DatagramEndpointOptions } from "./datagram_options.ts";
import { newReceivedDatagram, type ReceivedDatagram } from "./received.ts";
import {
  HEADER,
  prepReceive,
  readReceived,
  rearmsAfter,
  receiveTemplate,
} from "./datagram_receive.ts";
import { DatagramSender, MSG_AREA } from "./datagram_send.ts";

const RECV = 0xffffffff; // token of the multishot receive
const REPLY = 0x80000000; // token bit: a reply whose buffer is recycled on completion

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
  readonly #nameLength: number;
  readonly #controlLength: number;
  readonly #msghdr: NativeRegion;
  readonly #sinkId: number;
  readonly #sender: DatagramSender;
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
    const { files, ring, nameLength, controlLength } = checkEndpointOptions(core, o);
    this.#files = files;
    this.#ring = ring;
    this.#nameLength = nameLength;
    this.#controlLength = controlLength;
    this.#core = core;
    this.#index = o.index;
    this.#buffers = o.buffers;
    this.#region = o.buffers.region;
    this.#view = this.#region.view;
    this.#onMessage = o.onMessage;
    this.#onSent = o.onSent;
    this.#onError = o.onError;
    this.message = newReceivedDatagram(this.#region);
    this.#msghdr = receiveTemplate(this.#nameLength, this.#controlLength);
    const sink: Sink = {
      complete: (token, res, flags) => this.#complete(token, res, flags),
      inFlight: () => this.#inFlight,
      cancelFor: (user) => this.#cancelFor(user),
      fail: (error) => this.#fail(error),
    };
    this.#sinkId = core.addSink(sink);
    this.#sender = new DatagramSender(core, o.index, this.#sinkId, this.#region);
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
    prepReceive(this.#core, this.#index, this.#sinkId, RECV, this.#msghdr, this.#ring.groupId);
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
    this.#sender.checkSlices(offset, length, addrOffset, addrLength);
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
    this.#sender.checkSlices(offset, length, addrOffset, addrLength);
    checkInteger("controlLength", controlLength, 0, 4096);
    this.#region.checkRange(headerOffset, MSG_AREA + controlLength);
    checkInteger("token", token, 0, REPLY - 1);
    this.#sender.sendMsg(
      token,
      offset,
      length,
      addrOffset,
      addrLength,
      headerOffset,
      controlLength,
    );
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
    this.#sender.send(token, offset, length, addrOffset, addrLength);
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
    charge(); // inline work: once the budget is spent, the ring's next batch waits a turn
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
    } else if (rearmsAfter(res)) {
      this.#arm();
    } else {
      this.#wanted = false; // cancelled or failed: stop (reported above)
    }
  }

  #deliver(bid: number, res: number): void {
    const at = this.#buffers.offset + bid * this.#buffers.bufferSize;
    const m = this.message;
    readReceived(this.#view, at, bid, res, this.#nameLength, this.#controlLength, m);
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
