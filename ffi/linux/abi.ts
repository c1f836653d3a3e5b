/**
 * Linux ABI facts (x86_64 and aarch64, LP64 little-endian): constants and
 * struct layouts regio uses. The single source of truth for the Linux
 * backend; values from the kernel UAPI headers (see
 * `shared/reference/io_uring.md`).
 *
 * @module
 */

/** errno values (asm-generic; the same on x86_64 and aarch64). */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  EMFILE: 24,
  ENOSPC: 28,
  ENOSYS: 38,
  EBADR: 53,
  ETIME: 62,
  EOVERFLOW: 75,
  EBADFD: 77,
  EMSGSIZE: 90,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETUNREACH: 101,
  ECONNRESET: 104,
  ENOBUFS: 105,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EHOSTUNREACH: 113,
  EALREADY: 114,
  ECANCELED: 125,
  EOWNERDEAD: 130,
} as const;

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
