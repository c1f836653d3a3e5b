/**
 * Winsock Registered I/O (RIO): one {@link Rio} session pairs WSAStartup with
 * WSACleanup, holds its own RIO function table, and creates the registrations,
 * completion queues and sockets, tearing them down in the documented order:
 * closesocket → drain → RIOCloseCompletionQueue → RIODeregisterBuffer → free
 * → WSACleanup.
 *
 * **The table never outlives its session.** The RIO functions live in the
 * provider's DLL (mswsock.dll), which the WSACleanup that brings Winsock's
 * count to zero may unload (WSACleanup / WSPCleanup docs; Application
 * Verifier stop E10A). So each session fetches the table right after its
 * WSAStartup and drops it at its WSACleanup, as MsQuic did per datapath;
 * nothing caches it per process. The cost is one ioctl and 13
 * `UnsafeFnPointer`s per session.
 *
 * Every RIO call goes through a `Deno.UnsafeFnPointer` (~1.4 µs each), so the
 * API is built for batches: post many requests with `defer` and one
 * `commit()`, dequeue many completions per call.
 *
 * @module
 */

import { readWsaData, SOCKET, STRUCTS } from "../../ffi/windows/abi.ts";
import type { RioFunctions } from "../../ffi/windows/rio_table.ts";
import { openRioFunctions } from "./rio_functions.ts";
import { BusyError, RegioError, UnsupportedError } from "../errors.ts";
import { trackLeak, untrackLeak } from "../leak.ts";
import type { NativeRegion } from "../memory.ts";
import { windowsAllocator, windowsApi } from "./api.ts";
import { checkWinsock, checkWinsockCode } from "./check.ts";
import {
  newRioBuffer,
  newRioBufferPool,
  type RioBuffer,
  type RioBufferPool,
  type RioBufferPoolOptions,
} from "./rio_buffer.ts";
import type { RioChild, RioContext } from "./rio_context.ts";
import {
  newRioCompletionQueue,
  type RioCompletionQueue,
  type RioCompletionQueueOptions,
} from "./rio_queue.ts";
import { newRioUdpSocket, type RioUdpSocket } from "./rio_socket.ts";
import type { RioUdpSocketOptions } from "./rio_socket_open.ts";

/**
 * A Winsock 2.2 session with the RIO function table.
 *
 * @example
 * ```ts ignore
 * import { NativeRegion, Rio } from "@regio/regio/windows";
 *
 * await using rio = Rio.open();
 * using region = NativeRegion.allocate(64 * 1024);
 * await using buffer = rio.registerBuffer(region); // RIORegisterBuffer
 * await using cq = rio.createCompletionQueue({ size: 64 });
 * await using socket = rio.udpSocket({ hostname: "127.0.0.1", port: 0, cq });
 *
 * const data = buffer.slice(0, 2048);
 * const from = buffer.addressSlice(2048); // SOCKADDR_INET, in registered memory
 * socket.receiveEx(data, from, "first");
 * while (await cq.wait({ timeoutMs: 1000 })) {
 *   for (const c of cq.dequeue()) {
 *     if (c.kind === "receive" && c.status === 0) {
 *       // Echo from the receive's own memory: no copy in JS.
 *       socket.sendEx(c.data, c.remote!, "echo", { length: c.bytes });
 *     } else if (c.kind === "send") {
 *       socket.receiveEx(data, from, "next"); // the send is done: the buffer is free again
 *     }
 *   }
 * }
 * // Leaving the scope: closesocket, drain, close the CQ, deregister, free, WSACleanup.
 * ```
 */
export class Rio implements Disposable, AsyncDisposable {
  /** The Winsock version WSAStartup negotiated (0x0202). */
  readonly version: number;
  /** WSADATA.szDescription. */
  readonly description: string;
  readonly #ctx: RioContext;

  private constructor(ctx: RioContext, version: number, description: string) {
    this.#ctx = ctx;
    this.version = version;
    this.description = description;
    trackLeak(this, "a Rio session (WSAStartup without WSACleanup)");
  }

