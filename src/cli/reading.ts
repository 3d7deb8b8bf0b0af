// What the reading commands (runs, show, logs, progress, stats, export) share: the database they
// read (database.url, else the embedded server), the run a RUN argument names, --since parsing,
// and output — aligned tables for a person at a terminal, JSON for scripts.

import { type Config, loadConfig } from '../config/index.js';
import { DatabaseConnectError } from '../db/DatabaseConnectError.js';
import { embeddedStatus, ensureEmbeddedPostgres } from '../db/embedded/index.js';
import { ReadError, RunReader, type RunRow } from '../db/runReader.js';

/** A bad option value: exit 2 with the usage, like parseArgs' own errors. */
export class UsageError extends Error {
  readonly code = 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE';
}

/**
 * The database a reading command reads: database.url, else the embedded server under
 * PIPETEL_HOME — started if it is stopped, but never created: an empty home (a command run
 * outside the pipeline's directory) has no runs to read, and making a server there took seconds
 * and left it running.
 */
async function readingDatabaseUrl(config: Config): Promise<string> {
  if (config.values.database.url) return config.values.database.url;
  if (!(await embeddedStatus({ home: config.home })).initialized) {
    throw new ReadError(
      `no database to read: none is configured (database.url, PIPETEL_DATABASE_URL) and there is no embedded one under ${config.home}; run this in the pipeline's directory, or set PIPETEL_HOME or PIPETEL_DATABASE_URL`,
    );
  }
  return (await ensureEmbeddedPostgres({ home: config.home })).url;
}

/**
 * readingDatabaseUrl for a command `name`: the URL, or undefined after saying why there is none
 * (the command then exits 1).
 */
export async function existingDatabaseUrl(config: Config, name: string): Promise<string | undefined> {
  try {
    return await readingDatabaseUrl(config);
  } catch (error) {
    if (!(error instanceof ReadError)) throw error;
    process.stderr.write(`${name}: ${error.message}\n`);
    return undefined;
  }
}

/**
 * `work()`, which connects to the database readingDatabaseUrl chose; a failure to connect is a
 * ReadError naming the setting that chose it (`database.url`, else the embedded server) before
 * the host and port tried: the one thing to fix, where the driver says only "ECONNREFUSED".
 */
export async function connecting<T>(config: Config, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (!(error instanceof DatabaseConnectError)) throw error;
    const origin = config.values.database.url
      ? 'database.url'
      : `the embedded server under ${config.home} (database.url is not set)`;
    throw new ReadError(`${origin}: ${error.message}`, { cause: error });
  }
}

/**
 * Runs `fn` with a reader. A ReadError (no database, one that refuses connections, no such run)
 * is left to main(), which prints it after the command's name and exits 1.
 */
export async function withReader(fn: (reader: RunReader) => Promise<number>): Promise<number> {
  const config = loadConfig();
  const url = await readingDatabaseUrl(config);
  const reader = await connecting(config, () => RunReader.open(url));
  try {
    return await fn(reader);
  } finally {
    await reader.close();
  }
}

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** --since: a duration back from now (90s, 30m, 2h, 7d, 1w) or a date/time (2026-11-30, ISO 8601). */
export function parseSince(value: string | undefined, now = Date.now()): Date | undefined {
  if (value === undefined) return undefined;
  const relative = /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(value.trim());
  if (relative) return new Date(now - Number(relative[1]) * UNITS[relative[2]!]!);
  const absolute = new Date(value);
  if (/^\d{4}-\d{2}-\d{2}/.test(value) && !Number.isNaN(absolute.getTime())) return absolute;
  throw new UsageError(`--since expects a duration (30m, 2h, 7d) or a date (2026-11-30), got "${value}"`);
}

export function parseLimit(value: string | undefined, fallback: number, flag = '--limit'): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0)
    throw new UsageError(`${flag} expects a positive integer, got "${value}"`);
  return n;
}

/** Human output on a terminal unless --json; JSON when piped only if asked (tables pipe fine too). */
export function writeJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Left-aligned text columns, right-aligned numbers; cells already strings. */
export function table(header: string[], rows: string[][], rightAligned: number[] = []): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (rightAligned.includes(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-';
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** Local time, to the second: what a person compares with their clock. */
export function formatTime(date: Date | null | undefined): string {
  if (!date) return '-';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/**
 * A run's status as a reader should take it: `running` whose process has stopped sending its
 * heartbeat says so (with when, unless `long` is false), since it will not end by itself.
 */
export function statusText(run: Pick<RunRow, 'status' | 'live' | 'last_seen_at'>, long = true): string {
  // A gateway run is `succeeded` or `failed` from its first batch: say when its records still come.
  if (run.status !== 'running') return run.live ? `${run.status}, live` : run.status;
  if (run.live) return run.status;
  return long ? `running, no heartbeat since ${formatTime(run.last_seen_at)}` : 'running (no heartbeat)';
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** Control characters (terminal escapes, newlines) shown as visible text: one record stays one line. */
export function printable(text: string): string {
  return text.replace(
    /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

/** Each line of `text` indented by two spaces, without the trailing newline. */
export function indent(text: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}
