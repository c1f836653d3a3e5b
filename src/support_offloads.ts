/**
 * The UDP offloads and per-datagram metadata part of `support()`: for each
 * of receive coalescing, segmented sends, ECN and the local address,
 * whether this machine's engine has it, whether a `UdpSocket` uses it by
 * default, and why not when not. It probes for real: a loopback UDP socket,
 * opened and closed, takes each socket option (on Windows a RIO socket,
 * asked for packet info, ECN reception and URO).
 *
 * @module
 */

import { UDP_OPT } from "../ffi/linux/abi.ts";
import { SocketFd } from "./linux/socket.ts";
import { setIntOption } from "./linux/sockopt.ts";
import { Rio } from "./windows/rio.ts";

/** Whether one offload or kind of metadata works here. */
export interface OffloadSupport {
  /** The engine can do it on this machine. */
  readonly available: boolean;
  /** A `UdpSocket` uses it unless told otherwise. */
  readonly on: boolean;
  /** What it is, where it comes from, or why it is missing. */
  readonly detail: string;
}

/** The UDP offloads and metadata {@link support} reports. */
export interface UdpOffloadSupport {
  /** Receive coalescing (Linux UDP_GRO; Windows URO). */
  readonly gro: OffloadSupport;
  /** Segmented sends: reply trains and `sendMany` (Linux UDP_SEGMENT; Windows USO). */
  readonly gso: OffloadSupport;
  /** `datagram.ecn` and `{ ecn }` on sends. */
  readonly ecn: OffloadSupport;
  /** `datagram.local`, and replies from it on wildcard binds. */
  readonly localAddress: OffloadSupport;
}

function reason(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Probes each option on a loopback UDP socket. */
function probeLinux(): UdpOffloadSupport {
  let sock: SocketFd;
  try {
    sock = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
  } catch (e) {
    const no: OffloadSupport = { available: false, on: false, detail: reason(e) };
    return { gro: no, gso: no, ecn: no, localAddress: no };
  }
  const fd = sock.fd;
  const probe = (level: number, option: number, value: number, name: string): string | null => {
    try {
      setIntOption(fd, level, option, value, name);
      return null;
    } catch (e) {
      return reason(e);
    }
  };
  try {
    const gro = probe(UDP_OPT.SOL_UDP, UDP_OPT.UDP_GRO, 1, "UDP_GRO");
    const gso = probe(UDP_OPT.SOL_UDP, UDP_OPT.UDP_SEGMENT, 0, "UDP_SEGMENT");
    const tos = probe(UDP_OPT.IPPROTO_IP, UDP_OPT.IP_RECVTOS, 1, "IP_RECVTOS");
    const info = probe(UDP_OPT.IPPROTO_IP, UDP_OPT.IP_PKTINFO, 1, "IP_PKTINFO");
    return {
      gro: gro ? { available: false, on: false, detail: `needs Linux 5.0+ (${gro})` } : {
        available: true,
        on: true,
        detail: "UDP_GRO: one receive carries a super-packet, split into its datagrams " +
          "(bind({ gro: false }) turns it off)",
      },
      gso: gso ? { available: false, on: false, detail: `needs Linux 4.18+ (${gso})` } : {
        available: true,
        on: true,
        detail: "UDP_SEGMENT cmsg on SENDMSG: reply trains and sendMany leave as one send " +
          "(per socket, one send per datagram after the kernel refuses one: stats.segmentation)",
      },
      ecn: tos ? { available: false, on: false, detail: tos } : {
        available: true,
        on: true,
        detail: "IP_RECVTOS / IPV6_RECVTCLASS on receive, IP_TOS / IPV6_TCLASS cmsg on send",
      },
      localAddress: info ? { available: false, on: false, detail: info } : {
        available: true,
        on: true,
        detail: "IP_PKTINFO / IPV6_RECVPKTINFO on wildcard binds; replies leave from the " +
          "address each datagram arrived at (a specific bind: the bound address)",
      },
    };
  } finally {
    sock.close();
  }
}

const UNCONFIRMED = "through the RIO control slice: UNCONFIRMED on current Windows builds " +
  "(MsQuic's removed RIO datapath is the evidence, reference §5.10)";

/**
 * Opens a RIO socket asking for every option, and reads back what took. It
 * binds loopback: a wildcard bind could raise a Windows Firewall prompt.
 */
function probeWindowsOffloads(): UdpOffloadSupport {
  let metadata;
  try {
    using rio = Rio.open();
    using cq = rio.createCompletionQueue({ size: 2, notify: "poll" });
    using sock = rio.udpSocket({
      hostname: "127.0.0.1",
      port: 0,
      cq,
      maxOutstandingReceive: 1,
      maxOutstandingSend: 1,
      packetInfo: true,
      receiveEcn: true,
      maxCoalescedSize: 65535,
    });
    metadata = sock.metadata;
  } catch (e) {
    const no: OffloadSupport = { available: false, on: false, detail: reason(e) };
    return { gro: no, gso: no, ecn: no, localAddress: no };
  }
  return {
    gro: {
      available: metadata.maxCoalescedSize > 0,
      on: false,
      detail: metadata.maxCoalescedSize > 0
        ? "URO (UDP_RECV_MAX_COALESCED_SIZE), off by default: some machines coalesce without " +
          "UDP_COALESCED_INFO (quinn#2092); bind({ gro: true }) turns it on; " + UNCONFIRMED
        : "UDP_RECV_MAX_COALESCED_SIZE refused (needs a Windows with URO)",
    },
    gso: {
      available: true,
      on: true,
      detail: "USO: a UDP_SEND_MSG_SIZE cmsg, one RIO_BUF per train (per socket, one send per " +
        "datagram after a refusal: stats.segmentation); " + UNCONFIRMED,
    },
    ecn: metadata.receiveEcn
      ? {
        available: true,
        on: true,
        detail: "IP_RECVECN / IPV6_RECVECN on receive, IP_ECN / IPV6_ECN cmsg on send",
      }
      : {
        available: false,
        on: false,
        detail: "IP_RECVECN refused (needs Windows 11 / Server 2022+)",
      },
    localAddress: {
      available: true,
      on: true,
      detail: "IP_PKTINFO / IPV6_PKTINFO on wildcard binds; replies leave from the address " +
        "each datagram arrived at (a specific bind: the bound address)",
    },
  };
}

/** Probes the UDP offloads of this OS (never throws). */
export function probeOffloads(os: string): UdpOffloadSupport {
  if (os === "linux") return probeLinux();
  if (os === "windows") return probeWindowsOffloads();
  const none: OffloadSupport = { available: false, on: false, detail: `no UdpSocket on ${os}` };
  return { gro: none, gso: none, ecn: none, localAddress: none };
}
