// Whether a process id is alive, for lock files and spool directories left by other processes.

import { readFileSync } from 'node:fs';

/** True while a process with this pid exists (EPERM: it exists, owned by another user). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException | null)?.code === 'EPERM';
  }
}

/**
 * Whether the process that did something (made a directory, took a lock) at `sinceMs` with `pid`
 * still runs. A pid alone is not enough: after a crash the same pid comes back (a container's
 * PID 1), so a process that started after `sinceMs` is another process.
 */
export function isSameProcessAlive(pid: number, sinceMs: number): boolean {
  if (pid === process.pid) return sinceMs >= performance.timeOrigin - 1000;
  if (!isProcessAlive(pid)) return false;
  const started = processStartMs(pid);
  return started === undefined || sinceMs >= started - 2000;
}

let bootTimeMs: number | undefined;

/** A process's start time from /proc on Linux; undefined elsewhere. */
export function processStartMs(pid: number): number | undefined {
  try {
    bootTimeMs ??= Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))![1]) * 1000;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const startTicks = Number(fields[19]); // field 22 of stat(5); fields[0] is field 3
    return bootTimeMs + startTicks * 10; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}
