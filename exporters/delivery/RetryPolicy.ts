// Exponential backoff with full jitter, and the classification of database errors into
// "try again later" (connection trouble, overload, timeouts) and "this batch is bad" (data errors).

export interface RetryPolicyOptions {
  initialDelayMs: number;
  maxDelayMs: number;
  multiplier: number;
  /** Give up (spool or count as dropped) after this long since the first failure. */
  maxElapsedMs: number;
}

export const defaultRetryPolicy: RetryPolicyOptions = {
  initialDelayMs: 250,
  maxDelayMs: 10_000,
  multiplier: 2,
  maxElapsedMs: 30_000,
};

/** Delay before retry number `attempt` (1-based): uniform in [base/2, base] so retries spread out. */
export function backoffDelayMs(policy: RetryPolicyOptions, attempt: number, random = Math.random): number {
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.multiplier ** (attempt - 1));
  return Math.round(base / 2 + (random() * base) / 2);
}

const DATA_ERROR_CLASSES = new Set(['22', '23']);
export const UNIQUE_VIOLATION = '23505';

/** SQLSTATE of a node-postgres error, if any. */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/**
 * A data error means the batch itself is at fault (bad value, constraint): retrying it whole will
 * fail the same way, so it is split to isolate the poisoned rows. Everything else — refused or
 * reset connections, admin shutdown, timeouts, overload — is worth retrying.
 */
export function isDataError(error: unknown): boolean {
  const state = sqlState(error);
  return state !== undefined && state !== UNIQUE_VIOLATION && DATA_ERROR_CLASSES.has(state.slice(0, 2));
}
