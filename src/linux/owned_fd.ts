/**
 * The base of regio's fd owners ({@link FileFd}, {@link SocketFd}): one fd,
 * closed exactly once, reported if garbage-collected while open.
 *
 * @module
 */

import { DisposedError } from "../errors.ts";
import { libc } from "./libc.ts";
import { trackLeak, untrackLeak } from "../leak.ts";
import { check } from "./check.ts";

/** An owned file descriptor. A file-table slot holding it keeps its own reference. */
export class OwnedFd implements Disposable {
  readonly #what: string;
  #fd: number;

  /** Takes ownership of `fd`; `what` names it in errors and leak reports. */
  protected constructor(fd: number, what: string) {
    this.#fd = fd;
    this.#what = what;
    trackLeak(this, `${what} (fd ${fd})`);
  }

  /** The fd. @throws {DisposedError} after close. */
  get fd(): number {
    if (this.#fd < 0) throw new DisposedError(this.#what);
    return this.#fd;
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Closes the fd (idempotent). */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    untrackLeak(this);
    check(libc().close(fd), "close");
  }

  /** Same as {@link OwnedFd.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
