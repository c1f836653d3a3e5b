/**
 * The bytes of the pool that reads in flight are writing into. Two reads
 * into overlapping bytes would race in the kernel (which bytes win is not
 * defined), so a read whose range overlaps one still in flight, or another
 * of the same call, is refused before anything is submitted. A read is in
 * flight from its submission until its promise settles; one that waits for
 * room in the ring is checked before it waits and claims when submitted.
 *
 * @module
 */

/** One read's claim: bytes `[start, end)` of the pool (in buffer `buffer`), by request `request` of its call. */
interface Claim {
  readonly buffer: number;
  readonly start: number;
  readonly end: number;
  readonly request: number;
  /** Claims of one call share this object, so a message can say "of this call". */
  readonly call: object;
}

/** The claimed byte ranges of one pool, by buffer index (a read never spans two buffers). */
export class ReadRanges {
  readonly #byBuffer = new Map<number, Claim[]>();

  /**
   * Claims the range of every request of `checked` (four numbers per
   * request: file, byte in the pool, length, position, as `checkRequests`
   * returns them) in a pool of buffers of `size` bytes. Empty reads claim
   * nothing. Returns the claims to {@link ReadRanges.release}.
   * @throws {RangeError} naming both requests when two ranges overlap (nothing is claimed).
   */
  claim(checked: Float64Array, n: number, size: number): Claim[] {
    const call = {};
    const made: Claim[] = [];
    for (let i = 0, k = 0; i < n; i++, k += 4) {
      const start = checked[k + 1], length = checked[k + 2];
      if (length === 0) continue;
      const buffer = Math.floor(start / size);
      let list = this.#byBuffer.get(buffer);
      if (list === undefined) this.#byBuffer.set(buffer, list = []);
      const end = start + length;
      for (const c of list) {
        if (c.start < end && start < c.end) {
          this.release(made);
          const other = c.call === call
            ? `requests[${c.request}] of this call`
            : "a read still in flight";
          throw new RangeError(
            `requests[${i}] reads into bytes ${start - buffer * size}..${end - buffer * size} ` +
              `of buffer ${buffer}, which ${other} also reads into (bytes ` +
              `${c.start - buffer * size}..${c.end - buffer * size}); wait for it, or read ` +
              "into other bytes",
          );
        }
      }
      const claim = { buffer, start, end, request: i, call };
      list.push(claim);
      made.push(claim);
    }
    return made;
  }

  /**
   * Throws what {@link ReadRanges.claim} would, and claims nothing: for a call
   * that must wait for room before it is submitted (and claims then).
   * @throws {RangeError} like {@link ReadRanges.claim}.
   */
  check(checked: Float64Array, n: number, size: number): void {
    this.release(this.claim(checked, n, size));
  }

  /** Gives the ranges back (the reads settled, or their call was refused). */
  release(claims: readonly Claim[]): void {
    for (const c of claims) {
      const list = this.#byBuffer.get(c.buffer)!;
      list.splice(list.indexOf(c), 1);
      if (list.length === 0) this.#byBuffer.delete(c.buffer);
    }
  }
}
