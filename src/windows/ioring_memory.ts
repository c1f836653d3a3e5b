/**
 * Native memory an I/O ring hands the kernel: page-granular blocks for the
 * arrays the kernel reads after a call returns (registrations, segment
 * lists), and the ring's one scratch page for refs and out-params.
 *
 * @module
 */

import type { Allocator } from "../memory.ts";
import {
  type IoRingCqe,
  type IoRingInfo,
  readCqe,
  readInfo,
  writeBufferRef,
  writeHandleRef,
} from "../../ffi/windows/abi.ts";
import type { BufferRef, FileRef } from "./ioring_tables.ts";

/** The page size; also the one segment size scatter/gather accepts. */
export const PAGE = 4096;

/** A block of native memory with its JS view. */
export interface Memory {
  readonly pointer: Deno.PointerObject;
  readonly view: DataView;
  /** Revokes the view, then releases the memory. Idempotent. */
  free(): void;
}

/** Page-granular native memory for the kernel to read after a call returns. */
export function allocate(allocator: Allocator, size: number): Memory {
  const mapped = Math.ceil(size / allocator.pageSize) * allocator.pageSize;
  const pointer = allocator.allocate(mapped);
  const buffer = Deno.UnsafePointerView.getArrayBuffer(pointer, mapped);
  let freed = false;
  return {
    pointer,
    view: new DataView(buffer),
    free(): void {
      if (freed) return;
      freed = true;
      buffer.transfer(0); // revoke the JS view before the memory goes
      allocator.release(pointer, mapped);
    },
  };
}

// Layout: the 16-byte refs at 16-byte-aligned offsets, then out-params.
const AT_FILE_REF = 0;
const AT_BUFFER_REF = 16;
const AT_CQE = 32;
const AT_INFO = 64;
const AT_SUBMITTED = 96;
const AT_HANDLE = 104;

/**
 * The ring's scratch page. The 16-byte refs go by pointer and are rewritten
 * for every call (the callee may modify its copy). Pointer objects are made
 * once; every one is 16-byte aligned in a page-aligned block.
 */
export class RingScratch {
  /** IORING_HANDLE_REF argument. */
  readonly fileRef: Deno.PointerObject;
  /** IORING_BUFFER_REF argument. */
  readonly bufferRef: Deno.PointerObject;
  /** PopIoRingCompletion's out IORING_CQE. */
  readonly cqe: Deno.PointerObject;
  /** SubmitIoRing's out submittedEntries. */
  readonly submitted: Deno.PointerObject;
  /** GetIoRingInfo's out IORING_INFO. */
  readonly info: Deno.PointerObject;
  /** CreateIoRing's out HIORING. */
  readonly handle: Deno.PointerObject;
  readonly #mem: Memory;

  constructor(allocator: Allocator) {
    const mem = allocate(allocator, PAGE);
    const at = (offset: number): Deno.PointerObject =>
      Deno.UnsafePointer.offset(mem.pointer, offset)!;
    this.#mem = mem;
    this.fileRef = at(AT_FILE_REF);
    this.bufferRef = at(AT_BUFFER_REF);
    this.cqe = at(AT_CQE);
    this.submitted = at(AT_SUBMITTED);
    this.info = at(AT_INFO);
    this.handle = at(AT_HANDLE);
  }

  /** The HIORING CreateIoRing wrote (null for NULL). */
  readHandle(): Deno.PointerObject | null {
    return Deno.UnsafePointer.create(this.#mem.view.getBigUint64(AT_HANDLE, true));
  }

  /** The IORING_INFO GetIoRingInfo wrote. */
  readInfo(): IoRingInfo {
    return readInfo(this.#mem.view, AT_INFO);
  }

  /** The IORING_CQE PopIoRingCompletion wrote. */
  readCqe(): IoRingCqe {
    return readCqe(this.#mem.view, AT_CQE);
  }

  /** Writes the file (and buffer) refs of the next builder call. */
  writeRefs(file: FileRef, buffer?: BufferRef): void {
    writeHandleRef(
      this.#mem.view,
      AT_FILE_REF,
      file.kind === "raw"
        ? { kind: "raw", handle: file.handle }
        : { kind: "registered", index: file.index },
    );
    if (!buffer) return;
    writeBufferRef(
      this.#mem.view,
      AT_BUFFER_REF,
      buffer.kind === "raw"
        ? { kind: "raw", address: buffer.address }
        : { kind: "registered", index: buffer.index, offset: buffer.offset },
    );
  }

  /** Writes a raw file ref (a cancel of a finished op whose table is gone names its handle). */
  writeRawFile(handle: bigint): void {
    writeHandleRef(this.#mem.view, AT_FILE_REF, { kind: "raw", handle });
  }

  /** Releases the page. Idempotent. */
  free(): void {
    this.#mem.free();
  }
}
