/**
 * A bound UDP socket fd (IPv4 or IPv6) made with libc, for registering in a
 * ring's file table. The fd is owned: closed exactly once.
 *
 * @module
 */

import { libc } from "./libc.ts";
import { SK_MEMINFO, SOCK, SOCKOPT } from "../../ffi/linux/abi.ts";
import type { SocketAddress } from "../../ffi/inet.ts";
import { checkInteger, UnsupportedError } from "../errors.ts";
import { check } from "./check.ts";
import { decodeSockaddr, encodeSockaddr, SOCKADDR_MAX } from "./sockaddr.ts";
import { withArgs } from "./scratch.ts";
import { setIntOption } from "./sockopt.ts";
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
  /**
   * IPv6 sockets only (ignored for IPv4): `IPV6_V6ONLY`, set explicitly
   * either way before `bind` so the result never depends on the
   * `net.ipv6.bindv6only` sysctl. `false` (default, like Node's `dgram`):
   * a socket bound to `::` also receives IPv4, from `::ffff:a.b.c.d`
   * senders. `true`: IPv6 only.
   */
  ipv6Only?: boolean;
  /**
   * `SO_REUSEPORT` before `bind`: every socket of the same user that sets it
   * may bind the same address, and the kernel spreads incoming flows among
   * them by a hash of the 4-tuple (socket(7)). Default false.
   */
  reusePort?: boolean;
  /** `SO_BROADCAST`: allow sending to broadcast addresses (IPv4). Default false. */
  broadcast?: boolean;
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
  #remote: SocketAddress | null = null;

  private constructor(fd: number, family: number, local: SocketAddress) {
    super(fd, "SocketFd");
    this.family = family;
    this.localAddress = local;
  }

  /**
   * Opens a UDP socket, sets the buffer sizes asked for (`SO_RCVBUF`,
   * `SO_SNDBUF`) and, on IPv6, `IPV6_V6ONLY`, then binds it to `address`
   * (port 0 picks a free port).
   * When any step fails the fd is closed.
   * @throws {TypeError} for a non-numeric hostname or options that are not an
   *   object or an `ipv6Only` that is not a boolean; {@link RangeError} for a
   *   bad buffer size (before anything is opened); {@link ErrnoError} from
   *   `socket`, `setsockopt(SO_RCVBUF)` / `setsockopt(SO_SNDBUF)` /
   *   `setsockopt(IPV6_V6ONLY)` (the call names the option) or `bind` (e.g. EADDRINUSE).
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
    const ipv6Only = options.ipv6Only ?? false;
    if (typeof ipv6Only !== "boolean") {
      throw new TypeError(`ipv6Only must be a boolean, got ${String(ipv6Only)}`);
    }
    if (options.reusePort) sizes.push([SOCK.SO_REUSEPORT, "SO_REUSEPORT", 1]);
    if (options.broadcast) sizes.push([SOCKOPT.SO_BROADCAST, "SO_BROADCAST", 1]);
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
        if (family === SOCK.AF_INET6) {
          // Always set: the sysctl default (net.ipv6.bindv6only) must not decide.
          args.view.setInt32(SOCKADDR_MAX, ipv6Only ? 1 : 0, true);
          check(
            c.setsockopt(fd, SOCK.IPPROTO_IPV6, SOCK.IPV6_V6ONLY, after, 4),
            "setsockopt(IPV6_V6ONLY)",
          );
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

  /**
   * Connects the socket to `peer` (connect(2) on UDP): sends without an
   * address go there, and the kernel delivers only that peer's datagrams and
   * reports its ICMP errors (ECONNREFUSED …) on the next receive or send.
   * @throws {TypeError} for a non-numeric hostname or one of the other family;
   *   {@link ErrnoError} from `connect` (e.g. ENETUNREACH).
   */
  connect(peer: SocketAddress): void {
    const fd = this.fd;
    withArgs(SOCKADDR_MAX, (args) => {
      const length = encodeSockaddr(peer, args.view, 0);
      if ((length === SOCKADDR_MAX) !== (this.family === SOCK.AF_INET6)) {
        throw new TypeError(
          `an IPv${this.family === SOCK.AF_INET6 ? 6 : 4} socket cannot connect to ` +
            `${peer.hostname} (another address family)`,
        );
      }
      check(libc().connect(fd, args.pointer, length), `connect(${where(peer)})`);
    });
    this.#remote = { hostname: peer.hostname, port: peer.port };
  }

  /** The peer set by {@link SocketFd.connect}, or null. */
  get remoteAddress(): SocketAddress | null {
    return this.#remote;
  }

  /**
   * `setsockopt(level, name)` with `value` as the option bytes (an int when a
   * number). `call` names it in the error.
   * @throws {ErrnoError} from `setsockopt`.
   */
  setOption(level: number, name: number, value: number | Uint8Array, call: string): void {
    const fd = this.fd;
    if (typeof value === "number") return setIntOption(fd, level, name, value, call);
    withArgs(value.length, (args) => {
      args.bytes.set(value);
      check(libc().setsockopt(fd, level, name, args.pointer, value.length), `setsockopt(${call})`);
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
