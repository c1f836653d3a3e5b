/**
 * What the RIO engine is made of, opened in order and undone on failure:
 * the {@link Rio} session, one completion queue, one RIO UDP socket (its
 * buffer sizes, metadata options, multicast send options and connect), and
 * two {@link RioBufferPool}s with one registration per slot, each slot with
 * a control area for its requests' control slices.
 *
 * @module
 */

import { isWildcard } from "../../ffi/inet.ts";
import { UnsupportedError } from "../errors.ts";
import { Rio } from "../windows/rio.ts";
import type { RioBufferPool } from "../windows/rio_buffer.ts";
import type { RioCompletionQueue } from "../windows/rio_queue.ts";
import type { RioUdpSocket } from "../windows/rio_socket.ts";
import { RECEIVE_CONTROL_ROOM, SEND_CONTROL_ROOM } from "../windows/cmsg.ts";
import {
  setRioBroadcast,
  setRioMulticastInterface,
  setRioMulticastLoopback,
  setRioMulticastTtl,
} from "../windows/rio_multicast.ts";
import type { BackendOptions, SocketSettings } from "./backend.ts";

/** A whole URO super-packet (UDP_RECV_MAX_COALESCED_SIZE asked for, and each receive's room). */
const URO_ROOM = 65535;

/** The kernel objects and registrations of one RIO engine. */
export interface RioParts {
  /** The Winsock session and its RIO table. */
  rio: Rio;
  /** The one completion queue, receives and sends. */
  cq: RioCompletionQueue;
  /** The bound (and maybe connected) RIO UDP socket. */
  sock: RioUdpSocket;
  /** The receive slots: data, then room for received control data and its replies' cmsgs. */
  rx: RioBufferPool;
  /** The send slots: data, then room for their sends' cmsgs. */
  tx: RioBufferPool;
}

/**
 * Opens everything a RIO engine for `o` needs; on failure closes what was
 * opened, in reverse order, and throws.
 * @throws {UnsupportedError} for `reusePort` (Winsock has no equivalent).
 */
export function openRioParts(o: BackendOptions): RioParts {
  if (o.reusePort) {
    throw new UnsupportedError(
      "UdpSocket reusePort on Windows",
      "Winsock has no SO_REUSEPORT that spreads one port's flows over several sockets: " +
        "SO_REUSEADDR lets a second socket bind the port but delivers each unicast datagram " +
        "to one of them, not balanced by flow (so regio does not use it), and the " +
        "per-processor port sharing MsQuic uses (SIO_SET_PORT_SHARING_PER_PROC_SOCKET) is " +
        "undocumented and spreads by the receiving processor within one process, not by flow",
    );
  }
  const receiveSlots = o.slots;
  const slots = receiveSlots + o.sendSlots;
  const gro = o.gro === true; // off by default on Windows (quinn#2092)
  const rio = Rio.open();
  const opened: (() => void)[] = [() => rio.close()];
  try {
    // Every slot may be sending at once (replies and fresh sends), and every receive slot posted.
    const cq = rio.createCompletionQueue({
      size: receiveSlots + slots,
      batch: Math.min(1024, receiveSlots + slots),
    });
    opened.push(() => cq.close());
    const sock = rio.udpSocket({
      hostname: o.hostname,
      port: o.port,
      cq,
      maxOutstandingReceive: receiveSlots,
      maxOutstandingSend: slots,
      receiveBufferSize: o.receiveBufferSize,
      sendBufferSize: o.sendBufferSize,
      ipv6Only: o.ipv6Only,
      packetInfo: isWildcard(o.hostname),
      receiveEcn: true,
      maxCoalescedSize: gro ? URO_ROOM : 0,
      broadcast: o.broadcast,
      connect: o.connect,
    });
    opened.push(() => sock.close());
    applyRioSettings(sock, { multicast: o.multicast });
    const uro = sock.metadata.maxCoalescedSize > 0;
    // Receive slots hold a whole super-packet with URO on; each has room for its
    // received control data and, after it, its replies' cmsgs. Send slots: sends' cmsgs.
    const rx = rio.createBufferPool({
      slots: receiveSlots,
      slotSize: uro ? Math.max(o.slotSize, URO_ROOM) : o.slotSize,
      controlSize: RECEIVE_CONTROL_ROOM + SEND_CONTROL_ROOM,
    });
    opened.push(() => rx.close());
    const tx = rio.createBufferPool({
      slots: o.sendSlots,
      slotSize: o.slotSize,
      controlSize: SEND_CONTROL_ROOM,
    });
    return { rio, cq, sock, rx, tx };
  } catch (e) {
    for (const undo of opened.reverse()) undo();
    throw e;
  }
}

/**
 * Applies bound-socket settings (bind's multicast options too). The
 * interface goes first: it is the one the kernel can refuse once checked
 * (EADDRNOTAVAIL, ENODEV), and then nothing else has changed.
 */
export function applyRioSettings(sock: RioUdpSocket, s: SocketSettings): void {
  const m = s.multicast;
  if (m?.interface) setRioMulticastInterface(sock, m.interface.address, m.interface.ifindex);
  if (s.broadcast !== undefined) setRioBroadcast(sock, s.broadcast);
  if (m?.ttl !== undefined) setRioMulticastTtl(sock, m.ttl);
  if (m?.loopback !== undefined) setRioMulticastLoopback(sock, m.loopback);
}
