/**
 * Integer socket options on a socket fd (`setsockopt` with a C `int`), for
 * the per-datagram metadata and offloads a UDP socket turns on after bind:
 * UDP_GRO, IP_RECVTOS / IPV6_RECVTCLASS, IP_PKTINFO / IPV6_RECVPKTINFO.
 *
 * @module
 */

import { libc } from "./libc.ts";
import { check } from "./check.ts";
import { withArgs } from "./scratch.ts";

/**
 * Sets the `int` option `option` at `level` of `fd` to `value`.
 * @throws {ErrnoError} naming `setsockopt(name)` (e.g. ENOPROTOOPT on a kernel without it).
 */
export function setIntOption(
  fd: number,
  level: number,
  option: number,
  value: number,
  name: string,
): void {
  withArgs(8, (args) => {
    args.view.setInt32(0, value, true);
    check(libc().setsockopt(fd, level, option, args.pointer, 4), `setsockopt(${name})`);
  });
}
