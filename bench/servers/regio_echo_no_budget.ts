/**
 * examples/udp_echo.ts with the cooperative budget switched off
 * (`setSliceMs(Infinity)`), for bench/udp.ts's budget-cost row: the same
 * flags, the same JSON lines. The echo is imported after the switch, since it
 * starts serving as soon as it is evaluated.
 *
 *   deno run -A bench/servers/regio_echo_no_budget.ts --port 0 --json --tick-ms 10
 *
 * @module
 */

import { setSliceMs } from "../../src/budget.ts";

setSliceMs(Infinity);
await import("../../examples/udp_echo.ts");
