// A warning printed at most once per interval, with the number of occurrences it stands for, so a
// database outage produces a handful of lines instead of one per batch.

import type { WarningSink } from './types.js';

export class RateLimitedWarning {
  private lastAt = 0;
  private suppressed = 0;
  /** The newest suppressed message: printed when the interval ends, so a running count stays current. */
  private latest: string | undefined;
  private trailing: NodeJS.Timeout | undefined;

  constructor(
    private readonly sink: WarningSink,
    private readonly intervalMs = 30_000,
  ) {}

  warn(message: string): void {
    const now = Date.now();
    if (now - this.lastAt < this.intervalMs) {
      this.suppressed++;
      this.latest = message;
      this.trailing ??= setTimeout(
        () => {
          this.trailing = undefined;
          this.flush();
        },
        this.lastAt + this.intervalMs - now,
      );
      this.trailing.unref();
      return;
    }
    this.print(message, now);
  }

  /** Nothing held back, and the interval since the last print is over: forgetting it changes nothing. */
  isIdle(now = Date.now()): boolean {
    return this.latest === undefined && now - this.lastAt >= this.intervalMs;
  }

  /** Prints the newest suppressed message now (the interval ended, or the sender is shutting down). */
  flush(): void {
    if (this.trailing) clearTimeout(this.trailing);
    this.trailing = undefined;
    if (this.latest === undefined) return;
    this.print(this.latest, Date.now());
  }

  private print(message: string, now: number): void {
    // The message itself stands for one of the suppressed occurrences when it is the trailing one.
    const others = this.latest === message ? this.suppressed - 1 : this.suppressed;
    const more = others > 0 ? ` (${others} similar warnings suppressed)` : '';
    this.lastAt = now;
    this.suppressed = 0;
    this.latest = undefined;
    if (this.trailing) clearTimeout(this.trailing);
    this.trailing = undefined;
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

  /** Prints every kind's newest suppressed message now, e.g. at shutdown, so the last counts are seen. */
  flush(): void {
    for (const limiter of this.limiters.values()) limiter.flush();
  }
}

/** Kinds of warning one TextKeyedWarnings keeps a limit for; idle ones are forgotten beyond it. */
const MAX_WARNING_KINDS = 64;

/**
 * Rate limits per kind of message, for senders that pass only text (a run's or the gateway's
 * warnings, fed by many parts): the kind is the text without its details in parentheses, and
 * with paths, hex ids and numbers blanked — so `logs: queue full (… 200 spooled so far)` is one
 * kind whatever its counts, `spool: <dir> holds records for db-a:5432/x` one per database whatever
 * the directory, and `logs: pipeline_logs reachable again` another. One kind never hides another;
 * kinds whose limit has run out are forgotten when there are many, so none is ever shared.
 */
export class TextKeyedWarnings {
  private readonly limiters = new Map<string, RateLimitedWarning>();

  constructor(
    private readonly sink: WarningSink,
    private readonly intervalMs: number,
  ) {}

  warn(message: string): void {
    const kind = kindOf(message);
    let limiter = this.limiters.get(kind);
    if (!limiter) {
      if (this.limiters.size >= MAX_WARNING_KINDS) this.forgetIdle();
      limiter = new RateLimitedWarning(this.sink, this.intervalMs);
      this.limiters.set(kind, limiter);
    }
    limiter.warn(message);
  }

  /** Prints every kind's newest suppressed message now (at shutdown), so the last counts are seen. */
  flush(): void {
    for (const limiter of this.limiters.values()) limiter.flush();
  }

  private forgetIdle(): void {
    const now = Date.now();
    for (const [kind, limiter] of this.limiters) if (limiter.isIdle(now)) this.limiters.delete(kind);
  }
}

/** See TextKeyedWarnings. */
export function kindOf(message: string): string {
  // Details in parentheses out, innermost first (an error quoting another).
  let text = message;
  for (let previous = ''; previous !== text; ) {
    previous = text;
    text = text.replace(/\s*\([^()]*\)/g, '');
  }
  return text
    .replace(/(?<=^|[\s=])(?:[A-Za-z]:)?[\\/][^\s,;:'"]*/g, '<path>')
    .replace(/\b[0-9a-f]{6,}\b/gi, '#')
    .replace(/\d+/g, '#')
    .slice(0, 200);
}
