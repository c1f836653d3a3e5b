/**
 * Which kernel backend a file ring uses on this platform, and making it:
 * io_uring on Linux, the I/O ring on Windows, a clear error elsewhere.
 *
 * @module
 */

import { UnsupportedError } from "../errors.ts";
import type { Backend, Completion, FileRingBackend } from "./backend.ts";
import { LinuxBackend } from "./linux.ts";
import { WindowsBackend } from "./windows.ts";

/**
 * The backend asked for, or this platform's.
 * @throws {UnsupportedError} on other platforms, or io_uring off Linux.
 * @throws {RangeError} for a bad backend name.
 */
export function chooseBackend(asked: FileRingBackend | undefined): FileRingBackend {
  const os = Deno.build.os;
  const backend = asked ?? (os === "linux" ? "io_uring" : os === "windows" ? "ioring" : undefined);
  if (backend === undefined) {
    throw new UnsupportedError(
      "FileRing",
      `it needs Linux (io_uring) or Windows 11 (I/O ring); this is ${os}`,
    );
  }
  if (backend !== "io_uring" && backend !== "ioring") {
    throw new RangeError(`backend must be "io_uring" or "ioring", got ${String(backend)}`);
  }
  if (backend === "io_uring" && os !== "linux") {
    throw new UnsupportedError("FileRing io_uring backend", `it needs Linux; this is ${os}`);
  }
  return backend;
}

/**
 * Opens `backend`'s kernel ring with room for `depth` operations; each
 * completion is reported to `complete`.
 * @throws {UnsupportedError} when the kernel interface is missing or blocked.
 */
export function createBackend(
  backend: FileRingBackend,
  depth: number,
  complete: Completion,
): Backend {
  return backend === "io_uring"
    ? LinuxBackend.create(depth, complete)
    : WindowsBackend.create(depth, complete);
}
