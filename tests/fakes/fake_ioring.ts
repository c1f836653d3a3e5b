/**
 * The I/O ring half of the kernelbase fake. PLACEHOLDER: the real
 * implementation replaces this file (every symbol throws until then).
 */

import type { Kernelbase } from "../../ffi/windows/kernelbase.ts";
import type { FakeBase } from "./fake_base.ts";
import type { HandleHooks, IoRingSymbolName } from "./fake_kernel.ts";

/** Options for the I/O ring fake. */
export interface FakeIoRingOptions {
  /** MaxVersion QueryIoRingCapabilities reports. */
  maxVersion?: number;
}

/** The fake OS side of the I/O ring. */
export class FakeIoRingOs {
  readonly hooks: HandleHooks = {};
  constructor(readonly base: FakeBase, readonly options: FakeIoRingOptions = {}) {}
  symbols(): Pick<Kernelbase, IoRingSymbolName> {
    const missing = (): never => {
      throw new Error("fake I/O ring: not implemented yet");
    };
    return {
      QueryIoRingCapabilities: missing,
      IsIoRingOpSupported: missing,
      CreateIoRing: missing,
      GetIoRingInfo: missing,
      SubmitIoRing: missing,
      CloseIoRing: missing,
      PopIoRingCompletion: missing,
      SetIoRingCompletionEvent: missing,
      BuildIoRingCancelRequest: missing,
      BuildIoRingReadFile: missing,
      BuildIoRingRegisterFileHandles: missing,
      BuildIoRingRegisterBuffers: missing,
      BuildIoRingWriteFile: missing,
      BuildIoRingFlushFile: missing,
      BuildIoRingReadFileScatter: missing,
      BuildIoRingWriteFileGather: missing,
    };
  }
}
