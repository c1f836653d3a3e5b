/**
 * Linux ABI facts (x86_64 and aarch64, LP64 little-endian): constants and
 * struct layouts regio uses. The single source of truth for the Linux
 * backend; values from the kernel UAPI headers (see
 * `shared/reference/io_uring.md`).
 *
 * @module
 */

export { CMSGHDR, IN6_PKTINFO, IN_PKTINFO, UDP_LIMITS, UDP_OPT } from "./abi_udp.ts";

/** errno values: the whole asm-generic table, in its own module. */
export { ERRNO } from "./errno.ts";

/** mmap(2) protection and flag bits. `mmap` fails with MAP_FAILED = (void*)-1, not NULL. */
export const MMAP = {
  PROT_READ: 1,
  PROT_WRITE: 2,
  MAP_SHARED: 0x1,
  MAP_PRIVATE: 0x2,
  MAP_ANONYMOUS: 0x20,
  MAP_NORESERVE: 0x4000,
  MAP_POPULATE: 0x8000,
} as const;

/** `(void*)-1` as an unsigned 64-bit address. */
export const MAP_FAILED = 0xffff_ffff_ffff_ffffn;

/** eventfd(2) flags. */
export const EFD = {
  NONBLOCK: 0x800,
  CLOEXEC: 0x80000,
} as const;

/** poll(2) event bits and `struct pollfd` (8 B: s32 fd @0; s16 events @4; s16 revents @6). */
export const POLL = {
  POLLIN: 0x1,
  SIZE: 8,
  fd: 0,
  events: 4,
  revents: 6,
} as const;

/** getrlimit(2): the resource number and `struct rlimit` (16 B: u64 rlim_cur @0; u64 rlim_max @8). */
export const RLIMIT = {
  MEMLOCK: 8,
  NOFILE: 7,
  SIZE: 16,
  cur: 0,
  max: 8,
  /** RLIM_INFINITY as an unsigned 64-bit value. */
  INFINITY: 0xffff_ffff_ffff_ffffn,
} as const;

/** Socket constants (identical on x86_64 and aarch64). */
export const SOCK = {
  AF_INET: 2,
  AF_INET6: 10,
  SOCK_DGRAM: 2,
  SOCK_NONBLOCK: 0x800,
  SOCK_CLOEXEC: 0x80000,
  IPPROTO_UDP: 17,
  IPPROTO_IPV6: 41,
  /** Linux's value (Windows: 27). */
  IPV6_V6ONLY: 26,
  SOL_SOCKET: 1,
  SO_REUSEADDR: 2,
  SO_SNDBUF: 7,
  SO_RCVBUF: 8,
  SO_REUSEPORT: 15,
  SO_MEMINFO: 55,
  MSG_TRUNC: 0x20,
  MSG_DONTWAIT: 0x40,
  MSG_WAITALL: 0x100,
} as const;

/**
 * `getsockopt(SOL_SOCKET, SO_MEMINFO)` fills `u32[VARS]`; `DROPS` is the
 * socket's drop counter, the one /proc/net/udp prints (`linux/sock_diag.h`).
 */
export const SK_MEMINFO = {
  DROPS: 8,
  VARS: 9,
} as const;

/** `struct sockaddr_in` (16 B). Port and address are big-endian. */
export const SOCKADDR_IN = {
  SIZE: 16,
  family: 0,
  port: 2,
  addr: 4,
} as const;

/**
 * `struct sockaddr_in6` (28 B). The reference gives only the size; the field
 * offsets are the RFC 3493 layout that glibc and the kernel use.
 */
export const SOCKADDR_IN6 = {
  SIZE: 28,
  family: 0,
  port: 2,
  flowinfo: 4,
  addr: 8,
  scope_id: 24,
} as const;

/** `struct msghdr` (56 B). */
export const MSGHDR = {
  SIZE: 56,
  name: 0,
  namelen: 8,
  iov: 16,
  iovlen: 24,
  control: 32,
  controllen: 40,
  flags: 48,
} as const;

