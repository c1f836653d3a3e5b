/**
 * What the file ring checks before the kernel sees anything: the paths to
 * open, a buffer pool's shape, and every field of every read/write request
 * against the registrations it names (a bad one is a `RangeError`, never a
 * kernel write elsewhere).
 *
 * @module
 */

import { checkInteger } from "../errors.ts";
import type { BufferPoolOptions } from "./registrations.ts";

/** One read or write: `length` bytes between file `file` at `position` and pool buffer `buffer`. */
export interface IoRequest {
  /** Index of the file in the ring's {@link FileSet}. */
  file: number;
  /** Index of the buffer in the ring's {@link BufferPool}. */
  buffer: number;
  /** Byte offset inside the buffer (default 0). */
  bufferOffset?: number;
  /** Bytes to transfer; `bufferOffset + length` must fit in the buffer. */
  length: number;
  /** Byte offset in the file. */
  position: number;
}

const MAX_POOL_BYTES = 2 ** 30; // one io_uring registered buffer spans at most 1 GiB

/**
 * Checks the paths given to `openFiles`.
 * @throws {TypeError} when `paths` is not an array.
 * @throws {RangeError} for an empty list or a bad path string.
 */
export function checkPaths(paths: readonly string[]): void {
  if (!Array.isArray(paths)) throw new TypeError("paths must be an array of strings");
  checkInteger("number of paths", paths.length, 1, 1 << 20);
  paths.forEach((p, i) => {
    if (typeof p !== "string" || p.length === 0 || p.includes("\0")) {
      throw new RangeError(
        `paths[${i}] must be a non-empty string without NUL, got ${String(p)}`,
      );
    }
  });
}

/**
 * Checks a pool's shape and returns it.
 * @throws {RangeError} for a bad count or size (count × size at most 1 GiB).
 */
export function checkPool(options: BufferPoolOptions): { count: number; size: number } {
  const count = checkInteger("count", options?.count, 1, 65536);
  const size = checkInteger("size", options.size, 1, MAX_POOL_BYTES);
  if (count * size > MAX_POOL_BYTES) {
    throw new RangeError(`count × size must be at most 1 GiB, got ${count * size} bytes`);
  }
  return { count, size };
}

/** Throws the RangeError of `checkInteger`, naming request `i`. */
function badField(i: number, name: string, value: number, min: number, max: number): never {
  checkInteger(`requests[${i}].${name}`, value, min, max);
  throw new RangeError(`requests[${i}].${name} is out of range`); // not reached
}

/**
 * Checks every request against `nFiles` files and `count` buffers of `size`
 * bytes, before anything is prepared: a bad request leaves the kernel
 * untouched. Returns four numbers per request, in order: file, byte in the
 * pool, length, position. Each field is read once and the checked value is
 * what is returned (a getter cannot answer differently the second time).
 * @throws {TypeError} for a request that is not an object.
 * @throws {RangeError} for a bad field, naming the request and the field.
 */
export function checkRequests(
  requests: readonly IoRequest[],
  nFiles: number,
  count: number,
  size: number,
): Float64Array {
  const n = requests.length;
  const checked = new Float64Array(4 * n);
  for (let i = 0; i < n; i++) {
    const r = requests[i];
    if (typeof r !== "object" || r === null) {
      throw new TypeError(`requests[${i}] is not an object`);
    }
    const { file, buffer, length, position } = r;
    const offset = r.bufferOffset ?? 0;
    if (!(Number.isInteger(file) && file >= 0 && file < nFiles)) {
      badField(i, "file", file, 0, nFiles - 1);
    }
    if (!(Number.isInteger(buffer) && buffer >= 0 && buffer < count)) {
      badField(i, "buffer", buffer, 0, count - 1);
    }
    if (!(Number.isInteger(offset) && offset >= 0 && offset <= size)) {
      badField(i, "bufferOffset", offset, 0, size);
    }
    if (!(Number.isInteger(length) && length >= 0 && length <= size - offset)) {
      badField(i, "length", length, 0, size - offset);
    }
    if (!(Number.isSafeInteger(position) && position >= 0)) {
      badField(i, "position", position, 0, Number.MAX_SAFE_INTEGER);
    }
    // `+ 0` turns -0 into 0 (Deno's FFI rejects -0 for an integer parameter).
    checked[4 * i] = file + 0;
    checked[4 * i + 1] = buffer * size + offset + 0;
    checked[4 * i + 2] = length + 0;
    checked[4 * i + 3] = position + 0;
  }
  return checked;
}
