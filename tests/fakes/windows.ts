/**
 * The Windows contract fake, assembled: kernelbase (core + I/O ring), ws2_32
 * and the RIO table, sharing one FakeBase (memory, events, call log).
 * Install it with `using fake = installFakeWindows()`: the wrappers then call
 * it through the same `WindowsApi` interface as the real DLLs.
 */

import { type Kernelbase, kernelbaseSymbols } from "../../ffi/windows/kernelbase.ts";
import { ws2Symbols } from "../../ffi/windows/ws2_32.ts";
import { setWindowsApi, type WindowsApi } from "../../src/windows/api.ts";
import { FakeBase, openFakeHost } from "./fake_base.ts";
import { withFfiArgChecks } from "./ffi_args.ts";
import { fakeKernelCore, type FakeKernelOptions } from "./fake_kernel.ts";
import { type FakeIoRingOptions, FakeIoRingOs } from "./fake_ioring.ts";
import { FakeWinsock, type FakeWinsockOptions } from "./fake_winsock.ts";

// Open the host library behind the fake's memory at import, before any test
// runs, so the resource sanitizer does not count it.
openFakeHost();

/** Options for the whole fake. */
export interface FakeWindowsOptions {
  /** kernelbase behaviour outside the I/O ring (lost last-error codes, failing calls). */
  kernel?: FakeKernelOptions;
  /** I/O ring behaviour (version, capabilities, quirks). */
  ioring?: FakeIoRingOptions;
  /** Winsock / RIO behaviour. */
  winsock?: FakeWinsockOptions;
}

/** An installed fake; disposing it uninstalls it and unmaps what the test leaked. */
export interface FakeWindows extends Disposable {
  readonly base: FakeBase;
  readonly ioring: FakeIoRingOs;
  readonly winsock: FakeWinsock;
  readonly api: WindowsApi;
}

/** Builds the fake and installs it as the Windows API until disposed. */
export function installFakeWindows(options: FakeWindowsOptions = {}): FakeWindows {
  const base = new FakeBase();
  const ioring = new FakeIoRingOs(base, options.ioring);
  const winsock = new FakeWinsock(base, options.winsock);
  // Every call is checked as Deno's FFI checks it (e.g. -0 for a u32 throws).
  const kernel = withFfiArgChecks(kernelbaseSymbols, {
    ...fakeKernelCore(base, [ioring.hooks, winsock.hooks], options.kernel),
    ...ioring.symbols(),
  } as Kernelbase);
  const ws2 = withFfiArgChecks(ws2Symbols, winsock.ws2());
  // The RIO table is not part of the API: the wrappers ask ws2.WSAIoctl for
  // it, and the fake serves it there (fake_winsock.ts).
  const api: WindowsApi = { kernel, ws2 };
  setWindowsApi(api);
  return {
    base,
    ioring,
    winsock,
    api,
    [Symbol.dispose](): void {
      setWindowsApi(undefined);
      winsock.dispose();
      base.dispose();
    },
  };
}
