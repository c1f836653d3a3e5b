// The cooperative budget itself (src/budget.ts): a slice lasts SLICE_MS of
// charged work, ends when the event loop turns, and its waiters resume in order.

import assert from "node:assert/strict";
import { charge, exhausted, nextTurn, onNextTurn, setSliceMs, SLICE_MS } from "../src/budget.ts";

function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) { /* busy: inline work */ }
}

Deno.test("budget: charges pass until the slice is spent, then fail until the loop turns", async () => {
  await nextTurn(); // a fresh slice
  assert.equal(charge(), true);
  assert.equal(exhausted(), false);
  spin(SLICE_MS + 0.5);
  let n = 0;
  while (charge()) n++;
  assert.ok(n < 16, `the clock is read at least every 16 units (${n} passed)`);
  assert.equal(exhausted(), true);
  assert.equal(charge(), false, "stays spent");
  await nextTurn();
  assert.equal(exhausted(), false, "a turn of the loop starts a new slice");
  assert.equal(charge(), true);
});

Deno.test("budget: a slice also ends when the loop turns by itself", async () => {
  await nextTurn();
  charge();
  spin(SLICE_MS + 0.5);
  for (let i = 0; i < 32; i++) charge();
  assert.equal(exhausted(), true);
  await new Promise((r) => setTimeout(r, 5)); // the loop turns for a timer of its own
  assert.equal(exhausted(), false);
});

Deno.test("budget: onNextTurn callbacks run in order, before nextTurn's waiters resume", async () => {
  const order: string[] = [];
  const waiting = nextTurn().then(() => order.push("promise"));
  onNextTurn(() => order.push("a"));
  onNextTurn(() => order.push("b"));
  assert.deepEqual(order, [], "nothing runs inline");
  await waiting;
  assert.deepEqual(order, ["a", "b", "promise"]);
});

Deno.test("budget: the event loop turns between slices (timers run during a flood)", async () => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  try {
    const until = performance.now() + 50;
    while (performance.now() < until) {
      if (!charge()) await nextTurn();
    }
  } finally {
    clearInterval(timer);
  }
  assert.ok(ticks >= 5, `only ${ticks} timer ticks in 50 ms of charged work`);
});

Deno.test("budget: setSliceMs takes a positive number and returns the previous one", () => {
  for (const bad of [0, -1, NaN]) assert.throws(() => setSliceMs(bad), RangeError);
  assert.equal(setSliceMs(Infinity), SLICE_MS);
  assert.equal(setSliceMs(SLICE_MS), Infinity);
});
