/**
 * What TypeScript can say about the RIO API, pinned with `@ts-expect-error`
 * (each line must stay an error, or `deno check` fails). Nothing here runs:
 * the checks live in a function that is only type-checked.
 */

import type {
  NativeRegion,
  Rio,
  RioAddressSlice,
  RioBuffer,
  RioCompletion,
  RioSlice,
  RioUdpSocket,
} from "../src/windows/mod.ts";

/** Type-checked only; never called. */
export async function rioTypeChecks(
  rio: Rio,
  region: NativeRegion,
  buffer: RioBuffer,
  socket: RioUdpSocket,
  data: RioSlice,
  address: RioAddressSlice,
): Promise<void> {
  // Registration takes native memory, never a JS-owned buffer.
  rio.registerBuffer(region, 0, 4096);
  // @ts-expect-error a Uint8Array is JS memory the GC may move or free
  rio.registerBuffer(new Uint8Array(4096));

  // Data slices and address slices are different types.
  socket.receiveEx(data, address, "ctx");
  socket.receiveEx(data, null);
  socket.sendEx(data, address, 1, { defer: true, length: 10 });
  // @ts-expect-error a data slice is not a SOCKADDR_INET slice
  socket.sendEx(data, data);
  // @ts-expect-error an address slice is not a data slice
  socket.receiveEx(address, null);
  // @ts-expect-error sendEx always names a destination (send() is the connected form)
  socket.sendEx(data, null);
  socket.send(data, 1, { defer: true });
  // @ts-expect-error the length is a number of bytes
  socket.sendEx(data, address, 0, { length: "10" });

  // Completion queues notify by event or not at all (no IOCP mode).
  using cq = rio.createCompletionQueue({ size: 64, notify: "poll", batch: 16 });
  // @ts-expect-error only "event" or "poll"
  rio.createCompletionQueue({ size: 64, notify: "iocp" });
  // @ts-expect-error a size is required
  rio.createCompletionQueue({ notify: "event" });
  // @ts-expect-error a wait always has a timeout
  await cq.wait({});

  // A socket needs its completion queue.
  await using s = rio.udpSocket({ hostname: "127.0.0.1", port: 0, cq });
  // @ts-expect-error cq is required
  rio.udpSocket({ hostname: "127.0.0.1", port: 0 });
  const port: number = s.addr.port;

  // Buffer IDs are 64-bit (RIO_BUFFERID is a pointer) and read-only.
  const id: bigint = buffer.id;
  // @ts-expect-error an ID is not a 32-bit number
  const small: number = buffer.id;
  // @ts-expect-error read-only
  buffer.id = 1n;

  // Completions are typed; the remote address may be absent.
  const [c]: RioCompletion[] = cq.dequeue(8);
  const kind: "receive" | "send" = c.kind;
  const from: RioUdpSocket = c.socket;
  c.remote?.read();
  // @ts-expect-error remote is null when none was given
  c.remote.read();
  // @ts-expect-error there are only receives and sends
  if (c.kind === "accept") return;

  // Disposal: sync and async.
  const d: Disposable & AsyncDisposable = buffer;
  void [port, id, small, kind, from, d];
}
