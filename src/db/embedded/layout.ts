// Where a PIPETEL_HOME's cluster lives ($PIPETEL_HOME/pg, or under /var/lib/pipetel for root when
// the home is out of the postgres account's reach) and its state files: state.json (the port),
// credentials.json, and what makes a cluster initialized.

import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { errorCode, exists } from './util.js';

export const HOST = '127.0.0.1';
export const SUPERUSER = 'pipetel';
export const DATABASE = 'pipetel';

export interface Layout {
  pgDir: string;
  dataDir: string;
  logFile: string;
  stateFile: string;
  credentialsFile: string;
  lockFile: string;
}

export interface State {
  version: 1;
  port: number;
  initializedAt: string;
}

export interface Credentials {
  user: string;
  password: string;
}

/**
 * Where root keeps what the `postgres` account must reach when the project or PIPETEL_HOME sits
 * under a directory it cannot enter (e.g. a clone under /root, mode 700): binaries are copied and
 * the cluster lives here instead, one directory per PIPETEL_HOME.
 */
export const ROOT_FALLBACK_DIR = '/var/lib/pipetel';

/** As root: some existing ancestor of `path` denies others the execute (traverse) bit. */
export function unreachableForOthers(path: string): boolean {
  if (process.platform === 'win32' || process.getuid?.() !== 0) return false;
  let dir = resolve(path);
  const ancestors: string[] = [];
  for (;;) {
    ancestors.push(dir);
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return ancestors.some((ancestor) => {
    try {
      return (statSync(ancestor).mode & 0o001) === 0;
    } catch {
      return false; // not created yet: we create it with the umask's mode
    }
  });
}

export function layout(home: string): Layout {
  const resolvedHome = resolve(home);
  const pgDir = unreachableForOthers(resolvedHome)
    ? join(
        ROOT_FALLBACK_DIR,
        'homes',
        createHash('sha256').update(resolvedHome).digest('hex').slice(0, 16),
        'pg',
      )
    : join(resolvedHome, 'pg');
  return {
    pgDir,
    dataDir: join(pgDir, 'data'),
    logFile: join(pgDir, 'server.log'),
    stateFile: join(pgDir, 'state.json'),
    credentialsFile: join(pgDir, 'credentials.json'),
    lockFile: join(pgDir, 'lock'),
  };
}

export function connectionUrl(credentials: Credentials, port: number): string {
  const user = encodeURIComponent(credentials.user);
  const password = encodeURIComponent(credentials.password);
  return `postgresql://${user}:${password}@${HOST}:${port}/${DATABASE}`;
}

/** Initialized means init ran to the end: the cluster is in place and both state files exist. */
export async function isInitialized(paths: Layout): Promise<boolean> {
  const files = [join(paths.dataDir, 'PG_VERSION'), paths.stateFile, paths.credentialsFile];
  const present = await Promise.all(files.map((file) => exists(file)));
  return present.every(Boolean);
}

export async function readJson<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return null;
    throw error;
  }
}

/** Write-then-rename, so a reader never sees half a file. */
export async function writeFileAtomic(file: string, content: string, mode: number): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, content, { mode });
  await rename(temp, file);
}

/** $PIPETEL_HOME keeps the umask's mode (the postgres user may need to pass it); pg/ is private. */
export async function makeHome(paths: Layout): Promise<void> {
  await mkdir(dirname(paths.pgDir), { recursive: true });
  await mkdir(paths.pgDir, { recursive: true, mode: 0o700 });
}
