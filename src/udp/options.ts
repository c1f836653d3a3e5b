/**
 * `UdpSocket.bind`'s options: their type, their limits, and the checks that
 * turn them into the {@link BackendOptions} a backend opens with (before
 * anything reaches the kernel).
 *
 * @module
 */

import { parseIpv4, parseIpv6, type SocketAddress } from "../../ffi/inet.ts";
import { checkInteger } from "../errors.ts";
import type { BackendOptions, MulticastOptions, SocketSettings } from "./backend.ts";
import { interfaceRef, type UdpInterface } from "./multicast.ts";

/** Options for {@link UdpSocket.bind}. */
export interface UdpSocketOptions {
  /** Numeric IPv4 or IPv6 address to bind (default `"127.0.0.1"`; no name resolution). */
  hostname?: string;
  /** Port to bind (default 0: the system picks one; see {@link UdpSocket.addr}). */
  port?: number;
  /**
   * Receive slots (default 1024, at most 32768). On Linux the count is
   * rounded up to a power of two (a provided-buffer ring's size);
   * {@link UdpSocket.receiveSlots} reports the real count.
   */
  slots?: number;
  /** Payload bytes per slot (default 2048, at most 65535). Longer datagrams are truncated. */
  slotSize?: number;
  /** Slots for fresh sends (default 256, at most 32768). */
  sendSlots?: number;
  /**
   * The socket's own receive buffer in bytes (`SO_RCVBUF`, 1 to 2³¹−1; default:
   * the OS default). It holds the datagrams the kernel has not yet put in a
   * slot (a burst, or every slot held); past it the kernel drops. Set right
   * after the socket is created, before `bind`.
   *
   * Linux: the kernel caps the value at `net.core.rmem_max` without an error
   * (root or not: only `SO_RCVBUFFORCE` with CAP_NET_ADMIN goes past the cap,
   * and regio does not use it), then doubles it for its own bookkeeping, so
   * `getsockopt` reports `2 × min(value, rmem_max)`. Raise the sysctl for
   * more. Windows: the value is passed to Winsock as given.
   */
  receiveBufferSize?: number;
  /**
   * The socket's send buffer in bytes (`SO_SNDBUF`, 1 to 2³¹−1; default: the
   * OS default). Same rules as {@link UdpSocketOptions.receiveBufferSize},
   * with `net.core.wmem_max` on Linux.
   */
  sendBufferSize?: number;
  /**
   * For an IPv6 `hostname` (ignored for IPv4): whether the socket is IPv6
   * only. Default `false`, as in Node's `dgram`: a socket bound to `::` is
   * dual-stack and also receives IPv4. Both platforms set `IPV6_V6ONLY`
   * explicitly either way, so the OS default (on for Windows, the
   * `net.ipv6.bindv6only` sysctl on Linux) never decides.
   *
   * On a dual-stack socket an IPv4 peer reads as its IPv4-mapped IPv6
   * address: {@link UdpDatagram.remote} is `{ hostname: "::ffff:127.0.0.1", … }`
   * (as in Node). `reply()` and `send()` to that address reach the IPv4
   * peer; a plain IPv4 literal is another address family and throws.
   */
  ipv6Only?: boolean;
  /**
   * Receive coalescing (Linux UDP_GRO, on by default; Windows URO through
   * RIO, **off** by default: some machines coalesce without saying so,
   * quinn#2092 — `gro: true` turns it on, see README). The kernel may then
   * hand over many datagrams from one sender in one receive; they are still
   * delivered one `UdpDatagram` each. Each receive slot then holds a whole
   * 64 KiB super-packet (the slot's memory grows accordingly; `slotSize`
   * still bounds each datagram). A kernel without UDP_GRO or a Windows
   * without URO receives uncoalesced: `socket.offloads.gro`.
   */
  gro?: boolean;
  /**
   * Share the port with other sockets bound with `reusePort: true` (one per
   * worker, each with its own ring and pool); the kernel spreads flows
   * (by source address and port) among them. Linux: `SO_REUSEPORT`, set
   * before `bind`; every socket sharing the port must set it, and binding a
   * taken port without it still fails with EADDRINUSE. Windows has no
   * flow-spreading equivalent: `UnsupportedError` (see README).
   */
  reusePort?: boolean;
  /** Allow sending to IPv4 broadcast addresses (`SO_BROADCAST`; {@link UdpSocket.setOptions} changes it later). */
  broadcast?: boolean;
  /** TTL (IPv4) or hop limit (IPv6) of multicast datagrams sent, 0–255 (OS default: 1). */
  multicastTTL?: number;
  /** Whether this host's own members of a group get the multicast datagrams sent (OS default: true). */
  multicastLoopback?: boolean;
  /** The interface multicast datagrams leave by (OS default: by route). */
  multicastInterface?: UdpInterface;
}

const MAX_SLOTS = 32768;
const MAX_SLOT_SIZE = 65535;
/** SO_RCVBUF / SO_SNDBUF take a C int. */
const MAX_SOCKET_BUFFER = 2 ** 31 - 1;

/**
 * Checks `options` and fills in the defaults.
 * @throws {TypeError} for options that are not an object, a hostname that is not a numeric IP
 *   address or an `ipv6Only` that is not a boolean.
 * @throws {RangeError} for a bad port, slot count, slot size or buffer size.
 */
