// The end-of-test check the RIO tests on the Windows fake share.

import assert from "node:assert/strict";
import type { FakeWindows } from "./fakes/windows.ts";

/**
 * Nothing broke the RIO contract, and nothing is left open: sockets,
 * buffer registrations, completion queues, WSAStartup sessions, memory.
 */
export function assertRioClean(fake: FakeWindows): void {
  assert.deepEqual(fake.winsock.violations, [], "no RIO contract violation");
  assert.equal(fake.winsock.openSockets, 0, "sockets closed");
  assert.equal(fake.winsock.liveRegistrations, 0, "buffers deregistered");
  assert.equal(fake.winsock.openCompletionQueues, 0, "completion queues closed");
  assert.equal(fake.winsock.startups, 0, "WSACleanup for every WSAStartup");
  assert.equal(fake.base.liveAllocations, 0, "memory freed");
}
