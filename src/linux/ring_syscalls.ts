/**
 * The three io_uring syscalls: `io_uring_setup` with the best flags the
 * kernel accepts (and what a refusal means), `io_uring_register` (including
 * the opcode probe), and one `io_uring_enter` with the meaning of its fatal
 * errnos. Also the fault-injection hooks the tests use.
 *
 * @module
 */

import { ErrnoError, UnsupportedError } from "../errors.ts";
import { errno, libc } from "./libc.ts";
import {
  ERRNO,
  IO_URING_PARAMS,
  IO_URING_PROBE,
  IORING_ENTER,
  IORING_REGISTER,
  IORING_SETUP,
  SYS,
} from "../../ffi/linux/abi.ts";
import { withArgs } from "./scratch.ts";

const S = IORING_SETUP;
/** Setup flag sets tried in order (the reference's recommendation, then fallbacks). */
const SETUP_FLAG_SETS: readonly number[] = [
  S.SINGLE_ISSUER | S.DEFER_TASKRUN | S.NO_SQARRAY | S.CQSIZE,
  S.SINGLE_ISSUER | S.DEFER_TASKRUN | S.CQSIZE,
  S.COOP_TASKRUN | S.TASKRUN_FLAG | S.CQSIZE,
  S.CQSIZE,
  0,
];

const SYS_SETUP = BigInt(SYS.io_uring_setup);
const SYS_ENTER = BigInt(SYS.io_uring_enter);
const SYS_REGISTER = BigInt(SYS.io_uring_register);

/**
 * @internal Fault injection, for tests only (never set outside them): when a
 * hook returns a non-zero errno, the call fails with it without reaching the
 * kernel. `enter` sees how many SQEs would be submitted; `register` the opcode.
 */
export const testFaults: {
  enter?: (toSubmit: number) => number;
  register?: (opcode: number) => number;
} = {};

/** What a fatal `io_uring_enter` errno means (io_uring.md §5.7). */
const ENTER_HINTS: Readonly<Record<number, string>> = {
  [ERRNO.ENXIO]: "The ring is being torn down",
  [ERRNO.EBADFD]: "The ring is disabled",
  [ERRNO.EOWNERDEAD]: "The SQPOLL thread died",
  [ERRNO.EEXIST]: "The ring was entered from a thread other than its creator's",
};

/** `io_uring_register` through `syscall`; returns the result or throws. */
export function register(
  fd: number,
  opcode: number,
  arg: bigint,
  nrArgs: number,
  callName: string,
): number {
  const fault = testFaults.register?.(opcode) ?? 0;
  if (fault !== 0) throw new ErrnoError(fault, `io_uring_register(${callName})`);
  const r = libc().syscall(SYS_REGISTER, BigInt(fd), BigInt(opcode), arg, BigInt(nrArgs), 0n, 0n);
  if (r === -1n) throw new ErrnoError(errno(), `io_uring_register(${callName})`);
  return Number(r);
}

/** A ring fd from `io_uring_setup` and the `io_uring_params` the kernel filled in. */
export interface SetupResult {
  /** The ring fd. */
  fd: number;
  /** A copy of `io_uring_params` (flags accepted, features, sizes, ring offsets). */
  params: DataView;
}

/**
 * `io_uring_setup` with the first of `flagSets` the kernel accepts (only
 * EINVAL means "try fewer flags").
 * @throws {UnsupportedError} when io_uring is blocked (EPERM) or missing (ENOSYS).
 */
export function setup(
  entries: number,
  cqEntries: number,
  flagSets: readonly number[] = SETUP_FLAG_SETS,
): SetupResult {
  const c = libc();
  let fd = -1;
  let lastErr = 0;
  const params = withArgs(IO_URING_PARAMS.SIZE, (args) => {
    for (const flags of flagSets) {
      args.bytes.fill(0, 0, IO_URING_PARAMS.SIZE);
      args.view.setUint32(IO_URING_PARAMS.flags, flags, true);
      args.view.setUint32(IO_URING_PARAMS.cq_entries, cqEntries, true);
      const r = c.syscall(SYS_SETUP, BigInt(entries), args.address, 0n, 0n, 0n, 0n);
      if (r >= 0n) {
        fd = Number(r);
        return new DataView(args.bytes.slice(0, IO_URING_PARAMS.SIZE).buffer);
      }
      lastErr = errno();
      if (lastErr !== ERRNO.EINVAL) break; // only EINVAL means "try fewer flags"
    }
    return undefined;
  });
  if (params) return { fd, params };
  const cause = new ErrnoError(lastErr, "io_uring_setup");
  if (lastErr === ERRNO.EPERM) {
    throw new UnsupportedError("io_uring", permissionHint(), { cause });
  }
  if (lastErr === ERRNO.ENOSYS) {
    throw new UnsupportedError("io_uring", "this kernel has no io_uring (Linux 6.1+ needed)", {
      cause,
    });
  }
  throw cause;
}

