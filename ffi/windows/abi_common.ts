/**
 * The Windows ABI pieces every part of the Windows layer shares: the
 * {@link StructLayout} shape, HRESULTs, Win32 error codes, kernel32 /
 * kernelbase constants (memory, events, waits, files) and
 * INVALID_HANDLE_VALUE. Re-exported by ffi/windows/abi.ts, the entry the
 * rest of the code imports.
 *
 * @module
 */

/** A struct layout: size and alignment in bytes, and each field's byte offset. */
export interface StructLayout {
  /** `sizeof` on x64. */
  readonly size: number;
  /** `_Alignof` on x64. */
  readonly align: number;
  /** Field name (SDK spelling, dotted for nested members) to byte offset. */
  readonly fields: Readonly<Record<string, number>>;
}

/** HRESULTs, as signed 32-bit integers (what an `i32` FFI result holds). */
export const HRESULT = {
  S_OK: 0,
  S_FALSE: 1,
  IORING_E_REQUIRED_FLAG_NOT_SUPPORTED: 0x80460001 | 0,
  IORING_E_SUBMISSION_QUEUE_FULL: 0x80460002 | 0,
  IORING_E_VERSION_NOT_SUPPORTED: 0x80460003 | 0,
  IORING_E_SUBMISSION_QUEUE_TOO_BIG: 0x80460004 | 0,
  IORING_E_COMPLETION_QUEUE_TOO_BIG: 0x80460005 | 0,
  IORING_E_SUBMIT_IN_PROGRESS: 0x80460006 | 0,
  IORING_E_CORRUPT: 0x80460007 | 0,
  IORING_E_COMPLETION_QUEUE_TOO_FULL: 0x80460008 | 0,
  E_ABORT: 0x80004004 | 0,
  E_HANDLE: 0x80070006 | 0,
  E_INVALIDARG: 0x80070057 | 0,
  E_OUTOFMEMORY: 0x8007000e | 0,
  E_NOTIMPL: 0x80004001 | 0,
  E_FAIL: 0x80004005 | 0,
  /** HRESULT_FROM_WIN32(ERROR_HANDLE_EOF): a read at or after end of file. */
  HRESULT_FROM_WIN32_ERROR_HANDLE_EOF: 0x80070026 | 0,
  /** HRESULT_FROM_WIN32(ERROR_OPERATION_ABORTED). */
  HRESULT_FROM_WIN32_ERROR_OPERATION_ABORTED: 0x800703e3 | 0,
  /** HRESULT_FROM_WIN32(ERROR_NOT_FOUND): a cancel that found no target. */
  HRESULT_FROM_WIN32_ERROR_NOT_FOUND: 0x80070490 | 0,
  /** HRESULT_FROM_WIN32(WAIT_TIMEOUT). */
  HRESULT_FROM_WIN32_WAIT_TIMEOUT: 0x80070102 | 0,
  /** HRESULT_FROM_WIN32(ERROR_TIMEOUT). */
  HRESULT_FROM_WIN32_ERROR_TIMEOUT: 0x800705b4 | 0,
} as const;

/** Win32 error codes (GetLastError). */
export const WIN32_ERROR = {
  ERROR_SUCCESS: 0,
  ERROR_INVALID_HANDLE: 6,
  ERROR_NOT_ENOUGH_MEMORY: 8,
  ERROR_HANDLE_EOF: 38,
  ERROR_INVALID_PARAMETER: 87,
  ERROR_OPERATION_ABORTED: 995,
  ERROR_IO_PENDING: 997,
  ERROR_NOT_FOUND: 1168,
  ERROR_TIMEOUT: 1460,
  ERROR_FILE_NOT_FOUND: 2,
  ERROR_PATH_NOT_FOUND: 3,
  ERROR_ACCESS_DENIED: 5,
  /** A RIORESULT.Status for a truncated datagram, if RIO uses Win32 codes (reference §5.3). */
  ERROR_MORE_DATA: 234,
  /** ICMP failures (1231–1234), as MsQuic's shared IOCP/RIO handler expected them (§5.3). */
  ERROR_NETWORK_UNREACHABLE: 1231,
  ERROR_HOST_UNREACHABLE: 1232,
  ERROR_PROTOCOL_UNREACHABLE: 1233,
  ERROR_PORT_UNREACHABLE: 1234,
} as const;

/** kernel32/kernelbase constants: memory, events, waits and files. */
export const KERNEL = {
  MEM_COMMIT: 0x1000,
  MEM_RESERVE: 0x2000,
  MEM_RELEASE: 0x8000,
  PAGE_READWRITE: 0x04,
  WAIT_OBJECT_0: 0,
  WAIT_ABANDONED: 0x80,
  WAIT_TIMEOUT: 0x102,
  WAIT_FAILED: 0xffffffff,
  INFINITE: 0xffffffff,
  GENERIC_READ: 0x80000000,
  GENERIC_WRITE: 0x40000000,
  FILE_SHARE_READ: 1,
  FILE_SHARE_WRITE: 2,
  FILE_SHARE_DELETE: 4,
  CREATE_NEW: 1,
  CREATE_ALWAYS: 2,
  OPEN_EXISTING: 3,
  OPEN_ALWAYS: 4,
  TRUNCATE_EXISTING: 5,
  FILE_ATTRIBUTE_NORMAL: 0x80,
  FILE_FLAG_OVERLAPPED: 0x40000000,
  FILE_FLAG_NO_BUFFERING: 0x20000000,
  FILE_FLAG_WRITE_THROUGH: 0x80000000,
} as const;

/** `INVALID_HANDLE_VALUE` = `(HANDLE)-1`, as an unsigned 64-bit value. */
export const INVALID_HANDLE_VALUE = 0xffff_ffff_ffff_ffffn;
