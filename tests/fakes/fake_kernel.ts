/**
 * The kernelbase.dll fake, minus the I/O ring: memory, events, waits,
 * handles, files and last-error, following the documented semantics
 * (CreateEventW returns NULL on failure; VirtualFree needs size 0 with
 * MEM_RELEASE; WaitForSingleObject returns WAIT_OBJECT_0 / WAIT_TIMEOUT /
 * WAIT_FAILED). The I/O ring symbols come from fake_ioring.ts.
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
export function fakeKernelCore(base: FakeBase, hooks: HandleHooks[] = []): KernelCore {
  const log = (name: string): void => base.log.record(name);
  return {
    VirtualAlloc(address, size, type, protect): Deno.PointerValue {
      log("VirtualAlloc");
      if (address !== null || (type & 0x3000) !== 0x3000 || protect !== 0x04) {
        base.lastError = 87;
        return null;
      }
      return base.allocate(BigInt(size));
    },
    VirtualFree(p, size, type): number {
      log("VirtualFree");
      return base.release(p, BigInt(size), type);
    },
    CreateEventW(sa, manualReset, initial, name): Deno.PointerValue {
      log("CreateEventW");
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
      if (base.closeHandle(a) || hooks.some((k) => k.close?.(a))) return 1;
      base.lastError = 6;
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
      return base.lastError;
    },
  };
}
