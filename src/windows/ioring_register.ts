/**
 * An I/O ring's registrations, ring side: building REGISTER_FILES /
 * REGISTER_BUFFERS entries, replacing the live table of each kind, holding
 * registered regions until the kernel is done with them, and releasing a
 * table (a zero-count or all-sparse re-registration). The tables themselves
 * are in ioring_tables.ts.
 *
 * @module
 */

import { BusyError, checkInteger, HResultError } from "../errors.ts";
import type { Allocator, NativeRegion } from "../memory.ts";
import { HRESULT, INVALID_HANDLE_VALUE, writeBufferInfo } from "../../ffi/windows/abi.ts";
import type { RingEngine } from "./ioring_engine.ts";
import type { RingKernel } from "./ioring_kernel.ts";
import { allocate } from "./ioring_memory.ts";
import type { IoRingOperation } from "./ioring_op.ts";
import {
  type BufferTable,
  FileHandleTable,
  handleValue,
  newBufferTable,
  newFileHandleTable,
  type TableHost,
  tableState,
} from "./ioring_tables.ts";

const MAX_U32 = 0xffff_ffff;

type Entry = bigint | { address: bigint; length: number };

/** Registers, replaces and releases a ring's file and buffer tables. */
export class RingRegistrations {
  /** What the ring's tables call back into (release, drain). */
  readonly host: TableHost;

  readonly #k: RingKernel;
  readonly #ring: Deno.PointerObject;
  readonly #allocator: Allocator;
  readonly #engine: RingEngine;
  readonly #closing: () => boolean;

  #files: FileHandleTable | undefined;
  #buffers: BufferTable | undefined;
  #fileGen = 0;
  #bufferGen = 0;
  #bufferHolds: { gen: number; drop: () => void }[] = [];
  /** Does a zero-count registration unregister (header) or fail (observed)? Learned once per ring. */
  #zeroLengthWorks: boolean | undefined;

  /** `closing` says whether the ring is closing (releases then do nothing). */
  constructor(
    k: RingKernel,
    ring: Deno.PointerObject,
    allocator: Allocator,
    engine: RingEngine,
    closing: () => boolean,
  ) {
    this.#k = k;
    this.#ring = ring;
    this.#allocator = allocator;
    this.#engine = engine;
    this.#closing = closing;
    this.host = {
      release: (t, eager) => this.#releaseTable(t, eager),
      drain: (t) => engine.cancelAndDrain((p) => p.tables.includes(t)),
    };
  }

  /** IoRing.registerFiles, once the ring is known to be open. */
  registerFiles(
    handles: readonly (Deno.PointerObject | bigint | null)[],
  ): Promise<FileHandleTable> {
    checkInteger("handle count", handles.length, 1, MAX_U32);
    const values = handles.map((h, i) => h === null ? null : handleValue(h, `handles[${i}]`));
    this.#assertReplaceable(this.#files, "FileHandleTable");
    const table = newFileHandleTable(this.host, values);
    const op = this.#buildRegistration(
      "files",
      values.map((v) => v ?? INVALID_HANDLE_VALUE),
      [],
      ++this.#fileGen,
    );
    if (this.#files) tableState(this.#files).current = false;
    this.#files = table;
    return this.#finishRegistration(op, table, "BuildIoRingRegisterFileHandles");
  }

