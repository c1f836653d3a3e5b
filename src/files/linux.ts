/**
 * The file ring's Linux backend: io_uring with a registered (fixed) file
 * table and one registered buffer, READ_FIXED / WRITE_FIXED / FSYNC.
 *
 * Completions come to a sink (no promise per operation): `user_data` is the
 * sink id and a slot number, and each slot remembers its batch and index.
 * Internal; the public face is `FileRing` (ring.ts).
 *
 * @module
 */

import { BusyError, ErrnoError, RegioError } from "../errors.ts";
import { ERRNO, IO_URING_SQE, IORING_OP, IOSQE } from "../../ffi/linux/abi.ts";
import { NativeRegion } from "../memory.ts";
import { RingCore, type Sink, type UseCounter } from "../linux/ring.ts";
import { type FileTable, liveFileTable, registerFiles } from "../linux/files.ts";
import { type BufferTable, liveBufferTable, registerBuffers } from "../linux/buffers.ts";
import type { Lifecycle } from "../linux/registration.ts";
import { FileFd, isDirectory } from "../linux/file_fd.ts";
import {
  type Backend,
  type BackendBuffers,
  type BackendFiles,
  type Batch,
  closeAll,
  type Completion,
  type FileRingCapabilities,
  type OpenFilesOptions,
  OrphanRegions,
  runAll,
  runAllSync,
} from "./backend.ts";

const OP_NAMES = ["IORING_OP_READ_FIXED", "IORING_OP_WRITE_FIXED", "IORING_OP_FSYNC"];
const KIND_READ = 0, KIND_WRITE = 1, KIND_FSYNC = 2;
const OPCODES = [IORING_OP.READ_FIXED, IORING_OP.WRITE_FIXED, IORING_OP.FSYNC];

class LinuxFiles implements BackendFiles {
  constructor(
    readonly table: FileTable,
    readonly life: Lifecycle,
    readonly fds: readonly FileFd[],
    readonly writable: boolean,
  ) {}

  // The fds are closed even when unregistering fails: a fixed-file slot holds
  // its own reference, so the kernel keeps the file for as long as the table does.
  dispose(): void {
    runAllSync([() => this.table.close(), () => closeFds(this.fds)]);
  }

  disposeDrained(): Promise<void> {
    return runAll([() => this.table[Symbol.asyncDispose](), () => closeFds(this.fds)]);
  }
}

class LinuxBuffers implements BackendBuffers {
  constructor(
    readonly region: NativeRegion,
    readonly table: BufferTable,
    readonly life: Lifecycle,
    readonly address: number,
    readonly orphans: OrphanRegions,
  ) {}

  // The region goes to the orphans even when unregistering fails: a
  // registration that still holds it keeps it alive until the ring closes.
  dispose(): void {
    runAllSync([() => this.table.close(), () => this.orphans.freeLater(this.region)]);
  }

  disposeDrained(): Promise<void> {
    return runAll([
      () => this.table[Symbol.asyncDispose](),
      () => this.orphans.freeLater(this.region),
    ]);
  }
}

/** Closes every fd, then throws the first failure (if any). */
function closeFds(fds: readonly FileFd[]): void {
  closeAll(fds, (fd) => fd.close());
}

/** io_uring behind the portable file ring. */
export class LinuxBackend implements Backend, Sink {
  readonly capabilities: FileRingCapabilities;
  readonly #core: RingCore;
  readonly #sinkId: number;
  readonly #done: Completion;
  // Per-slot state of the operations in flight (slots are user_data tokens).
  readonly #batch: (Batch | undefined)[];
  readonly #index: Int32Array;
  readonly #kind: Uint8Array;
  /** Each slot's file set (its lifecycle counts the slot) and file index in it (to name the file in an error). */
  readonly #files: (LinuxFiles | undefined)[];
  readonly #file: Int32Array;
  readonly #bufferLife: (Lifecycle | undefined)[];
  readonly #free: Int32Array;
  #top: number;
  #inFlight = 0;
  #prepared = 0;
  /** Buffer regions a released registration may still hold (until its tag CQE, or ring close). */
  readonly #orphans = new OrphanRegions();