/** `struct iovec` (16 B). */
export const IOVEC = {
  SIZE: 16,
  base: 0,
  len: 8,
} as const;

/** io_uring system call numbers (the same on x86_64 and aarch64). */
export const SYS = {
  io_uring_setup: 425,
  io_uring_enter: 426,
  io_uring_register: 427,
} as const;

/** `struct io_uring_params` (120 B), with `io_sqring_offsets` at 40 and `io_cqring_offsets` at 80. */
export const IO_URING_PARAMS = {
  SIZE: 120,
  sq_entries: 0,
  cq_entries: 4,
  flags: 8,
  sq_thread_cpu: 12,
  sq_thread_idle: 16,
  features: 20,
  wq_fd: 24,
  sq_off: 40,
  cq_off: 80,
} as const;

/** `struct io_sqring_offsets` (40 B); each value read from it is a byte offset into the SQ ring mapping. */
export const IO_SQRING_OFFSETS = {
  head: 0,
  tail: 4,
  ring_mask: 8,
  ring_entries: 12,
  flags: 16,
  dropped: 20,
  array: 24,
  user_addr: 32,
} as const;

/** `struct io_cqring_offsets` (40 B); each value read from it is a byte offset into the CQ ring mapping. */
export const IO_CQRING_OFFSETS = {
  head: 0,
  tail: 4,
  ring_mask: 8,
  ring_entries: 12,
  overflow: 16,
  cqes: 20,
  flags: 24,
  user_addr: 32,
} as const;

/** mmap offsets for the ring fd. */
export const IORING_OFF = {
  SQ_RING: 0,
  CQ_RING: 0x8000000,
  SQES: 0x10000000,
} as const;

/** `struct io_uring_sqe` (64 B). Offsets of the union members regio writes. */
export const IO_URING_SQE = {
  SIZE: 64,
  opcode: 0,
  flags: 1,
  ioprio: 2,
  fd: 4,
  off: 8,
  addr2: 8,
  addr: 16,
  len: 24,
  /** rw_flags, fsync_flags, msg_flags, cancel_flags, … */
  op_flags: 28,
  user_data: 32,
  buf_index: 40,
  buf_group: 40,
  personality: 42,
  file_index: 44,
  addr_len: 44,
  addr3: 48,
} as const;

/** `struct io_uring_cqe` (16 B without CQE32). */
export const IO_URING_CQE = {
  SIZE: 16,
  user_data: 0,
  res: 8,
  flags: 12,
} as const;

/** Setup flags (`io_uring_params.flags`). */
export const IORING_SETUP = {
  IOPOLL: 0x1,
  SQPOLL: 0x2,
  SQ_AFF: 0x4,
  CQSIZE: 0x8,
  CLAMP: 0x10,
  ATTACH_WQ: 0x20,
  R_DISABLED: 0x40,
  SUBMIT_ALL: 0x80,
  COOP_TASKRUN: 0x100,
  TASKRUN_FLAG: 0x200,
  SQE128: 0x400,
  CQE32: 0x800,
  SINGLE_ISSUER: 0x1000,
  DEFER_TASKRUN: 0x2000,
  NO_MMAP: 0x4000,
  REGISTERED_FD_ONLY: 0x8000,
  NO_SQARRAY: 0x10000,
  HYBRID_IOPOLL: 0x20000,
  CQE_MIXED: 0x40000,
} as const;

/** Feature bits (`io_uring_params.features`, output). */
export const IORING_FEAT = {
  SINGLE_MMAP: 0x1,
  NODROP: 0x2,
  SUBMIT_STABLE: 0x4,
  RW_CUR_POS: 0x8,
  CUR_PERSONALITY: 0x10,
  FAST_POLL: 0x20,
  POLL_32BITS: 0x40,
  SQPOLL_NONFIXED: 0x80,
  EXT_ARG: 0x100,
  NATIVE_WORKERS: 0x200,
  RSRC_TAGS: 0x400,
  CQE_SKIP: 0x800,
  LINKED_FILE: 0x1000,
  REG_REG_RING: 0x2000,
  RECVSEND_BUNDLE: 0x4000,
  MIN_TIMEOUT: 0x8000,
  RW_ATTR: 0x10000,
  NO_IOWAIT: 0x20000,
} as const;

