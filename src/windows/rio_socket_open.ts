/**
 * Opening a RIO UDP socket: its options, the completion queue it attaches to
 * (as the socket sees it: {@link RioSocketQueue}, which `RioCompletionQueue`
 * implements, so the socket modules never import the queue's), the layout of
 * its native scratch and request slots, and the Winsock calls that create,
 * configure and bind it and create its request queue.
 *
 * @module
 */

import {
  readSockaddrInet,
  RIO,
  SOCKET,
  type SocketAddress,
  SOCKOPT,
  STRUCTS,
  UDP_OFFLOAD,
  writeSockaddrInet,
  WSA_ERROR,
} from "../../ffi/windows/abi.ts";
import { checkInteger, WinsockError } from "../errors.ts";
import { NativeRegion } from "../memory.ts";
import { checkRioHandle, checkSocket, checkWinsock } from "./check.ts";
import { type CqState, INTERNAL, type RioContext } from "./rio_context.ts";

/**
 * The completion queue a socket posts to, as the socket sees it. It is
 * always a `RioCompletionQueue` (created by `Rio.createCompletionQueue`).
 */
export interface RioSocketQueue {
  /** Entries. */
  readonly size: number;
  /** @ignore */
  readonly [INTERNAL]: CqState;
}

/** Options for `Rio.udpSocket`. */
export interface RioUdpSocketOptions {
  /** Numeric IPv4 or IPv6 address to bind (`"127.0.0.1"`, `"::1"`, `"0.0.0.0"`…). */
  hostname: string;
  /** Port to bind; 0 lets the system pick (see {@link RioUdpSocket.addr}). */
  port: number;
  /** The completion queue for both directions (a `RioCompletionQueue` of the same `Rio`). */
  cq: RioSocketQueue;
  /** Receives that may be outstanding at once (default 16). */
  maxOutstandingReceive?: number;
  /** Sends that may be outstanding at once (default 16). */
  maxOutstandingSend?: number;
  /** SO_RCVBUF in bytes (1 to 2³¹−1), set before bind; default: Winsock's. */
  receiveBufferSize?: number;
  /** SO_SNDBUF in bytes (1 to 2³¹−1), set before bind; default: Winsock's. */
  sendBufferSize?: number;
  /**
   * IPv6 sockets only (ignored for IPv4): `IPV6_V6ONLY` (IPPROTO_IPV6 41,
   * option 27), set explicitly before bind either way. Windows' own default
   * is IPv6-only; regio's default is `false`, as in Node's `dgram` and on
   * Linux: a socket bound to `::` also receives IPv4, from `::ffff:a.b.c.d`
   * senders.
   */
  ipv6Only?: boolean;
  /**
   * IP_PKTINFO (IPv4) / IPV6_PKTINFO (IPv6): each receive with a control
   * slice gets the address the datagram arrived at; a send's control slice
   * may name its source. Set before bind; a failure throws.
   */
  packetInfo?: boolean;
  /**
   * IP_RECVECN / IPV6_RECVECN: each receive with a control slice gets the
   * ECN codepoint (Windows 11 / Server 2022+). Set before bind; where
   * Winsock refuses it, it stays off ({@link RioSocketMetadata}).
   */
  receiveEcn?: boolean;
  /**
   * UDP_RECV_MAX_COALESCED_SIZE in bytes (URO; 0 or absent: off). Receives
   * may then hold many datagrams of one sender, with UDP_COALESCED_INFO in
   * the control slice. Where Winsock refuses it, it stays off.
   */
  maxCoalescedSize?: number;
  /** SO_BROADCAST before bind: allow sends to broadcast addresses. Default false. */
  broadcast?: boolean;
  /**
   * Connect to this peer after bind: RIOSendEx may then pass no address, and
   * Winsock delivers only the peer's datagrams. An ICMP port unreachable from
   * the peer makes a receive complete with WSAECONNRESET (SIO_UDP_CONNRESET is
   * left at its default, on); whether RIO reports it at all is UNCONFIRMED.
   */
  connect?: SocketAddress;
}

/** Which of the optional receive metadata options took (see {@link RioUdpSocketOptions}). */
export interface RioSocketMetadata {
  /** IP_PKTINFO / IPV6_PKTINFO is on. */
  readonly packetInfo: boolean;
  /** IP_RECVECN / IPV6_RECVECN is on. */
  readonly receiveEcn: boolean;
  /** UDP_RECV_MAX_COALESCED_SIZE as set (0: URO off). */
  readonly maxCoalescedSize: number;
}

