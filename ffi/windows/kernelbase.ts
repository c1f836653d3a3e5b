/**
 * The kernelbase.dll symbol table: the 16 I/O ring exports plus the memory,
 * event, wait and file functions the wrappers need. src/windows/dlls.ts
 * opens it (lazily, by its System32 path), so importing any regio module
 * works on every OS.
 *
 * Calling convention (Microsoft x64), applied to every symbol below:
 * - IORING_CREATE_FLAGS is an 8-byte struct, which the ABI passes by value in
 *   one 64-bit register; it is declared `u64` (Required low, Advisory high;
 *   see `encodeCreateFlags`).
 * - IORING_HANDLE_REF and IORING_BUFFER_REF are 16 bytes, which the ABI passes
 *   as a pointer to a caller-made, 16-byte-aligned copy; they are declared
 *   `pointer` to such a copy in native memory. That is the same machine code
 *   as a by-value struct, and keeps the hot builders on Deno's fast-call path
 *   (a `{struct}` parameter never takes it). The callee may modify the copy, so
 *   one copy is never shared by two calls in flight.
 * - Every 64-bit value (UINT64, UINT_PTR, SIZE_T) is a BigInt.
 *
 * Every I/O ring symbol is `optional`: Windows 10 lacks all of them, yet
 * kernelbase.dll must still open there for VirtualAlloc and events (which RIO
 * needs). The wrappers check them once and report the build they need.
 *
 * @module
 */

