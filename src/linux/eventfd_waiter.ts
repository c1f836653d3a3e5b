/**
 * How a ring waits without blocking the event loop: an eventfd registered
 * with the ring (REGISTER_EVENTFD), polled on Deno's blocking pool with a
 * timeout, and written to wake that poll early (on close or failure).
 *
 * @module
 */

import { libc } from "./libc.ts";
import { EFD, IORING_REGISTER, POLL } from "../../ffi/linux/abi.ts";
import { holdLoop } from "../loop_ref.ts";
import { NativeRegion } from "../memory.ts";
import { check } from "./check.ts";
import { register } from "./ring_syscalls.ts";
import { withArgs } from "./scratch.ts";

/** The eventfd of one ring and the native pollfd and counter it is polled and read through. */
export class EventfdWaiter {
  readonly #eventfd: number;
  readonly #sliceMs: number;
  readonly #own: NativeRegion; // pollfd, eventfd counter
  readonly #own16: Int16Array;
  readonly #pollPtr: Deno.PointerObject;
  readonly #counterPtr: Deno.PointerObject;
  #closed = false;
  /** Whether a wait keeps the process alive (see {@link EventfdWaiter.ref}). */
  #refed = true;
  #pending: Promise<number> | undefined;

  private constructor(eventfd: number, sliceMs: number) {
    this.#eventfd = eventfd;
    this.#sliceMs = sliceMs;
    this.#own = NativeRegion.allocate(64);
    const own32 = new Int32Array(this.#own.bytes.buffer);
    this.#own16 = new Int16Array(this.#own.bytes.buffer);
    this.#pollPtr = this.#own.pointer;
    this.#counterPtr = Deno.UnsafePointer.offset(this.#own.pointer, 16)!;
    own32[POLL.fd >>> 2] = eventfd;
    this.#own16[POLL.events >>> 1] = POLL.POLLIN;
  }

  /**
   * Makes an eventfd and registers it with ring `ringFd`; each wait lasts at
   * most `sliceMs` milliseconds. Closes the eventfd again if anything fails.
   */
  static create(ringFd: number, sliceMs: number): EventfdWaiter {
    const c = libc();
    let eventfd = -1;
    try {
      eventfd = check(c.eventfd(0, EFD.NONBLOCK | EFD.CLOEXEC), "eventfd");
      const fd = eventfd;
      withArgs(4, (args) => {
        args.view.setInt32(0, fd, true);
        register(ringFd, IORING_REGISTER.EVENTFD, args.address, 1, "REGISTER_EVENTFD");
      });
      return new EventfdWaiter(eventfd, sliceMs);
    } catch (e) {
      if (eventfd >= 0) c.close(eventfd);
      throw e;
    }
  }

  /** One wait: `poll` on the eventfd, off the JS thread; resolves to poll's result. */
  poll(): Promise<number> {
    this.#own16[POLL.revents >>> 1] = 0;
    const p = libc().poll_nonblocking(this.#pollPtr, 1n, this.#sliceMs);
    if (!this.#refed) holdLoop(p, false);
    return (this.#pending = p);
  }

  /** Whether the waits (the pending one, and later ones) keep the process alive. */
  ref(on: boolean): void {
    if (on === this.#refed) return;
    this.#refed = on;
    if (this.#pending) holdLoop(this.#pending, on);
  }

  /** Clears the counter (nonblocking fd; EAGAIN when already 0 is fine), unless closed. */
  drain(): void {
    if (!this.#closed) libc().read(this.#eventfd, this.#counterPtr, 8n);
  }

  /** Wakes the poll (one eventfd write). */
  wake(): void {
    new BigUint64Array(this.#own.bytes.buffer, 16, 1)[0] = 1n;
    libc().write(this.#eventfd, this.#counterPtr, 8n);
  }

  /** Closes the eventfd and frees the pollfd and counter. */
  close(): void {
    this.#closed = true;
    libc().close(this.#eventfd);
    this.#own.free();
  }
}
