/**
 * A bound UDP socket fd (IPv4 or IPv6) made with libc, for registering in a
 * ring's file table. The fd is owned: closed exactly once.
 *
 * @module
 */

import { libc } from "../../ffi/linux/libc.ts";
import { SOCK } from "../../ffi/linux/abi.ts";
import type { SocketAddress } from "../../ffi/inet.ts";
import { check } from "./check.ts";
import { decodeSockaddr, encodeSockaddr, SOCKADDR_MAX } from "./sockaddr.ts";
import { withArgs } from "./scratch.ts";
import { OwnedFd } from "./owned_fd.ts";

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
   * Opens a UDP socket and binds it to `address` (port 0 picks a free port).
   * @throws {TypeError} for a non-numeric hostname; {@link ErrnoError} from
   *   `socket`/`bind` (e.g. EADDRINUSE).
   */
  static bindUdp(address: SocketAddress): SocketFd {
    const c = libc();
    return withArgs(SOCKADDR_MAX + 8, (args) => {
      const length = encodeSockaddr(address, args.view, 0);
      const family = length === SOCKADDR_MAX ? SOCK.AF_INET6 : SOCK.AF_INET;
      const fd = check(c.socket(family, SOCK.SOCK_DGRAM | SOCK.SOCK_CLOEXEC, 0), "socket");
      try {
        check(c.bind(fd, args.pointer, length), `bind(${address.hostname}:${address.port})`);
        args.view.setUint32(SOCKADDR_MAX, SOCKADDR_MAX, true);
        const lenPtr = Deno.UnsafePointer.offset(args.pointer, SOCKADDR_MAX);
        check(c.getsockname(fd, args.pointer, lenPtr), "getsockname");
        const local = decodeSockaddr(args.view, 0, args.view.getUint32(SOCKADDR_MAX, true));
        return new SocketFd(fd, family, local);
      } catch (e) {
        c.close(fd);
        throw e;
      }
    });
  }
}
