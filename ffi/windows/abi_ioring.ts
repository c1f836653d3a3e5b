/**
 * The Windows I/O ring ABI (kernelbase.dll, ioringapi.h / ntioring_x.h): the
 * IORING_* struct layouts and FILE_SEGMENT_ELEMENT, the version, op-code and
 * flag enums, and the encoders/decoders of refs, buffer infos, CQEs,
 * capabilities and ring info. Re-exported by ffi/windows/abi.ts.
 *
 * @module
 */

import type { StructLayout } from "./abi_common.ts";

/** The I/O ring's structs, x64 layouts (part of `STRUCTS`). */
export const IORING_STRUCTS = {
  IORING_CREATE_FLAGS: { size: 8, align: 4, fields: { Required: 0, Advisory: 4 } },
  IORING_INFO: {
    size: 20,
    align: 4,
    fields: {
      IoRingVersion: 0,
      Flags: 4,
      "Flags.Required": 4,
      "Flags.Advisory": 8,
      SubmissionQueueSize: 12,
      CompletionQueueSize: 16,
    },
  },
  IORING_CAPABILITIES: {
    size: 16,
    align: 4,
    fields: {
      MaxVersion: 0,
      MaxSubmissionQueueSize: 4,
      MaxCompletionQueueSize: 8,
      FeatureFlags: 12,
    },
  },
  IORING_HANDLE_REF: {
    size: 16,
    align: 8,
    fields: { Kind: 0, Handle: 8, "Handle.Handle": 8, "Handle.Index": 8 },
  },
  IORING_REGISTERED_BUFFER: { size: 8, align: 4, fields: { BufferIndex: 0, Offset: 4 } },
  IORING_BUFFER_REF: {
    size: 16,
    align: 8,
    fields: {
      Kind: 0,
      Buffer: 8,
      "Buffer.Address": 8,
      "Buffer.IndexAndOffset": 8,
      "Buffer.IndexAndOffset.BufferIndex": 8,
      "Buffer.IndexAndOffset.Offset": 12,
    },
  },
  IORING_BUFFER_INFO: { size: 16, align: 8, fields: { Address: 0, Length: 8 } },
  IORING_CQE: { size: 24, align: 8, fields: { UserData: 0, ResultCode: 8, Information: 16 } },
  FILE_SEGMENT_ELEMENT: { size: 8, align: 8, fields: { Buffer: 0, Alignment: 0 } },
} as const satisfies Record<string, StructLayout>;

/** IORING_VERSION. Not contiguous: 3 is 300 and 4 is 400; treat versions as open integers. */
export const IORING_VERSION = {
  IORING_VERSION_INVALID: 0,
  IORING_VERSION_1: 1,
  IORING_VERSION_2: 2,
  IORING_VERSION_3: 300,
  IORING_VERSION_4: 400,
} as const;

/** IORING_OP_CODE (values are never reused). */
export const IORING_OP = {
  IORING_OP_NOP: 0,
  IORING_OP_READ: 1,
  IORING_OP_REGISTER_FILES: 2,
  IORING_OP_REGISTER_BUFFERS: 3,
  IORING_OP_CANCEL: 4,
  IORING_OP_WRITE: 5,
  IORING_OP_FLUSH: 6,
  IORING_OP_READ_SCATTER: 7,
  IORING_OP_WRITE_GATHER: 8,
} as const;

/** I/O ring flag enums: SQE flags, create flags, feature flags, ref kinds, write and flush modes. */
export const IORING_FLAGS = {
  IOSQE_FLAGS_NONE: 0,
  IOSQE_FLAGS_DRAIN_PRECEDING_OPS: 0x1,
  IORING_CREATE_REQUIRED_FLAGS_NONE: 0,
  IORING_CREATE_ADVISORY_FLAGS_NONE: 0,
  IORING_CREATE_SKIP_BUILDER_PARAM_CHECKS: 0x1,
  IORING_FEATURE_FLAGS_NONE: 0,
  IORING_FEATURE_UM_EMULATION: 0x1,
  IORING_FEATURE_SET_COMPLETION_EVENT: 0x2,
  IORING_REF_RAW: 0,
  IORING_REF_REGISTERED: 1,
  FILE_WRITE_FLAGS_NONE: 0,
  FILE_WRITE_FLAGS_WRITE_THROUGH: 0x1,
  FILE_FLUSH_DEFAULT: 0,
  FILE_FLUSH_DATA: 1,
  FILE_FLUSH_MIN_METADATA: 2,
  FILE_FLUSH_NO_SYNC: 3,
  IORING_SUBMIT_WAIT_ALL: 0xffffffff,
} as const;

// Encoders and decoders. All little-endian; `view` is a DataView over native
// memory and `at` the struct's byte offset in it.

const S = IORING_STRUCTS;

/**
 * IORING_CREATE_FLAGS is 8 bytes, so the x64 ABI passes it by value in one
 * 64-bit register: Required in the low half, Advisory in the high half.
 */
