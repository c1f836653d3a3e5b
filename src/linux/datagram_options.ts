/**
 * A DatagramEndpoint's options, and their checks: the socket's slot in a
 * live file table, a live provided-buffer ring, and the room each buffer
 * reserves (header, address, control) leaving some for a payload.
 *
 * @module
 */

import { checkInteger, type ErrnoError } from "../errors.ts";
import type { RingCore } from "./ring.ts";
import { type FileTable, type FileTableState, liveFileTable } from "./files.ts";
import { type BufferRingState, liveBufferRing, type ProvidedBufferRing } from "./buf_ring.ts";
import { SOCKADDR_MAX } from "./sockaddr.ts";
import type { ReceivedDatagram } from "./received.ts";
import { HEADER } from "./datagram_receive.ts";

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

/** Checked options: the registrations' states and the room each buffer reserves. */
export interface EndpointSetup {
  /** The file table's state. */
  readonly files: FileTableState;
  /** The buffer ring's state. */
  readonly ring: BufferRingState;
  /** Room for the peer address. */
  readonly nameLength: number;
  /** Room for control messages. */
  readonly controlLength: number;
}

/**
 * Checks `o` against `core`, in the order the endpoint always has.
 * @throws {TypeError} for a missing `onMessage` or a wrong kind of registration;
 *   {@link RangeError} for a bad or empty slot, or buffers too small for a datagram;
 *   `RegioError` / `DisposedError` for another ring's or a disposed registration.
 */
export function checkEndpointOptions(core: RingCore, o: DatagramEndpointOptions): EndpointSetup {
  if (typeof o.onMessage !== "function") throw new TypeError("onMessage must be a function");
  const files = liveFileTable(core, o.files);
  checkInteger("file index", o.index, 0, files.slots.length - 1);
  if (files.slots[o.index] < 0) throw new RangeError(`file slot ${o.index} is empty`);
  const ring = liveBufferRing(core, o.buffers);
  const nameLength = checkInteger("nameLength", o.nameLength ?? SOCKADDR_MAX, 0, 128);
  const controlLength = checkInteger("controlLength", o.controlLength ?? 0, 0, 4096);
  if (o.buffers.bufferSize <= HEADER + nameLength + controlLength) {
    throw new RangeError(
      `bufferSize ${o.buffers.bufferSize} leaves no room for a payload after the ` +
        `${HEADER}-byte header, ${nameLength} bytes of address and ` +
        `${controlLength} bytes of control`,
    );
  }
  return { files, ring, nameLength, controlLength };
}