/** `io_uring_enter` flags. */
export const IORING_ENTER = {
  GETEVENTS: 1,
  SQ_WAKEUP: 2,
  SQ_WAIT: 4,
  EXT_ARG: 8,
  REGISTERED_RING: 16,
} as const;

/** SQ ring flags (kernel-written, at `sq_off.flags`). */
export const IORING_SQ = {
  NEED_WAKEUP: 1,
  CQ_OVERFLOW: 2,
  TASKRUN: 4,
} as const;

/** CQ ring flags (application-written, at `cq_off.flags`). */
export const IORING_CQ = {
  EVENTFD_DISABLED: 1,
} as const;

/** `struct io_uring_getevents_arg` (24 B) and `__kernel_timespec` (16 B). */
export const IO_URING_GETEVENTS_ARG = {
  SIZE: 24,
  sigmask: 0,
  sigmask_sz: 8,
  min_wait_usec: 12,
  ts: 16,
  TIMESPEC_SIZE: 16,
  tv_sec: 0,
  tv_nsec: 8,
} as const;

/** `io_uring_register` opcodes. */
export const IORING_REGISTER = {
  BUFFERS: 0,
  UNREGISTER_BUFFERS: 1,
  FILES: 2,
  UNREGISTER_FILES: 3,
  EVENTFD: 4,
  UNREGISTER_EVENTFD: 5,
  FILES_UPDATE: 6,
  EVENTFD_ASYNC: 7,
  PROBE: 8,
  FILES2: 13,
  FILES_UPDATE2: 14,
  BUFFERS2: 15,
  BUFFERS_UPDATE: 16,
  PBUF_RING: 22,
  UNREGISTER_PBUF_RING: 23,
} as const;

/** Limits the kernel enforces on registrations. */
export const IORING_MAX = {
  ENTRIES: 32768,
  CQ_ENTRIES: 65536,
  REG_BUFFERS: 16384,
  FIXED_FILES: 1 << 20,
  /** One registered buffer (iovec) may span at most 1 GiB. */
  BUFFER_BYTES: 1 << 30,
  BUF_RING_ENTRIES: 32768,
} as const;

/** `struct io_uring_rsrc_register` (32 B), for REGISTER_FILES2 / REGISTER_BUFFERS2. */
export const IO_URING_RSRC_REGISTER = {
  SIZE: 32,
  nr: 0,
  flags: 4,
  data: 16,
  tags: 24,
  /** `flags`: create an all-empty table of `nr` slots (5.19). */
  SPARSE: 1,
} as const;

/** `struct io_uring_rsrc_update2` (32 B), for FILES_UPDATE2 / BUFFERS_UPDATE. */
export const IO_URING_RSRC_UPDATE2 = {
  SIZE: 32,
  offset: 0,
  data: 8,
  tags: 16,
  nr: 24,
} as const;

/** `struct io_uring_buf_reg` (40 B), for REGISTER_PBUF_RING. Reserved words must be zero. */
export const IO_URING_BUF_REG = {
  SIZE: 40,
  ring_addr: 0,
  ring_entries: 8,
  bgid: 12,
  flags: 14,
} as const;

/** `struct io_uring_buf` (16 B); the ring's u16 tail overlays entry 0's `resv` at byte 14. */
export const IO_URING_BUF = {
  SIZE: 16,
  addr: 0,
  len: 8,
  bid: 12,
  RING_TAIL: 14,
} as const;

/** `struct io_uring_recvmsg_out` (16 B), at the start of each multishot RECVMSG buffer. */
export const IO_URING_RECVMSG_OUT = {
  SIZE: 16,
  namelen: 0,
  controllen: 4,
  payloadlen: 8,
  flags: 12,
} as const;

