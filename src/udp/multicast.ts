/**
 * The portable checks for multicast: group addresses, the interface a
 * membership or a send uses, and the options of
 * {@link UdpSocket.addMembership}. They turn strings into the network-order
 * bytes the backends encode into their platform's structs.
 *
 * @module
 */

import { parseIpv4, parseIpv6 } from "../../ffi/inet.ts";
import { checkInteger } from "../errors.ts";
import type { InterfaceRef, Membership } from "./backend.ts";

/**
 * A network interface: a number is its index (both families; 0 lets the
 * system choose by route); a string is the numeric IPv4 address of one of
 * its local addresses (IPv4 sockets only).
 */
export type UdpInterface = number | string;

/** Options for {@link UdpSocket.addMembership} and {@link UdpSocket.dropMembership}. */
export interface UdpMembershipOptions {
  /** The interface to join on (default: the system picks by route, index 0). */
  interface?: UdpInterface;
  /**
   * A source-specific membership: deliver the group's datagrams from this
   * sender only (a numeric address of the group's family; IPv4:
   * IP_ADD_SOURCE_MEMBERSHIP, whose interface Linux names by address, not
   * index; IPv6: MCAST_JOIN_SOURCE_GROUP, interface by index).
   */
  source?: string;
}

/** Checks an interface for a socket of `family`. */
export function interfaceRef(family: 4 | 6, value: UdpInterface | undefined): InterfaceRef {
  if (value === undefined) return { address: null, ifindex: 0 };
  if (typeof value === "number") {
    return { address: null, ifindex: checkInteger("interface index", value, 0, 2 ** 31 - 1) };
  }
  if (typeof value !== "string") {
    throw new TypeError("interface must be an index (number) or an IPv4 address (string)");
  }
  if (family === 6) {
    throw new TypeError(`an IPv6 socket names the interface by index, not "${value}"`);
  }
  const v4 = parseIpv4(value);
  if (!v4) throw new TypeError(`interface "${value}" is not a numeric IPv4 address`);
  return { address: new Uint8Array(v4), ifindex: 0 };
}

/** Checks a group (a multicast address of the socket's family) and the options. */
export function membership(
  family: 4 | 6,
  group: string,
  options: UdpMembershipOptions = {},
): Membership {
  if (options === null || typeof options !== "object") {
    throw new TypeError("membership options must be an object");
  }
  const bytes = typeof group === "string"
    ? (family === 4 ? parseIpv4(group) : parseIpv6(group))
    : null;
  if (!bytes) {
    throw new TypeError(`group must be a numeric IPv${family} address, got ${String(group)}`);
  }
  const multicast = family === 4 ? (bytes[0] & 0xf0) === 0xe0 : bytes[0] === 0xff;
  if (!multicast) {
    throw new TypeError(
      `${group} is not a multicast address (${family === 4 ? "224.0.0.0/4" : "ff00::/8"})`,
    );
  }
  let source: Uint8Array | null = null;
  if (options.source !== undefined) {
    const s = typeof options.source !== "string"
      ? null
      : family === 4
      ? parseIpv4(options.source)
      : parseIpv6(options.source);
    if (!s) {
      throw new TypeError(
        `source must be a numeric IPv${family} address, got ${String(options.source)}`,
      );
    }
    source = new Uint8Array(s);
  }
  const at = interfaceRef(family, options.interface);
  if (family === 4 && source && at.ifindex !== 0) {
    throw new TypeError("a source-specific membership names its interface by IPv4 address");
  }
  return { group: new Uint8Array(bytes), source, ...at };
}