/** Why setup failed with EPERM, and what to do about it. */
function permissionHint(): string {
  let disabled = "";
  try {
    disabled = Deno.readTextFileSync("/proc/sys/kernel/io_uring_disabled").trim();
  } catch { /* not readable: say nothing about it */ }
  const sysctl = disabled === "1" || disabled === "2"
    ? `kernel.io_uring_disabled is ${disabled}; set it to 0 (or join kernel.io_uring_group)`
    : "a seccomp profile (Docker ≥ 25 / containerd / Podman defaults) blocks the io_uring syscalls; " +
      "run with a profile that allows io_uring_setup/enter/register (e.g. --security-opt seccomp=unconfined)";
  return `io_uring_setup was refused (EPERM): ${sysctl}`;
}

/** REGISTER_PROBE: which opcodes this kernel supports (1 = supported). */
export function probe(fd: number): Uint8Array {
  const P = IO_URING_PROBE;
  const ops = new Uint8Array(P.MAX_OPS);
  withArgs(P.SIZE + P.MAX_OPS * P.OP_SIZE, (args) => {
    register(fd, IORING_REGISTER.PROBE, args.address, P.MAX_OPS, "REGISTER_PROBE");
    const len = args.bytes[P.ops_len];
    for (let i = 0; i < len; i++) {
      const at = P.ops + i * P.OP_SIZE;
      if (args.view.getUint16(at + P.op_flags, true) & P.OP_SUPPORTED) {
        ops[args.bytes[at + P.op_op]] = 1;
      }
    }
  });
  return ops;
}

/** What {@link enter} asks of its ring while it retries. */
export interface EnterHooks {
  /** EAGAIN/EBUSY: reap to make room; returns false when that closed the ring (its fd may be gone). */
  makeRoom(): boolean;
  /** EBADR: the kernel dropped CQEs (reported once; the overflow counter has the total). */
  dropped(): void;
}

/**
 * `io_uring_enter(GETEVENTS)` submitting `toSubmit` SQEs, so deferred task
 * work runs and overflowed CQEs are flushed, retried as the errno allows
 * (io_uring.md §5.7). Returns how many SQEs the kernel consumed (0 when it
 * stays busy: the wait loop retries).
 * @throws {ErrnoError} on an errno that cannot be retried: the ring is unusable.
 */
export function enter(fd: number, toSubmit: number, hooks: EnterHooks): number {
  const c = libc();
  for (let attempt = 0;; attempt++) {
    const fault = testFaults.enter?.(toSubmit) ?? 0;
    const r = fault !== 0
      ? -1n
      : c.io_uring_enter(SYS_ENTER, fd, toSubmit, 0, IORING_ENTER.GETEVENTS, null, 0n);
    if (r >= 0n) return Number(r);
    const e = fault !== 0 ? fault : errno();
    if (e === ERRNO.EINTR || e === ERRNO.ETIME) continue;
    if (e === ERRNO.EBADR) {
      hooks.dropped();
      continue;
    }
    if ((e === ERRNO.EAGAIN || e === ERRNO.EBUSY) && attempt < 8) {
      // Out of request memory or an overflow backlog: make room, then retry.
      if (!hooks.makeRoom()) return 0;
      continue;
    }
    if (e === ERRNO.EAGAIN || e === ERRNO.EBUSY) return 0; // the wait loop retries
    // Anything else is fatal (§5.7 lists no way to retry it): the caller fails the ring.
    throw new ErrnoError(
      e,
      "io_uring_enter",
      `${ENTER_HINTS[e] ?? "Unexpected"}; the ring is unusable: close it`,
    );
  }
}