export function encodeCreateFlags(required: number, advisory: number): bigint {
  return BigInt(required >>> 0) | (BigInt(advisory >>> 0) << 32n);
}

/** Writes an IORING_HANDLE_REF: a raw HANDLE, or a registered-table index (unused bytes zeroed). */
export function writeHandleRef(
  view: DataView,
  at: number,
  ref: { kind: "raw"; handle: bigint } | { kind: "registered"; index: number },
): void {
  const f = S.IORING_HANDLE_REF.fields;
  view.setBigUint64(at, 0n, true);
  if (ref.kind === "raw") {
    view.setUint32(at + f.Kind, IORING_FLAGS.IORING_REF_RAW, true);
    view.setBigUint64(at + f["Handle.Handle"], ref.handle, true);
  } else {
    view.setUint32(at + f.Kind, IORING_FLAGS.IORING_REF_REGISTERED, true);
    view.setBigUint64(at + f.Handle, 0n, true);
    view.setUint32(at + f["Handle.Index"], ref.index, true);
  }
}

/** Writes an IORING_BUFFER_REF: a raw address, or (registered index, offset) (unused bytes zeroed). */
export function writeBufferRef(
  view: DataView,
  at: number,
  ref: { kind: "raw"; address: bigint } | { kind: "registered"; index: number; offset: number },
): void {
  const f = S.IORING_BUFFER_REF.fields;
  view.setBigUint64(at, 0n, true);
  if (ref.kind === "raw") {
    view.setUint32(at + f.Kind, IORING_FLAGS.IORING_REF_RAW, true);
    view.setBigUint64(at + f["Buffer.Address"], ref.address, true);
  } else {
    view.setUint32(at + f.Kind, IORING_FLAGS.IORING_REF_REGISTERED, true);
    view.setUint32(at + f["Buffer.IndexAndOffset.BufferIndex"], ref.index, true);
    view.setUint32(at + f["Buffer.IndexAndOffset.Offset"], ref.offset, true);
  }
}

/** Writes one IORING_BUFFER_INFO (Address = 0 and Length = 0 is a sparse entry). */
export function writeBufferInfo(view: DataView, at: number, address: bigint, length: number): void {
  const f = S.IORING_BUFFER_INFO.fields;
  view.setBigUint64(at + f.Address, address, true);
  view.setUint32(at + f.Length, length, true);
  view.setUint32(at + 12, 0, true); // padding
}

/** A decoded IORING_CQE. */
export interface IoRingCqe {
  /** The userData the operation was built with. */
  userData: bigint;
  /** The operation's HRESULT. */
  resultCode: number;
  /** Operation-specific information (bytes transferred for reads and writes). */
  information: bigint;
}

/** Reads an IORING_CQE. */
export function readCqe(view: DataView, at: number): IoRingCqe {
  const f = S.IORING_CQE.fields;
  return {
    userData: view.getBigUint64(at + f.UserData, true),
    resultCode: view.getInt32(at + f.ResultCode, true),
    information: view.getBigUint64(at + f.Information, true),
  };
}

/** A decoded IORING_CAPABILITIES. */
export interface IoRingCapabilities {
  /** Highest IORING_VERSION the OS supports (1, 2, 300, 400, or newer). */
  maxVersion: number;
  /** Largest submission queue the OS allows. */
  maxSubmissionQueueSize: number;
  /** Largest completion queue the OS allows. */
  maxCompletionQueueSize: number;
  /** IORING_FEATURE_FLAGS bits. */
  featureFlags: number;
}

/** Reads an IORING_CAPABILITIES. */
export function readCapabilities(view: DataView, at: number): IoRingCapabilities {
  const f = S.IORING_CAPABILITIES.fields;
  return {
    maxVersion: view.getUint32(at + f.MaxVersion, true),
    maxSubmissionQueueSize: view.getUint32(at + f.MaxSubmissionQueueSize, true),
    maxCompletionQueueSize: view.getUint32(at + f.MaxCompletionQueueSize, true),
    featureFlags: view.getUint32(at + f.FeatureFlags, true),
  };
}

/** A decoded IORING_INFO. */
export interface IoRingInfo {
  /** The version the ring was created with. */
  version: number;
  /** IORING_CREATE_REQUIRED_FLAGS. */
  required: number;
  /** IORING_CREATE_ADVISORY_FLAGS. */
  advisory: number;
  /** Actual submission queue size. */
  submissionQueueSize: number;
  /** Actual completion queue size. */
  completionQueueSize: number;
}

/** Reads an IORING_INFO. */
export function readInfo(view: DataView, at: number): IoRingInfo {
  const f = S.IORING_INFO.fields;
  return {
    version: view.getUint32(at + f.IoRingVersion, true),
    required: view.getUint32(at + f["Flags.Required"], true),
    advisory: view.getUint32(at + f["Flags.Advisory"], true),
    submissionQueueSize: view.getUint32(at + f.SubmissionQueueSize, true),
    completionQueueSize: view.getUint32(at + f.CompletionQueueSize, true),
  };
}