  /** IoRing.registerBuffers, once the ring is known to be open. */
  registerBuffers(regions: readonly (NativeRegion | null)[]): Promise<BufferTable> {
    checkInteger("buffer count", regions.length, 1, MAX_U32);
    const entries = regions.map((r, i) => {
      if (r === null) return { address: 0n, length: 0 };
      checkInteger(`regions[${i}].byteLength`, r.byteLength, 1, MAX_U32);
      return { address: r.address, length: r.byteLength }; // address throws DisposedError if freed
    });
    this.#assertReplaceable(this.#buffers, "BufferTable");
    const table = newBufferTable(this.host, entries.map((e) => e.length));
    const gen = ++this.#bufferGen;
    const op = this.#buildRegistration("buffers", entries, regions, gen);
    if (this.#buffers) tableState(this.#buffers).current = false;
    this.#buffers = table;
    return this.#finishRegistration(op, table, "BuildIoRingRegisterBuffers");
  }

  /** The ring has closed: its registrations end with it. */
  end(): void {
    for (const h of this.#bufferHolds) h.drop();
    this.#bufferHolds = [];
    for (const t of [this.#files, this.#buffers]) if (t) tableState(t).current = false;
    this.#files = this.#buffers = undefined;
  }

  #assertReplaceable(old: FileHandleTable | BufferTable | undefined, what: string): void {
    const n = old ? tableState(old).inFlight : 0;
    if (n > 0) throw new BusyError(`${what} (the one a new registration would replace)`, n);
  }

  async #finishRegistration<T extends FileHandleTable | BufferTable>(
    op: IoRingOperation,
    table: T,
    call: string,
  ): Promise<T> {
    this.#engine.submitNow();
    const c = await op.done;
    if (!c.ok) {
      const s = tableState(table);
      s.current = false;
      s.disposed = true;
      if (this.#files === table) this.#files = undefined;
      if (this.#buffers === table) this.#buffers = undefined;
      throw new HResultError(c.result, call);
    }
    return table;
  }

  /**
   * Builds a REGISTER_FILES / REGISTER_BUFFERS entry. Its array lives in
   * native memory until the op completes (the kernel may read it until then).
   * A successful buffer registration of generation `gen` releases the holds
   * of every older one (the kernel no longer uses those buffers); a failed
   * one releases its own.
   */
  #buildRegistration(
    kind: "files" | "buffers",
    entries: readonly Entry[],
    regions: readonly (NativeRegion | null)[],
    gen: number,
  ): IoRingOperation {
    const files = kind === "files";
    const mem = entries.length === 0
      ? undefined
      : allocate(this.#allocator, entries.length * (files ? 8 : 16));
    entries.forEach((e, i) => {
      if (typeof e === "bigint") mem!.view.setBigUint64(i * 8, e, true);
      else writeBufferInfo(mem!.view, i * 16, e.address, e.length);
    });
    // A zero count goes with NULL (UNCONFIRMED whether NULL + 0 differs from an empty array).
    const array = mem?.pointer ?? null;
    const count = entries.length;
    const k = this.#k;
    const ring = this.#ring;
    const op = this.#engine.build({
      kind: files ? "registerFiles" : "registerBuffers",
      call: files ? "BuildIoRingRegisterFileHandles" : "BuildIoRingRegisterBuffers",
      file: undefined,
      cancellable: false,
      memory: mem,
      invoke: files
        ? (ud) => k.BuildIoRingRegisterFileHandles(ring, count, array, ud)
        : (ud) => k.BuildIoRingRegisterBuffers(ring, count, array, ud),
      // Success: older registrations are gone, so their holds go. Failure: the
      // kernel never took these regions, so only this registration's holds go.
      after: files ? undefined : (c) => this.#dropBufferHolds(gen, c.ok),
    });
    for (const r of regions) {
      if (r) this.#bufferHolds.push({ gen, drop: r.retain("an IoRing BufferTable") });
    }
    return op;
  }

  #dropBufferHolds(gen: number, replaced: boolean): void {
    const keep = [];
    for (const h of this.#bufferHolds) {
      if (replaced ? h.gen < gen : h.gen === gen) h.drop();
      else keep.push(h);
    }
    this.#bufferHolds = keep;
  }

  /**
   * Releases `t`'s registration. The header says a zero-count registration
   * unregisters everything; win-ioring-rs saw it fail with E_INVALIDARG, and
   * whether the builder or the completion refuses it is UNCONFIRMED
   * (reference §5.4). So the first release on a ring tries zero entries and,
   * if that is refused either way, registers an all-sparse table of the same
   * size instead; the outcome is remembered, and later releases use what worked.
   */
  async #releaseTable(t: FileHandleTable | BufferTable, eager: boolean): Promise<void> {
    const s = tableState(t);
    if (!s.current || this.#closing()) return;
    s.current = false;
    const files = t instanceof FileHandleTable;
    if (files) this.#files = undefined;
    else this.#buffers = undefined;
    const kind = files ? "files" : "buffers";
    const gen = files ? ++this.#fileGen : ++this.#bufferGen;
    const sparse = (): Entry[] =>
      Array.from(
        { length: t.length },
        () => files ? INVALID_HANDLE_VALUE : { address: 0n, length: 0 },
      );
    if (this.#zeroLengthWorks !== false) {
      const zero = this.#buildZeroCount(kind, gen);
      if (zero) {
        if (eager) this.#engine.submitNow();
        const c = await zero.done;
        if (zero.state !== "completed") return; // abandoned: the ring closed first
        this.#zeroLengthWorks = c.ok;
        const superseded = (files ? this.#fileGen : this.#bufferGen) !== gen;
        if (c.ok || superseded || this.#closing()) return;
      }
    }
    const fallback = this.#buildRegistration(kind, sparse(), [], gen);
    if (eager) this.#engine.submitNow();
    await fallback.done;
  }

  /**
   * Builds a zero-count registration, or returns undefined (and remembers
   * it) when the builder refuses it: the same outcome as a refused completion.
   */
  #buildZeroCount(kind: "files" | "buffers", gen: number): IoRingOperation | undefined {
    try {
      return this.#buildRegistration(kind, [], [], gen);
    } catch (e) {
      // A full SQ says nothing about zero counts; anything else from the builder is a refusal.
      const refused = e instanceof HResultError && e.call.startsWith("BuildIoRingRegister") &&
        e.code !== HRESULT.IORING_E_SUBMISSION_QUEUE_FULL;
      if (!refused) throw e;
      this.#zeroLengthWorks = false;
      return undefined;
    }
  }
}
