// Start and stop: pg_ctl forks the postmaster into its own session, so it outlives this process

import { open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isProcessAlive as isAlive } from '../../../exporters/shared/processes.js';
import type { RunAs } from './account.js';
import type { Binaries } from './binaries.js';
import { HOST, type Layout, readJson, type State } from './layout.js';
import { movePort, portIsFree } from './ports.js';
import { isPostgresProcess, type Postmaster, readPostmaster, runningServer } from './probe.js';
import { run } from './run.js';
import { sleep } from './util.js';

/** Times a start may move to a new port because its port was taken meanwhile. */
const MAX_PORT_MOVES = 3;

export async function startCluster(
  paths: Layout,
  binaries: Binaries,
  runAs: RunAs | null,
  log: (line: string) => void,
  timeoutMs: number,
): Promise<Postmaster> {
  const adopted = await adoptOrClearPostmaster(paths, timeoutMs);
  if (adopted) return adopted;

  const state = await readJson<State>(paths.stateFile);
  if (!state) throw new Error(`embedded PostgreSQL state is missing: ${paths.stateFile}`);
  const seconds = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
  const deadline = Date.now() + timeoutMs;
  for (let portMoves = 0; ; ) {
    if (!(await portIsFree(state.port))) await movePort(paths, state, log);
    const logOffset = await stat(paths.logFile).then(
      (s) => s.size,
      () => 0,
    );
    const startedAt = Date.now();
    const args = [
      'start',
      '-D',
      paths.dataDir,
      '-l',
      paths.logFile,
      '-w',
      '-t',
      seconds,
      '-s',
      '-o',
      `-p ${state.port}`,
    ];
    const result = await run(binaries.pgCtl, args, { runAs, cwd: paths.pgDir });
    const postmaster = result.code === 0 ? await runningServer(paths) : null;
    if (postmaster) {
      log(`embedded PostgreSQL started on ${HOST}:${postmaster.port} in ${Date.now() - startedAt} ms`);
      return postmaster;
    }
    const serverLog = await readFrom(paths.logFile, logOffset);
    if (portMoves < MAX_PORT_MOVES && /could not bind|Address already in use/i.test(serverLog)) {
      portMoves++;
      await movePort(paths, state, log);
      continue;
    }
    // Backends of a crashed postmaster notice its death and exit within moments.
    if (Date.now() < deadline && /pre-existing shared memory block .* is still in use/.test(serverLog)) {
      await sleep(250);
      continue;
    }
    throw new Error(
      `embedded PostgreSQL did not start (pg_ctl exit ${result.code}): ${result.output.trim()}\n` +
        `--- ${paths.logFile} ---\n${serverLog.trim().split('\n').slice(-20).join('\n')}`,
    );
  }
}

/**
 * A postmaster.pid whose pid is alive and is a postgres: a server starting or stopping, one started
 * by hand, or a crashed postmaster not yet reaped (a zombie) — wait for it to be ready or gone.
 * One whose pid is now another program (after a reboot): remove it, since the postmaster would
 * refuse to start. A dead pid is left to the postmaster, which also checks for orphaned backends.
 */
async function adoptOrClearPostmaster(paths: Layout, timeoutMs: number): Promise<Postmaster | null> {
  const postmaster = await readPostmaster(paths.dataDir);
  if (!postmaster || !isAlive(postmaster.pid)) return null;
  if (!isPostgresProcess(postmaster.pid)) {
    await rm(join(paths.dataDir, 'postmaster.pid'), { force: true });
    return null;
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && isAlive(postmaster.pid)) {
    const ready = await runningServer(paths);
    if (ready) return ready;
    await sleep(100);
  }
  if (!isAlive(postmaster.pid)) return null;
  throw new Error(
    `a PostgreSQL server (pid ${postmaster.pid}) holds ${paths.dataDir} but does not accept connections; see ${paths.logFile}`,
  );
}

async function readFrom(file: string, offset: number): Promise<string> {
  try {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      const length = Math.max(0, Math.min(size - offset, 64 * 1024));
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size - length);
      return buffer.toString('utf8');
    } finally {
      await handle.close();
    }
  } catch {
    return '';
  }
}

/** Fast shutdown: open sessions are cut, data is safe. */
export async function stopCluster(
  paths: Layout,
  binaries: Binaries,
  runAs: RunAs | null,
  postmaster: Postmaster,
  timeoutMs: number,
): Promise<void> {
  const seconds = String(Math.ceil(timeoutMs / 1000));
  const result = await run(
    binaries.pgCtl,
    ['stop', '-D', paths.dataDir, '-m', 'fast', '-w', '-t', seconds, '-s'],
    {
      runAs,
      cwd: paths.pgDir,
    },
  );
  if (result.code !== 0 && isAlive(postmaster.pid)) {
    throw new Error(`pg_ctl stop failed (exit ${result.code}): ${result.output.trim()}`);
  }
}