  private constructor(core: RingCore, slots: number, done: Completion) {
    this.#core = core;
    this.#done = done;
    this.#batch = new Array(slots).fill(undefined);
    this.#bufferLife = new Array(slots).fill(undefined);
    this.#index = new Int32Array(slots);
    this.#kind = new Uint8Array(slots);
    this.#files = new Array(slots).fill(undefined);
    this.#file = new Int32Array(slots);
    this.#free = new Int32Array(slots);
    for (let i = 0; i < slots; i++) this.#free[i] = slots - 1 - i;
    this.#top = slots;
    const ops = core.opcodes;
    this.capabilities = Object.freeze({
      write: ops[IORING_OP.WRITE_FIXED] === 1,
      flush: ops[IORING_OP.FSYNC] === 1,
      detail: `io_uring (features 0x${core.features.toString(16)}, ` +
        `${core.sqEntries} SQ / ${core.cqEntries} CQ entries)`,
    });
    this.#sinkId = core.addSink(this);
  }

  /** A ring for `depth` operations in flight. @throws {UnsupportedError} when io_uring is unavailable. */
  static create(depth: number, done: Completion): LinuxBackend {
    const core = RingCore.create({ entries: depth, cqEntries: Math.max(2 * depth, 8) });
    if (core.opcodes[IORING_OP.READ_FIXED] !== 1) {
      core.close();
      throw new RegioError("this kernel's io_uring lacks IORING_OP_READ_FIXED");
    }
    return new LinuxBackend(core, depth, done);
  }

