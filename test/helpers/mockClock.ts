// node:test's mock timers for code that mixes timers with promises: the clock moves in small steps
// and, after each, the event loop gets a turn (setImmediate stays real), so whatever a timer
// released runs before the next timer fires. Time-based assertions then hold on any machine.

import type { TestContext } from 'node:test';

/** Mocks setTimeout, setInterval and Date, starting at a fixed instant; undone when the test ends. */
export function useMockClock(t: TestContext, now = Date.parse('2026-01-01')): void {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now });
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Moves the mock clock `ms` forward, `stepMs` at a time, letting promises run after each step. */
export async function advance(t: TestContext, ms: number, stepMs = 1): Promise<void> {
  for (let moved = 0; moved < ms; moved += stepMs) {
    t.mock.timers.tick(Math.min(stepMs, ms - moved));
    await turn();
  }
}

/**
 * Moves the mock clock until `done()` holds or `limitMs` have passed; returns the mock
 * milliseconds it took (checked after every step, so exact to `stepMs`).
 */
export async function advanceUntil(
  t: TestContext,
  done: () => boolean,
  limitMs: number,
  stepMs = 1,
): Promise<number> {
  const started = Date.now();
  await turn();
  while (!done() && Date.now() - started < limitMs) {
    t.mock.timers.tick(stepMs);
    await turn();
  }
  return Date.now() - started;
}

/**
 * Moves the mock clock until `promise` settles (at most `limitMs`, then fails); returns the mock
 * milliseconds it took.
 */
export async function advanceUntilSettled(
  t: TestContext,
  promise: Promise<unknown>,
  limitMs: number,
  stepMs = 1,
): Promise<number> {
  let settled = false;
  let failure: { error: unknown } | undefined;
  promise.then(
    () => {
      settled = true;
    },
    (error: unknown) => {
      settled = true;
      failure = { error };
    },
  );
  const tookMs = await advanceUntil(t, () => settled, limitMs, stepMs);
  if (failure) throw failure.error;
  if (!settled) throw new Error(`still pending after ${limitMs} ms of mock time`);
  return tookMs;
}
