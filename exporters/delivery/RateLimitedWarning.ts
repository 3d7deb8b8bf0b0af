// A warning printed at most once per interval, with the number of occurrences it stands for, so a
// database outage produces a handful of lines instead of one per batch.

import type { WarningSink } from './types.js';

export class RateLimitedWarning {
  private lastAt = 0;
  private suppressed = 0;

  constructor(
    private readonly sink: WarningSink,
    private readonly intervalMs = 30_000,
  ) {}

  warn(message: string): void {
    const now = Date.now();
    if (now - this.lastAt < this.intervalMs) {
      this.suppressed++;
      return;
    }
    const more = this.suppressed > 0 ? ` (${this.suppressed} similar warnings suppressed)` : '';
    this.lastAt = now;
    this.suppressed = 0;
    this.sink(message + more);
  }
}

export const stderrWarning: WarningSink = (message) => {
  process.stderr.write(`pipetel: ${message}\n`);
};

/** One rate limit per kind of trouble, so a flood of one kind (retries) never hides another (drops). */
export class KeyedWarnings {
  private readonly limiters = new Map<string, RateLimitedWarning>();

  constructor(
    private readonly sink: WarningSink = stderrWarning,
    private readonly intervalMs?: number,
  ) {}

  warn(kind: string, message: string): void {
    let limiter = this.limiters.get(kind);
    if (!limiter) {
      limiter = new RateLimitedWarning(this.sink, this.intervalMs);
      this.limiters.set(kind, limiter);
    }
    limiter.warn(message);
  }
}