export function backendOptions(options: UdpSocketOptions): BackendOptions {
  if (options === null || typeof options !== "object") {
    throw new TypeError("UdpSocket.bind options must be an object");
  }
  const hostname = options.hostname ?? "127.0.0.1";
  if (typeof hostname !== "string" || (!parseIpv4(hostname) && !parseIpv6(hostname))) {
    throw new TypeError(`hostname must be a numeric IPv4 or IPv6 address, got ${String(hostname)}`);
  }
  const port = checkInteger("port", options.port ?? 0, 0, 65535);
  const slots = checkInteger("slots", options.slots ?? 1024, 1, MAX_SLOTS);
  const slotSize = checkInteger("slotSize", options.slotSize ?? 2048, 1, MAX_SLOT_SIZE);
  const sendSlots = checkInteger("sendSlots", options.sendSlots ?? 256, 1, MAX_SLOTS);
  const receiveBufferSize = options.receiveBufferSize === undefined
    ? undefined
    : checkInteger("receiveBufferSize", options.receiveBufferSize, 1, MAX_SOCKET_BUFFER);
  const sendBufferSize = options.sendBufferSize === undefined
    ? undefined
    : checkInteger("sendBufferSize", options.sendBufferSize, 1, MAX_SOCKET_BUFFER);
  const ipv6Only = options.ipv6Only ?? false;
  if (typeof ipv6Only !== "boolean") {
    throw new TypeError(`ipv6Only must be a boolean, got ${String(ipv6Only)}`);
  }
  if (options.gro !== undefined && typeof options.gro !== "boolean") {
    throw new TypeError("gro must be a boolean");
  }
  const gro = options.gro; // the default is the platform's (backend.ts)
  const family = parseIpv4(hostname) ? 4 : 6;
  return {
    hostname,
    port,
    slots,
    slotSize,
    sendSlots,
    receiveBufferSize,
    sendBufferSize,
    ipv6Only,
    gro,
    reusePort: flag("reusePort", options.reusePort),
    broadcast: flag("broadcast", options.broadcast),
    multicast: multicastOptions(family, options),
  };
}

function flag(name: string, value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== "boolean") throw new TypeError(`${name} must be a boolean`);
  return value;
}

/** The options {@link UdpSocket.setOptions} takes: those a bound socket may change. */
export type UdpSocketSettings = Pick<
  UdpSocketOptions,
  "broadcast" | "multicastTTL" | "multicastLoopback" | "multicastInterface"
>;

/**
 * Checks the options of `UdpSocket.setOptions` for a socket of `family`,
 * all before any is applied.
 * @throws {TypeError} for options that are not an object, an unknown option, or a bad value;
 *   {@link RangeError} for a TTL outside 0–255.
 */
export function socketSettings(family: 4 | 6, options: UdpSocketSettings): SocketSettings {
  if (options === null || typeof options !== "object") {
    throw new TypeError("UdpSocket.setOptions takes an options object");
  }
  for (const key of Object.keys(options)) {
    if (!SETTINGS.includes(key)) {
      throw new TypeError(`setOptions cannot change ${key} (only ${SETTINGS.join(", ")})`);
    }
  }
  return {
    broadcast: options.broadcast === undefined ? undefined : flag("broadcast", options.broadcast),
    multicast: multicastOptions(family, options),
  };
}

const SETTINGS = ["broadcast", "multicastTTL", "multicastLoopback", "multicastInterface"];

function multicastOptions(family: 4 | 6, o: UdpSocketSettings): MulticastOptions | undefined {
  if (
    o.multicastTTL === undefined && o.multicastLoopback === undefined &&
    o.multicastInterface === undefined
  ) return undefined;
  return {
    ttl: o.multicastTTL === undefined
      ? undefined
      : checkInteger("multicastTTL", o.multicastTTL, 0, 255),
    loopback: o.multicastLoopback === undefined
      ? undefined
      : flag("multicastLoopback", o.multicastLoopback),
    interface: o.multicastInterface === undefined
      ? undefined
      : interfaceRef(family, o.multicastInterface),
  };
}

/**
 * The options of `UdpSocket.connect`: `options` checked as for bind (the
 * default hostname is the wildcard address of the peer's family), plus the
 * peer, read once and checked.
 * @throws {TypeError} for a peer that is not a numeric address of the bound family.
 * @throws {RangeError} for a bad peer port, and what {@link backendOptions} throws.
 */
export function connectOptions(peer: SocketAddress, options: UdpSocketOptions): BackendOptions {
  if (peer === null || typeof peer !== "object") {
    throw new TypeError("UdpSocket.connect takes a { hostname, port } peer");
  }
  const { hostname, port } = peer;
  const v4 = typeof hostname === "string" && parseIpv4(hostname) !== null;
  if (!v4 && (typeof hostname !== "string" || !parseIpv6(hostname))) {
    throw new TypeError(`peer.hostname must be a numeric IPv4 or IPv6 address, got ${hostname}`);
  }
  checkInteger("peer.port", port, 1, 65535);
  const o = backendOptions({ hostname: v4 ? "0.0.0.0" : "::", ...options });
  if ((parseIpv4(o.hostname) !== null) !== v4) {
    throw new TypeError(`a socket bound to ${o.hostname} cannot connect to ${hostname}`);
  }
  return { ...o, connect: { hostname, port } };
}
