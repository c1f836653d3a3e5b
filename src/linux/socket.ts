/**
 * A bound UDP socket fd (IPv4 or IPv6) made with libc, for registering in a
 * ring's file table. The fd is owned: closed exactly once.
 *
 * @module
 */

import { libc } from "./libc.ts";
import { SK_MEMINFO, SOCK } from "../../ffi/linux/abi.ts";
import type { SocketAddress } from "../../ffi/inet.ts";
import { checkInteger, UnsupportedError } from "../errors.ts";
import { check } from "./check.ts";
import { decodeSockaddr, encodeSockaddr, SOCKADDR_MAX } from "./sockaddr.ts";
import { withArgs } from "./scratch.ts";
import { OwnedFd } from "./owned_fd.ts";

/** Options for {@link SocketFd.bindUdp}. */
export interface BindUdpOptions {
  /**
   * `SO_RCVBUF` in bytes (1 to 2³¹−1; default: the kernel's), set right after
   * `socket()`, before `bind`. The kernel caps it at `net.core.rmem_max`
   * without an error, then doubles it (`getsockopt` reports `2 × min(value, rmem_max)`).
   */
  receiveBufferSize?: number;
  /** `SO_SNDBUF` in bytes, like {@link BindUdpOptions.receiveBufferSize} (`net.core.wmem_max`). */
  sendBufferSize?: number;
}

const MAX_SOCKET_BUFFER = 2 ** 31 - 1;

/** `host:port` for messages, an IPv6 host in brackets (`[fe80::1]:0`). */
function where(a: SocketAddress): string {
  return a.hostname.includes(":") ? `[${a.hostname}]:${a.port}` : `${a.hostname}:${a.port}`;
}

/**
 * A UDP socket bound to a local address. Register {@link SocketFd.fd} in a
 * `FileTable` and drive it with a `DatagramEndpoint`.
 *
 * @example
 * ```ts ignore
 * using sock = SocketFd.bindUdp({ hostname: "127.0.0.1", port: 0 });
 * sock.localAddress.port; // the port the kernel picked
 * ```
 */
export class SocketFd extends OwnedFd {
  /** Address family: 2 (AF_INET) or 10 (AF_INET6). */
  readonly family: number;
  /** The address the socket is bound to (with the real port). */
  readonly localAddress: SocketAddress;

  private constructor(fd: number, family: number, local: SocketAddress) {
    super(fd, "SocketFd");
    this.family = family;
    this.localAddress = local;
  }

  /**
   * Opens a UDP socket, sets the buffer sizes asked for (`SO_RCVBUF`,
   * `SO_SNDBUF`), then binds it to `address` (port 0 picks a free port).
   * When any step fails the fd is closed.
   * @throws {TypeError} for a non-numeric hostname or options that are not an
   *   object; {@link RangeError} for a bad buffer size (before anything is
   *   opened); {@link ErrnoError} from `socket`, `setsockopt(SO_RCVBUF)` /
   *   `setsockopt(SO_SNDBUF)` (the call names the option) or `bind` (e.g. EADDRINUSE).
   */
  static bindUdp(address: SocketAddress, options: BindUdpOptions = {}): SocketFd {
    if (options === null || typeof options !== "object") {
      throw new TypeError("SocketFd.bindUdp options must be an object");
    }
    // [option, its name, the value] for each size asked for, checked before anything is opened.
    const sizes: [number, string, number][] = [];
    const size = (option: number, name: string, field: string, value: number | undefined): void => {
      if (value !== undefined) {
        sizes.push([option, name, checkInteger(field, value, 1, MAX_SOCKET_BUFFER)]);
      }
    };
    size(SOCK.SO_RCVBUF, "SO_RCVBUF", "receiveBufferSize", options.receiveBufferSize);
    size(SOCK.SO_SNDBUF, "SO_SNDBUF", "sendBufferSize", options.sendBufferSize);
    const c = libc();
    return withArgs(SOCKADDR_MAX + 8, (args) => {
      const length = encodeSockaddr(address, args.view, 0);
      const family = length === SOCKADDR_MAX ? SOCK.AF_INET6 : SOCK.AF_INET;
      const fd = check(c.socket(family, SOCK.SOCK_DGRAM | SOCK.SOCK_CLOEXEC, 0), "socket");
      try {
        // The int option value (then the sockaddr length) lives after the sockaddr.
        const after = Deno.UnsafePointer.offset(args.pointer, SOCKADDR_MAX);
        for (const [option, name, value] of sizes) {
          args.view.setInt32(SOCKADDR_MAX, value, true);
          check(c.setsockopt(fd, SOCK.SOL_SOCKET, option, after, 4), `setsockopt(${name})`);
        }
        check(c.bind(fd, args.pointer, length), `bind(${where(address)})`);
        args.view.setUint32(SOCKADDR_MAX, SOCKADDR_MAX, true);
        check(c.getsockname(fd, args.pointer, after), "getsockname");
        const local = decodeSockaddr(args.view, 0, args.view.getUint32(SOCKADDR_MAX, true));
        return new SocketFd(fd, family, local);
      } catch (e) {
        c.close(fd);
        throw e;
      }
    });
  }
}

/**
 * Datagrams the kernel dropped for socket `sock` since it was opened (its
 * receive buffer was full, or a filter refused them): SO_MEMINFO's
 * SK_MEMINFO_DROPS, the counter /proc/net/udp shows. One getsockopt, read on
 * demand, so counting costs nothing per datagram (SO_RXQ_OVFL would put a
 * control message on every receive, and only says so with the next datagram).
 * @throws {ErrnoError} from `getsockopt(SO_MEMINFO)`; {@link UnsupportedError} before Linux 4.6.
 */
export function socketDrops(sock: SocketFd): number {
  const vars = SK_MEMINFO.VARS * 4;
  return withArgs(vars + 4, (args) => {
    args.view.setUint32(vars, vars, true);
    const length = Deno.UnsafePointer.offset(args.pointer, vars);
    check(
      libc().getsockopt(sock.fd, SOCK.SOL_SOCKET, SOCK.SO_MEMINFO, args.pointer, length),
      "getsockopt(SO_MEMINFO)",
    );
    if (args.view.getUint32(vars, true) < vars) {
      throw new UnsupportedError("SO_MEMINFO's SK_MEMINFO_DROPS", "Linux 4.6 or later");
    }
    return args.view.getUint32(SK_MEMINFO.DROPS * 4, true);
  });
}
