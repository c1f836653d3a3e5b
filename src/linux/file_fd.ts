/**
 * An owned file descriptor for a regular file, opened with libc `open` (Deno
 * does not expose the fds behind `Deno.FsFile`), for registering in a ring's
 * file table.
 *
 * @module
 */

import { libc } from "./libc.ts";
import { O, STATX } from "../../ffi/linux/abi.ts";
import { check } from "./check.ts";
import { OwnedFd } from "./owned_fd.ts";
import { withArgs } from "./scratch.ts";

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
export class FileFd extends OwnedFd {
  /** The path it was opened with. */
  readonly path: string;

  private constructor(fd: number, path: string) {
    super(fd, `FileFd(${path})`);
    this.path = path;
  }

  /**
   * Opens `path`.
   * @throws {TypeError} for a path containing NUL (libc would open the part before it);
   *   {@link ErrnoError} from `open` (e.g. ENOENT).
   */
  static open(path: string, options: FileOpenOptions = {}): FileFd {
    if (path.includes("\0")) throw new TypeError("a path must not contain NUL characters");
    let flags = (options.write ? O.RDWR : O.RDONLY) | O.CLOEXEC;
    if (options.create) flags |= O.CREAT;
    if (options.truncate) flags |= O.TRUNC;
    const cpath = new TextEncoder().encode(path + "\0");
    return new FileFd(check(libc().open(cpath, flags, 0o644), `open(${path})`), path);
  }
}

const EMPTY_PATH = new Uint8Array(1); // "" for AT_EMPTY_PATH

/**
 * True when `file` is a directory (`statx` of the fd itself, so it is the
 * file that was opened, not whatever the path names now). False when libc
 * has no `statx` (glibc before 2.28): the check is skipped.
 * @throws {ErrnoError} from `statx`.
 */
export function isDirectory(file: FileFd): boolean {
  const statx = libc().statx;
  if (statx === null) return false;
  return withArgs(STATX.SIZE, (args) => {
    check(
      statx(file.fd, EMPTY_PATH, STATX.AT_EMPTY_PATH, STATX.STATX_TYPE, args.pointer),
      `statx(${file.path})`,
    );
    return (args.view.getUint16(STATX.stx_mode, true) & STATX.S_IFMT) === STATX.S_IFDIR;
  });
}
