// Fault injection that needs no server restart, so it runs on the shared test server too: the
// database unreachable from the start, a process SIGKILLed with records in its spool, and a spool
// directory that cannot be created. Records are numbered, so a count equal to what was emitted
// with as many distinct messages means none was lost and none duplicated.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFile, chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Spool, SpoolFiles, spoolDirectory } from '../../exporters/delivery/Spool.js';
import { migrate } from '../../exporters/postgres/migrate.js';
import { PostgresLogRecordExporter } from '../../exporters/postgres/PostgresLogRecordExporter.js';
import { main } from '../../src/cli/main.js';
import { LogSynchronizer } from '../../src/sync/LogSynchronizer.js';
import { logRecord } from '../fixtures/apps/spool-support.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const UNREACHABLE = 'postgresql://pipetel:not-the-password@127.0.0.1:1/pipetel'; // nothing listens on port 1
const FAST_RETRY = { initialDelayMs: 5, maxDelayMs: 20, multiplier: 2, maxElapsedMs: 50 };

let db: TestDatabase;
let home: string;
const homes: string[] = [];
const children: ChildProcess[] = [];

before(async () => {
  db = await createTestDatabase();
  await migrate(db.url);
});
after(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await db?.drop();
  for (const dir of homes) await rm(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'pipetel-faults-'));
  await chmod(home, 0o755);
  homes.push(home);
});

async function stored(tag: string): Promise<{ count: number; distinct: number }> {
  const [row] = await db.query<{ count: number; distinct: number }>(
    "SELECT count(*)::int AS count, count(DISTINCT message)::int AS distinct FROM pipeline_logs WHERE message LIKE $1 || ' %'",
    [tag],
  );
  return row!;
}

function emit(exporter: PostgresLogRecordExporter, tag: string, count: number): void {
  for (let i = 0; i < count; i += 100)
    exporter.export(
      Array.from({ length: Math.min(100, count - i) }, (_, j) => logRecord(tag, i + j)),
      () => undefined,
    );
}

describe('faults', () => {
  it('database unreachable from the start: everything is spooled, then replayed once', async (t) => {
    const spool = new Spool({ dir: spoolDirectory(home) });
    const exporter = new PostgresLogRecordExporter({
      connectionString: UNREACHABLE,
      batchSize: 100,
      flushIntervalMs: 20,
      maxQueueSize: 10_000,
      retry: FAST_RETRY,
      spill: spool,
      warn: () => undefined,
    });
    emit(exporter, 'unreachable', 3000);
    await exporter.forceFlush(30_000);
    const stats = exporter.stats();
    await exporter.shutdown();
    await spool.close();
    assert.deepEqual(stats, { queued: 0, exported: 0, dropped: 0, spooled: 3000, failed: 0 });

    const sync = new LogSynchronizer({ home, connectionString: db.url, batchSize: 1000 });
    const result = await sync.syncOnce();
    await sync.stop();
    const rows = await stored('unreachable');
    t.diagnostic(
      `unreachable at start: emitted 3000, spooled ${stats.spooled}, replayed ${result.replayed}, stored ${rows.count}`,
    );
    assert.equal(result.replayed, 3000);
    assert.equal(result.duplicates, 0);
    assert.deepEqual(rows, { count: 3000, distinct: 3000 });
    assert.deepEqual(await readdir(spoolDirectory(home)), [], 'the replayed spool is gone');
  });

  it('process SIGKILLed with records in its spool: a later `pipetel sync` delivers them once', async (t) => {
    const count = 2500;
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/apps/spool-writer.ts'], {
      cwd: repoRoot,
      env: { ...process.env, PIPETEL_HOME: home, COUNT: String(count), TAG: 'killed' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    const ready = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (chunk) => {
        out += chunk;
        if (out.includes('\n')) resolve(out.trim());
      });
      child.once('exit', (code) => reject(new Error(`spool writer exited early (${code}): ${out}`)));
    });
    assert.equal(ready, `spooled ${count}`);

    // While the writer lives, its open segment is its own: a replay leaves it alone.
    const early = new LogSynchronizer({ home, connectionString: db.url });
    const whileAlive = await early.syncOnce();
    await early.stop();
    assert.equal(whileAlive.replayed, 0);
    assert.equal(whileAlive.remaining, 1);

    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    // A write torn by the kill: half a record at the end of the open segment.
    const [directory] = await readdir(spoolDirectory(home));
    const [segment] = (await readdir(join(spoolDirectory(home), directory!))).filter((n) =>
      SpoolFiles.segment.test(n),
    );
    assert.match(segment!, /\.open$/);
    await appendFile(join(spoolDirectory(home), directory!, segment!), '1a2b3c4d pipeline_logs 0192f');

    const out: string[] = [];
    const write = process.stdout.write;
    const saved = { home: process.env.PIPETEL_HOME, url: process.env.PIPETEL_DATABASE_URL };
    process.env.PIPETEL_HOME = home;
    process.env.PIPETEL_DATABASE_URL = db.url;
    process.stdout.write = ((chunk: string) => out.push(String(chunk)) > 0) as typeof process.stdout.write;
    let code: number;
    try {
      code = await main(['sync']);
    } finally {
      process.stdout.write = write;
      restoreEnv('PIPETEL_HOME', saved.home);
      restoreEnv('PIPETEL_DATABASE_URL', saved.url);
    }
    const rows = await stored('killed');
    t.diagnostic(`SIGKILL: emitted ${count}, spooled ${count}, ${out.join('').trim()}, stored ${rows.count}`);
    assert.equal(code, 0);
    assert.equal(
      out.join(''),
      `replayed ${count} records (0 already present, 1 corrupt line skipped) from 1 segment\n`,
    );
    assert.deepEqual(rows, { count, distinct: count });
    assert.deepEqual(await readdir(spoolDirectory(home)), [], "the dead writer's directory is removed");
  });

  it('spool directory cannot be created: records are dropped and counted, nothing throws', async (t) => {
    // Root ignores permissions, so the unwritable spool lives below a regular file.
    const spool = new Spool({ dir: '/etc/hostname/pipetel/spool' });
    const warnings: string[] = [];
    const exporter = new PostgresLogRecordExporter({
      connectionString: UNREACHABLE,
      batchSize: 100,
      flushIntervalMs: 20,
      maxQueueSize: 10_000,
      retry: FAST_RETRY,
      spill: spool,
      warn: (message) => warnings.push(message),
    });
    emit(exporter, 'unwritable', 1000);
    await exporter.forceFlush(30_000);
    const stats = exporter.stats();
    await exporter.shutdown();
    await spool.close();
    t.diagnostic(`unwritable spool: emitted 1000, dropped ${stats.dropped}, spooled ${stats.spooled}`);
    assert.deepEqual(stats, { queued: 0, exported: 0, dropped: 1000, spooled: 0, failed: 0 });
    assert.ok(warnings.some((w) => /spool unavailable: .*ENOTDIR/.test(w)));
    assert.ok(warnings.every((w) => !w.includes('not-the-password')));
    // The synchronizer of such a home finds nothing to do rather than failing.
    const sync = new LogSynchronizer({ home: '/etc/hostname/pipetel', connectionString: db.url });
    assert.equal((await sync.syncOnce()).replayed, 0);
    await sync.stop();
  });
});

function restoreEnv(key: string, value: string | undefined): void {
  if (value === undefined) delete process.env[key];
  else process.env[key] = value;
}