/** SOCKADDR_INET (28) + an int namelen, for bind/getsockname. */
export const SCRATCH = 32;
/** The namelen int, free until getsockname: setsockopt's int optval before bind. */
const OPTVAL = 28;
/** Per request slot: the data RIO_BUF, the address RIO_BUF, then the control RIO_BUF. */
export const SLOT = 3 * STRUCTS.RIO_BUF.size;

/** A socket just opened: bound, with its request queue, charged nothing yet. */
export interface OpenedSocket {
  /** The completion queue's state. */
  readonly cqState: CqState;
  /** MaxOutstandingReceive. */
  readonly maxR: number;
  /** MaxOutstandingSend. */
  readonly maxS: number;
  /** The bound address. */
  readonly addr: SocketAddress;
  /** The connected peer, or null. */
  readonly peer: SocketAddress | null;
  /** The SOCKET. */
  readonly socket: bigint;
  /** The RIO_RQ. */
  readonly rq: Deno.PointerObject;
  /** Its SocketContext. */
  readonly context: bigint;
  /** Scratch (SCRATCH bytes), then one SLOT per request slot. */
  readonly region: NativeRegion;
  /** What the metadata options turned on. */
  readonly metadata: RioSocketMetadata;
}

/**
 * Checks the options, then WSASocketW(WSA_FLAG_REGISTERED_IO), the buffer
 * sizes, IPV6_V6ONLY (IPv6), the metadata and URO options, bind, getsockname and RIOCreateRequestQueue. On failure nothing is
 * left open.
 */
