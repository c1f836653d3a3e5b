/**
 * The shared base of the Windows fake: a call log, native memory (the host's
 * real pages behind a fake VirtualAlloc, so wrappers get real pointers: mmap
 * on Linux, the real VirtualAlloc on Windows), fake handles,
 * events with the documented manual/auto-reset semantics, and a last-error
 * slot. The I/O ring part (fake_ioring.ts) and the Winsock/RIO part
 * (fake_winsock.ts) build on it.
 *
 * Everything the fake decodes, it decodes at offsets written literally in the
 * fake files, never through ffi/windows/abi.ts.
 */

import { type Allocator, mmapAllocator, virtualAllocator } from "../../src/memory.ts";
import { openKernelbase } from "../../src/windows/dlls.ts";

let host: Allocator | undefined;

/**
 * The host's real page allocator behind the fake's VirtualAlloc. Call it at
 * module load of a test file, before any test, so the resource sanitizer does
 * not count the library it opens.
 */
export function openFakeHost(): Allocator {
  host ??= Deno.build.os === "windows" ? virtualAllocator(openKernelbase()) : mmapAllocator();
  return host;
}

/** One shared call log, in call order: `"VirtualFree"`, `"closesocket"`, … */
export class CallLog {
  readonly calls: string[] = [];
  record(name: string): void {
    this.calls.push(name);
  }
  /** The calls whose names are in `names`, in order (to assert an order). */
  only(...names: string[]): string[] {
    return this.calls.filter((c) => names.includes(c));
  }
  count(name: string): number {
    return this.calls.filter((c) => c === name).length;
  }
  clear(): void {
    this.calls.length = 0;
  }
}

interface FakeEvent {
  manualReset: boolean;
  signalled: boolean;
  waiters: Set<() => void>;
}

/** Fake handle values start here; real pointers from mmap never collide with them. */
const HANDLE_BASE = 0x10_0000n;

/** Memory, handles, events and last-error, shared by the kernelbase and Winsock fakes. */
export class FakeBase {
  readonly log = new CallLog();
  /** Value GetLastError / WSAGetLastError report next. */
  lastError = 0;
  #nextHandle = HANDLE_BASE;
  readonly #allocations = new Map<bigint, number>();
  readonly #events = new Map<bigint, FakeEvent>();
  /** Handles closed with CloseHandle (to assert nothing is closed twice). */
  readonly closedHandles = new Set<bigint>();

  /** A fresh fake handle value. */
  newHandle(): bigint {
    this.#nextHandle += 8n;
    return this.#nextHandle;
  }

  /** VirtualAlloc over the host's real pages; null for a zero size (ERROR_INVALID_PARAMETER). */
  allocate(size: bigint): Deno.PointerObject | null {
    if (size === 0n) {
      this.lastError = 87;
      return null;
    }
    let p: Deno.PointerObject;
    try {
      p = openFakeHost().allocate(Number(size));
    } catch {
      this.lastError = 8; // ERROR_NOT_ENOUGH_MEMORY
      return null;
    }
    this.#allocations.set(Deno.UnsafePointer.value(p), Number(size));
    return p;
  }

  /** VirtualFree(MEM_RELEASE): only the exact base address, size 0. */
  release(p: Deno.PointerValue, size: bigint, type: number): number {
    const a = p === null ? 0n : Deno.UnsafePointer.value(p);
    const len = this.#allocations.get(a);
    if (len === undefined || size !== 0n || type !== 0x8000) {
      this.lastError = 87;
      return 0;
    }
    this.#allocations.delete(a);
    openFakeHost().release(p!, len);
    return 1;
  }

  /** Live VirtualAlloc allocations (leak check). */
  get liveAllocations(): number {
    return this.#allocations.size;
  }

  /** Is `address` inside a live allocation for `length` bytes? */
  isMapped(address: bigint, length: number): boolean {
    for (const [base, len] of this.#allocations) {
      if (address >= base && address + BigInt(length) <= base + BigInt(len)) return true;
    }
    return false;
  }

  createEvent(manualReset: boolean, initial: boolean): bigint {
    const h = this.newHandle();
    this.#events.set(h, { manualReset, signalled: initial, waiters: new Set() });
    return h;
  }

  isEvent(h: bigint): boolean {
    return this.#events.has(h);
  }

  setEvent(h: bigint): boolean {
    const e = this.#events.get(h);
    if (!e) return false;
    e.signalled = true;
    for (const wake of [...e.waiters]) wake();
    return true;
  }

  resetEvent(h: bigint): boolean {
    const e = this.#events.get(h);
    if (!e) return false;
    e.signalled = false;
    return true;
  }

  /** Consumes the signal like WaitForSingleObject does (auto-reset events reset). */
  #take(e: FakeEvent): boolean {
    if (!e.signalled) return false;
    if (!e.manualReset) e.signalled = false;
    return true;
  }

  /** WaitForSingleObject with timeout 0: WAIT_OBJECT_0 (0), WAIT_TIMEOUT (0x102) or WAIT_FAILED. */
  waitNow(h: bigint): number {
    const e = this.#events.get(h);
    if (!e) {
      this.lastError = 6;
      return 0xffffffff;
    }
    return this.#take(e) ? 0 : 0x102;
  }

  /** The nonblocking WaitForSingleObject: resolves on signal or after `ms`. */
  waitAsync(h: bigint, ms: number): Promise<number> {
    const e = this.#events.get(h);
    if (!e) return Promise.resolve(0xffffffff);
    if (this.#take(e)) return Promise.resolve(0);
    if (ms === 0) return Promise.resolve(0x102);
    return new Promise((resolve) => {
      const wake = (): void => {
        if (!this.#take(e)) return;
        clearTimeout(timer);
        e.waiters.delete(wake);
        resolve(0);
      };
      const timer = setTimeout(() => {
        e.waiters.delete(wake);
        resolve(0x102);
      }, ms);
      e.waiters.add(wake);
    });
  }

  /** CloseHandle for events (other kinds are handled by the caller first). */
  closeHandle(h: bigint): boolean {
    if (this.closedHandles.has(h)) return false;
    if (this.#events.delete(h)) {
      this.closedHandles.add(h);
      return true;
    }
    return false;
  }

  /** Frees everything still mapped (test teardown), returning how many were leaked. */
  dispose(): number {
    const leaked = this.#allocations.size;
    for (const [a, len] of this.#allocations) {
      openFakeHost().release(Deno.UnsafePointer.create(a)!, len);
    }
    this.#allocations.clear();
    return leaked;
  }
}

/** Turns a pointer argument into a BigInt (0 for null). */
export function addr(p: Deno.PointerValue): bigint {
  return p === null ? 0n : Deno.UnsafePointer.value(p);
}

/** Turns a BigInt into a pointer object (null for 0). */
export function ptr(a: bigint): Deno.PointerValue {
  return Deno.UnsafePointer.create(a);
}

/** A DataView over `length` bytes of native memory at `p` (for decoding what a wrapper passed). */
export function viewAt(p: Deno.PointerValue, length: number): DataView {
  if (p === null) throw new Error("fake: NULL pointer where memory was expected");
  return new DataView(Deno.UnsafePointerView.getArrayBuffer(p, length));
}
