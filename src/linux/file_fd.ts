/**
 * An owned file descriptor for a regular file, opened with libc `open` (Deno
 * does not expose the fds behind `Deno.FsFile`), for registering in a ring's
 * file table.
 *
 * @module
 */

import { DisposedError } from "../errors.ts";
import { libc } from "../../ffi/linux/libc.ts";
import { O } from "../../ffi/linux/abi.ts";
import { trackLeak, untrackLeak } from "../leak.ts";
import { check } from "./check.ts";

/** Options for {@link FileFd.open}. */
export interface FileOpenOptions {
  /** Open for writing too (default: read only). */
  write?: boolean;
  /** Create the file if missing (mode 0o644 before umask). */
  create?: boolean;
  /** Truncate it to zero length. */
  truncate?: boolean;
}

/**
 * A file opened for io_uring: register {@link FileFd.fd} with
 * `Uring.registerFiles`. The fd is closed exactly once.
 *
 * @example
 * ```ts ignore
 * using file = FileFd.open("/tmp/data.bin", { write: true, create: true });
 * ```
 */
export class FileFd implements Disposable {
  /** The path it was opened with. */
  readonly path: string;
  #fd: number;

  private constructor(fd: number, path: string) {
    this.#fd = fd;
    this.path = path;
    trackLeak(this, `a file descriptor for ${path}`);
  }

  /** Opens `path`. @throws {ErrnoError} from `open` (e.g. ENOENT). */
  static open(path: string, options: FileOpenOptions = {}): FileFd {
    let flags = (options.write ? O.RDWR : O.RDONLY) | O.CLOEXEC;
    if (options.create) flags |= O.CREAT;
    if (options.truncate) flags |= O.TRUNC;
    const cpath = new TextEncoder().encode(path + "\0");
    return new FileFd(check(libc().open(cpath, flags, 0o644), `open(${path})`), path);
  }

  /** The fd. @throws {DisposedError} after close. */
  get fd(): number {
    if (this.#fd < 0) throw new DisposedError("FileFd");
    return this.#fd;
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Closes the fd (idempotent). A file table slot keeps its own reference. */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    untrackLeak(this);
    check(libc().close(fd), "close");
  }

  /** Same as {@link FileFd.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
