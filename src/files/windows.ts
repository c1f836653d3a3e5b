/**
 * The file ring's Windows backend: the I/O ring (`IoRing`) with a registered
 * file-handle table and one registered buffer. Files are opened with
 * `CreateFileW` + `FILE_FLAG_OVERLAPPED` (a synchronous handle serialises
 * every operation on it). Everything goes through `windowsApi()`, so the
 * test fake drives it like the real kernelbase.dll.
 *
 * Rules kept here (shared/reference/windows-api.md §1.7, §3.2): EOF is an
 * error completion (0x80070026) that reads report as 0 bytes; write and
 * flush need IORING_VERSION_3 (300); every submitted operation is drained
 * before CloseIoRing (IoRing.close does that).
 *
 * @module
 */

import { HResultError, Win32Error } from "../errors.ts";
import { HRESULT, INVALID_HANDLE_VALUE, KERNEL } from "../../ffi/windows/abi.ts";
import type { Kernelbase } from "../../ffi/windows/kernelbase.ts";
import { NativeRegion } from "../memory.ts";
import { windowsAllocator, windowsApi } from "../windows/api.ts";
import { IoRing } from "../windows/ioring.ts";
import { type IoRingCompletion, type IoRingOperation, onSettled } from "../windows/ioring_op.ts";
import type { BufferTable, FileHandleTable, FileRef } from "../windows/ioring_tables.ts";
import {
  type Backend,
  type BackendBuffers,
  type BackendFiles,
  type Batch,
  closeAll,
  type Completion,
  type FileRingCapabilities,
  type OpenFilesOptions,
  OrphanRegions,
  runAll,
  runAllSync,
} from "./backend.ts";

const HR_EOF: number = HRESULT.HRESULT_FROM_WIN32_ERROR_HANDLE_EOF;

/** `path` as a NUL-terminated UTF-16 string for the W APIs. */
function wide(path: string): Uint16Array {
  const s = new Uint16Array(path.length + 1);
  for (let i = 0; i < path.length; i++) s[i] = path.charCodeAt(i);
  return s;
}

/** Closes every handle, then throws the first failure (if any). */
function closeHandles(k: Kernelbase, handles: readonly Deno.PointerObject[]): void {
  closeAll(handles, (h) => {
    if (k.CloseHandle(h) === 0) throw new Win32Error(k.GetLastError(), "CloseHandle");
  });
}

class WindowsFiles implements BackendFiles {
  /** One ref per file, made once and reused by every operation. */
  readonly refs: readonly FileRef[];
  constructor(
    readonly k: Kernelbase,
    readonly table: FileHandleTable,
    readonly handles: readonly Deno.PointerObject[],
  ) {
    this.refs = handles.map((_, i) => table.index(i));
  }

  // The handles are closed even when releasing the table fails (the sync
  // path closes them before the queued release has run anyway).
  dispose(): void {
    // The release goes with the ring's next submit or close.
    runAllSync([() => this.table[Symbol.dispose](), () => closeHandles(this.k, this.handles)]);
  }

  disposeDrained(): Promise<void> {
    return runAll([
      () => this.table[Symbol.asyncDispose](),
      () => closeHandles(this.k, this.handles),
    ]);
  }
}

class WindowsBuffers implements BackendBuffers {
  constructor(
    readonly region: NativeRegion,
    readonly table: BufferTable,
    readonly orphans: OrphanRegions,
  ) {}

  // The region goes to the orphans even when releasing fails (held, it waits for the ring's close).
  dispose(): void {
    runAllSync([() => this.table[Symbol.dispose](), () => this.orphans.freeLater(this.region)]);
  }

  disposeDrained(): Promise<void> {
    return runAll([
      () => this.table[Symbol.asyncDispose](),
      () => this.orphans.freeLater(this.region),
    ]);
  }
}

/** The Windows I/O ring behind the portable file ring. */
export class WindowsBackend implements Backend {
  readonly capabilities: FileRingCapabilities;
  readonly #ring: IoRing;
  readonly #k: Kernelbase;
  readonly #done: Completion;
  /** Buffer regions a released registration may still hold until the ring closes. */
  readonly #orphans = new OrphanRegions();

