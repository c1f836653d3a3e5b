/**
 * Native memory regions: page-aligned memory from `mmap` (Linux) or
 * `VirtualAlloc` (Windows) that the kernel may read and write after a call
 * returns. JS sees it through one view made at allocation; on free the view is
 * revoked (`ArrayBuffer.prototype.transfer(0)`) before the memory is released,
 * so no JS code can touch freed memory.
 *
 * @module
 */

import {
  BusyError,
  checkInteger,
  DisposedError,
  ErrnoError,
  RegioError,
  UnsupportedError,
} from "./errors.ts";
import { trackLeak, untrackLeak } from "./leak.ts";
import { errno, libc } from "./linux/libc.ts";
import { MAP_FAILED, MMAP } from "../ffi/linux/abi.ts";
import { KERNEL } from "../ffi/windows/abi.ts";
import type { Kernelbase } from "../ffi/windows/kernelbase.ts";
import { checkBool, checkHandle } from "./windows/check.ts";

/** Where a region's memory comes from. */
export interface Allocator {
  /** For messages, e.g. `"mmap"`. */
  readonly name: string;
  /** The allocation granularity sizes are rounded up to. */
  readonly pageSize: number;
  /** Allocates `size` bytes (a multiple of `pageSize`), zero-filled, or throws. */
  allocate(size: number): Deno.PointerObject;
  /** Releases memory returned by `allocate` with the same size. */
  release(pointer: Deno.PointerObject, size: number): void;
}

/** A file region {@link mmapAllocator} maps instead of anonymous memory. */
export interface MappedFile {
  /** The fd to map (e.g. an io_uring ring fd). */
  readonly fd: number;
  /** The offset in it (e.g. `IORING_OFF_SQES`). */
  readonly offset: number;
}

/**
 * `mmap` through libc (Linux): anonymous memory (`MAP_PRIVATE | MAP_ANONYMOUS`),
 * or with `file`, a shared view of that fd's memory at `file.offset`
 * (`MAP_SHARED | MAP_POPULATE`, as liburing maps a ring).
 */
export function mmapAllocator(file?: MappedFile): Allocator {
  const c = libc();
  const flags = file ? MMAP.MAP_SHARED | MMAP.MAP_POPULATE : MMAP.MAP_PRIVATE | MMAP.MAP_ANONYMOUS;
  const fd = file ? file.fd : -1;
  const offset = BigInt(file ? file.offset : 0);
  const what = file ? `fd ${file.fd} at 0x${file.offset.toString(16)}, ` : "";
  return {
    name: "mmap",
    pageSize: c.getpagesize(),
    allocate(size: number): Deno.PointerObject {
      const p = c.mmap(null, BigInt(size), MMAP.PROT_READ | MMAP.PROT_WRITE, flags, fd, offset);
      const code = errno(); // before anything else can run (only meaningful on failure)
      if (p === null || Deno.UnsafePointer.value(p) === MAP_FAILED) {
        throw new ErrnoError(code, `mmap(${what}${size} bytes)`);
      }
      return p;
    },
    release(pointer: Deno.PointerObject, size: number): void {
      if (c.munmap(pointer, BigInt(size)) !== 0) throw new ErrnoError(errno(), "munmap");
    },
  };
}

/** `VirtualAlloc(MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE)` through the given kernelbase. */
export function virtualAllocator(kernel: Kernelbase): Allocator {
  return {
    name: "VirtualAlloc",
    pageSize: 4096,
    allocate(size: number): Deno.PointerObject {
      const p = kernel.VirtualAlloc(
        null,
        BigInt(size),
        KERNEL.MEM_COMMIT | KERNEL.MEM_RESERVE,
        KERNEL.PAGE_READWRITE,
      );
      return checkHandle(p, `VirtualAlloc(${size})`, kernel);
    },
    release(pointer: Deno.PointerObject): void {
      checkBool(kernel.VirtualFree(pointer, 0n, KERNEL.MEM_RELEASE), "VirtualFree", kernel);
    },
  };
}

let platformDefault: Allocator | undefined;
let windowsKernel: (() => Kernelbase) | undefined;

/** @internal Lets the Windows layer supply its kernelbase (real or fake). */
export function setWindowsKernelSource(source: () => Kernelbase): void {
  windowsKernel = source;
}

/** The allocator for this OS: VirtualAlloc on Windows, mmap on Linux. */
export function defaultAllocator(): Allocator {
  if (platformDefault) return platformDefault;
  if (Deno.build.os === "linux") return (platformDefault = mmapAllocator());
  // Not cached on Windows: it must follow the API in use (the real DLL, or a test fake).
  if (Deno.build.os === "windows" && windowsKernel) return virtualAllocator(windowsKernel());
  throw new UnsupportedError(
    "Native memory regions",
    `they need Linux or Windows; this is ${Deno.build.os}`,
  );
}

let leakOnFree: (region: NativeRegion, why: string) => void;

/**
 * @internal Marks `region` as memory the kernel may still write or read
 * (e.g. its io_uring failed with requests in flight): freeing it later revokes
 * the JS view as usual but never releases the memory, which stays leaked.
 */
export function markKernelMayUse(region: NativeRegion, why: string): void {
  leakOnFree(region, why);
}

/** Options for {@link NativeRegion.allocate}. */
export interface AllocateOptions {
  /** Where the memory comes from; defaults to {@link defaultAllocator}. */
  allocator?: Allocator;
}

/**
 * A page-aligned block of native memory with a JS view, safe to hand to the
 * kernel. Registrations hold it (see {@link NativeRegion.retain}); it cannot
 * be freed while any registration holds it.
 *
 * @example
 * ```ts ignore
 * import { NativeRegion } from "@regio/regio";
 * using region = NativeRegion.allocate(64 * 1024);
 * region.bytes[0] = 42;
 * const slice = region.slice(4096, 2048); // RangeError if out of bounds
 * ```
 */
