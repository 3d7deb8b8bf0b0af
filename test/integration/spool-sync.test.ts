// LogSynchronizer and `pipetel sync` against a real PostgreSQL: what is replayed and when (sealed
// segments always, the one being written only once its writer is gone), claims that keep two
// replayers apart, segments deleted only after their rows are committed, and the counts printed.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type pg from 'pg';
import { Spool, SpoolFiles, spoolDirectory } from '../../exporters/delivery/Spool.js';
import { encodeRecords } from '../../exporters/delivery/spoolFormat.js';
import { targetAddress, targetIdentity } from '../../exporters/delivery/spoolTarget.js';
import { migrate } from '../../exporters/postgres/migrate.js';
import { main } from '../../src/cli/main.js';
import { type ExperimentRow, ExperimentStore } from '../../src/db/experimentStore.js';
import { LogSynchronizer } from '../../src/sync/LogSynchronizer.js';
import { logLine } from '../fixtures/apps/spool-support.js';
import { createTestDatabase, type TestDatabase, testPool, withClient } from '../helpers/database.js';
import { startTcpProxy } from '../helpers/tcpProxy.js';

let db: TestDatabase;
let home: string;
const homes: string[] = [];

before(async () => {
  db = await createTestDatabase();
  await migrate(db.url);
});
after(async () => {
  await db?.drop();
  for (const dir of homes) await rm(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'pipetel-sync-'));
  await chmod(home, 0o755);
  homes.push(home);
  await db.query('TRUNCATE pipeline_logs');
});

function lines(tag: string, count: number, from = 0): string[] {
  return Array.from({ length: count }, (_, i) => logLine(tag, from + i));
}

async function stored(tag: string): Promise<{ count: number; distinct: number }> {
  const [row] = await db.query<{ count: string; distinct: string }>(
    "SELECT count(*) AS count, count(DISTINCT message) AS distinct FROM pipeline_logs WHERE message LIKE $1 || ' %'",
    [tag],
  );
  return { count: Number(row!.count), distinct: Number(row!.distinct) };
}

/** A pid that belonged to a process that has exited. */
function deadPid(): number {
  const pid = spawnSync(process.execPath, ['-e', '0']).pid;
  assert.ok(pid);
  return pid;
}

/** A spool directory as a writer that died would have left it. */
async function orphanDirectory(pid: number, segments: Record<string, string | Buffer>): Promise<string> {
  const directory = join(spoolDirectory(home), `${pid}-${Date.now()}-deadbeef`);
  await mkdir(directory, { recursive: true });
  await writeFile(join(directory, SpoolFiles.owner), JSON.stringify({ pid }));
  for (const [name, content] of Object.entries(segments)) await writeFile(join(directory, name), content);
  return directory;
}

function synchronizer(overrides: Partial<ConstructorParameters<typeof LogSynchronizer>[0]> = {}) {
  return new LogSynchronizer({
    home,
    connectionString: db.url,
    batchSize: 100,
    warn: () => undefined,
    ...overrides,
  });
}

