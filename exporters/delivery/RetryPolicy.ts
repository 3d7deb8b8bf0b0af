// Exponential backoff with full jitter, and the classification of database errors into
// "try again later" (connection trouble, overload, timeouts), "this batch is bad" (data errors) and
// "the configuration is wrong" (the server refused the role, password or database: never retried).

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

/** Node socket errors that mean the server cannot be reached at all (not that it refused a batch). */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
]);

/**
 * SQLSTATEs after which the same write will keep failing until someone acts: connection
 * exceptions (08), the server shutting down or starting (57P01–57P03), and the schema missing
 * (undefined table 42P01, undefined schema 3F000).
 */
function isOutageState(state: string): boolean {
  return (
    state.startsWith('08') ||
    state === '57P01' ||
    state === '57P02' ||
    state === '57P03' ||
    state === '42P01' ||
    state === '3F000'
  );
}

/**
 * The server refused the connection's configuration: invalid authorization (class 28: 28000 no
 * such role or no pg_hba.conf entry, 28P01 wrong password) or no such database (3D000). Nothing
 * but a changed connection string fixes it, so it is not retried — and retrying a wrong password
 * can lock the account where the server authenticates against LDAP or PAM.
 */
export function isConfigurationError(error: unknown): boolean {
  const state = sqlState(error);
  return state !== undefined && (state.startsWith('28') || state === '3D000');
}

/** node-postgres reports a lost or never-made connection by message only. */
const UNREACHABLE_MESSAGE =
  /Connection terminated|timeout exceeded when trying to connect|connection timeout|not queryable|Cannot use a pool after calling end/i;

/**
 * The database is unreachable (refused, reset, timed out, unknown host) or the schema is missing:
 * retrying the batch for long only keeps it in memory, where a crash loses it. SPEC §5 wants such
 * records in the spool within flush_interval + 1 s.
 */
export function isUnavailable(error: unknown): boolean {
  if (error === null || typeof error !== 'object') return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && UNREACHABLE_CODES.has(code)) return true; // before SQLSTATE: 'EPIPE' looks like one
  const state = sqlState(error);
  if (state !== undefined) return isOutageState(state);
  // Node's happy-eyeballs connect reports every address it tried in one AggregateError.
  const nested = (error as { errors?: unknown }).errors;
  if (Array.isArray(nested) && nested.length > 0 && nested.every(isUnavailable)) return true;
  return error instanceof Error && UNREACHABLE_MESSAGE.test(error.message);
}
