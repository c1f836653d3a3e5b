/**
 * Numeric IP address literals to and from network-order bytes. Shared by
 * both platforms' ABI modules; no name resolution, on purpose.
 *
 * @module
 */

/** A socket address: an IPv4 dotted quad or an IPv6 literal, and a port. */
export interface SocketAddress {
  /** `127.0.0.1`, `::1`, … (numeric only; no name resolution). */
  hostname: string;
  /** 0–65535. */
  port: number;
}

/**
 * Parses a dotted-quad IPv4 address into 4 bytes, or returns null. A part
 * with a leading zero is refused, as inet_pton does (`010` is octal 8 to
 * inet_aton: guessing either way would send somewhere unintended).
 */
export function parseIpv4(hostname: string): Uint8Array | null {
  const parts = hostname.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!/^(0|[1-9]\d{0,2})$/.test(parts[i])) return null;
    const n = Number(parts[i]);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
}

/** Parses an IPv6 literal (with `::`, optional brackets, optional embedded IPv4) into 16 bytes, or null. */
export function parseIpv6(hostname: string): Uint8Array | null {
  let h = hostname;
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  if (!h.includes(":") || h.includes("%")) return null;
  const out = new Uint8Array(16);
  const halves = h.split("::");
  if (halves.length > 2) return null;
  // An embedded IPv4 address may only end the whole address (`last`).
  const groups = (s: string, last: boolean): number[] | null => {
    if (s === "") return [];
    const words: number[] = [];
    const parts = s.split(":");
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (last && i === parts.length - 1 && p.includes(".")) {
        const v4 = parseIpv4(p);
        if (!v4) return null;
        words.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null;
        words.push(parseInt(p, 16));
      }
    }
    return words;
  };
  const head = groups(halves[0], halves.length === 1);
  const tail = halves.length === 2 ? groups(halves[1], true) : [];
  if (!head || !tail) return null;
  const total = head.length + tail.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return null;
  const words = [...head, ...new Array(8 - total).fill(0), ...tail];
  for (let i = 0; i < 8; i++) {
    out[i * 2] = words[i] >> 8;
    out[i * 2 + 1] = words[i] & 0xff;
  }
  return out;
}

/** True for 0.0.0.0 and ::, where the OS, not the bind, picks each datagram's local address. */
export function isWildcard(hostname: string): boolean {
  const b = parseIpv4(hostname) ?? parseIpv6(hostname);
  return b !== null && b.every((x) => x === 0);
}

/** Formats 16 IPv6 bytes in the canonical compressed form (RFC 5952). */
export function formatIpv6(bytes: Uint8Array): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((bytes[i * 2] << 8) | bytes[i * 2 + 1]);
  // RFC 5952 §5: IPv4-mapped addresses keep the dotted quad (::ffff:1.2.3.4).
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(":");
  return hex.slice(0, bestStart).join(":") + "::" + hex.slice(bestStart + bestLen).join(":");
}
