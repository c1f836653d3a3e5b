/**
 * The libc symbol table for the Linux backend. It is opened lazily, on first
 * use, by src/linux/libc.ts, so that importing any regio module works on
 * every OS.
 *
 * `syscall` is variadic in C; declaring it with seven fixed `i64` parameters
 * is correct on x86_64 SysV and AAPCS64 because integer variadic arguments
 * travel in the same registers as fixed ones. Always pass all six arguments.
 * Every 64-bit value goes as a BigInt, which keeps the symbols on Deno's fast
 * call path. Read errno through `__errno_location` right after a failing call.
 *
 * @module
 */

/** The libc symbols regio binds. */
export const libcSymbols = {
  syscall: {
    parameters: [
      "i64", // long number
      "i64", // long a1
      "i64", // long a2
      "i64", // long a3
      "i64", // long a4
      "i64", // long a5
      "i64", // long a6
    ],
    result: "i64", // long
  },
  /**
   * `syscall(SYS_io_uring_enter, …)` with the argument types spelled out, so
   * the hot call needs only one BigInt (`argsz`). Narrow integer arguments
   * are safe here: the kernel's syscall wrapper truncates each register to
   * the u32 it declares, so undefined upper bits are ignored.
   */
  io_uring_enter: {
    name: "syscall",
    parameters: [
      "i64", // long number (SYS.io_uring_enter)
      "u32", // unsigned int fd
      "u32", // u32 to_submit
      "u32", // u32 min_complete
      "u32", // u32 flags
      "pointer", // const void *arg
      "usize", // size_t argsz
    ],
    result: "i64", // long (-1 and errno on failure)
  },
  mmap: {
    parameters: [
      "pointer", // void *addr
      "usize", // size_t length
      "i32", // int prot
      "i32", // int flags
      "i32", // int fd
      "i64", // off_t offset
    ],
    result: "pointer", // void * (MAP_FAILED = (void*)-1)
  },
  munmap: {
    parameters: [
      "pointer", // void *addr
      "usize", // size_t length
    ],
    result: "i32", // int
  },
  getpagesize: { parameters: [], result: "i32" }, // int getpagesize(void)
  __errno_location: { parameters: [], result: "pointer" }, // int *__errno_location(void)
  close: {
    parameters: [
      "i32", // int fd
    ],
    result: "i32", // int
  },
  eventfd: {
    parameters: [
      "u32", // unsigned int initval
      "i32", // int flags
    ],
    result: "i32", // int
  },
  read: {
    parameters: [
      "i32", // int fd
      "pointer", // void *buf
      "usize", // size_t count
    ],
    result: "isize", // ssize_t
  },
  write: {
    parameters: [
      "i32", // int fd
      "pointer", // const void *buf
      "usize", // size_t count
    ],
    result: "isize", // ssize_t
  },
  poll: {
    parameters: [
      "pointer", // struct pollfd *fds
      "u64", // nfds_t nfds
      "i32", // int timeout (ms)
    ],
    result: "i32", // int
  },
  /** Same as `poll`, run on Deno's blocking pool so the event loop stays free. */
  poll_nonblocking: {
    name: "poll",
    parameters: [
      "pointer", // struct pollfd *fds
      "u64", // nfds_t nfds
      "i32", // int timeout (ms)
    ],
    result: "i32", // int
    nonblocking: true,
  },
  socket: {
    parameters: [
      "i32", // int domain
      "i32", // int type
      "i32", // int protocol
    ],
    result: "i32", // int
  },
  bind: {
    parameters: [
      "i32", // int sockfd
      "pointer", // const struct sockaddr *addr
      "u32", // socklen_t addrlen
    ],
    result: "i32", // int
  },
  getsockname: {
    parameters: [
      "i32", // int sockfd
      "pointer", // struct sockaddr *addr
      "pointer", // socklen_t *addrlen
    ],
    result: "i32", // int
  },
  setsockopt: {
    parameters: [
      "i32", // int sockfd
      "i32", // int level
      "i32", // int optname
      "pointer", // const void *optval
      "u32", // socklen_t optlen
    ],
    result: "i32", // int
  },
  getsockopt: {
    parameters: [
      "i32", // int sockfd
      "i32", // int level
      "i32", // int optname
      "pointer", // void *optval
      "pointer", // socklen_t *optlen (in/out)
    ],
    result: "i32", // int
  },
  open: {
    parameters: [
      "buffer", // const char *pathname (NUL-terminated)
      "i32", // int flags
      "u32", // mode_t mode
    ],
    result: "i32", // int
  },
  /** glibc 2.28+; optional so an older libc still loads (the check it serves is then skipped). */
  statx: {
    parameters: [
      "i32", // int dirfd
      "buffer", // const char *pathname
      "i32", // int flags
      "u32", // unsigned int mask
      "pointer", // struct statx *statxbuf
    ],
    result: "i32", // int
    optional: true,
  },
  getrlimit: {
    parameters: [
      "i32", // int resource
      "pointer", // struct rlimit *rlim
    ],
    result: "i32", // int
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** The opened libc symbols. */
export type Libc = Deno.DynamicLibrary<typeof libcSymbols>["symbols"];
