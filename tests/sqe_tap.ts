// A read-only second view of an io_uring ring's submission queue, for tests
// that check what the library hands the kernel, byte for byte.
//
// How: the ring fd is found in /proc/self/fd (the io_uring fd that appeared
// since a snapshot), and its SQ ring and SQE array are mmapped again, read
// only, from the fd itself (IORING_OFF_SQ_RING / IORING_OFF_SQES): the very
// pages the kernel reads. The library's existing fault-injection hook
// (`testFaults.enter`, src/linux/ring_syscalls.ts) is called right before each
// io_uring_enter, after the SQ tail is published and before the kernel has
// consumed anything: the tap copies every SQE in [head, tail) then, and
// returns 0 (no fault), so the library runs exactly as it does without it.
// No seam was added to the library.
//
// Decoding is at offsets written literally here (linux/io_uring.h), not
// through ffi/linux/abi.ts, so a layout mistake there fails a test instead
// of being mirrored. Ring offsets (head, tail, mask) come from the kernel
// itself: io_uring_setup on a scratch ring fills them in.

import { libc } from "../src/linux/libc.ts";
import { testFaults } from "../src/linux/ring_syscalls.ts";

const SYS_IO_URING_SETUP = 425n;
const IORING_OFF_SQ_RING = 0n;
const IORING_OFF_SQES = 0x10000000n;
const PROT_READ = 1, MAP_SHARED = 1;
const SQE_SIZE = 64;

/** One SQE as the kernel will read it (io_uring_sqe, 64 bytes). */
export interface Sqe {
  opcode: number; // @0 u8
  flags: number; // @1 u8
  fd: number; // @4 s32 (the fixed-file index with IOSQE_FIXED_FILE)
  off: bigint; // @8 u64 (addr2 for SEND)
  addr: bigint; // @16 u64
  len: number; // @24 u32
  rwFlags: number; // @28 u32
  userData: bigint; // @32 u64
  bufIndex: number; // @40 u16
  addrLen: number; // @44 u16 (SEND with a destination)
  /** For a SEND with `addrLen` > 0, the bytes at `addr2` (`off`): the destination sockaddr. */
  sockaddr: Uint8Array | undefined;
  /** For a SEND, the `len` bytes at `addr` as they were at submission. */
  payload: Uint8Array | undefined;
}

/** IORING_OP_SEND. */
export const OP_SEND = 26;

/** The fds of this process that are io_uring instances. */
export function ioUringFds(): Set<number> {
  const out = new Set<number>();
  for (const e of Deno.readDirSync("/proc/self/fd")) {
    try {
      if (Deno.readLinkSync(`/proc/self/fd/${e.name}`) === "anon_inode:[io_uring]") {
        out.add(Number(e.name));
      }
    } catch { /* the fd of the directory listing itself is gone by now */ }
  }
  return out;
}

/** SQ ring word offsets this kernel uses (the same for every ring): from a scratch ring. */
function sqOffsets(): { head: number; tail: number; mask: number } {
  const params = new Uint8Array(120); // struct io_uring_params
  const p = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(params)));
  const fd = libc().syscall(SYS_IO_URING_SETUP, 1n, p, 0n, 0n, 0n, 0n);
  if (fd < 0n) throw new Error("scratch io_uring_setup failed");
  libc().close(Number(fd));
  const v = new DataView(params.buffer);
  const sqOff = 40; // io_sqring_offsets sq_off: head @0, tail @4, ring_mask @8
  return {
    head: v.getUint32(sqOff, true),
    tail: v.getUint32(sqOff + 4, true),
    mask: v.getUint32(sqOff + 8, true),
  };
}

function map(fd: number, length: number, offset: bigint): Deno.PointerObject {
  const p = libc().mmap(null, BigInt(length), PROT_READ, MAP_SHARED, fd, offset);
  if (p === null || Deno.UnsafePointer.value(p) === 0xffff_ffff_ffff_ffffn) {
    throw new Error(`mmap of io_uring fd ${fd} at ${offset} failed`);
  }
  return p;
}

interface Tapped {
  fd: number;
  ring: Deno.PointerObject;
  sqes: Deno.PointerObject;
  sqeBytes: number;
  ringView: DataView;
  sqeView: DataView;
  seen: number; // SQ sequence number up to which SQEs were captured
}

