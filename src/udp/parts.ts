/**
 * The parts of one `UdpSocket` over its backend: the slot table
 * (slots.ts), the sends in flight (outbox.ts), the receive side
 * (receive.ts) and the send side (send.ts), and the routing of the
 * backend's events to them. socket.ts is the facade over these.
 *
 * A peer that vanished is not an error on Linux (unconnected sockets ignore
 * ICMP); on Windows a receive that completes with WSAECONNRESET is counted
 * in `stats.receiveErrors` and the slot is posted again.
 *
 * A socket whose engine fails for good (its receive cannot be re-armed, its
 * completion queue is corrupt …) stops: `receive()` rejects with that error,
 * and so do `send()`, `acquire()`, `tryAcquire()` and the sends waiting for
 * a slot (a busy slot may never come back). Close it and bind a new one.
 *
 * @module
 */

import type { UdpBackend } from "./backend.ts";
import { Outbox } from "./outbox.ts";
import { ReceiveSide } from "./receive.ts";
import { SendSide } from "./send.ts";
import { Slots } from "./slots.ts";

/** What a socket delegates to. */
export interface SocketParts {
  /** The slot table and counters. */
  readonly slots: Slots;
  /** Receiving, replying, releasing datagrams. */
  readonly receive: ReceiveSide;
  /** Sending, acquiring send slots. */
  readonly send: SendSide;
}

/**
 * Builds the parts over `backend` and starts it; every send the kernel
 * rejects is also reported to `sendError`.
 */
export function assembleParts(
  backend: UdpBackend,
  sendError: (error: Error) => void,
): SocketParts {
  const slots = new Slots(backend);
  const outbox = new Outbox(slots, (slot) => send.sent(slot), sendError);
  const receive = new ReceiveSide(slots, outbox);
  const send: SendSide = new SendSide(slots, outbox);
  backend.start({
    received: (slot, length, fullLength, segment, ecn) =>
      receive.received(slot, length, fullLength, segment, ecn),
    sent: (token, bytes, error) => outbox.sent(token, bytes, error),
    receiveError: () => slots.receiveErrors++,
    peerError: (error) => {
      slots.receiveErrors++;
      receive.peerError(error);
    },
    failed: (error) => {
      slots.failure ??= error;
      // A send slot may never come back (on RIO nothing is dequeued any more).
      send.reject(error);
      receive.reject(error);
    },
  });
  return { slots, receive, send };
}