/** The kernelbase.dll symbols regio binds. */
export const kernelbaseSymbols = {
  // --- I/O ring, api-ms-win-core-ioring-l1-1-0 (build 22000+) -------------
  QueryIoRingCapabilities: {
    parameters: [
      "pointer", // IORING_CAPABILITIES* capabilities
    ],
    result: "i32", // HRESULT
    optional: true,
  },
  IsIoRingOpSupported: {
    parameters: [
      "pointer", // HIORING ioRing
      "u32", // IORING_OP_CODE op
    ],
    result: "i32", // BOOL (not HRESULT: TRUE = supported)
    optional: true,
  },
  CreateIoRing: {
    parameters: [
      "u32", // IORING_VERSION ioringVersion
      "u64", // IORING_CREATE_FLAGS flags (8-byte struct by value)
      "u32", // UINT32 submissionQueueSize
      "u32", // UINT32 completionQueueSize
      "pointer", // HIORING* h
    ],
    result: "i32", // HRESULT
    optional: true,
  },
  GetIoRingInfo: {
    parameters: [
      "pointer", // HIORING ioRing
      "pointer", // IORING_INFO* info
    ],
    result: "i32", // HRESULT
    optional: true,
  },
  SubmitIoRing: {
    parameters: [
      "pointer", // HIORING ioRing
      "u32", // UINT32 waitOperations
      "u32", // UINT32 milliseconds
      "pointer", // UINT32* submittedEntries (optional)
    ],
    result: "i32", // HRESULT
    optional: true,
  },
  CloseIoRing: {
    parameters: [
      "pointer", // HIORING ioRing
    ],
    result: "i32", // HRESULT
    optional: true,
  },
  PopIoRingCompletion: {
    parameters: [
      "pointer", // HIORING ioRing
      "pointer", // IORING_CQE* cqe
    ],
    result: "i32", // HRESULT (S_OK popped, S_FALSE empty)
    optional: true,
  },
  SetIoRingCompletionEvent: {
    parameters: [
      "pointer", // HIORING ioRing
      "pointer", // HANDLE hEvent
    ],
    result: "i32", // HRESULT
    optional: true,
  },
  BuildIoRingCancelRequest: {
    parameters: [
      "pointer", // HIORING ioRing
      "pointer", // IORING_HANDLE_REF file (16 B, by pointer per the x64 ABI)
      "usize", // UINT_PTR opToCancel
      "usize", // UINT_PTR userData
    ],
    result: "i32", // HRESULT
    optional: true,
  },
  BuildIoRingReadFile: {
    parameters: [
      "pointer", // HIORING ioRing
      "pointer", // IORING_HANDLE_REF fileRef (16 B, by pointer)
      "pointer", // IORING_BUFFER_REF dataRef (16 B, by pointer)
      "u32", // UINT32 numberOfBytesToRead
      "u64", // UINT64 fileOffset
      "usize", // UINT_PTR userData
      "u32", // IORING_SQE_FLAGS sqeFlags
    ],
    result: "i32", // HRESULT
    optional: true,
  },
  BuildIoRingRegisterFileHandles: {
    parameters: [
      "pointer", // HIORING ioRing
      "u32", // UINT32 count
      "pointer", // HANDLE const handles[]
      "usize", // UINT_PTR userData
    ],
    result: "i32", // HRESULT
    optional: true,
  },
  BuildIoRingRegisterBuffers: {
    parameters: [
      "pointer", // HIORING ioRing
      "u32", // UINT32 count
      "pointer", // IORING_BUFFER_INFO const buffers[]
      "usize", // UINT_PTR userData
    ],
    result: "i32", // HRESULT
    optional: true,
  },
  // --- api-ms-win-core-ioring-l1-1-1 (IORING_VERSION_3, build 22621+) ------
  BuildIoRingWriteFile: {
    parameters: [
      "pointer", // HIORING ioRing
      "pointer", // IORING_HANDLE_REF fileRef (16 B, by pointer)
      "pointer", // IORING_BUFFER_REF bufferRef (16 B, by pointer)
      "u32", // UINT32 numberOfBytesToWrite
      "u64", // UINT64 fileOffset
      "u32", // FILE_WRITE_FLAGS writeFlags
      "usize", // UINT_PTR userData
      "u32", // IORING_SQE_FLAGS sqeFlags
    ],
    result: "i32", // HRESULT
    optional: true,
  },
  BuildIoRingFlushFile: {
    parameters: [
      "pointer", // HIORING ioRing
      "pointer", // IORING_HANDLE_REF fileRef (16 B, by pointer)
      "u32", // FILE_FLUSH_MODE flushMode
      "usize", // UINT_PTR userData
      "u32", // IORING_SQE_FLAGS sqeFlags
    ],
    result: "i32", // HRESULT
    optional: true,
  },
  // --- api-ms-win-core-ioring-l1-1-2 (IORING_VERSION_4) --------------------
  BuildIoRingReadFileScatter: {
    parameters: [
      "pointer", // HIORING ioRing
      "pointer", // IORING_HANDLE_REF fileRef (16 B, by pointer)
      "u32", // UINT32 segmentCount
      "pointer", // FILE_SEGMENT_ELEMENT segmentArray[]
      "u32", // UINT32 numberOfBytesToRead
      "u64", // UINT64 fileOffset
      "usize", // UINT_PTR userData
      "u32", // IORING_SQE_FLAGS sqeFlags
    ],
    result: "i32", // HRESULT
    optional: true,
  },
  BuildIoRingWriteFileGather: {
    parameters: [
      "pointer", // HIORING ioRing
      "pointer", // IORING_HANDLE_REF fileRef (16 B, by pointer)
      "u32", // UINT32 segmentCount
      "pointer", // FILE_SEGMENT_ELEMENT segmentArray[]
      "u32", // UINT32 numberOfBytesToWrite
      "u64", // UINT64 fileOffset
      "u32", // FILE_WRITE_FLAGS writeFlags
      "usize", // UINT_PTR userData
      "u32", // IORING_SQE_FLAGS sqeFlags
    ],
    result: "i32", // HRESULT
    optional: true,
  },
  // --- memory, events, waits, files (every supported Windows) -------------
  VirtualAlloc: {
    parameters: [
      "pointer", // LPVOID lpAddress
      "usize", // SIZE_T dwSize
      "u32", // DWORD flAllocationType
      "u32", // DWORD flProtect
    ],
    result: "pointer", // LPVOID (NULL on failure)
  },
  VirtualFree: {
    parameters: [
      "pointer", // LPVOID lpAddress
      "usize", // SIZE_T dwSize (0 with MEM_RELEASE)
      "u32", // DWORD dwFreeType
    ],
    result: "i32", // BOOL
  },
  CreateEventW: {
    parameters: [
      "pointer", // LPSECURITY_ATTRIBUTES lpEventAttributes
      "i32", // BOOL bManualReset
      "i32", // BOOL bInitialState
      "pointer", // LPCWSTR lpName
    ],
    result: "pointer", // HANDLE (NULL on failure, not INVALID_HANDLE_VALUE)
  },
  SetEvent: {
    parameters: [
      "pointer", // HANDLE hEvent
    ],
    result: "i32", // BOOL
  },
  ResetEvent: {
    parameters: [
      "pointer", // HANDLE hEvent
    ],
    result: "i32", // BOOL
  },
  WaitForSingleObject: {
    parameters: [
      "pointer", // HANDLE hHandle
      "u32", // DWORD dwMilliseconds
    ],
    result: "u32", // DWORD (WAIT_OBJECT_0, WAIT_TIMEOUT, WAIT_FAILED)
  },
  /** WaitForSingleObject on Deno's blocking pool: the event loop stays free. Always pass a timeout. */
  WaitForSingleObject_nonblocking: {
    name: "WaitForSingleObject",
    parameters: [
      "pointer", // HANDLE hHandle
      "u32", // DWORD dwMilliseconds
    ],
    result: "u32", // DWORD
    nonblocking: true,
  },
  CloseHandle: {
    parameters: [
      "pointer", // HANDLE hObject
    ],
    result: "i32", // BOOL
  },
  CreateFileW: {
    parameters: [
      "buffer", // LPCWSTR lpFileName (UTF-16, NUL-terminated)
      "u32", // DWORD dwDesiredAccess
      "u32", // DWORD dwShareMode
      "pointer", // LPSECURITY_ATTRIBUTES lpSecurityAttributes
      "u32", // DWORD dwCreationDisposition
      "u32", // DWORD dwFlagsAndAttributes
      "pointer", // HANDLE hTemplateFile
    ],
    result: "pointer", // HANDLE (INVALID_HANDLE_VALUE on failure)
  },
  CancelIoEx: {
    parameters: [
      "pointer", // HANDLE hFile
      "pointer", // LPOVERLAPPED lpOverlapped (NULL = every request on the handle)
    ],
    result: "i32", // BOOL
  },
  GetLastError: { parameters: [], result: "u32" }, // DWORD GetLastError(void)
} as const satisfies Deno.ForeignLibraryInterface;

/** The opened kernelbase.dll symbols (the real DLL, or a test fake of the same shape). */
export type Kernelbase = Deno.DynamicLibrary<typeof kernelbaseSymbols>["symbols"];