/**
 * Taps every io_uring fd opened by `open` (a call that creates rings): each
 * SQE they submit from now on is appended to {@link SqeTap.sqes}. Dispose to
 * unmap and to unhook.
 */
export class SqeTap implements Disposable {
  /** Every SQE submitted since the tap (or the last {@link SqeTap.take}), in order. */
  sqes: Sqe[] = [];
  readonly #rings: Tapped[] = [];
  readonly #off = sqOffsets();
  readonly #prior = testFaults.enter;

  constructor() {
    testFaults.enter = (toSubmit): number => {
      this.#capture();
      return this.#prior?.(toSubmit) ?? 0;
    };
  }

  /** Runs `open`, then taps the io_uring fds it created. */
  tapNew<T>(open: () => T): T {
    const before = ioUringFds();
    const made = open();
    for (const fd of ioUringFds()) if (!before.has(fd)) this.#tap(fd);
    return made;
  }

  /** Rings tapped so far. */
  get rings(): number {
    return this.#rings.length;
  }

  #tap(fd: number): void {
    // The SQ size as the kernel reports it (fdinfo's SqMask + 1).
    const info = Deno.readTextFileSync(`/proc/self/fdinfo/${fd}`);
    const entries = Number(/SqMask:\s*(0x[0-9a-f]+)/.exec(info)![1]) + 1;
    const ringBytes = 4096; // head, tail and mask all sit in the first page
    const sqeBytes = entries * SQE_SIZE;
    const ring = map(fd, ringBytes, IORING_OFF_SQ_RING);
    const sqes = map(fd, sqeBytes, IORING_OFF_SQES);
    const ringView = new DataView(Deno.UnsafePointerView.getArrayBuffer(ring, ringBytes));
    const sqeView = new DataView(Deno.UnsafePointerView.getArrayBuffer(sqes, sqeBytes));
    const seen = ringView.getUint32(this.#off.tail, true);
    this.#rings.push({ fd, ring, sqes, sqeBytes, ringView, sqeView, seen });
  }

  /** Returns the SQEs captured so far and starts a new list. */
  take(): Sqe[] {
    const s = this.sqes;
    this.sqes = [];
    return s;
  }

  #capture(): void {
    for (const r of this.#rings) {
      const v = r.ringView;
      const tail = v.getUint32(this.#off.tail, true);
      const mask = v.getUint32(this.#off.mask, true);
      // The rings are the library's: with or without NO_SQARRAY, it makes SQ
      // index i mean SQE i (an identity array), so the SQE is at tail & mask.
      for (let seq = r.seen; seq !== tail; seq = (seq + 1) >>> 0) {
        this.sqes.push(decode(r.sqeView, (seq & mask) * SQE_SIZE));
      }
      r.seen = tail;
    }
  }

  [Symbol.dispose](): void {
    testFaults.enter = this.#prior;
    for (const r of this.#rings) {
      libc().munmap(r.ring, 4096n);
      libc().munmap(r.sqes, BigInt(r.sqeBytes));
    }
    this.#rings.length = 0;
  }
}

function decode(v: DataView, at: number): Sqe {
  const opcode = v.getUint8(at), addr = v.getBigUint64(at + 16, true);
  const len = v.getUint32(at + 24, true);
  const addrLen = v.getUint16(at + 44, true);
  const off = v.getBigUint64(at + 8, true);
  // Pointers are followed for SEND only (other ops keep other things in these fields).
  let sockaddr: Uint8Array | undefined;
  if (opcode === OP_SEND && addrLen > 0 && off !== 0n) {
    const p = Deno.UnsafePointer.create(off)!;
    sockaddr = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(p, addrLen).slice(0));
  }
  let payload: Uint8Array | undefined;
  if (opcode === OP_SEND) {
    payload = len === 0 || addr === 0n ? new Uint8Array(0) : new Uint8Array(
      Deno.UnsafePointerView.getArrayBuffer(Deno.UnsafePointer.create(addr)!, len).slice(0),
    );
  }
  return {
    opcode,
    flags: v.getUint8(at + 1),
    fd: v.getInt32(at + 4, true),
    off,
    addr,
    len,
    rwFlags: v.getUint32(at + 28, true),
    userData: v.getBigUint64(at + 32, true),
    bufIndex: v.getUint16(at + 40, true),
    addrLen,
    sockaddr,
    payload,
  };
}
