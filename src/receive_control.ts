/**
 * What a receive's control messages said, as both platforms' cmsg modules
 * (src/linux/cmsg.ts, src/windows/cmsg.ts) report it: one reused instance
 * per socket, filled by their `readReceiveControl`.
 *
 * @module
 */

/** The metadata of one receive (reused: one instance per socket). */
export class ReceiveControl {
  /** Segment size of a coalesced receive (GRO / URO), or 0 when it was not coalesced. */
  segment = 0;
  /** The ECN codepoint (low two bits of TOS / traffic class), 0 when absent. */
  ecn = 0;
  /** Offset of the packet-info struct's data in the view, or -1 when absent. */
  pktinfo = -1;
  /** 4 or 6: which packet-info struct {@link ReceiveControl.pktinfo} points at. */
  pktinfoFamily: 4 | 6 = 4;
}
