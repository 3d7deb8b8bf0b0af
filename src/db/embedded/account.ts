// Running as root: the server runs as the `postgres` OS user (created if missing), which must reach
// every path it uses

import { execFile } from 'node:child_process';
import { chmod, chown, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import type { Layout } from './layout.js';
import { messageOf } from './util.js';

/** The OS account the server runs as when pipetel itself runs as root (postgres refuses root). */
export interface RunAs {
  name: string;
  uid: number;
  gid: number;
}

export async function serverAccount(log: (line: string) => void): Promise<RunAs | null> {
  if (process.getuid?.() !== 0) return null;
  const existing = await lookupAccount('postgres');
  if (existing) return existing;
  log('running as root: creating the postgres OS user for the embedded server');
  const execFileAsync = promisify(execFile);
  try {
    if (!(await groupExists('postgres'))) await execFileAsync('groupadd', ['--system', 'postgres']);
    await execFileAsync('useradd', [
      '--system',
      '-g',
      'postgres',
      '-M',
      '-s',
      '/usr/sbin/nologin',
      'postgres',
    ]);
  } catch (error) {
    throw new Error(
      `PostgreSQL refuses to run as root and the postgres OS user could not be created (${messageOf(error)}); ` +
        'create it (groupadd postgres && useradd -g postgres postgres) or run pipetel as a non-root user',
    );
  }
  const created = await lookupAccount('postgres');
  if (!created) throw new Error('the postgres OS user was created but cannot be found in /etc/passwd');
  return created;
}

async function lookupAccount(name: string): Promise<RunAs | null> {
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  for (const line of passwd.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name) return { name, uid: Number(uid), gid: Number(gid) };
  }
  return null;
}

async function groupExists(name: string): Promise<boolean> {
  const groups = await readFile('/etc/group', 'utf8').catch(() => '');
  return groups.split('\n').some((line) => line.split(':')[0] === name);
}

/**
 * Checks that `runAs` can search every directory from / down to `target`. Node drops supplementary
 * groups when it switches uid, so only the owner, primary-group and other bits count.
 */
export async function assertReachable(target: string, runAs: RunAs, fix: string): Promise<void> {
  const chain: string[] = [];
  for (let dir = target; ; dir = dirname(dir)) {
    chain.unshift(dir);
    if (dirname(dir) === dir) break;
  }
  for (const dir of chain) {
    const info = await stat(dir);
    const searchBit = info.uid === runAs.uid ? 0o100 : info.gid === runAs.gid ? 0o010 : 0o001;
    if ((info.mode & searchBit) === 0) {
      throw new Error(
        `the embedded PostgreSQL server runs as the '${runAs.name}' OS user (PostgreSQL refuses root), ` +
          `which cannot enter ${dir} (needed for ${target}); fix: chmod o+x ${dir}, or ${fix}`,
      );
    }
  }
}

/** Under root, $PIPETEL_HOME/pg is owned by the server account, which writes its log there. */
export async function prepareDirectories(paths: Layout, runAs: RunAs | null): Promise<void> {
  if (!runAs) return;
  const fix = 'set PIPETEL_HOME to a directory the postgres user can reach';
  await assertReachable(dirname(paths.pgDir), runAs, fix);
  await chown(paths.pgDir, runAs.uid, runAs.gid);
  await chmod(paths.pgDir, 0o700);
}
