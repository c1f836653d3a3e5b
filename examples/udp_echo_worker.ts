/**
 * One worker of `examples/udp_echo.ts --workers N`: binds its own
 * `UdpSocket` (its own ring and registered pool) with `reusePort: true` on
 * the shared port, echoes until told to stop, and answers the main
 * thread's stats requests. Also exports the echo loop both modes share.
 *
 * Messages in: `{ type: "start", options }`, `{ type: "stats" }`,
 * `{ type: "stop" }`. Out: `listening` (with the address) or `error`,
 * `stats`, and `done` (the final stats) before the worker closes itself.
 *
 * @module
 */

import {
  ErrnoError,
  UdpSocket,
  type UdpSocketOptions,
  type UdpStats,
  WinsockError,
} from "../mod.ts";

/** Echoes every datagram from its own slot until the socket closes; drops truncated ones. */
export async function echo(socket: UdpSocket): Promise<void> {
  for await (const batch of socket) {
    for (const datagram of batch) {
      if (datagram.truncated) socket.release(datagram); // never echo half a datagram
      else socket.reply(datagram); // from its own registered slot
    }
  }
}

/** What a worker posts to the main thread. */
export type WorkerReply =
  | { type: "listening"; hostname: string; port: number; engine: string }
  | { type: "error"; message: string; codeName?: string; usage?: boolean }
  | { type: "stats"; stats: UdpStats }
  | { type: "done"; stats: UdpStats; error?: string };

/** What the main thread posts to a worker. */
export type WorkerRequest =
  | { type: "start"; options: UdpSocketOptions }
  | { type: "stats" }
  | { type: "stop" };

interface WorkerScope {
  onmessage: ((e: MessageEvent<WorkerRequest>) => void) | null;
  postMessage(message: WorkerReply): void;
  close(): void;
}

if ("WorkerGlobalScope" in globalThis) {
  const scope = globalThis as unknown as WorkerScope;
  let socket: UdpSocket | undefined;
  scope.onmessage = (e): void => {
    const m = e.data;
    if (m.type === "start") {
      try {
        socket = UdpSocket.bind({ ...m.options, reusePort: true });
      } catch (err) {
        const codeName = err instanceof ErrnoError || err instanceof WinsockError
          ? err.codeName
          : undefined;
        const usage = err instanceof TypeError || err instanceof RangeError;
        scope.postMessage({ type: "error", message: (err as Error).message, codeName, usage });
        scope.close();
        return;
      }
      const s = socket;
      scope.postMessage({ type: "listening", ...s.addr, engine: s.engine });
      echo(s).then(
        () => undefined,
        (err: Error) => err.message,
      ).then(async (error) => {
        await s.close();
        scope.postMessage({ type: "done", stats: s.stats, error });
        scope.close();
      });
    } else if (m.type === "stats" && socket) {
      scope.postMessage({ type: "stats", stats: socket.stats });
    } else if (m.type === "stop") {
      socket?.close();
    }
  };
}