  /**
   * WSAStartup(2.2), then the RIO function table.
   * @throws {UnsupportedError} off Windows, or when RIO is unavailable (the
   * WSAIoctl for the table failed: pre-Windows 8, or a layered provider hides it).
   */
  static open(): Rio {
    const api = windowsApi();
    const data = new Uint8Array(STRUCTS.WSADATA.size);
    checkWinsockCode(api.ws2.WSAStartup(SOCKET.WINSOCK_VERSION_2_2, data), "WSAStartup");
    try {
      const info = readWsaData(new DataView(data.buffer), 0);
      if (info.version !== SOCKET.WINSOCK_VERSION_2_2) {
        throw new UnsupportedError(
          "Winsock 2.2",
          `WSAStartup negotiated 0x${info.version.toString(16)}`,
        );
      }
      let fn: RioFunctions;
      try {
        fn = openRioFunctions(api.kernel, api.ws2);
      } catch (cause) {
        if (cause instanceof UnsupportedError) throw cause;
        throw new UnsupportedError(
          "Registered I/O (RIO)",
          "the RIO function table could not be obtained",
          {
            cause,
          },
        );
      }
      const ctx: RioContext = {
        kernel: api.kernel,
        ws2: api.ws2,
        fn,
        allocator: windowsAllocator(),
        sockets: new Set(),
        queues: new Set(),
        pools: new Set(),
        buffers: new Set(),
        cqStates: new Set(),
        nextSocketContext: 1n,
        closed: false,
      };
      return new Rio(ctx, info.version, info.description);
    } catch (e) {
      api.ws2.WSACleanup();
      throw e;
    }
  }

  /** True once closed (WSACleanup done). */
  get closed(): boolean {
    return this.#ctx.closed;
  }

  /**
   * Registers `[offset, offset + length)` of `region` (RIORegisterBuffer).
   * The region cannot be freed while registered.
   * @throws {WinsockError} WSAEINVAL for a zero length (nothing is registered).
   * @throws {RangeError} when the range is outside the region.
   */
  registerBuffer(
    region: NativeRegion,
    offset = 0,
    length: number = region.byteLength - offset,
  ): RioBuffer {
    return newRioBuffer(this.#ctx, region, offset, length);
  }

  /** Allocates a region and registers one buffer per slot (see {@link RioBufferPool}). */
  createBufferPool(options: RioBufferPoolOptions): RioBufferPool {
    return newRioBufferPool(this.#ctx, options);
  }

  /**
   * RIOCreateCompletionQueue, with a RIONotify event unless `notify: "poll"`.
   * @throws {RangeError} for a size outside 1..RIO_MAX_CQ_SIZE.
   */
  createCompletionQueue(options: RioCompletionQueueOptions): RioCompletionQueue {
    return newRioCompletionQueue(this.#ctx, options);
  }

  /**
   * A bound UDP socket with a RIO request queue on `options.cq`.
   * @throws {WinsockError} WSAENOBUFS before any call when the CQ cannot take
   * the socket's outstanding limits; WSAEADDRINUSE from bind.
   */
  udpSocket(options: RioUdpSocketOptions): RioUdpSocket {
    return newRioUdpSocket(this.#ctx, options);
  }

  #open(): number {
    const c = this.#ctx;
    return c.sockets.size + c.queues.size + c.pools.size + c.buffers.size;
  }

  /**
   * WSACleanup, once everything this session created is closed. Idempotent.
   * @throws {BusyError} while sockets, queues, pools or buffers are open (nothing is changed).
   */
  close(): void {
    if (this.#ctx.closed) return;
    const open = this.#open();
    if (open > 0) {
      throw new BusyError(
        "Rio",
        open,
        "object(s) it created are still open (or use `await using`)",
      );
    }
    this.#ctx.closed = true;
    untrackLeak(this);
    checkWinsock(this.#ctx.ws2.WSACleanup(), "WSACleanup", this.#ctx.ws2);
  }

  /** Same as {@link Rio.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Tears down whatever is still open in the documented order: sockets
   * (closesocket + drain), completion queues, buffer pools, buffers, then
   * WSACleanup.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#ctx.closed) return;
    const c = this.#ctx;
    for (const set of [c.sockets, c.queues, c.pools, c.buffers]) {
      for (const child of [...set] as RioChild[]) await child[Symbol.asyncDispose]();
    }
    if (this.#open() > 0) throw new RegioError("Rio: objects were created while it was closing");
    this.close();
  }
}
