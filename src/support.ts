/**
 * `support()`: which backend this machine has for registered files and for
 * registered-buffer sockets, and why not when not. It probes for real
 * (creates and closes a ring, opens and closes RIO) and never throws.
 *
 * @module
 */

import { Uring } from "./linux/uring.ts";
import { IoRing } from "./windows/ioring.ts";
import { Rio } from "./windows/rio.ts";
import { IORING_OP } from "../ffi/linux/abi.ts";
import { probeOffloads, type UdpOffloadSupport } from "./support_offloads.ts";

/** Whether one backend works here. */
export interface BackendSupport {
  /** The backend's name: `"io_uring"`, `"ioring"` or `"rio"`; null on an unsupported OS. */
  readonly backend: "io_uring" | "ioring" | "rio" | null;
  /** True when regio can use it on this machine. */
  readonly available: boolean;
  /** What was found (when available) or why not, with what would fix it. */
  readonly detail: string;
}

/** What {@link support} reports. */
export interface Support {
  /** `Deno.build.os`. */
  readonly os: string;
  /** Registered files (the portable file API). */
  readonly files: BackendSupport;
  /** Registered-buffer UDP sockets. */
  readonly sockets: BackendSupport;
  /** The UDP offloads and per-datagram metadata, each available or not, on by default or not. */
  readonly udp: UdpOffloadSupport;
}

function reason(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = e.cause instanceof Error ? ` (${e.cause.message})` : "";
  return e.message + cause;
}

/** Probes the Linux backends. */
function probeLinux(): Pick<Support, "files" | "sockets"> {
  let ring: Uring;
  try {
    ring = Uring.create({ entries: 2 });
  } catch (e) {
    const no = { available: false, detail: reason(e) };
    return { files: { backend: "io_uring", ...no }, sockets: { backend: "io_uring", ...no } };
  }
  try {
    const c = ring.capabilities;
    const flags = `setup flags 0x${c.setupFlags.toString(16)}, features 0x${
      c.features.toString(16)
    }`;
    const files: BackendSupport = c.supports(IORING_OP.READ_FIXED)
      ? {
        backend: "io_uring",
        available: true,
        detail: `io_uring fixed files and buffers (${flags})`,
      }
      : { backend: "io_uring", available: false, detail: "the kernel lacks IORING_OP_READ_FIXED" };
    // Multishot RECVMSG is 6.0 and SEND with a destination address 6.1; the probe
    // cannot see the latter, but DEFER_TASKRUN (also 6.1) being accepted implies it.
    const sockets: BackendSupport = c.supports(IORING_OP.RECVMSG) && c.supports(IORING_OP.SEND) &&
        c.deferTaskrun
      ? {
        backend: "io_uring",
        available: true,
        detail: "io_uring multishot RECVMSG with a provided-buffer ring, SEND with addr2",
      }
      : {
        backend: "io_uring",
        available: false,
        detail: "needs Linux 6.1+ (multishot RECVMSG, SEND with a destination address)",
      };
    return { files, sockets };
  } finally {
    ring.close();
  }
}

/** @internal Probes the Windows backends (through the installed API: real or fake). */
export function probeWindows(): Pick<Support, "files" | "sockets"> {
  let files: BackendSupport;
  try {
    const caps = IoRing.queryCapabilities();
    files = {
      backend: "ioring",
      available: true,
      detail: `I/O ring, max version ${caps.maxVersion}` +
        (caps.maxVersion >= 300
          ? " (read, write, flush)"
          : " (read only: writes need IORING_VERSION_3, build 22621+)"),
    };
  } catch (e) {
    files = { backend: "ioring", available: false, detail: reason(e) };
  }
  let sockets: BackendSupport;
  try {
    Rio.open().close();
    sockets = { backend: "rio", available: true, detail: "Winsock Registered I/O" };
  } catch (e) {
    sockets = { backend: "rio", available: false, detail: reason(e) };
  }
  return { files, sockets };
}

/**
 * Reports which backends this machine supports and why not, when not.
 * Never throws (without `--allow-ffi` the details say so).
 *
 * @example
 * ```ts ignore
 * import { support } from "@regio/regio";
 * const s = support();
 * if (!s.sockets.available) console.error(s.sockets.detail);
 * ```
 */
export function support(): Support {
  const os = Deno.build.os;
  if (os === "linux") return { os, ...probeLinux(), udp: probeOffloads(os) };
  if (os === "windows") return { os, ...probeWindows(), udp: probeOffloads(os) };
  const none: BackendSupport = {
    backend: null,
    available: false,
    detail: `regio supports Linux (io_uring) and Windows (I/O ring, RIO); this is ${os}`,
  };
  return { os, files: none, sockets: none, udp: probeOffloads(os) };
}
