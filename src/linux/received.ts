/**
 * {@link ReceivedDatagram}: one datagram as multishot RECVMSG laid it out in
 * a provided buffer, the object a `DatagramEndpoint` passes to `onMessage`.
 *
 * @module
 */

import type { SocketAddress } from "../../ffi/inet.ts";
import type { NativeRegion } from "../memory.ts";
import { decodeSockaddr } from "./sockaddr.ts";

let makeReceivedDatagram: (region: NativeRegion) => ReceivedDatagram;

/**
 * One received datagram, as laid out by multishot RECVMSG in a provided
 * buffer: `[16-byte header][peer sockaddr][control][payload]`. The endpoint reuses one
 * instance for every message: read it inside `onMessage`, copy what you keep.
 */
export class ReceivedDatagram {
  /** The provided buffer that holds it; the application owns it until recycled or replied from. */
  bufferId: number = -1;
  /** Offset of the payload in the region. */
  payloadOffset: number = 0;
  /** Payload bytes received (at most the buffer's room). */
  length: number = 0;
  /** The datagram's full length; larger than `length` when it was truncated. */
  datagramLength: number = 0;
  /** True when the datagram did not fit in the buffer (MSG_TRUNC). */
  truncated: boolean = false;
  /** Offset of the peer's sockaddr in the region. */
  nameOffset: number = 0;
  /** Length of the peer's sockaddr that was stored. */
  nameLength: number = 0;
  /** Offset of the control messages (cmsgs) in the region. */
  controlOffset: number = 0;
  /** Bytes of control messages the kernel stored (0 when no room was reserved). */
  controlLength: number = 0;
  /** True when the control room was too small for every cmsg (MSG_CTRUNC). */
  controlTruncated: boolean = false;
  readonly #region: NativeRegion;

  static {
    makeReceivedDatagram = (region) => new ReceivedDatagram(region);
  }

  // Made by the endpoint.
  private constructor(region: NativeRegion) {
    this.#region = region;
  }

  /** The payload bytes (a view into the region; valid until the buffer is recycled). */
  get payload(): Uint8Array {
    return this.#region.bytes.subarray(this.payloadOffset, this.payloadOffset + this.length);
  }

  /** The sender's address (decoded on each call). */
  peer(): SocketAddress {
    return decodeSockaddr(this.#region.view, this.nameOffset, this.nameLength);
  }
}

/** Makes the {@link ReceivedDatagram} an endpoint reuses (its constructor is not public). */
export function newReceivedDatagram(region: NativeRegion): ReceivedDatagram {
  return makeReceivedDatagram(region);
}