/**
 * `struct io_uring_probe` (16 B header + 8 B per op). The reference gives only
 * the sizes; field offsets are those of the UAPI header (`last_op` @0,
 * `ops_len` @1; each op: `op` @0, `flags` @2).
 */
export const IO_URING_PROBE = {
  SIZE: 16,
  last_op: 0,
  ops_len: 1,
  ops: 16,
  OP_SIZE: 8,
  op_op: 0,
  op_flags: 2,
  /** `flags` bit: the opcode is supported. */
  OP_SUPPORTED: 1,
  /** Op entries regio asks for (more than IORING_OP_LAST). */
  MAX_OPS: 256,
} as const;

/** SQE opcodes (`enum io_uring_op`), the ones regio issues. */
export const IORING_OP = {
  NOP: 0,
  READV: 1,
  WRITEV: 2,
  FSYNC: 3,
  READ_FIXED: 4,
  WRITE_FIXED: 5,
  SENDMSG: 9,
  RECVMSG: 10,
  ASYNC_CANCEL: 14,
  READ: 22,
  WRITE: 23,
  SEND: 26,
  RECV: 27,
  SEND_ZC: 47,
} as const;

/** SQE flags (`sqe.flags`). */
export const IOSQE = {
  FIXED_FILE: 1,
  IO_DRAIN: 2,
  IO_LINK: 4,
  IO_HARDLINK: 8,
  ASYNC: 16,
  BUFFER_SELECT: 32,
  CQE_SKIP_SUCCESS: 64,
} as const;

/** FSYNC `fsync_flags`. */
export const IORING_FSYNC = {
  DATASYNC: 1,
} as const;

/** Send/receive modifiers in `sqe.ioprio`. */
export const IORING_RECVSEND = {
  POLL_FIRST: 1,
  RECV_MULTISHOT: 2,
  FIXED_BUF: 4,
} as const;

/** ASYNC_CANCEL `cancel_flags`. */
export const IORING_ASYNC_CANCEL = {
  ALL: 1,
  FD: 2,
  ANY: 4,
  FD_FIXED: 8,
  USERDATA: 16,
  OP: 32,
} as const;

/** CQE flags (`cqe.flags`). */
export const IORING_CQE = {
  F_BUFFER: 1,
  F_MORE: 2,
  F_SOCK_NONEMPTY: 4,
  F_NOTIF: 8,
  /** The provided-buffer ID is `flags >>> BUFFER_SHIFT`. */
  BUFFER_SHIFT: 16,
} as const;

/** Sentinel values in fd arrays for file registration. */
export const IORING_FILES = {
  /** An empty (sparse) slot. */
  EMPTY: -1,
  /** FILES_UPDATE: leave the slot as it is (5.12). */
  SKIP: -2,
} as const;

/**
 * open(2) flags. Not in the reference tables: values from asm-generic
 * `fcntl.h`, which x86_64 and aarch64 share for these bits.
 */
export const O = {
  RDONLY: 0,
  WRONLY: 1,
  RDWR: 2,
  CREAT: 0x40,
  TRUNC: 0x200,
  CLOEXEC: 0x80000,
} as const;

/**
 * `statx(2)` (glibc 2.28+): the arguments and fields regio uses. `struct
 * statx` has one layout on every architecture (`linux/stat.h`), unlike `struct stat`.
 */
export const STATX = {
  /** `AT_EMPTY_PATH`: with path "", describe `dirfd` itself. */
  AT_EMPTY_PATH: 0x1000,
  /** `STATX_TYPE`: the file type bits of `stx_mode` are wanted. */
  STATX_TYPE: 1,
  /** `sizeof(struct statx)`. */
  SIZE: 256,
  /** `stx_mode` (u16). */
  stx_mode: 28,
  /** `S_IFMT`: the file type bits of a mode. */
  S_IFMT: 0o170000,
  /** `S_IFDIR`: a directory. */
  S_IFDIR: 0o040000,
} as const;

export { GROUP_SOURCE_REQ, IP_MREQ_SOURCE, IP_MREQN, IPV6_MREQ, SOCKOPT } from "./abi_sockopt.ts";
