/**
 * Turning on a bound UDP socket's per-datagram metadata and receive
 * coalescing: IP_RECVTOS / IPV6_RECVTCLASS (ECN), IP_PKTINFO /
 * IPV6_RECVPKTINFO (the local address, wildcard binds only), UDP_GRO; and
 * the checksum-off options tests use to make the kernel refuse segmentation.
 *
 * @module
 */

import { isWildcard } from "../../ffi/inet.ts";
import { SOCK, UDP_OPT } from "../../ffi/linux/abi.ts";
import { ErrnoError } from "../errors.ts";
import type { SocketFd } from "./socket.ts";
import { setIntOption } from "./sockopt.ts";

/** What {@link enableUdpMetadata} asks for. */
export interface UdpMetadataOptions {
  /** Turn UDP_GRO on (a kernel without it leaves it off, no error). */
  gro: boolean;
  /**
   * Send without UDP checksums (SO_NO_CHECK; IPv6: UDP_NO_CHECK6_TX and
   * _RX): the kernel then refuses every segmented send with EINVAL.
   */
  noChecksum?: boolean;
}

/** What is on after {@link enableUdpMetadata}. */
export interface UdpMetadata {
  /** Receives may be coalesced (UDP_GRO took). */
  gro: boolean;
  /** Each receive carries its packet info (the socket is bound to a wildcard address). */
  local: boolean;
}

/**
 * Sets the options on `sock`. ECN reception is always on; packet info only
 * for a wildcard bind (a specific bind already says where every datagram
 * arrived).
 * @throws {ErrnoError} from `setsockopt` (the call names the option).
 */
export function enableUdpMetadata(sock: SocketFd, o: UdpMetadataOptions): UdpMetadata {
  const fd = sock.fd;
  const v6 = sock.family === SOCK.AF_INET6;
  const ip = v6 ? UDP_OPT.IPPROTO_IPV6 : UDP_OPT.IPPROTO_IP;
  if (v6) setIntOption(fd, ip, UDP_OPT.IPV6_RECVTCLASS, 1, "IPV6_RECVTCLASS");
  else setIntOption(fd, ip, UDP_OPT.IP_RECVTOS, 1, "IP_RECVTOS");
  const local = isWildcard(sock.localAddress.hostname);
  if (local && v6) setIntOption(fd, ip, UDP_OPT.IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO");
  else if (local) setIntOption(fd, ip, UDP_OPT.IP_PKTINFO, 1, "IP_PKTINFO");
  let gro = false;
  if (o.gro) {
    try {
      setIntOption(fd, UDP_OPT.SOL_UDP, UDP_OPT.UDP_GRO, 1, "UDP_GRO");
      gro = true;
    } catch (e) {
      if (!(e instanceof ErrnoError)) throw e; // a kernel without UDP_GRO: receive uncoalesced
    }
  }
  if (o.noChecksum && v6) {
    setIntOption(fd, UDP_OPT.SOL_UDP, UDP_OPT.UDP_NO_CHECK6_TX, 1, "UDP_NO_CHECK6_TX");
    setIntOption(fd, UDP_OPT.SOL_UDP, UDP_OPT.UDP_NO_CHECK6_RX, 1, "UDP_NO_CHECK6_RX");
  } else if (o.noChecksum) {
    setIntOption(fd, SOCK.SOL_SOCKET, UDP_OPT.SO_NO_CHECK, 1, "SO_NO_CHECK");
  }
  return { gro, local };
}
