/**
 * The I/O ring's data-op builders: read, write, flush, scatter read and
 * gather write. Each checks its refs and arguments, then hands the engine a
 * {@link BuildRequest} whose `invoke` rewrites the 16-byte refs into the
 * ring's 16-byte-aligned native scratch for every call (the callee may modify
 * its copy). Write and flush need version 300, scatter/gather 400.
 *
 * @module
 */

import { checkInteger } from "../errors.ts";
import type { Allocator, RegionSlice } from "../memory.ts";
import type { RingEngine } from "./ioring_engine.ts";
import { laterBuilder, type RingKernel } from "./ioring_kernel.ts";
import { allocate, PAGE, type RingScratch } from "./ioring_memory.ts";
import type { IoRingOperation } from "./ioring_op.ts";
import {
  flushMode,
  type FlushOptions,
  sqeFlags,
  writeFlags,
  type WriteOptions,
} from "./ioring_options.ts";
import {
  type BufferRef,
  checkBufferRef,
  checkFileRef,
  type FileRef,
  refTables,
  type TableHost,
} from "./ioring_tables.ts";

/** What a builder needs from its ring. */
export interface BuildContext {
  /** The ring's kernelbase symbols. */
  readonly k: RingKernel;
  /** The HIORING. */
  readonly ring: Deno.PointerObject;
  /** The version the ring was created with. */
  readonly version: number;
  /** The ring's native scratch (refs, CQE, counters). */
  readonly scratch: RingScratch;
  /** Where per-op native memory comes from. */
  readonly allocator: Allocator;
  /** The ring's tables' host, which refs are checked against. */
  readonly host: TableHost;
  /** Records and submits what is built. */
  readonly engine: RingEngine;
}

function fileOffsetValue(offset: number | bigint): bigint {
  if (typeof offset === "bigint") {
    if (offset < 0n || offset > 0xffff_ffff_ffff_ffffn) {
      throw new RangeError(`fileOffset must be in [0, 2^64), got ${offset}`);
    }
    return offset;
  }
  return BigInt(checkInteger("fileOffset", offset, 0, Number.MAX_SAFE_INTEGER));
}

/** Builds a read (BuildIoRingReadFile) or a write (BuildIoRingWriteFile; version 300+). */
export function buildTransfer(
  ctx: BuildContext,
  kind: "read" | "write",
  file: FileRef,
  buffer: BufferRef,
  length: number,
  fileOffset: number | bigint,
  options: WriteOptions,
): IoRingOperation {
  const { k, ring, scratch } = ctx;
  const write = kind === "write"
    ? laterBuilder(k, ctx.version, "BuildIoRingWriteFile", 300, "write")
    : undefined;
  checkFileRef(file, ctx.host);
  length = checkBufferRef(buffer, length, ctx.host);
  const offset = fileOffsetValue(fileOffset);
  const flags = sqeFlags(options, ctx.version);
  const fileWriteFlags = writeFlags(options);
  return ctx.engine.build({
    kind,
    call: write ? "BuildIoRingWriteFile" : "BuildIoRingReadFile",
    file,
    cancellable: true,
    tables: refTables(file, buffer),
    regions: buffer.region ? [buffer.region] : [],
    invoke: (ud) => {
      scratch.writeRefs(file, buffer);
      const { fileRef, bufferRef } = scratch;
      return write
        ? write(ring, fileRef, bufferRef, length, offset, fileWriteFlags, ud, flags)
        : k.BuildIoRingReadFile(ring, fileRef, bufferRef, length, offset, ud, flags);
    },
  });
}

/** Builds a flush (BuildIoRingFlushFile; version 300+). */
export function buildFlush(
  ctx: BuildContext,
  file: FileRef,
  options: FlushOptions,
): IoRingOperation {
  const { ring, scratch } = ctx;
  const build = laterBuilder(ctx.k, ctx.version, "BuildIoRingFlushFile", 300, "flush");
  checkFileRef(file, ctx.host);
  const mode = flushMode(options);
  const flags = sqeFlags(options, ctx.version);
  return ctx.engine.build({
    kind: "flush",
    call: "BuildIoRingFlushFile",
    file,
    cancellable: true,
    tables: refTables(file),
    invoke: (ud) => {
      scratch.writeRefs(file);
      return build(ring, scratch.fileRef, mode, ud, flags);
    },
  });
}

/**
 * Builds a scatter read (BuildIoRingReadFileScatter) or gather write
 * (BuildIoRingWriteFileGather), both version 400+, over whole pages.
 */
export function buildSegmented(
  ctx: BuildContext,
  kind: "readScatter" | "writeGather",
  file: FileRef,
  segments: readonly RegionSlice[],
  length: number,
  fileOffset: number | bigint,
  options: WriteOptions,
): IoRingOperation {
  const { k, ring, version } = ctx;
  const read = kind === "readScatter";
  const call = read ? "BuildIoRingReadFileScatter" : "BuildIoRingWriteFileGather";
  const scatter = read
    ? laterBuilder(k, version, "BuildIoRingReadFileScatter", 400, kind)
    : undefined;
  const gather = read
    ? undefined
    : laterBuilder(k, version, "BuildIoRingWriteFileGather", 400, kind);
  checkFileRef(file, ctx.host);
  checkInteger("segment count", segments.length, 1, 0xffff);
  segments.forEach((s, i) => {
    s.region.checkRange(s.offset, s.length); // DisposedError if freed
    if (s.length !== PAGE || s.address % BigInt(PAGE) !== 0n) {
      throw new RangeError(`segments[${i}] must be one page-aligned ${PAGE}-byte page`);
    }
  });
  checkInteger("length", length, 1, segments.length * PAGE);
  const offset = fileOffsetValue(fileOffset);
  const flags = sqeFlags(options, version);
  const fileWriteFlags = writeFlags(options);
  // FILE_SEGMENT_ELEMENT[]: kept in native memory until the op completes.
  const mem = allocate(ctx.allocator, segments.length * 8);
  segments.forEach((s, i) => mem.view.setBigUint64(i * 8, s.address, true));
  const count = segments.length;
  return ctx.engine.build({
    kind,
    call,
    file,
    cancellable: true,
    tables: refTables(file),
    regions: segments.map((s) => s.region),
    memory: mem,
    invoke: (ud) => {
      const scratch = ctx.scratch;
      scratch.writeRefs(file);
      const ref = scratch.fileRef;
      return scatter
        ? scatter(ring, ref, count, mem.pointer, length, offset, ud, flags)
        : gather!(ring, ref, count, mem.pointer, length, offset, fileWriteFlags, ud, flags);
    },
  });
}
