/**
 * What an I/O ring needs from kernelbase.dll and what the OS reports it can
 * do: the l1-1-0 symbols every ring needs, QueryIoRingCapabilities, the
 * operation codes IsIoRingOpSupported takes, and the builders that only
 * newer rings have.
 *
 * @module
 */

import { UnsupportedError } from "../errors.ts";
import { IORING_FLAGS, IORING_OP, readCapabilities } from "../../ffi/windows/abi.ts";
import type { Kernelbase } from "../../ffi/windows/kernelbase.ts";
import { windowsApi } from "./api.ts";
import { checkHResult } from "./check.ts";

/** What QueryIoRingCapabilities reports. */
export interface IoRingCapabilities {
  /** Highest IORING_VERSION (1, 2, 300, 400, or a newer integer). */
  readonly maxVersion: number;
  /** Largest submission queue. */
  readonly maxSubmissionQueueSize: number;
  /** Largest completion queue. */
  readonly maxCompletionQueueSize: number;
  /** IORING_FEATURE_FLAGS bits. */
  readonly featureFlags: number;
  /** IORING_FEATURE_SET_COMPLETION_EVENT: completions can signal an event. */
  readonly completionEvent: boolean;
}

/** I/O ring operation names for {@link IoRing.isSupported}. */
export type IoRingOpName =
  | "nop"
  | "read"
  | "registerFiles"
  | "registerBuffers"
  | "cancel"
  | "write"
  | "flush"
  | "readScatter"
  | "writeGather";

/** IORING_OP_CODE by name. */
export const OP_CODES: Record<IoRingOpName, number> = {
  nop: IORING_OP.IORING_OP_NOP,
  read: IORING_OP.IORING_OP_READ,
  registerFiles: IORING_OP.IORING_OP_REGISTER_FILES,
  registerBuffers: IORING_OP.IORING_OP_REGISTER_BUFFERS,
  cancel: IORING_OP.IORING_OP_CANCEL,
  write: IORING_OP.IORING_OP_WRITE,
  flush: IORING_OP.IORING_OP_FLUSH,
  readScatter: IORING_OP.IORING_OP_READ_SCATTER,
  writeGather: IORING_OP.IORING_OP_WRITE_GATHER,
};

/** The l1-1-0 symbols every ring needs (Windows 11 build 22000+). */
const V1_SYMBOLS = [
  "QueryIoRingCapabilities",
  "IsIoRingOpSupported",
  "CreateIoRing",
  "GetIoRingInfo",
  "SubmitIoRing",
  "CloseIoRing",
  "PopIoRingCompletion",
  "SetIoRingCompletionEvent",
  "BuildIoRingCancelRequest",
  "BuildIoRingReadFile",
  "BuildIoRingRegisterFileHandles",
  "BuildIoRingRegisterBuffers",
] as const;

/** kernelbase with the l1-1-0 symbols known to be present. */
export type RingKernel =
  & Kernelbase
  & {
    [K in (typeof V1_SYMBOLS)[number]]: NonNullable<Kernelbase[K]>;
  };

/** The builders that need a ring of version 300 or 400. */
type LaterBuilder =
  | "BuildIoRingWriteFile"
  | "BuildIoRingFlushFile"
  | "BuildIoRingReadFileScatter"
  | "BuildIoRingWriteFileGather";

/** kernelbase, checked for the symbols every ring needs. */
export function ringKernel(): RingKernel {
  const k = windowsApi().kernel;
  const missing = V1_SYMBOLS.filter((name) => k[name] === null);
  if (missing.length > 0) {
    throw new UnsupportedError(
      "I/O ring (kernelbase.dll CreateIoRing)",
      `it needs Windows 11 build 22000 or later; this kernelbase.dll lacks ${missing.join(", ")}`,
    );
  }
  return k as RingKernel;
}

/** QueryIoRingCapabilities, with the completion-event feature bit decoded. */
export function queryCapabilities(k: RingKernel): IoRingCapabilities {
  const bytes = new Uint8Array(16);
  checkHResult(k.QueryIoRingCapabilities(Deno.UnsafePointer.of(bytes)), "QueryIoRingCapabilities");
  const c = readCapabilities(new DataView(bytes.buffer), 0);
  return {
    ...c,
    completionEvent: (c.featureFlags & IORING_FLAGS.IORING_FEATURE_SET_COMPLETION_EVENT) !== 0,
  };
}

/**
 * A builder that needs `version` (300 or 400), checked against both the OS
 * (is the symbol there?) and the ring (was it created at that version?).
 */
export function laterBuilder<K extends LaterBuilder>(
  k: Kernelbase,
  ringVersion: number,
  symbol: K,
  version: 300 | 400,
  what: string,
): NonNullable<Kernelbase[K]> {
  const build = k[symbol];
  const os = version === 300 ? "Windows 11 22H2, build 22621+" : "Windows 11 24H2, build 26100+";
  if (build === null) {
    throw new UnsupportedError(`IoRing.${what} (kernelbase.dll ${symbol})`, `it needs ${os}`);
  }
  if (ringVersion < version) {
    throw new UnsupportedError(
      `IoRing.${what}`,
      `it needs a ring of IORING_VERSION ${version}+ (${os}); this ring is version ${ringVersion}`,
    );
  }
  return build as NonNullable<Kernelbase[K]>;
}
