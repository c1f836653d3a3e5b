/**
 * What the RIO wrapper classes share: the symbols of one `Rio` session, the
 * objects it created (so `Rio` can refuse to close early, or tear them down
 * in the documented order), and the internal state other classes of the
 * family reach through the {@link INTERNAL} key. Not exported from any entry
 * point.
 *
 * @module
 */

import type { Kernelbase } from "../../ffi/windows/kernelbase.ts";
import type { Ws2 } from "../../ffi/windows/ws2_32.ts";
import type { RioFunctions } from "../../ffi/windows/rio_table.ts";
import type { Allocator } from "../memory.ts";
import { DisposedError, RegioError } from "../errors.ts";

/** Key of the internal state each RIO class carries (hidden from the docs). */
export const INTERNAL: unique symbol = Symbol("regio.rio.internal");

/** Something a `Rio` created and must see closed before WSACleanup. */
export interface RioChild {
  /** True once closed. */
  readonly closed: boolean;
  /** Closes in the documented order, draining what is in flight. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** A registration's in-flight bookkeeping (per RIORegisterBuffer). */
export interface BufferState {
  /** The RIO_BUFFERID. */
  readonly id: bigint;
  /** Requests that used it and whose completion has not been dequeued. */
  inFlight: number;
  /** Sends among them: while any is in flight regio lets nothing else use the registration. */
  sendsInFlight: number;
  /** Set once deregistered. */
  closed: boolean;
  /** Sockets with such requests, and how many each (async dispose cancels them). */
  readonly users: Map<RioChild, number>;
  /** `RioBuffer #<id>`, for messages. */
  readonly label: string;
}

/** What a completion queue offers to sockets and to teardown. */
export interface CqState {
  /** The RIO_CQ. */
  readonly handle: Deno.PointerObject;
  /** Entries (RIOCreateCompletionQueue QueueSize). */
  readonly size: number;
  /** Sum of maxOutstandingReceive + maxOutstandingSend over attached sockets. */
  charged: number;
  /** Requests posted on this CQ's sockets and not yet dequeued. */
  outstanding: number;
  /** Set once closed. */
  closed: boolean;
  /** Routes a dequeued result to its socket by SocketContext. */
  readonly sockets: Map<bigint, SocketRoute>;
  /** The sockets themselves, to close them before the queue. */
  readonly attached: Set<RioChild>;
  /** One RIODequeueCompletion batch into the backlog; returns how many arrived. */
  pump(): number;
  /** Waits (bounded) for the next completion or a timeout. */
  idle(): Promise<void>;
}

/** How a completion queue hands a RIORESULT back to the socket that posted it. */
export type SocketRoute = (slot: number, status: number, bytes: number) => unknown;

/** The shared state of one `Rio` session. */
export interface RioContext {
  /** kernelbase (memory, events, waits). */
  readonly kernel: Kernelbase;
  /** ws2_32. */
  readonly ws2: Ws2;
  /** The RIO function table. */
  readonly fn: RioFunctions;
  /** VirtualAlloc (or the fake's). */
  readonly allocator: Allocator;
  /** Everything created and not yet closed, by kind, in creation order. */
  readonly sockets: Set<RioChild>;
  readonly queues: Set<RioChild>;
  readonly pools: Set<RioChild>;
  readonly buffers: Set<RioChild>;
  /** Internal state of every open CQ (to drain while waiting for a buffer). */
  readonly cqStates: Set<CqState>;
  /** Next SocketContext. */
  nextSocketContext: bigint;
  /** Set once `Rio` closed (WSACleanup done). */
  closed: boolean;
}

/** Throws {@link DisposedError} if the session is closed. */
export function checkOpen(ctx: RioContext, what: string): void {
  if (ctx.closed) throw new DisposedError(`Rio (creating ${what})`);
}

/**
 * Async dispose of a registration: RIO cancels requests only by closing
 * their socket, so the sockets with requests on it are closed and drained
 * (closesocket → drain), which leaves nothing in flight on it.
 */
export async function cancelUsers(states: BufferState[]): Promise<void> {
  for (const s of states) {
    for (const socket of [...s.users.keys()]) await socket[Symbol.asyncDispose]();
  }
}

/**
 * Makes progress for a waiter (a buffer's async dispose): dequeues one batch
 * from every CQ with requests in flight into its backlog, or, when nothing
 * arrived, waits a bounded while on the first such CQ.
 */
export async function progress(ctx: RioContext, what: string): Promise<void> {
  const busy = [...ctx.cqStates].filter((c) => !c.closed && c.outstanding > 0);
  if (busy.length === 0) {
    throw new RegioError(
      `${what} is still in use but no open completion queue has requests in flight ` +
        "(was a completion queue closed under it?)",
    );
  }
  let arrived = 0;
  for (const cq of busy) arrived += cq.pump();
  if (arrived === 0) await busy[0].idle();
}