export class NativeRegion implements Disposable {
  /** Usable length in bytes (as requested). */
  readonly byteLength: number;
  /** Bytes actually mapped (rounded up to the allocator's page size). */
  readonly mappedLength: number;
  readonly #allocator: Allocator;
  #pointer: Deno.PointerObject | null;
  #address: bigint;
  #buffer: ArrayBuffer;
  #bytes: Uint8Array;
  #view: DataView;
  #holds = new Map<symbol, string>();
  /** Why the memory must never be released (the kernel may still use it), or undefined. */
  #kernelMayUse: string | undefined;

  static {
    leakOnFree = (region, why) => {
      region.#kernelMayUse ??= why;
    };
  }

  private constructor(allocator: Allocator, byteLength: number) {
    const page = allocator.pageSize;
    const mapped = Math.ceil(byteLength / page) * page;
    const pointer = allocator.allocate(mapped);
    this.#allocator = allocator;
    this.byteLength = byteLength;
    this.mappedLength = mapped;
    this.#pointer = pointer;
    this.#address = Deno.UnsafePointer.value(pointer);
    this.#buffer = Deno.UnsafePointerView.getArrayBuffer(pointer, byteLength);
    this.#bytes = new Uint8Array(this.#buffer);
    this.#view = new DataView(this.#buffer);
    trackLeak(this, `a NativeRegion of ${byteLength} bytes`);
  }

  /**
   * Allocates `byteLength` bytes (> 0), zero-filled and page-aligned.
   * @throws {RangeError} for a length that is not a positive integer.
   */
  static allocate(byteLength: number, options: AllocateOptions = {}): NativeRegion {
    checkInteger("byteLength", byteLength, 1, 2 ** 40);
    return new NativeRegion(options.allocator ?? defaultAllocator(), byteLength);
  }

  /** True once freed. */
  get freed(): boolean {
    return this.#pointer === null;
  }

  /** The native pointer. @throws {DisposedError} after free. */
  get pointer(): Deno.PointerObject {
    if (this.#pointer === null) throw new DisposedError("NativeRegion");
    return this.#pointer;
  }

  /** The native address as a BigInt. @throws {DisposedError} after free. */
  get address(): bigint {
    this.pointer;
    return this.#address;
  }

  /** A byte view of the whole region (detached after free). */
  get bytes(): Uint8Array {
    this.pointer;
    return this.#bytes;
  }

  /** A DataView over the whole region (detached after free). */
  get view(): DataView {
    this.pointer;
    return this.#view;
  }

  /** How many registrations currently hold this region. */
  get holds(): number {
    return this.#holds.size;
  }

  /**
   * Checks that `[offset, offset + length)` lies inside the region.
   * @throws {RangeError} otherwise (before any FFI call can see it).
   */
  checkRange(offset: number, length: number, minLength = 0): void {
    this.pointer;
    checkInteger("offset", offset, 0, this.byteLength);
    checkInteger("length", length, minLength, this.byteLength - offset);
  }

  /** A bounds-checked slice of this region. @throws {RangeError} when out of range. */
  slice(offset: number, length: number): RegionSlice {
    this.checkRange(offset, length);
    return makeRegionSlice(this, offset, length);
  }

  /**
   * Marks the region as used by `owner` (a registration). Freeing it throws
   * {@link BusyError} until the returned function is called (once).
   */
  retain(owner: string): () => void {
    this.pointer;
    const key = Symbol(owner);
    this.#holds.set(key, owner);
    return () => void this.#holds.delete(key);
  }

  /**
   * Frees the memory: revokes the JS view, then releases it (unless the
   * kernel may still use it after a failed ring: then it stays leaked). Idempotent.
   * @throws {BusyError} while a registration holds the region (nothing is changed).
   */
  free(): void {
    if (this.#pointer === null) return;
    if (this.#holds.size > 0) {
      throw new BusyError(
        `NativeRegion (held by ${[...this.#holds.values()].join(", ")})`,
        this.#holds.size,
        "registration(s) still hold it",
      );
    }
    const pointer = this.#pointer;
    this.#buffer.transfer(0);
    this.#pointer = null;
    untrackLeak(this);
    if (this.#kernelMayUse !== undefined) return; // leaked on purpose (see leakOnFree)
    try {
      this.#allocator.release(pointer, this.mappedLength);
    } catch (e) {
      throw new RegioError(`freeing a NativeRegion failed: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Same as {@link NativeRegion.free}. */
  close(): void {
    this.free();
  }

  /** Frees the region (`using`). */
  [Symbol.dispose](): void {
    this.free();
  }
}

let makeRegionSlice: (region: NativeRegion, offset: number, length: number) => RegionSlice;

/** A bounds-checked `(region, offset, length)` triple. Made by {@link NativeRegion.slice}. */
export class RegionSlice {
  /** The region the slice lies in. */
  readonly region: NativeRegion;
  /** Byte offset from the start of the region. */
  readonly offset: number;
  /** Length in bytes. */
  readonly length: number;

  static {
    makeRegionSlice = (region, offset, length) => new RegionSlice(region, offset, length);
  }

  // Use NativeRegion.slice, which checks the bounds.
  private constructor(region: NativeRegion, offset: number, length: number) {
    region.checkRange(offset, length);
    this.region = region;
    this.offset = offset;
    this.length = length;
  }

  /** The slice's bytes (a view into native memory; no copy). */
  get bytes(): Uint8Array {
    return this.region.bytes.subarray(this.offset, this.offset + this.length);
  }

  /** The absolute native address of the slice's first byte. */
  get address(): bigint {
    return this.region.address + BigInt(this.offset);
  }
}
