/**
 * The lifecycle every io_uring registration shares: counting the operations
 * that use it, refusing sync disposal while any are in flight, draining on
 * async disposal, unregistering exactly once, and releasing what it holds
 * only after the kernel's resource-tag CQEs say it let go.
 *
 * @module
 */

import { BusyError, DisposedError } from "../errors.ts";
import type { RingCore } from "./ring.ts";
import type { Child, UseCounter } from "./ring_contracts.ts";

/** What a registration does at each step of its teardown. */
export interface Teardown {
  /** Queues cancels for every op that uses the registration. */
  cancel(): void;
  /** Unregisters; returns how many tag CQEs the kernel will post. */
  unregister(): number;
  /** Releases held memory once the kernel has let go. */
  release(): void;
  /**
   * The ring failed with requests possibly in flight: let go of everything
   * without freeing memory the kernel may still use (leak it). Returns its bytes.
   */
  abandon(): number;
}

/** Shared lifecycle state of one registration. */
export class Lifecycle implements UseCounter, Child {
  /** Operations in flight that use the registration. */
  inFlight = 0;
  /** Tag CQEs still to come. */
  pendingTags = 0;
  #state: "live" | "draining" | "unregistered" | "released" = "live";
  #drained: Promise<void> | undefined;

  /** `name` appears in errors, e.g. `"FileTable"`. */
  constructor(readonly core: RingCore, readonly name: string, readonly teardown: Teardown) {
    core.adopt(this);
  }

  /** True once disposal has started. */
  get disposed(): boolean {
    return this.#state !== "live";
  }

  /** @throws {DisposedError} once disposal has started. */
  assertLive(): void {
    if (this.#state !== "live") throw new DisposedError(this.name);
  }

  begin(): void {
    this.inFlight++;
  }

  end(): void {
    this.inFlight--;
  }

  /** A tag CQE arrived (or one was expected and will not come). */
  tagArrived(): void {
    this.pendingTags--;
    this.core.expect(-1);
    if (this.pendingTags === 0 && this.#state === "unregistered") this.#release();
  }

  /** Counts one more tag CQE to wait for (a replaced slot). */
  expectTag(): void {
    this.pendingTags++;
    this.core.expect(1);
  }

  disposeNow(): void {
    if (this.#state !== "live") return;
    if (this.inFlight > 0) throw new BusyError(this.name, this.inFlight);
    this.#unregister();
  }

  disposeDrained(): Promise<void> {
    this.#drained ??= this.#drain().catch((e) => {
      this.#drained = undefined; // a failed disposal can be tried again
      throw e;
    });
    return this.#drained;
  }

  async #drain(): Promise<void> {
    if (this.#state === "live") {
      this.#state = "draining";
      if (this.inFlight > 0) {
        try {
          this.teardown.cancel();
          await this.core.until(() => this.inFlight === 0, `draining ${this.name}`);
        } catch (e) {
          if (this.#state === "draining") this.#state = "live";
          throw e;
        }
      }
      // The ring may have failed meanwhile, which abandoned the registration.
      if (this.#state === "draining") this.#unregister();
    }
    if (this.#state === "unregistered") {
      await this.core.until(() => this.#state === "released", `${this.name} resource tags`);
    }
  }

  #unregister(): void {
    let tags: number;
    try {
      tags = this.teardown.unregister();
    } catch (e) {
      // Still registered: stay live (usable) and let the next dispose retry; ring close drops it.
      this.#state = "live";
      throw e;
    }
    this.#state = "unregistered";
    this.pendingTags += tags;
    this.core.expect(tags);
    this.core.submit(); // tag CQEs of idle resources are posted right away
    if (this.pendingTags === 0 && this.#state === "unregistered") this.#release();
  }

  ringClosed(): void {
    // "live" here means unregistering failed at ring close: closing the fd dropped it.
    if (this.#state !== "released") {
      this.core.expect(-this.pendingTags);
      this.pendingTags = 0;
      this.#release();
    }
  }

  ringFailed(): number {
    if (this.#state === "released") return 0;
    this.#state = "released"; // never to be unregistered or released: abandoned
    this.inFlight = 0; // ops of a sink that cannot fail them will never end either
    this.pendingTags = 0;
    this.core.disown(this);
    return this.teardown.abandon();
  }

  #release(): void {
    this.#state = "released";
    this.core.disown(this);
    this.teardown.release();
  }
}

/** Base of the registrations a ring hands out: counts, disposal, exactly-once unregistering. */
export class Registration implements Disposable, AsyncDisposable {
  readonly #life: Lifecycle;

  /** Wraps the shared lifecycle of one registration. */
  protected constructor(life: Lifecycle) {
    this.#life = life;
  }

  /** Operations in flight that use this registration. */
  get inFlight(): number {
    return this.#life.inFlight;
  }

  /** True once disposal has started. */
  get disposed(): boolean {
    return this.#life.disposed;
  }

  /** Unregisters now. @throws {BusyError} while operations are in flight (nothing is changed). */
  close(): void {
    this.#life.disposeNow();
  }

  /** Same as {@link Registration.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Cancels the operations that use it, waits for them, unregisters, then waits for the kernel to let go. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.#life.disposeDrained();
  }
}
