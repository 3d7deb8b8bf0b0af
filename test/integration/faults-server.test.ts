// Fault injection against a PostgreSQL server this file owns (an embedded server with its own
// temporary home, so stopping it touches nobody else's tests): the server stopped for seconds
// while records flow, and backends terminated mid-batch. Afterwards, once the spool is replayed,
// every record is in the database exactly once.

import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import pg from 'pg';
import { Spool, spoolDirectory } from '../../exporters/delivery/Spool.js';
import { migrate } from '../../exporters/postgres/migrate.js';
import { PostgresLogRecordExporter } from '../../exporters/postgres/PostgresLogRecordExporter.js';
import { ensureEmbeddedPostgres, stopEmbeddedPostgres } from '../../src/db/embedded/index.js';
import { LogSynchronizer } from '../../src/sync/LogSynchronizer.js';
import { logRecord } from '../fixtures/apps/spool-support.js';
import { withDatabase } from '../helpers/database.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let home: string;
let serverUrl: string;

before(async () => {
  home = await mkdtemp(join(tmpdir(), 'pipetel-faults-'));
  await chmod(home, 0o755); // under root the server runs as another account and must pass through
  serverUrl = (await ensureEmbeddedPostgres({ home })).url;
});
/** Exporters and spools still open when a test fails: closed before the home is removed. */
const open: Array<{ shutdown(): Promise<void> } | { close(): Promise<void> }> = [];

after(async () => {
  for (const item of open) {
    // Bounded: a stuck close must not keep the server below from being stopped.
    const closing = ('shutdown' in item ? item.shutdown() : item.close()).catch(() => undefined);
    await Promise.race([closing, new Promise((resolve) => setTimeout(resolve, 15_000).unref())]);
  }
  if (home) {
    await stopEmbeddedPostgres({ home }).catch((error) => console.error(`stopping ${home}: ${error}`));
    await rm(home, { recursive: true, force: true });
  }
});

async function newDatabase(name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = withDatabase(serverUrl, name);
  await migrate(url);
  return url;
}

interface Counts {
  count: number;
  distinctMessages: number;
  distinctIds: number;
}

async function storedRows(url: string, tag: string): Promise<Counts> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query(
      `SELECT count(*)::int AS count, count(DISTINCT message)::int AS "distinctMessages",
              count(DISTINCT id)::int AS "distinctIds"
         FROM pipeline_logs WHERE message LIKE $1 || ' %'`,
      [tag],
    );
    return rows[0] as Counts;
  } finally {
    await client.end();
  }
}

/** An exporter that retries fast and gives up to the spool within a second. */
function spooledExporter(url: string, spool: Spool, warnings: string[]) {
  const exporter = new PostgresLogRecordExporter({
    connectionString: url,
    batchSize: 50,
    flushIntervalMs: 20,
    maxBatchSize: 200,
    maxQueueSize: 1_000_000,
    connectionTimeoutMs: 1000,
    retry: { initialDelayMs: 10, maxDelayMs: 100, multiplier: 2, maxElapsedMs: 1000 },
    spill: spool,
    warn: (message) => warnings.push(message),
  });
  open.push(exporter, spool);
  return exporter;
}

/** Emits numbered records in small bursts until stopped; returns how many it emitted. */
function startEmitting(exporter: PostgresLogRecordExporter, tag: string) {
  let emitted = 0;
  let running = true;
  const done = (async () => {
    while (running) {
      exporter.export(
        Array.from({ length: 20 }, (_, i) => logRecord(tag, emitted + i)),
        () => undefined,
      );
      emitted += 20;
      await sleep(5);
    }
    return emitted;
  })();
  return {
    get emitted() {
      return emitted;
    },
    stop: () => {
      running = false;
      return done;
    },
  };
}

async function until(condition: () => Promise<boolean> | boolean, what: string, tries = 600): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await condition()) return;
    await sleep(50);
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** Flushes and closes the exporter and the spool, then replays the spool into `url`. */
async function finishAndReplay(exporter: PostgresLogRecordExporter, spool: Spool, url: string) {
  await exporter.forceFlush(60_000);
  const stats = exporter.stats();
  await exporter.shutdown(10_000);
  await spool.close();
  const sync = new LogSynchronizer({ home, connectionString: url, batchSize: 500, warn: () => undefined });
  const replay = await sync.syncOnce();
  await sync.stop();
  return { stats, replay };
}