describe('LogSynchronizer', () => {
  it('replays sealed segments exactly once and deletes them; a second pass finds nothing', async () => {
    const spool = new Spool({ dir: spoolDirectory(home), segmentMaxBytes: 20_000 });
    for (let i = 0; i < 10; i++) await spool.append('pipeline_logs', lines('sealed', 100, i * 100));
    await spool.close();
    const sync = synchronizer();
    const result = await sync.syncOnce();
    assert.equal(result.replayed, 1000);
    assert.equal(result.duplicates, 0);
    assert.equal(result.corrupt, 0);
    assert.ok(result.segments > 1);
    assert.equal(result.remaining, 0);
    assert.deepEqual(await stored('sealed'), { count: 1000, distinct: 1000 });
    assert.deepEqual(await readdir(spoolDirectory(home)), [], 'closed, replayed directories are removed');
    assert.deepEqual(await sync.syncOnce(), {
      replayed: 0,
      duplicates: 0,
      corrupt: 0,
      rejected: 0,
      segments: 0,
      remaining: 0,
      otherDatabase: 0,
      discarded: 0,
    });
    await sync.stop();
  });

  it('replays records only into the database they were written for (unless told any database)', async () => {
    const other = new Spool({
      dir: spoolDirectory(home),
      target: () => ({ address: '127.0.0.1:1/elsewhere' }),
    });
    await other.append('pipeline_logs', lines('elsewhere', 20));
    await other.close();
    const third = new Spool({
      dir: spoolDirectory(home),
      target: () => ({ address: '127.0.0.1:2/yonder' }),
    });
    await third.append('pipeline_logs', lines('yonder', 5));
    await third.close();
    const same = new Spool({
      dir: spoolDirectory(home),
      target: () => ({ address: targetAddress(db.url) }),
    });
    await same.append('pipeline_logs', lines('here', 30));
    await same.close();
    const warnings: string[] = [];
    const sync = synchronizer({ warn: (m) => warnings.push(m) });
    const result = await sync.syncOnce();
    assert.equal(result.replayed, 30);
    assert.equal(result.otherDatabase, 2, "the other databases' segments are left in place");
    assert.deepEqual(await stored('elsewhere'), { count: 0, distinct: 0 });
    // Each named: the second is not folded into the first as "similar".
    assert.match(warnings.join('\n'), /records for 127\.0\.0\.1:1\/elsewhere/);
    assert.match(warnings.join('\n'), /records for 127\.0\.0\.1:2\/yonder/);
    assert.match(warnings.join('\n'), /or delete it with `pipetel sync --discard 127\.0\.0\.1:2\/yonder`/);
    await sync.stop();
    // pipetel sync --discard TARGET: a connection string that was wrong; only that target goes.
    const discarding = synchronizer({ discard: '127.0.0.1:2/yonder' });
    const discarded = await discarding.syncOnce();
    await discarding.stop();
    assert.deepEqual([discarded.discarded, discarded.otherDatabase, discarded.replayed], [1, 1, 0]);
    assert.deepEqual(await stored('yonder'), { count: 0, distinct: 0 });
    // pipetel sync --any-database: an explicit choice to take them here.
    const any = synchronizer({ anyDatabase: true });
    assert.equal((await any.syncOnce()).replayed, 20, 'what was discarded is gone from the spool');
    assert.deepEqual(await stored('elsewhere'), { count: 20, distinct: 20 });
    await any.stop();
  });

  it('a run replayed again counts as already present; its running and final rows count as one run stored', async () => {
    const pool = testPool(db.url, 1);
    try {
      const store = new ExperimentStore(pool);
      const at = new Date('2026-12-01T10:00:00Z');
      const row = (status: 'running' | 'succeeded', seconds: number): ExperimentRow => ({
        experimentId: 'replayed-run',
        serviceName: 's',
        status,
        startedAt: at,
        endedAt: status === 'running' ? null : new Date(at.getTime() + seconds * 1000),
        lastSeenAt: new Date(at.getTime() + seconds * 1000),
        statusReason: null,
        attributes: {},
      });
      const batch = [row('running', 0), row('succeeded', 5)];
      assert.equal(await store.replay(batch), 2, 'both versions stored with the final one');
      assert.equal(await store.replay(batch), 0, 'the same again: already present');
      assert.equal(await store.replay([row('succeeded', 9)]), 1, 'a later final row replaces it');
    } finally {
      await pool.end();
    }
  });

  it('a target recorded by identity matches that server under another address', async () => {
    const identity = await withClient(db.url, targetIdentity);
    assert.ok(identity, 'pg_control_system() is readable');
    const moved = new Spool({
      dir: spoolDirectory(home),
      target: () => ({ address: '127.0.0.1:1/old-port', identity }),
    });
    await moved.append('pipeline_logs', lines('moved', 10));
    await moved.close();
    const sync = synchronizer();
    assert.equal((await sync.syncOnce()).replayed, 10);
    await sync.stop();
  });

  it('a spool for another database that was reached is not offered for --discard: it is down, not wrong', async () => {
    const reached = new Spool({
      dir: spoolDirectory(home),
      target: () => ({ address: '10.1.2.3:5432/prod', identity: '7000000000000000001/prod' }),
    });
    await reached.append('pipeline_logs', lines('reached', 3));
    await reached.close();
    const warnings: string[] = [];
    const sync = synchronizer({ warn: (m) => warnings.push(m) });
    assert.equal((await sync.syncOnce()).otherDatabase, 1);
    await sync.stop();
    assert.match(warnings.join('\n'), /holds records for 10\.1\.2\.3:5432\/prod, .*left in place/);
    assert.doesNotMatch(warnings.join('\n'), /--discard/);
    const any = synchronizer({ anyDatabase: true });
    await any.syncOnce(); // leave the spool empty for the next test
    await any.stop();
  });

  it('leaves the segment a live process is writing, until it is sealed', async () => {
    const spool = new Spool({ dir: spoolDirectory(home) });
    await spool.append('pipeline_logs', lines('live', 50));
    const sync = synchronizer();
    const first = await sync.syncOnce();
    assert.equal(first.replayed, 0);
    assert.equal(first.remaining, 1);
    await spool.seal();
    await spool.append('pipeline_logs', lines('live', 50, 50));
    const second = await sync.syncOnce();
    assert.equal(second.replayed, 50);
    assert.equal(second.remaining, 1, 'the new open segment stays');
    await sync.stop();
    // Given the spool of its own process, the synchronizer seals it before each pass.
    const own = synchronizer({ spool });
    assert.equal((await own.syncOnce()).replayed, 50);
    await own.stop();
    await spool.close();
    assert.deepEqual(await stored('live'), { count: 100, distinct: 100 });
  });

  it("replays a dead writer's open segment, cuts its torn tail and reclaims a dead replayer's claim", async () => {
    const pid = deadPid();
    const torn = Buffer.from(encodeRecords('pipeline_logs', lines('dead', 1, 999))).subarray(0, 40);
    const directory = await orphanDirectory(pid, {
      'segment-000001.log': encodeRecords('pipeline_logs', lines('dead', 100)),
      [`segment-000002.replaying-${pid}`]: encodeRecords('pipeline_logs', lines('dead', 100, 100)),
      'segment-000003.open': Buffer.concat([
        Buffer.from(encodeRecords('pipeline_logs', lines('dead', 100, 200))),
        torn,
      ]),
      // Claimed by a live process (pid 1): left to it.
      'segment-000004.replaying-1': encodeRecords('pipeline_logs', lines('dead', 10, 300)),
    });
    const sync = synchronizer();
    const result = await sync.syncOnce();
    assert.deepEqual(
      { ...result },
      {
        replayed: 300,
        duplicates: 0,
        corrupt: 1,
        rejected: 0,
        segments: 3,
        remaining: 1,
        otherDatabase: 0,
        discarded: 0,
      },
    );
    assert.deepEqual(await readdir(directory), [SpoolFiles.owner, 'segment-000004.replaying-1']);
    assert.deepEqual(await stored('dead'), { count: 300, distinct: 300 });
    await sync.stop();
  });

  it('a crashed writer whose pid came back (a container PID 1 restarted) is replayed, not waited for', async () => {
    // The directory and the claim carry this process's pid but predate it: an earlier process.
    const hourAgo = Date.now() - 3_600_000;
    const directory = join(spoolDirectory(home), `${process.pid}-${hourAgo}-deadbeef`);
    await mkdir(directory, { recursive: true });
    await writeFile(
      join(directory, SpoolFiles.owner),
      JSON.stringify({ pid: process.pid, host: hostname() }),
    );
    await writeFile(
      join(directory, SpoolFiles.name(1, 'open')),
      encodeRecords('pipeline_logs', lines('reborn', 30)),
    );
    const claim = join(directory, SpoolFiles.name(2, `replaying-${process.pid}`));
    await writeFile(claim, encodeRecords('pipeline_logs', lines('reborn', 20, 30)));
    const result = await synchronizer().syncOnce();
    assert.equal((await stored('reborn')).count, 30, 'the open segment of the earlier process is replayed');
    assert.equal(result.remaining, 1, "a claim made by this process's pid now is left alone");
  });

  it('two synchronizers never replay the same segment', async () => {
    const spool = new Spool({ dir: spoolDirectory(home), segmentMaxBytes: 4_000 });
    for (let i = 0; i < 40; i++) await spool.append('pipeline_logs', lines('race', 25, i * 25));
    await spool.close();
    const a = synchronizer({ batchSize: 7 });
    const b = synchronizer({ batchSize: 11 });
    const [ra, rb] = await Promise.all([a.syncOnce(), b.syncOnce()]);
    assert.equal(ra.replayed + rb.replayed, 1000);
    assert.equal(ra.duplicates + rb.duplicates, 0, 'no segment was written twice');
    assert.deepEqual(await stored('race'), { count: 1000, distinct: 1000 });
    await Promise.all([a.stop(), b.stop()]);
  });

  it('keeps a segment whose replay failed halfway; the next pass stores the rest, none twice', async () => {
    const spool = new Spool({ dir: spoolDirectory(home) });
    await spool.append('pipeline_logs', lines('half', 500));
    await spool.close();
    const pool = testPool(db.url, 1);
    const connect = pool.connect.bind(pool);
    let connects = 0;
    // The reachability probe, then 2 batches of 100, then the connection "breaks".
    (pool as { connect: () => Promise<pg.PoolClient> }).connect = async () => {
      if (++connects > 3) throw Object.assign(new Error('Connection terminated unexpectedly'), {});
      return connect();
    };
    const failing = synchronizer({ pool, concurrency: 1 });
    await assert.rejects(failing.syncOnce(), /terminated/);
    await failing.stop();
    await pool.end();
    assert.deepEqual(await stored('half'), { count: 200, distinct: 200 });
    const directory = join(spoolDirectory(home), (await readdir(spoolDirectory(home)))[0]!);
    assert.deepEqual(
      (await readdir(directory)).filter((n) => n.startsWith('segment')),
      ['segment-000001.log'],
      'released, not deleted',
    );
    const sync = synchronizer();
    const result = await sync.syncOnce();
    assert.equal(result.replayed, 300);
    assert.equal(result.duplicates, 200);
    assert.deepEqual(await stored('half'), { count: 500, distinct: 500 });
    await sync.stop();
  });

  it('leaves the spool untouched when the database is unreachable', async () => {
    const spool = new Spool({ dir: spoolDirectory(home) });
    await spool.append('pipeline_logs', lines('down', 10));
    await spool.close();
    const sync = synchronizer({ connectionString: 'postgresql://pipetel:secret@127.0.0.1:1/none' });
    await assert.rejects(sync.syncOnce(), /ECONNREFUSED/);
    await sync.stop();
    const [name] = await readdir(spoolDirectory(home));
    assert.ok((await readdir(join(spoolDirectory(home), name!))).includes('segment-000001.log'));
  });

  it('a database gone silent fails the pass within answerTimeoutMs; the next pass, once it answers, stores every record once', async () => {
    const proxy = await startTcpProxy(db.url);
    const sync = synchronizer({ connectionString: proxy.url, answerTimeoutMs: 300 });
    try {
      const first = new Spool({ dir: spoolDirectory(home) });
      await first.append('pipeline_logs', lines('silent', 10));
      await first.close();
      assert.equal((await sync.syncOnce()).replayed, 10); // leaves its connection idle in the pool
      const spool = new Spool({ dir: spoolDirectory(home) });
      await spool.append('pipeline_logs', lines('silent', 40, 10));
      await spool.close();
      proxy.silence();
      // Before: the pass waited for the operating system (~15 min), and every later pass joined it.
      await assert.rejects(sync.syncOnce(), /no answer from the database within 300 ms/);
      proxy.resume();
      const result = await sync.syncOnce();
      assert.equal(result.replayed, 40);
    } finally {
      await sync.stop();
      await proxy.close();
    }
    assert.deepEqual(await stored('silent'), { count: 50, distinct: 50 });
  });

  it('isolates a record the database refuses and stores the rest', async () => {
    const good = lines('poison', 20);
    const bad = good[7]!.replace('\tINFO\t9\t', '\tINFO\tnot-a-number\t');
    const spool = new Spool({ dir: spoolDirectory(home) });
    await spool.append('pipeline_logs', [...good.slice(0, 7), bad, ...good.slice(8)]);
    await spool.close();
    const sync = synchronizer();
    const result = await sync.syncOnce();
    assert.equal(result.replayed, 19);
    assert.equal(result.rejected, 1);
    assert.equal(result.segments, 1);
    await sync.stop();
  });

  it('start() replays on its own and stop() ends it', async () => {
    const spool = new Spool({ dir: spoolDirectory(home) });
    const sync = synchronizer({ spool, syncIntervalMs: 20 });
    sync.start();
    await spool.append('pipeline_logs', lines('timer', 30));
    for (let i = 0; i < 500 && (await stored('timer')).count < 30; i++)
      await new Promise((r) => setTimeout(r, 20));
    await sync.stop();
    await spool.close();
    assert.deepEqual(await stored('timer'), { count: 30, distinct: 30 });
  });
});

