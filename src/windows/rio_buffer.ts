/**
 * RIO buffer registrations (RIORegisterBuffer / RIODeregisterBuffer), the
 * typed slices requests name, and a pool of one-registration-per-slot
 * buffers.
 *
 * The sharing rule is regio's, and stricter than RIO's. Microsoft's is per
 * RIO_BUF (reference §5.7): do not pass a RIO_BUF to a send while a send on
 * it is pending (RIOSendEx remarks), and do not touch a receive's slice
 * until it completes; "portions of a registered buffer not associated with
 * any receive request are not included in this restriction" (RIOReceiveEx
 * remarks). regio instead lets nothing else use a registration while a send
 * on it is in flight, and no send start on a registration other requests
 * use: checked in JS, by registration, it can never let two overlapping
 * slices through. The pool makes that cheap by registering one buffer per
 * slot (as MsQuic did for its sends).
 *
 * @module
 */

import {
  readSockaddrInet,
  type SocketAddress,
  STRUCTS,
  writeSockaddrInet,
  WSA_ERROR,
} from "../../ffi/windows/abi.ts";
import { BusyError, checkInteger, DisposedError, WinsockError } from "../errors.ts";
import { trackLeak, untrackLeak } from "../leak.ts";
import { NativeRegion } from "../memory.ts";
import { checkBufferId } from "./check.ts";
import {
  type BufferState,
  cancelUsers,
  checkOpen,
  INTERNAL,
  progress,
  type RioContext,
} from "./rio_context.ts";

/** sizeof(SOCKADDR_INET): the least a RIO address slice may hold. */
export const RIO_ADDRESS_SIZE: number = STRUCTS.SOCKADDR_INET.size;

/** RIO_BUF Offset and Length are ULONGs. */
const MAX_ULONG = 0xffff_ffff;

let makeRioBuffer: (
  ctx: RioContext,
  region: NativeRegion,
  offset: number,
  length: number,
  tracked: boolean,
) => RioBuffer;

/**
 * One RIORegisterBuffer registration over part of a {@link NativeRegion}.
 * Requests name it through {@link RioSlice} / {@link RioAddressSlice}. The
 * region is held (cannot be freed) while registered.
 *
 * Disposal deregisters exactly once. Sync dispose throws {@link BusyError}
 * (changing nothing) while any request that used the buffer has not been
 * dequeued. `await using` cancels them the only way RIO can, by closing the
 * sockets that posted them (pending receives complete with
 * WSA_OPERATION_ABORTED), waits until every one is dequeued, then
 * deregisters. Declare buffers before sockets and the sockets close first.
 */
export class RioBuffer implements Disposable, AsyncDisposable {
  /** The memory the registration covers. */
  readonly region: NativeRegion;
  /** Byte offset of the registration inside the region. */
  readonly offset: number;
  /** Registered length in bytes. */
  readonly length: number;
  /** @ignore */
  readonly [INTERNAL]: BufferState;
  readonly #ctx: RioContext;
  readonly #unhold: () => void;
  readonly #tracked: boolean;

  static {
    makeRioBuffer = (ctx, region, offset, length, tracked) =>
      new RioBuffer(ctx, region, offset, length, tracked);
  }

  // Use `Rio.registerBuffer` (or a pool).
  private constructor(
    ctx: RioContext,
    region: NativeRegion,
    offset: number,
    length: number,
    tracked: boolean,
  ) {
    checkOpen(ctx, "a RioBuffer");
    const base = region.pointer; // DisposedError once freed
    checkInteger("offset", offset, 0, region.byteLength);
    if (length === 0) {
      throw new WinsockError(
        WSA_ERROR.WSAEINVAL,
        "RIORegisterBuffer",
        "a registration needs at least one byte (DataLength = 0)",
      );
    }
    checkInteger("length", length, 1, Math.min(region.byteLength - offset, MAX_ULONG));
    const p = offset === 0 ? base : Deno.UnsafePointer.offset(base, offset)!;
    const id = checkBufferId(ctx.fn.RIORegisterBuffer(p, length), "RIORegisterBuffer", ctx.ws2);
    this.region = region;
    this.offset = offset;
    this.length = length;
    this.#ctx = ctx;
    const label = `RioBuffer 0x${id.toString(16)}`;
    this[INTERNAL] = { id, inFlight: 0, sendsInFlight: 0, closed: false, users: new Map(), label };
    this.#unhold = region.retain(label);
    this.#tracked = tracked;
    if (tracked) ctx.buffers.add(this);
    trackLeak(this, `a ${label} of ${length} bytes`);
  }