function report(
  t: TestContext,
  name: string,
  emitted: number,
  stored: Counts,
  extra: Record<string, number>,
) {
  const details = Object.entries(extra)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  t.diagnostic(
    `${name}: emitted ${emitted}, stored ${stored.count} (distinct ${stored.distinctMessages}); ${details}`,
  );
}

describe('faults on a server this test owns', () => {
  it('server stopped for seconds mid-run: after restart and replay every record is stored once', async (t) => {
    const url = await newDatabase('fault_stop');
    const warnings: string[] = [];
    const spool = new Spool({ dir: spoolDirectory(home), fsyncIntervalMs: 100 });
    const exporter = spooledExporter(url, spool, warnings);
    const emitter = startEmitting(exporter, 'stop');
    let emitted: number;
    try {
      await until(async () => (await storedRows(url, 'stop')).count > 0, 'the first rows');
      await stopEmbeddedPostgres({ home });
      const emittedAtStop = emitter.emitted;
      await sleep(3000); // the outage: records keep flowing meanwhile
      assert.ok(emitter.emitted > emittedAtStop, 'records were emitted during the outage');
      const restarted = await ensureEmbeddedPostgres({ home });
      assert.equal(restarted.url, serverUrl, 'the server came back on its port');
      const exportedAtRestart = exporter.stats().exported;
      await until(() => exporter.stats().exported > exportedAtRestart, 'writes to resume after the restart');
    } finally {
      emitted = await emitter.stop();
    }

    const { stats, replay } = await finishAndReplay(exporter, spool, url);
    const stored = await storedRows(url, 'stop');
    report(t, 'server stopped 3 s', emitted, stored, {
      exported: stats.exported,
      spooled: stats.spooled,
      replayed: replay.replayed,
      'already present': replay.duplicates,
    });
    assert.equal(stats.dropped, 0);
    assert.equal(stats.failed, 0);
    assert.ok(stats.spooled > 0, 'the outage outlasted the retries, so some batches were spooled');
    assert.equal(stats.exported + stats.spooled, emitted);
    assert.equal(replay.replayed + replay.duplicates, stats.spooled);
    assert.equal(replay.corrupt, 0);
    assert.deepEqual(stored, { count: emitted, distinctMessages: emitted, distinctIds: emitted });
  });

  it('backends terminated mid-batch, again and again: every record stored once', async (t) => {
    const url = await newDatabase('fault_terminate');
    const warnings: string[] = [];
    const spool = new Spool({ dir: spoolDirectory(home), fsyncIntervalMs: 100 });
    const exporter = spooledExporter(url, spool, warnings);
    const killer = new pg.Client({ connectionString: url, application_name: 'pipetel-fault-killer' });
    await killer.connect();
    let terminated = 0;
    let killing = true;
    const killLoop = (async () => {
      while (killing) {
        const { rows } = await killer.query(
          `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
            WHERE application_name = 'pipetel' AND datname = current_database()`,
        );
        terminated += rows[0].n as number;
        // Irregular gaps, so terminations land at every point of a write, and writes do get through.
        await sleep(10 + Math.random() * 90);
      }
    })();
    const emitter = startEmitting(exporter, 'terminate');
    let emitted: number;
    try {
      await until(
        () => terminated >= 40 && exporter.stats().exported > 0,
        'terminations while writing',
        1200,
      );
    } finally {
      emitted = await emitter.stop();
      killing = false;
      await killLoop;
      await killer.end();
    }

    const { stats, replay } = await finishAndReplay(exporter, spool, url);
    const stored = await storedRows(url, 'terminate');
    report(t, 'backends terminated', emitted, stored, {
      terminated,
      exported: stats.exported,
      spooled: stats.spooled,
      replayed: replay.replayed,
      'already present': replay.duplicates,
    });
    assert.equal(stats.dropped, 0);
    assert.equal(stats.failed, 0);
    assert.equal(stats.exported + stats.spooled, emitted);
    assert.deepEqual(stored, { count: emitted, distinctMessages: emitted, distinctIds: emitted });
  });
});
