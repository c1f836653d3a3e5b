/**
 * Which engine a `UdpSocket` uses on this platform: io_uring on Linux, RIO
 * on Windows, a clear error elsewhere.
 *
 * @module
 */

import { UnsupportedError } from "../errors.ts";
import type { BackendFactory } from "./backend.ts";
import { openLinuxBackend } from "./linux.ts";
import { openWindowsBackend } from "./windows.ts";

/**
 * This platform's engine.
 * @throws {UnsupportedError} on operating systems other than Linux and Windows.
 */
export function platformBackend(): BackendFactory {
  const os = Deno.build.os;
  if (os !== "linux" && os !== "windows") {
    throw new UnsupportedError("UdpSocket", `Linux (io_uring) or Windows (RIO), not ${os}`);
  }
  return os === "windows" ? openWindowsBackend : openLinuxBackend;
}