  /** The RIO_BUFFERID. @throws {DisposedError} after dispose. */
  get id(): bigint {
    this.#check();
    return this[INTERNAL].id;
  }

  /** Requests that used this buffer and whose completion has not been dequeued. */
  get inFlight(): number {
    return this[INTERNAL].inFlight;
  }

  /** True once deregistered. */
  get closed(): boolean {
    return this[INTERNAL].closed;
  }

  #check(): void {
    if (this[INTERNAL].closed) throw new DisposedError(this[INTERNAL].label);
  }

  /**
   * A data slice `[offset, offset + length)` of the registration (offsets are
   * relative to the registration).
   * @throws {RangeError} when it does not lie inside the registration.
   */
  slice(offset = 0, length: number = this.length - offset): RioSlice {
    this.#check();
    return makeRioSlice(this, offset, length);
  }

  /**
   * An address slice at `offset` (at least 28 bytes: a SOCKADDR_INET) for
   * `receiveEx` to fill and `sendEx` to read.
   * @throws {RangeError} when it does not fit inside the registration.
   */
  addressSlice(offset: number, length: number = RIO_ADDRESS_SIZE): RioAddressSlice {
    this.#check();
    return makeRioAddressSlice(this, offset, length);
  }

  /**
   * Deregisters (RIODeregisterBuffer, exactly once) and releases the region.
   * Idempotent.
   * @throws {BusyError} while requests that used it are not dequeued (nothing is changed).
   */
  close(): void {
    const s = this[INTERNAL];
    if (s.closed) return;
    if (s.inFlight > 0) {
      throw new BusyError(s.label, s.inFlight, "request(s) using it not yet dequeued");
    }
    this.#ctx.fn.RIODeregisterBuffer(s.id);
    s.closed = true;
    this.#unhold();
    if (this.#tracked) this.#ctx.buffers.delete(this);
    untrackLeak(this);
  }

  /** Same as {@link RioBuffer.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Closes the sockets with requests on this buffer (closesocket → drain),
   * waits until every such request is dequeued, then deregisters.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.closed) return;
    await cancelUsers([this[INTERNAL]]);
    while (this.inFlight > 0) await progress(this.#ctx, this[INTERNAL].label);
    this.close();
  }
}

function checkSlice(buffer: RioBuffer, offset: number, length: number, min: number): void {
  checkInteger("offset", offset, 0, buffer.length);
  checkInteger("length", length, min, buffer.length - offset);
}

let makeRioSlice: (buffer: RioBuffer, offset: number, length: number) => RioSlice;

/** A bounds-checked data slice of a {@link RioBuffer} (what a RIO_BUF names). */
export class RioSlice {
  /** The registration. */
  readonly buffer: RioBuffer;
  /** Offset from the start of the registration. */
  readonly offset: number;
  /** Length in bytes. */
  readonly length: number;
  #bytes: Uint8Array | undefined;

  static {
    makeRioSlice = (buffer, offset, length) => new RioSlice(buffer, offset, length);
  }

  // Use RioBuffer.slice.
  private constructor(buffer: RioBuffer, offset: number, length: number) {
    checkSlice(buffer, offset, length, 1);
    this.buffer = buffer;
    this.offset = offset;
    this.length = length;
  }

  /** The slice's bytes: a view of the registered memory (no copy; made once). */
  get bytes(): Uint8Array {
    if (this.#bytes && this.#bytes.byteLength === this.length) return this.#bytes;
    const at = this.buffer.offset + this.offset;
    return (this.#bytes = this.buffer.region.bytes.subarray(at, at + this.length));
  }
}

let makeRioAddressSlice: (buffer: RioBuffer, offset: number, length: number) => RioAddressSlice;

/**
 * A bounds-checked slice of a {@link RioBuffer} holding a SOCKADDR_INET
 * (≥ 28 bytes): the remote address `receiveEx` fills in and `sendEx` reads.
 */
export class RioAddressSlice {
  /** The registration. */
  readonly buffer: RioBuffer;
  /** Offset from the start of the registration. */
  readonly offset: number;
  /** Length in bytes (≥ 28). */
  readonly length: number;
  /** Byte offset of the SOCKADDR_INET inside the region. */
  readonly #at: number;

  static {
    makeRioAddressSlice = (buffer, offset, length) => new RioAddressSlice(buffer, offset, length);
  }

  // Use RioBuffer.addressSlice.
  private constructor(buffer: RioBuffer, offset: number, length: number) {
    checkSlice(buffer, offset, length, RIO_ADDRESS_SIZE);
    this.buffer = buffer;
    this.offset = offset;
    this.length = length;
    this.#at = buffer.offset + offset;
  }

  /** Decodes the SOCKADDR_INET, or null for an unknown family (e.g. never written). */
  read(): SocketAddress | null {
    return readSockaddrInet(this.buffer.region.view, this.#at);
  }

  /**
   * Encodes `address` (numeric IPv4 or IPv6) as a SOCKADDR_INET.
   * @throws {BusyError} while a send is in flight on this registration (regio's rule).
   * @throws {TypeError} for a hostname that is not a numeric address; {@link RangeError} for a bad port.
   */
  write(address: SocketAddress): void {
    const s = this.buffer[INTERNAL];
    if (s.closed) throw new DisposedError(s.label);
    if (s.sendsInFlight > 0) {
      throw new BusyError(
        s.label,
        s.sendsInFlight,
        "send(s) in flight on this registration (regio lets nothing else use it meanwhile)",
      );
    }
    writeSockaddrInet(this.buffer.region.view, this.#at, address);
  }
}

/** Options for `Rio.createBufferPool`. */
export interface RioBufferPoolOptions {
  /** Number of slots (≥ 1). */
  slots: number;
  /** Data bytes per slot (≥ 1), e.g. 2048 for UDP datagrams up to that size. */
  slotSize: number;
  /**
   * Bytes of control area per slot (default 0: none), between the address
   * and the data, in the slot's registration: for RIOReceiveEx / RIOSendEx
   * control slices (rounded up to 8, so it and the data stay 8-aligned).
   */
  controlSize?: number;
}

let makeRioSlot: (
  index: number,
  buffer: RioBuffer,
  slotSize: number,
  controlSize: number,
) => RioSlot;

/** One slot of a {@link RioBufferPool}: its own registration, a data area and an address area. */
export class RioSlot {
  /** Position in the pool. */
  readonly index: number;
  /** The slot's registration (one per slot: a send restricts only its own slot). */
  readonly buffer: RioBuffer;
  /** The whole data area. */
  readonly data: RioSlice;
  /** The SOCKADDR_INET area (28 bytes), in the same registration. */
  readonly address: RioAddressSlice;
  /** The control area (8-aligned, after the address), or null when the pool has none. */
  readonly control: RioSlice | null;

  static {
    makeRioSlot = (index, buffer, slotSize, controlSize) =>
      new RioSlot(index, buffer, slotSize, controlSize);
  }

  // Made by RioBufferPool.
  private constructor(index: number, buffer: RioBuffer, slotSize: number, controlSize: number) {
    this.index = index;
    this.buffer = buffer;
    this.address = buffer.addressSlice(0);
    this.control = controlSize > 0 ? buffer.slice(ADDRESS_AREA, controlSize) : null;
    this.data = buffer.slice(ADDRESS_AREA + controlSize, slotSize);
  }
}

/** Address area at the start of each slot, padded so data starts 8-byte aligned. */
const ADDRESS_AREA = 32;
/** Slots start on cache-line boundaries. */
const SLOT_ALIGN = 64;

let makeRioBufferPool: (ctx: RioContext, options: RioBufferPoolOptions) => RioBufferPool;

/**
 * Many slots in one native region, **one registration per slot**: under
 * regio's sharing rule (stricter than RIO's per-RIO_BUF rule, see above) a
 * send restricts its whole registration, so slots that shared one could not
 * send and receive independently. Each slot carries its remote-address area in registered
 * memory, so a receive's sender address can be the reply's destination
 * without copying.
 */
export class RioBufferPool implements Disposable, AsyncDisposable {
  /** Every slot, by index. */
  readonly slots: readonly RioSlot[];
  /** The memory behind all slots (owned and freed by the pool). */
  readonly region: NativeRegion;
  readonly #ctx: RioContext;
  readonly #free: number[];
  readonly #inUse: boolean[];
  #closed = false;

  static {
    makeRioBufferPool = (ctx, options) => new RioBufferPool(ctx, options);
  }

  // Use `Rio.createBufferPool`.
  private constructor(ctx: RioContext, options: RioBufferPoolOptions) {
    checkOpen(ctx, "a RioBufferPool");
    const count = checkInteger("slots", options.slots, 1, 1 << 20);
    const slotSize = checkInteger("slotSize", options.slotSize, 1, 1 << 26);
    const control = checkInteger("controlSize", options.controlSize ?? 0, 0, 1 << 16);
    const controlSize = Math.ceil(control / 8) * 8;
    const head = ADDRESS_AREA + controlSize;
    const stride = Math.ceil((head + slotSize) / SLOT_ALIGN) * SLOT_ALIGN;
    this.region = NativeRegion.allocate(stride * count, { allocator: ctx.allocator });
    const slots: RioSlot[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const buffer = makeRioBuffer(ctx, this.region, i * stride, head + slotSize, false);
        slots.push(makeRioSlot(i, buffer, slotSize, controlSize));
      }
    } catch (e) {
      for (const s of slots) s.buffer.close();
      this.region.free();
      throw e;
    }
    this.slots = slots;
    this.#ctx = ctx;
    this.#free = slots.map((_, i) => count - 1 - i);
    this.#inUse = slots.map(() => false);
    ctx.pools.add(this);
    trackLeak(this, `a RioBufferPool of ${count} slots`);
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Slots not acquired. */
  get available(): number {
    return this.#free.length;
  }

  /** Requests in flight over all slots. */
  get inFlight(): number {
    return this.slots.reduce((n, s) => n + s.buffer.inFlight, 0);
  }

  /** Takes a free slot (lowest index first), or null when all are taken. */
  acquire(): RioSlot | null {
    if (this.#closed) throw new DisposedError("RioBufferPool");
    const i = this.#free.pop();
    if (i === undefined) return null;
    this.#inUse[i] = true;
    return this.slots[i];
  }

  /**
   * Returns a slot taken with {@link RioBufferPool.acquire}.
   * @throws {BusyError} while a request using the slot is not dequeued.
   */
  release(slot: RioSlot): void {
    if (this.#closed) throw new DisposedError("RioBufferPool");
    if (this.slots[slot.index] !== slot || !this.#inUse[slot.index]) {
      throw new TypeError(`slot ${slot.index} is not an acquired slot of this pool`);
    }
    const s = slot.buffer[INTERNAL];
    if (s.inFlight > 0) throw new BusyError(`slot ${slot.index}`, s.inFlight);
    this.#inUse[slot.index] = false;
    this.#free.push(slot.index);
  }

  /**
   * Deregisters every slot, then frees the region. Idempotent.
   * @throws {BusyError} while any slot has a request not dequeued (nothing is changed).
   */
  close(): void {
    if (this.#closed) return;
    const busy = this.inFlight;
    if (busy > 0) {
      throw new BusyError("RioBufferPool", busy, "request(s) on its slots not yet dequeued");
    }
    for (const s of this.slots) s.buffer.close();
    this.region.free();
    this.#closed = true;
    this.#ctx.pools.delete(this);
    untrackLeak(this);
  }

  /** Same as {@link RioBufferPool.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Closes the sockets with requests on any slot (closesocket → drain), then closes. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#closed) return;
    await cancelUsers(this.slots.map((s) => s.buffer[INTERNAL]));
    while (this.inFlight > 0) await progress(this.#ctx, "RioBufferPool");
    this.close();
  }
}

/**
 * Makes a {@link RioBuffer} for `Rio.registerBuffer` (its constructor is not
 * public): tracked by the session, unlike a pool's per-slot buffers.
 */
export function newRioBuffer(
  ctx: RioContext,
  region: NativeRegion,
  offset: number,
  length: number,
): RioBuffer {
  return makeRioBuffer(ctx, region, offset, length, true);
}

/** Makes a {@link RioBufferPool} (its constructor is not public). */
export function newRioBufferPool(ctx: RioContext, options: RioBufferPoolOptions): RioBufferPool {
  return makeRioBufferPool(ctx, options);
}
