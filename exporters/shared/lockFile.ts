// The one lock-file helper behind pipetel's three lock protocols: the embedded server's init+start
// lock (`<pg>/lock`), the file sink's renumbering lock (`<log file>.lock`) and a spool writer's
// `owner.lock`. A lock is a file created with O_EXCL ('wx') that names its holder: a pid, the host,
// and when it was taken. The holder is alive while that pid runs and started before the lock was
// taken (a pid comes back after a restart, e.g. a container's PID 1); a holder on another host
// (a shared volume) cannot be checked and counts as alive. A stale lock is taken over under a
// second lock, `<lock>.break`, so that two waiters never both take it over.

import { closeSync, openSync, unlinkSync, writeFileSync } from 'node:fs';
import { type FileHandle, open, readFile, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { isSameProcessAlive } from './processes.js';

/**
 * How the holder is written; either is read, whichever was written. `json`:
 * `{"pid","host","createdAt",...fields}\n` (the embedded server's lock, a spool's owner.lock);
 * `pid`: `<pid>\n` (the file sink's lock).
 */
export type LockFormat = 'json' | 'pid';

export interface LockHolder {
  pid: number;
  /** The holder's host; undefined (the `pid` format): this host. */
  host: string | undefined;
  /** When the lock was taken (ms): its createdAt or startedAt, else the file's mtime. */
  takenMs: number;
}

export interface LockFileContent {
  text: string;
  ageMs: number;
  /** Undefined while the file is being written, or when its writer died mid-write. */
  holder: LockHolder | undefined;
}

export interface CreateLockOptions {
  format?: LockFormat;
  /** File mode; default 0o600. */
  mode?: number;
  /** More fields in the json format (a spool's target database, say). */
  fields?: Record<string, unknown>;
  /** The json format's time field: `createdAt` (default), or `startedAt` (a spool's owner.lock). */
  timeField?: 'createdAt' | 'startedAt';
}

export interface StaleRule {
  /** A lock older than this is stale whoever holds it; default: never by age alone. */
  maxAgeMs?: number;
  /** A lock naming no holder (being written, or its writer died mid-write) is stale after this. */
  unreadableMs: number;
}

export interface LockOptions extends CreateLockOptions, StaleRule {
  /** Pause between attempts while the lock is held. */
  pollMs: number;
  /** Give up (throw) after this long; default: wait as long as it takes. */
  waitMs?: number;
}

/** A `<lock>.break` left by a process that died while taking over a lock is removed after this. */
const BREAKER_STALE_MS = 10_000;

/** Creates `path` naming this process as its holder, atomically ('wx'); false if it exists. */
export async function createLockFile(path: string, options: CreateLockOptions = {}): Promise<boolean> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'wx', options.mode ?? 0o600);
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return false;
    throw error;
  }
  try {
    await handle.writeFile(lockText(options));
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(path).catch(() => undefined);
    throw error;
  }
  await handle.close();
  return true;
}

/** createLockFile(), synchronously: for process 'exit', where nothing asynchronous runs any more. */
export function createLockFileSync(path: string, options: CreateLockOptions = {}): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', options.mode ?? 0o600);
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return false;
    throw error;
  }
  try {
    writeFileSync(fd, lockText(options));
  } catch (error) {
    closeSync(fd);
    try {
      unlinkSync(path);
    } catch {}
    throw error;
  }
  closeSync(fd);
  return true;
}

function lockText(options: CreateLockOptions): string {
  if (options.format === 'pid') return `${process.pid}\n`;
  const time = new Date().toISOString();
  const holder = { pid: process.pid, host: hostname(), [options.timeField ?? 'createdAt']: time };
  return `${JSON.stringify({ ...holder, ...options.fields })}\n`;
}

/** The lock's content and holder; null if there is no lock. */
export async function readLockFile(path: string): Promise<LockFileContent | null> {
  let text: string;
  let mtimeMs: number;
  try {
    text = await readFile(path, 'utf8');
    mtimeMs = (await stat(path)).mtimeMs;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return null;
    throw error;
  }
  return { text, ageMs: Date.now() - mtimeMs, holder: parseLockHolder(text, mtimeMs) };
}

/** Either format; undefined for a lock still being written (or torn), which names no one yet. */
export function parseLockHolder(text: string, mtimeMs: number): LockHolder | undefined {
  const line = /^(\d+)\n/.exec(text);
  if (line) {
    const pid = Number(line[1]);
    return pid > 0 ? { pid, host: undefined, takenMs: mtimeMs } : undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { pid, host, createdAt, startedAt } = parsed as Record<string, unknown>;
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0) return undefined;
  const time = Date.parse(String(createdAt ?? startedAt));
  return {
    pid,
    host: typeof host === 'string' && host !== '' ? host : undefined,
    takenMs: Number.isNaN(time) ? mtimeMs : time,
  };
}

/** The holder's process still runs (the same process: not a later one with its pid), or can't be checked. */
export function isHolderAlive(holder: LockHolder): boolean {
  if (holder.host !== undefined && holder.host !== hostname()) return true;
  return isSameProcessAlive(holder.pid, holder.takenMs);
}

export function isStaleLock(lock: LockFileContent, rule: StaleRule): boolean {
  if (rule.maxAgeMs !== undefined && lock.ageMs > rule.maxAgeMs) return true;
  if (!lock.holder) return lock.ageMs > rule.unreadableMs;
  return !isHolderAlive(lock.holder);
}

/** Runs `body` holding the lock at `path`: waits while a live holder has it, takes a stale one over. */
export async function withLockFile<T>(
  path: string,
  options: LockOptions,
  body: () => Promise<T>,
): Promise<T> {
  const deadline = options.waitMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.waitMs;
  while (!(await createLockFile(path, options))) {
    if (await takeOverStaleLock(path, options)) continue;
    if (Date.now() > deadline) {
      const holder = await readFile(path, 'utf8').catch(() => '');
      throw new Error(
        `timed out after ${Math.round((options.waitMs ?? 0) / 1000)} s waiting for ${path} (held by ${holder.trim()})`,
      );
    }
    await sleep(options.pollMs);
  }
  try {
    return await body();
  } finally {
    await unlink(path).catch(() => {});
  }
}

/**
 * Removes the lock if it is stale. Two waiters could both see it stale and the slower one would
 * delete the lock the faster one just took, so removal happens under a second lock and re-checks
 * that the file is still the same stale one.
 */
export async function takeOverStaleLock(path: string, rule: StaleRule): Promise<boolean> {
  const seen = await readLockFile(path);
  if (!seen || !isStaleLock(seen, rule)) return false;
  const breaker = `${path}.break`;
  try {
    await (await open(breaker, 'wx', 0o600)).close();
  } catch (error) {
    if (errorCode(error) !== 'EEXIST') throw error;
    const age = await stat(breaker).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    if (age > BREAKER_STALE_MS) await unlink(breaker).catch(() => {});
    return false;
  }
  try {
    const now = await readLockFile(path);
    if (!now || now.text !== seen.text || !isStaleLock(now, rule)) return false;
    await unlink(path).catch(() => {});
    return true;
  } finally {
    await unlink(breaker).catch(() => {});
  }
}

function errorCode(error: unknown): string | undefined {
  return (error as { code?: string } | null)?.code;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
