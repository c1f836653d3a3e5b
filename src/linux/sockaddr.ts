/**
 * `sockaddr_in` / `sockaddr_in6` encoding and decoding over native memory,
 * for `bind`, SEND's `addr2` and the peer address multishot RECVMSG writes
 * into each buffer.
 *
 * @module
 */

import { SOCK, SOCKADDR_IN, SOCKADDR_IN6 } from "../../ffi/linux/abi.ts";
import { formatIpv6, parseIpv4, parseIpv6, type SocketAddress } from "../../ffi/inet.ts";
import { checkInteger } from "../errors.ts";

/** The largest sockaddr regio writes (`sockaddr_in6`). */
export const SOCKADDR_MAX = SOCKADDR_IN6.SIZE;

/**
 * Writes `address` as a `sockaddr_in` (IPv4 literal) or `sockaddr_in6` (IPv6
 * literal) at `offset` of `view`; returns its length (16 or 28).
 * @throws {TypeError} for a hostname that is not a numeric IP literal;
 *   {@link RangeError} for a bad port or too little room.
 */
export function encodeSockaddr(address: SocketAddress, view: DataView, offset: number): number {
  checkInteger("port", address.port, 0, 65535);
  const v4 = parseIpv4(address.hostname);
  const v6 = v4 ? null : parseIpv6(address.hostname);
  if (!v4 && !v6) {
    throw new TypeError(`"${address.hostname}" is not a numeric IPv4 or IPv6 address`);
  }
  const size = v4 ? SOCKADDR_IN.SIZE : SOCKADDR_IN6.SIZE;
  checkInteger("sockaddr offset", offset, 0, view.byteLength - size);
  new Uint8Array(view.buffer, view.byteOffset + offset, size).fill(0);
  if (v4) {
    view.setUint16(offset + SOCKADDR_IN.family, SOCK.AF_INET, true);
    view.setUint16(offset + SOCKADDR_IN.port, address.port, false);
    for (let i = 0; i < 4; i++) view.setUint8(offset + SOCKADDR_IN.addr + i, v4[i]);
  } else {
    view.setUint16(offset + SOCKADDR_IN6.family, SOCK.AF_INET6, true);
    view.setUint16(offset + SOCKADDR_IN6.port, address.port, false);
    for (let i = 0; i < 16; i++) view.setUint8(offset + SOCKADDR_IN6.addr + i, v6![i]);
  }
  return size;
}

/**
 * Reads the `sockaddr_in`/`sockaddr_in6` of `length` bytes at `offset`.
 * @throws {TypeError} for another family or a short address.
 */
export function decodeSockaddr(view: DataView, offset: number, length: number): SocketAddress {
  const family = length >= 2 ? view.getUint16(offset, true) : -1;
  if (family === SOCK.AF_INET && length >= SOCKADDR_IN.SIZE) {
    const a = offset + SOCKADDR_IN.addr;
    return {
      hostname: `${view.getUint8(a)}.${view.getUint8(a + 1)}.${view.getUint8(a + 2)}.${
        view.getUint8(a + 3)
      }`,
      port: view.getUint16(offset + SOCKADDR_IN.port, false),
    };
  }
  if (family === SOCK.AF_INET6 && length >= SOCKADDR_IN6.SIZE) {
    const a = view.byteOffset + offset + SOCKADDR_IN6.addr;
    return {
      hostname: formatIpv6(new Uint8Array(view.buffer, a, 16)),
      port: view.getUint16(offset + SOCKADDR_IN6.port, false),
    };
  }
  throw new TypeError(`unsupported socket address (family ${family}, ${length} bytes)`);
}