  private constructor(ring: IoRing, done: Completion) {
    this.#ring = ring;
    this.#k = windowsApi().kernel;
    this.#done = done;
    const v3 = ring.version >= 300;
    this.capabilities = Object.freeze({
      write: v3 && ring.isSupported("write"),
      flush: v3 && ring.isSupported("flush"),
      detail: `I/O ring IORING_VERSION ${ring.version} (${ring.submissionQueueSize} SQ / ` +
        `${ring.completionQueueSize} CQ entries)`,
    });
  }

  /** A ring whose SQ holds `depth` entries (its CQ is at least twice that). */
  static create(depth: number, done: Completion): WindowsBackend {
    return new WindowsBackend(IoRing.create({ submissionQueueSize: depth }), done);
  }

  async openFiles(paths: readonly string[], options: OpenFilesOptions): Promise<BackendFiles> {
    const k = this.#k;
    const write = options.write === true || options.create === true;
    const access = (KERNEL.GENERIC_READ | (write ? KERNEL.GENERIC_WRITE : 0)) >>> 0; // a u32, not a negative i32
    const share = KERNEL.FILE_SHARE_READ | KERNEL.FILE_SHARE_WRITE | KERNEL.FILE_SHARE_DELETE;
    const disposition = options.create ? KERNEL.OPEN_ALWAYS : KERNEL.OPEN_EXISTING;
    const flags = KERNEL.FILE_ATTRIBUTE_NORMAL | KERNEL.FILE_FLAG_OVERLAPPED;
    const handles: Deno.PointerObject[] = [];
    try {
      for (const path of paths) {
        const h = k.CreateFileW(wide(path), access, share, null, disposition, flags, null);
        if (h === null || Deno.UnsafePointer.value(h) === INVALID_HANDLE_VALUE) {
          throw new Win32Error(k.GetLastError(), `CreateFileW(${path})`);
        }
        handles.push(h);
      }
      const table = await this.#ring.registerFiles(handles);
      return new WindowsFiles(k, table, handles);
    } catch (e) {
      try {
        closeHandles(k, handles);
      } catch { /* the open/register error is the one to report */ }
      throw e;
    }
  }

  async registerBuffers(bytes: number): Promise<BackendBuffers> {
    const region = NativeRegion.allocate(bytes, { allocator: windowsAllocator() });
    try {
      const table = await this.#ring.registerBuffers([region]);
      return new WindowsBuffers(region, table, this.#orphans);
    } catch (e) {
      this.#orphans.freeLater(region); // a failed registration may hold it until the ring closes
      throw e;
    }
  }

  prepareIo(
    write: boolean,
    files: BackendFiles,
    file: number,
    buffers: BackendBuffers,
    at: number,
    length: number,
    position: number,
    batch: Batch,
    index: number,
  ): void {
    const f = (files as WindowsFiles).refs[file];
    const ref = (buffers as WindowsBuffers).table.slice(0, at, length);
    const op = write
      ? this.#ring.write(f, ref, length, position)
      : this.#ring.read(f, ref, length, position);
    this.#watch(op, write, batch, index);
  }

  prepareFlush(files: BackendFiles, file: number, batch: Batch, index: number): void {
    this.#watch(this.#ring.flush((files as WindowsFiles).refs[file]), true, batch, index);
  }

  #watch(op: IoRingOperation, write: boolean, batch: Batch, index: number): void {
    // Not op.done: that promise is charged to the budget, and BatchSettler charges it again.
    onSettled(op, (c: IoRingCompletion) => {
      if (c.ok) this.#done(batch, index, c.information);
      else if (!write && c.result === HR_EOF) this.#done(batch, index, 0); // EOF reads 0 bytes
      else this.#done(batch, index, 0, new HResultError(c.result, op.call));
    });
  }

  submit(): void {
    this.#ring.submit();
  }

  close(): void {
    this.#ring[Symbol.dispose]();
    this.#orphans.freeReleased();
  }

  async closeDrained(): Promise<void> {
    await this.#ring.close();
    this.#orphans.freeReleased();
  }
}
