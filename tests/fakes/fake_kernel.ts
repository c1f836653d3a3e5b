/**
 * The kernelbase.dll fake, minus the I/O ring: memory, events, waits,
 * handles, files and last-error, following the documented semantics
 * (CreateEventW returns NULL on failure; VirtualFree needs size 0 with
 * MEM_RELEASE; WaitForSingleObject returns WAIT_OBJECT_0 / WAIT_TIMEOUT /
 * WAIT_FAILED). The I/O ring symbols come from fake_ioring.ts.
 *
 * Last-error values are best effort from Deno (reference §5.2: nothing
 * captures them after the call, and runtime code may run before
 * GetLastError), so the fake can lose them: `lastError: "zero"` or
 * `"unrelated"` makes GetLastError report 0 or ERROR_IO_PENDING instead of
 * the code the failing call set. `fail` makes chosen calls fail outright.
 */

import type { Kernelbase } from "../../ffi/windows/kernelbase.ts";
import { addr, type FakeBase, ptr } from "./fake_base.ts";

/** The I/O ring symbol names (the part fake_ioring.ts supplies). */
export type IoRingSymbolName =
  | "QueryIoRingCapabilities"
  | "IsIoRingOpSupported"
  | "CreateIoRing"
  | "GetIoRingInfo"
  | "SubmitIoRing"
  | "CloseIoRing"
  | "PopIoRingCompletion"
  | "SetIoRingCompletionEvent"
  | "BuildIoRingCancelRequest"
  | "BuildIoRingReadFile"
  | "BuildIoRingRegisterFileHandles"
  | "BuildIoRingRegisterBuffers"
  | "BuildIoRingWriteFile"
  | "BuildIoRingFlushFile"
  | "BuildIoRingReadFileScatter"
  | "BuildIoRingWriteFileGather";

/** kernelbase without the I/O ring. */
export type KernelCore = Omit<Kernelbase, IoRingSymbolName>;

/** The calls {@link FakeKernelOptions.fail} can make fail. */
export type FailingKernelCall = "VirtualAlloc" | "VirtualFree" | "CreateEventW" | "CloseHandle";

/**
 * Options for the kernelbase fake. Read at every call, so a test may change
 * them on the object it passed in.
 */
export interface FakeKernelOptions {
  /**
   * What GetLastError reports: "kept" (default) the code the failing call
   * set; "zero" 0, as if it was lost; "unrelated" ERROR_IO_PENDING (997),
   * as if runtime code had overwritten it.
   */
  lastError?: "kept" | "zero" | "unrelated";
  /** These calls fail (VirtualFree / CloseHandle still release what they were given). */
  fail?: FailingKernelCall[];
}

/** ERROR_IO_PENDING: plausible, and wrong for every failure the fake makes. */
const UNRELATED_LAST_ERROR = 997;

/**
 * Extra handle kinds (fake files, fake sockets' handles) register a closer
 * here so CloseHandle/CancelIoEx can find them.
 */
export interface HandleHooks {
  /** Returns true if it owned and closed `h`. */
  close?(h: bigint): boolean;
  /** Cancels every request on `h`; returns true if `h` is a known handle. */
  cancelAll?(h: bigint): boolean;
}

/** Builds the non-I/O-ring half of the kernelbase fake over `base`. */
export function fakeKernelCore(
  base: FakeBase,
  hooks: HandleHooks[] = [],
  options: FakeKernelOptions = {},
): KernelCore {
  const log = (name: string): void => base.log.record(name);
  const failing = (call: FailingKernelCall, code: number): boolean => {
    if (!options.fail?.includes(call)) return false;
    base.lastError = code;
    return true;
  };
  return {
    VirtualAlloc(address, size, type, protect): Deno.PointerValue {
      log("VirtualAlloc");
      if (failing("VirtualAlloc", 8)) return null; // ERROR_NOT_ENOUGH_MEMORY
      if (address !== null || (type & 0x3000) !== 0x3000 || protect !== 0x04) {
        base.lastError = 87;
        return null;
      }
      return base.allocate(BigInt(size));
    },
    VirtualFree(p, size, type): number {
      log("VirtualFree");
      const ok = base.release(p, BigInt(size), type);
      return failing("VirtualFree", 87) ? 0 : ok;
    },
    CreateEventW(sa, manualReset, initial, name): Deno.PointerValue {
      log("CreateEventW");
      if (failing("CreateEventW", 1450)) return null; // ERROR_NO_SYSTEM_RESOURCES
      if (sa !== null || name !== null) {
        base.lastError = 87;
        return null;
      }
      return ptr(base.createEvent(manualReset !== 0, initial !== 0));
    },
    SetEvent(h): number {
      log("SetEvent");
      if (base.setEvent(addr(h))) return 1;
      base.lastError = 6;
      return 0;
    },
    ResetEvent(h): number {
      log("ResetEvent");
      if (base.resetEvent(addr(h))) return 1;
      base.lastError = 6;
      return 0;
    },
    WaitForSingleObject(h, ms): number {
      log("WaitForSingleObject");
      if (ms !== 0) throw new Error("fake: a blocking WaitForSingleObject on the JS thread");
      return base.waitNow(addr(h));
    },
    WaitForSingleObject_nonblocking(h, ms): Promise<number> {
      log("WaitForSingleObject_nonblocking");
      if (ms === 0xffffffff) throw new Error("fake: an INFINITE wait would pin a pool thread");
      return base.waitAsync(addr(h), ms);
    },
    CloseHandle(h): number {
      log("CloseHandle");
      const a = addr(h);
      const closed = base.closeHandle(a) || hooks.some((k) => k.close?.(a));
      if (closed && !failing("CloseHandle", 5)) return 1; // ERROR_ACCESS_DENIED
      if (!closed) base.lastError = 6;
      return 0;
    },
    CreateFileW(): Deno.PointerValue {
      log("CreateFileW");
      throw new Error("fake: CreateFileW is not faked; tests pass fake file handles directly");
    },
    CancelIoEx(h, overlapped): number {
      log("CancelIoEx");
      if (overlapped === null && hooks.some((k) => k.cancelAll?.(addr(h)))) return 1;
      base.lastError = 1168; // ERROR_NOT_FOUND
      return 0;
    },
    GetLastError(): number {
      if (options.lastError === "zero") return 0;
      if (options.lastError === "unrelated") return UNRELATED_LAST_ERROR;
      return base.lastError;
    },
  };
}
