// Is it running? (the hot path: two small file reads and one TCP round trip, no pg client)

import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { isProcessAlive as isAlive } from '../../../exporters/shared/processes.js';
import { HOST, type Layout } from './layout.js';
import { errorCode, exists } from './util.js';

export interface Postmaster {
  pid: number;
  port: number;
  status: string;
}

export async function runningServer(paths: Layout): Promise<Postmaster | null> {
  if (!(await exists(paths.stateFile))) return null;
  const postmaster = await readPostmaster(paths.dataDir);
  if (postmaster?.status !== 'ready' || !isAlive(postmaster.pid)) return null;
  return (await speaksPostgres(postmaster.port)) ? postmaster : null;
}

/** postmaster.pid lines: 1 pid, 4 port, 8 status ("starting" | "stopping" | "ready" | "standby"). */
export async function readPostmaster(dataDir: string): Promise<Postmaster | null> {
  let text: string;
  try {
    text = await readFile(join(dataDir, 'postmaster.pid'), 'utf8');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return null;
    throw error;
  }
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0) return null;
  return { pid, port, status: (lines[7] ?? '').trim() };
}

/**
 * After a reboot a stale postmaster.pid may name a pid now used by something else. The name comes
 * from /proc/PID/stat, which (unlike cmdline) a zombie postmaster still has.
 */
export function isPostgresProcess(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return !existsSync('/proc'); // no procfs (macOS): assume it is, the postmaster will tell otherwise
  }
  return stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) === 'postgres';
}

/** Sends an SSLRequest; any PostgreSQL answers one byte ('S' or 'N') without authentication. */
function speaksPostgres(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect({ host: HOST, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolvePromise(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => {
      const request = Buffer.alloc(8);
      request.writeInt32BE(8, 0);
      request.writeInt32BE(80877103, 4);
      socket.write(request);
    });
    socket.once('data', (chunk) => done(chunk[0] === 0x53 || chunk[0] === 0x4e));
  });
}