describe('pipetel sync', () => {
  async function cli(
    env: Record<string, string>,
    args: string[] = [],
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const saved = { ...process.env };
    const out: string[] = [];
    const err: string[] = [];
    const stdoutWrite = process.stdout.write;
    const stderrWrite = process.stderr.write;
    Object.assign(process.env, env);
    process.stdout.write = ((chunk: string) => out.push(String(chunk)) > 0) as typeof process.stdout.write;
    process.stderr.write = ((chunk: string) => err.push(String(chunk)) > 0) as typeof process.stderr.write;
    try {
      const code = await main(['sync', ...args]);
      return { code, stdout: out.join(''), stderr: err.join('') };
    } finally {
      process.stdout.write = stdoutWrite;
      process.stderr.write = stderrWrite;
      for (const key of Object.keys(env)) {
        if (saved[key] === undefined) delete process.env[key];
        else process.env[key] = saved[key];
      }
    }
  }

  it('replays the spool of PIPETEL_HOME and prints the counts', async () => {
    const spool = new Spool({ dir: spoolDirectory(home) });
    await spool.append('pipeline_logs', lines('cli', 42));
    await spool.close();
    await orphanDirectory(deadPid(), {
      'segment-000001.open': `${encodeRecords('pipeline_logs', lines('cli', 8, 42))}torn`,
    });
    const result = await cli({ PIPETEL_HOME: home, PIPETEL_DATABASE_URL: db.url });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stdout,
      'replayed 50 records (0 already present, 1 corrupt line skipped) from 2 segments\n',
    );
    assert.deepEqual(await stored('cli'), { count: 50, distinct: 50 });
  });

  it('--discard TARGET deletes what was spooled for that database, and says so', async () => {
    const wrong = new Spool({ dir: spoolDirectory(home), target: () => ({ address: '127.0.0.1:1/typo' }) });
    await wrong.append('pipeline_logs', lines('typo', 4));
    await wrong.close();
    const env = { PIPETEL_HOME: home, PIPETEL_DATABASE_URL: db.url };
    const kept = await cli(env);
    assert.match(kept.stdout, /1 segment left: written for another database/);
    assert.match(kept.stderr, /pipetel sync --discard 127\.0\.0\.1:1\/typo/);
    const result = await cli(env, ['--discard', '127.0.0.1:1/typo']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stdout,
      'replayed 0 records (0 already present, 0 corrupt lines skipped) from 0 segments; 1 segment discarded unreplayed (--discard)\n',
    );
    assert.equal((await cli(env)).stderr, '', 'no more warnings about it');
    assert.deepEqual(await stored('typo'), { count: 0, distinct: 0 });
    assert.match(
      (await cli(env, ['--discard', '127.0.0.1:1/typo'])).stderr,
      /nothing was spooled for 127\.0\.0\.1:1\/typo/,
    );
    const both = await cli(env, ['--discard', 'x', '--any-database']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--discard and --any-database contradict each other/);
  });

  it('exits 1 naming the host, never the password, when the database is unreachable', async () => {
    const spool = new Spool({ dir: spoolDirectory(home) });
    await spool.append('pipeline_logs', lines('cli-down', 3));
    await spool.close();
    const result = await cli({
      PIPETEL_HOME: home,
      PIPETEL_DATABASE_URL: 'postgresql://pipetel:hunter2-secret@127.0.0.1:1/pipetel',
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /127\.0\.0\.1:1/);
    assert.doesNotMatch(result.stderr + result.stdout, /hunter2/);
    assert.equal(result.stdout, '');
  });
});
