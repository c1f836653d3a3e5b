/**
 * What the caller can ask of an I/O ring and its builders, and the flag
 * bits those options become.
 *
 * @module
 */

import { UnsupportedError } from "../errors.ts";
import { IORING_FLAGS } from "../../ffi/windows/abi.ts";

/** Options for {@link IoRing.create}. */
export interface IoRingOptions {
  /** IORING_VERSION; default the OS maximum. Note IORING_VERSION_3 is 300 and _4 is 400. */
  version?: number;
  /** Requested SQ size (a minimum; the OS rounds up). Default 256, capped at the OS maximum. */
  submissionQueueSize?: number;
  /** Requested CQ size (the OS makes it at least 2× the SQ). Default 2× the SQ size. */
  completionQueueSize?: number;
  /** IORING_CREATE_SKIP_BUILDER_PARAM_CHECKS: errors then show up in CQEs instead. */
  skipBuilderParamChecks?: boolean;
  /** Longest single completion-event wait in ms (default 1000; at most 50 on IORING_VERSION_1). */
  waitTimeoutMs?: number;
  /** Polling interval in ms when the OS has no completion event (default 5). */
  pollIntervalMs?: number;
}

/** Options shared by the builders. */
export interface BuildOptions {
  /** IOSQE_FLAGS_DRAIN_PRECEDING_OPS: start only after every earlier entry completed (version 300+). */
  drainPreceding?: boolean;
}

/** Options for {@link IoRing.write} and {@link IoRing.writeGather}. */
export interface WriteOptions extends BuildOptions {
  /** FILE_WRITE_FLAGS_WRITE_THROUGH (fails on a handle opened for cached I/O). */
  writeThrough?: boolean;
}

/** FILE_FLUSH_MODE, by name. */
export type FlushMode = "default" | "data" | "minMetadata" | "noSync";

/** Options for {@link IoRing.flush}. */
export interface FlushOptions extends BuildOptions {
  /** Default `"default"` (FILE_FLUSH_DEFAULT). */
  mode?: FlushMode;
}

/** Options for a waiting {@link IoRing.submit}. */
export interface SubmitWaitOptions {
  /** Completions to wait for: a count, or `"all"` in flight. */
  wait: number | "all";
  /** Give up after this many ms (default: no limit). */
  timeoutMs?: number;
}

/** What a waiting {@link IoRing.submit} saw. */
export interface SubmitResult {
  /** Entries submitted by this call. */
  readonly submitted: number;
  /** Completions reaped while waiting. */
  readonly completed: number;
  /** True if `timeoutMs` passed first. */
  readonly timedOut: boolean;
}

const FLUSH_MODES: Record<FlushMode, number> = {
  default: IORING_FLAGS.FILE_FLUSH_DEFAULT,
  data: IORING_FLAGS.FILE_FLUSH_DATA,
  minMetadata: IORING_FLAGS.FILE_FLUSH_MIN_METADATA,
  noSync: IORING_FLAGS.FILE_FLUSH_NO_SYNC,
};

/** FILE_FLUSH_MODE for `options.mode`. @throws {RangeError} for an unknown mode. */
export function flushMode(options: FlushOptions): number {
  const mode = FLUSH_MODES[options.mode ?? "default"];
  if (mode === undefined) throw new RangeError(`unknown flush mode ${String(options.mode)}`);
  return mode;
}

/** IORING_SQE_FLAGS for a ring of `version`. @throws {UnsupportedError} for a drain below 300. */
export function sqeFlags(options: BuildOptions, version: number): number {
  if (!options.drainPreceding) return IORING_FLAGS.IOSQE_FLAGS_NONE;
  if (version < 300) {
    throw new UnsupportedError(
      "IOSQE_FLAGS_DRAIN_PRECEDING_OPS",
      `it needs IORING_VERSION_3 (300); this ring is version ${version}`,
    );
  }
  return IORING_FLAGS.IOSQE_FLAGS_DRAIN_PRECEDING_OPS;
}

/** FILE_WRITE_FLAGS. */
export function writeFlags(options: WriteOptions): number {
  return options.writeThrough ? IORING_FLAGS.FILE_WRITE_FLAGS_WRITE_THROUGH : 0;
}