export function openUdpSocket(ctx: RioContext, options: RioUdpSocketOptions): OpenedSocket {
  const cq = options.cq;
  if (typeof cq !== "object" || cq === null || !ctx.cqStates.has(cq[INTERNAL])) {
    throw new TypeError("cq must be an open RioCompletionQueue of the same Rio");
  }
  const maxR = checkInteger(
    "maxOutstandingReceive",
    options.maxOutstandingReceive ?? 16,
    0,
    RIO.RIO_MAX_CQ_SIZE,
  );
  const maxS = checkInteger(
    "maxOutstandingSend",
    options.maxOutstandingSend ?? 16,
    0,
    RIO.RIO_MAX_CQ_SIZE,
  );
  if (maxR + maxS === 0) {
    throw new RangeError("maxOutstandingReceive and maxOutstandingSend cannot both be 0");
  }
  const rcvbuf = options.receiveBufferSize === undefined
    ? undefined
    : checkInteger("receiveBufferSize", options.receiveBufferSize, 1, 2 ** 31 - 1);
  const sndbuf = options.sendBufferSize === undefined
    ? undefined
    : checkInteger("sendBufferSize", options.sendBufferSize, 1, 2 ** 31 - 1);
  const ipv6Only = options.ipv6Only ?? false;
  if (typeof ipv6Only !== "boolean") {
    throw new TypeError(`ipv6Only must be a boolean, got ${String(ipv6Only)}`);
  }
  const maxCoalesced = checkInteger("maxCoalescedSize", options.maxCoalescedSize ?? 0, 0, 65535);
  for (const name of ["packetInfo", "receiveEcn"] as const) {
    const v = options[name];
    if (v !== undefined && typeof v !== "boolean") {
      throw new TypeError(`${name} must be a boolean, got ${String(v)}`);
    }
  }
  const cqState = cq[INTERNAL];
  if (cqState.charged + maxR + maxS > cq.size) {
    throw new WinsockError(
      WSA_ERROR.WSAENOBUFS,
      "RIOCreateRequestQueue",
      `the completion queue has ${cq.size - cqState.charged} of ${cq.size} entries free and this ` +
        `socket needs ${maxR + maxS} (maxOutstandingReceive + maxOutstandingSend)`,
    );
  }
  const { ws2, fn } = ctx;
  const slots = maxR + maxS;
  const region = NativeRegion.allocate(SCRATCH + slots * SLOT, { allocator: ctx.allocator });
  try {
    const view = region.view;
    const namelen = writeSockaddrInet(view, 0, {
      hostname: options.hostname,
      port: options.port,
    });
    const af = namelen === STRUCTS.SOCKADDR_IN.size ? SOCKET.AF_INET : SOCKET.AF_INET6;
    const s = checkSocket(
      ws2.WSASocketW(
        af,
        SOCKET.SOCK_DGRAM,
        SOCKET.IPPROTO_UDP,
        null,
        0,
        RIO.WSA_FLAG_OVERLAPPED | RIO.WSA_FLAG_REGISTERED_IO,
      ),
      "WSASocketW",
      ws2,
    );
    try {
      const optval = Deno.UnsafePointer.offset(region.pointer, OPTVAL);
      const option = (
        level: number,
        name: number,
        call: string,
        value: number | undefined,
      ): void => {
        if (value === undefined) return;
        view.setInt32(OPTVAL, value, true);
        checkWinsock(ws2.setsockopt(s, level, name, optval, 4), call, ws2);
      };
      option(SOCKET.SOL_SOCKET, SOCKET.SO_RCVBUF, "setsockopt(SO_RCVBUF)", rcvbuf);
      option(SOCKET.SOL_SOCKET, SOCKET.SO_SNDBUF, "setsockopt(SO_SNDBUF)", sndbuf);
      const v6 = af === SOCKET.AF_INET6;
      // Always set on IPv6: Windows' default (IPv6-only) differs from Linux's and Node's.
      const v6only = v6 ? (ipv6Only ? 1 : 0) : undefined;
      option(SOCKET.IPPROTO_IPV6, SOCKET.IPV6_V6ONLY, "setsockopt(IPV6_V6ONLY)", v6only);
      const ip = v6 ? SOCKET.IPPROTO_IPV6 : UDP_OFFLOAD.IPPROTO_IP;
      const packetInfo = options.packetInfo === true;
      if (packetInfo) {
        const name = v6 ? "IPV6_PKTINFO" : "IP_PKTINFO";
        option(ip, UDP_OFFLOAD.IP_PKTINFO, `setsockopt(${name})`, 1);
      }
      // Optional: a Windows that refuses them just receives without (the reason is not
      // branched on: the last error is best effort from Deno, reference §5.2).
      const optional = (level: number, name: number, value: number): boolean => {
        view.setInt32(OPTVAL, value, true);
        return ws2.setsockopt(s, level, name, optval, 4) === 0;
      };
      const receiveEcn = options.receiveEcn === true &&
        optional(ip, v6 ? UDP_OFFLOAD.IPV6_RECVECN : UDP_OFFLOAD.IP_RECVECN, 1);
      const maxCoalescedSize = maxCoalesced > 0 &&
          optional(SOCKET.IPPROTO_UDP, UDP_OFFLOAD.UDP_RECV_MAX_COALESCED_SIZE, maxCoalesced)
        ? maxCoalesced
        : 0;
      const metadata: RioSocketMetadata = { packetInfo, receiveEcn, maxCoalescedSize };
      const broadcast = options.broadcast ? 1 : undefined;
      option(SOCKET.SOL_SOCKET, SOCKOPT.SO_BROADCAST, "setsockopt(SO_BROADCAST)", broadcast);
      checkWinsock(ws2.bind(s, region.pointer, namelen), "bind", ws2);
      view.setInt32(STRUCTS.SOCKADDR_INET.size, STRUCTS.SOCKADDR_INET.size, true);
      const lenPtr = Deno.UnsafePointer.offset(region.pointer, STRUCTS.SOCKADDR_INET.size);
      checkWinsock(ws2.getsockname(s, region.pointer, lenPtr), "getsockname", ws2);
      const addr = readSockaddrInet(view, 0)!;
      let peer: SocketAddress | null = null;
      if (options.connect) {
        const n = writeSockaddrInet(view, 0, options.connect);
        if (n !== namelen) {
          throw new TypeError(
            `a socket bound to ${addr.hostname} cannot connect to ${options.connect.hostname}`,
          );
        }
        checkWinsock(ws2.connect(s, region.pointer, n), "connect", ws2);
        peer = { hostname: options.connect.hostname, port: options.connect.port };
      }
      const context = ctx.nextSocketContext++;
      const rq = checkRioHandle(
        fn.RIOCreateRequestQueue(
          s,
          maxR,
          1,
          maxS,
          1,
          cqState.handle,
          cqState.handle,
          context,
        ),
        "RIOCreateRequestQueue",
        ws2,
      );
      return { cqState, maxR, maxS, addr, peer, socket: s, rq, context, region, metadata };
    } catch (e) {
      ws2.closesocket(s);
      throw e;
    }
  } catch (e) {
    region.free();
    throw e;
  }
}