  openFiles(paths: readonly string[], options: OpenFilesOptions): Promise<BackendFiles> {
    const fds: FileFd[] = [];
    try {
      const write = options.write === true || options.create === true;
      for (const path of paths) {
        const fd = FileFd.open(path, { write, create: options.create });
        fds.push(fd);
        // open(O_RDONLY) takes a directory; its reads would fail later, one by one.
        if (isDirectory(fd)) throw new ErrnoError(ERRNO.EISDIR, `open(${path})`);
      }
      const table = registerFiles(this.#core, fds.map((f) => f.fd));
      const life = liveFileTable(this.#core, table).life;
      return Promise.resolve(new LinuxFiles(table, life, fds, write));
    } catch (e) {
      try {
        closeFds(fds);
      } catch { /* the open/register error is the one to report */ }
      return Promise.reject(e);
    }
  }

  registerBuffers(bytes: number): Promise<BackendBuffers> {
    let region: NativeRegion | undefined;
    try {
      region = NativeRegion.allocate(bytes);
      const table = registerBuffers(this.#core, [region]);
      const s = liveBufferTable(this.#core, table);
      return Promise.resolve(
        new LinuxBuffers(region, table, s.life, s.addresses[0], this.#orphans),
      );
    } catch (e) {
      region?.free();
      return Promise.reject(e);
    }
  }

  /**
   * Claims an SQE for this sink; its slot goes in `user_data` once claimed.
   * The SQE comes first: when `prep` throws (the ring failed, or the SQ is
   * full and the kernel took none) no slot is left claimed, and a failure
   * inside `prep` cannot settle a slot the portable layer has not counted yet.
   */
  #claimSqe(opcode: number, file: number): number {
    if (this.#top === 0) throw new RegioError("file ring: no free operation slot"); // depth is enforced above
    return this.#core.prep(opcode, IOSQE.FIXED_FILE, file, this.#sinkId, 0);
  }

  /** Claims a slot for SQE `w` and writes it as the SQE's token. */
  #slot(w: number, batch: Batch, index: number, kind: number): number {
    const slot = this.#free[--this.#top];
    this.#core.set32(w, IO_URING_SQE.user_data, slot);
    this.#batch[slot] = batch;
    this.#index[slot] = index;
    this.#kind[slot] = kind;
    this.#inFlight++;
    this.#prepared++;
    return slot;
  }

  prepareIo(
    write: boolean,
    files: BackendFiles,
    file: number,
    buffers: BackendBuffers,
    at: number,
    length: number,
    position: number,
    batch: Batch,
    index: number,
  ): void {
    const f = files as LinuxFiles, b = buffers as LinuxBuffers;
    const kind = write ? KIND_WRITE : KIND_READ;
    const w = this.#claimSqe(OPCODES[kind], file);
    const slot = this.#slot(w, batch, index, kind);
    this.#files[slot] = f;
    this.#file[slot] = file;
    const core = this.#core;
    core.set64(w, IO_URING_SQE.off, position);
    core.set64(w, IO_URING_SQE.addr, b.address + at);
    core.set32(w, IO_URING_SQE.len, length);
    // buf_index stays 0: the pool is one registered buffer.
    f.life.begin();
    b.life.begin();
    this.#bufferLife[slot] = b.life;
  }

  prepareFlush(files: BackendFiles, file: number, batch: Batch, index: number): void {
    const f = files as LinuxFiles;
    const w = this.#claimSqe(IORING_OP.FSYNC, file);
    const slot = this.#slot(w, batch, index, KIND_FSYNC);
    this.#files[slot] = f;
    this.#file[slot] = file;
    f.life.begin();
    this.#bufferLife[slot] = undefined;
  }

  submit(): void {
    // The ring submits prepared SQEs in one io_uring_enter at the end of the tick;
    // counting them starts its waiter if some do not complete inline.
    const n = this.#prepared;
    this.#prepared = 0;
    if (n > 0) this.#core.expect(n);
  }

  // --- Sink ---

  complete(token: number, res: number): void {
    const batch = this.#batch[token];
    if (batch === undefined) return;
    this.#batch[token] = undefined;
    const files = this.#files[token]!;
    files.life.end();
    this.#bufferLife[token]?.end();
    this.#files[token] = this.#bufferLife[token] = undefined;
    this.#free[this.#top++] = token;
    this.#inFlight--;
    this.#core.expect(-1);
    const index = this.#index[token];
    if (res >= 0) return this.#done(batch, index, res);
    this.#done(batch, index, 0, this.#error(-res, this.#kind[token], files, this.#file[token]));
  }

  /** The error of a failed operation; a write the fd's mode refuses names the file and says why. */
  #error(errno: number, kind: number, files: LinuxFiles, file: number): ErrnoError {
    if (kind === KIND_WRITE && errno === ERRNO.EBADF && !files.writable) {
      const path = files.fds[file].path;
      return new ErrnoError(
        errno,
        `${OP_NAMES[kind]}(${path})`,
        `${path} was opened read-only: pass { write: true } to openFiles to write to it`,
      );
    }
    return new ErrnoError(errno, OP_NAMES[kind]);
  }

  inFlight(): number {
    return this.#inFlight;
  }

  /**
   * The ring failed for good (a fatal `io_uring_enter`): no CQE will come for
   * any slot, so each one ends its counts now, as its final CQE would, and its
   * batch entry reports `error` (the batch's promise rejects with it once it
   * is settled, never from inside this call). The registered memory is left
   * to the ring's abandon path (leaked, never freed); the files close as usual.
   */
  fail(error: Error): void {
    const done: number[] = [];
    for (let slot = 0; slot < this.#batch.length; slot++) {
      if (this.#batch[slot] === undefined) continue;
      this.#files[slot]!.life.end();
      this.#bufferLife[slot]?.end();
      this.#files[slot] = this.#bufferLife[slot] = undefined;
      this.#free[this.#top++] = slot;
      done.push(slot);
    }
    const n = this.#inFlight;
    this.#inFlight = 0;
    this.#prepared = 0; // counted by no one yet; the ring expects nothing any more
    this.#core.expect(-n);
    // Bookkeeping first, then the portable layer's counts (which only queue settlements).
    for (const slot of done) {
      const batch = this.#batch[slot]!;
      this.#batch[slot] = undefined;
      this.#done(batch, this.#index[slot], 0, error);
    }
  }

  cancelFor(user: UseCounter): void {
    for (let slot = 0; slot < this.#batch.length; slot++) {
      if (
        this.#batch[slot] !== undefined &&
        (this.#files[slot]?.life === user || this.#bufferLife[slot] === user)
      ) {
        this.#core.prepCancel(this.#sinkId, slot);
      }
    }
  }

  // --- teardown ---

  close(): void {
    if (this.#inFlight > 0) throw new BusyError("FileRing (io_uring)", this.#inFlight);
    this.#core.close();
    this.#orphans.freeReleased();
    // With the waiter still parked in poll, the ring (and its holds) go when it wakes.
    if (this.#orphans.length > 0) void this.#core.idle().then(() => this.#orphans.freeReleased());
  }

  async closeDrained(): Promise<void> {
    await this.#core.closeDrained();
    this.#orphans.freeReleased();
  }
}
