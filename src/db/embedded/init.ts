// initdb: built in data.init and renamed into place, so `data` only ever holds a complete cluster

import { randomBytes } from 'node:crypto';
import { chown, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunAs } from './account.js';
import type { Binaries } from './binaries.js';
import {
  type Credentials,
  DATABASE,
  HOST,
  type Layout,
  readJson,
  type State,
  SUPERUSER,
  writeFileAtomic,
} from './layout.js';
import { freePort } from './ports.js';
import { run, runChecked } from './run.js';
import { errorCode, exists } from './util.js';

export async function initCluster(
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
