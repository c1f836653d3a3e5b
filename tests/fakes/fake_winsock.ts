/**
 * The ws2_32.dll and RIO table fake. PLACEHOLDER: the real implementation
 * replaces this file (every symbol throws until then).
 */

import type { Ws2 } from "../../ffi/windows/ws2_32.ts";
import type { RioFunctions } from "../../ffi/windows/rio_table.ts";
import type { FakeBase } from "./fake_base.ts";
import type { HandleHooks } from "./fake_kernel.ts";

/** Options for the Winsock fake. */
export interface FakeWinsockOptions {
  /** Make the RIO WSAIoctl fail with this Winsock code. */
  rioIoctlError?: number;
}

/** The fake OS side of Winsock and RIO. */
export class FakeWinsock {
  readonly hooks: HandleHooks = {};
  constructor(readonly base: FakeBase, readonly options: FakeWinsockOptions = {}) {}
  ws2(): Ws2 {
    return new Proxy({}, {
      get: () => () => {
        throw new Error("fake ws2_32: not implemented yet");
      },
    }) as Ws2;
  }
  rio(): RioFunctions {
    return new Proxy({}, {
      get: () => () => {
        throw new Error("fake RIO: not implemented yet");
      },
    }) as RioFunctions;
  }
}
