// PostgresProgressStore behind a ProgressTracker against a real PostgreSQL: one row per
// experiment and node, updated in place by later flushes, with every column where it belongs.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { migrate } from '../../exporters/postgres/migrate.js';
import { createPool } from '../../exporters/postgres/pool.js';
import { PostgresProgressStore } from '../../src/db/progressStore.js';
import { ProgressTracker } from '../../src/pipeline/Progress.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

interface ProgressTableRow {
  experiment_id: string;
  node_id: string;
  completed: number;
  total: number | null;
  status: string;
  rate: number | null;
  eta_seconds: number | null;
  stage: string | null;
  error: string | null;
  started_at: Date;
  updated_at: Date;
}

describe('pipeline_progress through PostgresProgressStore', () => {
  let db: TestDatabase;
  let pool: ReturnType<typeof createPool>;
  let store: PostgresProgressStore;
  let clockMs = Date.parse('2026-01-01T00:00:00Z');
  const now = () => clockMs;

  const tracker = (experimentId: string) =>
    // The interval never elapses within a test: flushes are explicit.
    new ProgressTracker({ experimentId, writer: store, updateIntervalMs: 3_600_000, now, warn: assert.fail });

  const rowsOf = (experimentId: string) =>
    db.query<ProgressTableRow>('SELECT * FROM pipeline_progress WHERE experiment_id = $1 ORDER BY node_id', [
      experimentId,
    ]);

  before(async () => {
    db = await createTestDatabase();
    await migrate(db.url);
    pool = createPool({ connectionString: db.url, maxConnections: 2 });
    store = new PostgresProgressStore(pool);
  });

  after(async () => {
    await pool?.end();
    await db?.drop();
  });

  test('a flush upserts every node in one go, with the right columns', async () => {
    const tel = tracker('exp-columns');
    const extract = tel.progress('extract', { total: 1000, stage: 'ingest' });
    const parse = tel.progress('parse');
    extract.advance(250);
    parse.advance(7);
    clockMs += 5_000;
    await tel.flush();

    const [extractRow, parseRow] = await rowsOf('exp-columns');
    assert.equal(extractRow.node_id, 'extract');
    assert.equal(extractRow.completed, 250);
    assert.equal(extractRow.total, 1000);
    assert.equal(extractRow.status, 'running');
    assert.equal(extractRow.rate, 50);
    assert.equal(extractRow.eta_seconds, 15);
    assert.equal(extractRow.stage, 'ingest');
    assert.equal(extractRow.error, null);
    assert.equal(extractRow.started_at.getTime(), clockMs - 5_000);
    assert.equal(extractRow.updated_at.getTime(), clockMs);
    assert.equal(parseRow.total, null);
    assert.equal(parseRow.eta_seconds, null);
    assert.equal(parseRow.stage, null);
    await tel.shutdown();
  });

  test('later flushes update the same row, and updated_at moves', async () => {
    const tel = tracker('exp-updates');
    const train = tel.progress('train', { total: 100 });
    train.advance(10);
    clockMs += 1_000;
    await tel.flush();
    const [first] = await rowsOf('exp-updates');

    train.advance(30);
    clockMs += 1_000;
    await tel.flush();
    train.fail(new Error('CUDA out of memory\u0000'));
    clockMs += 1_000;
    await tel.shutdown();

    const rows = await rowsOf('exp-updates');
    assert.equal(rows.length, 1);
    const [last] = rows;
    assert.equal(last.completed, 40);
    assert.equal(last.status, 'failed');
    assert.equal(last.error, 'CUDA out of memory\uFFFD');
    assert.equal(last.started_at.getTime(), first.started_at.getTime());
    assert.ok(last.updated_at > first.updated_at, 'updated_at moves forward');
  });

  test('done() ends with completed = total and the overall rate', async () => {
    const tel = tracker('exp-done');
    const save = tel.progress('save', { total: 40 });
    save.advance(39);
    clockMs += 4_000;
    save.done();
    await tel.shutdown();
    const [row] = await rowsOf('exp-done');
    assert.equal(row.status, 'done');
    assert.equal(row.completed, 40);
    assert.equal(row.rate, 10);
    assert.equal(row.eta_seconds, 0);
  });

  test('two experiments with the same node id keep separate rows', async () => {
    const first = tracker('exp-a');
    const second = tracker('exp-b');
    first.progress('shared').advance(1);
    second.progress('shared').advance(2);
    clockMs += 1_000;
    await Promise.all([first.flush(), second.flush()]);
    first.progress('shared').advance(10);
    clockMs += 1_000;
    await first.shutdown();
    await second.shutdown();

    const rows = await db.query<ProgressTableRow>(
      "SELECT * FROM pipeline_progress WHERE node_id = 'shared' ORDER BY experiment_id",
    );
    assert.deepEqual(
      rows.map((row) => [row.experiment_id, row.completed]),
      [
        ['exp-a', 11],
        ['exp-b', 2],
      ],
    );
  });

  test('an older write never overwrites a newer row', async () => {
    const row = {
      experimentId: 'exp-order',
      nodeId: 'n',
      total: null,
      status: 'running' as const,
      rate: null,
      etaSeconds: null,
      stage: null,
      error: null,
      startedAt: new Date(clockMs),
    };
    await store.write([{ ...row, completed: 20, updatedAt: new Date(clockMs + 2_000) }]);
    await store.write([{ ...row, completed: 10, updatedAt: new Date(clockMs + 1_000) }]);
    const [stored] = await rowsOf('exp-order');
    assert.equal(stored.completed, 20);
  });

  test('many nodes in one statement, duplicates collapsed to the last row', async () => {
    const base = {
      experimentId: 'exp-many',
      total: null,
      status: 'running' as const,
      rate: null,
      etaSeconds: null,
      stage: null,
      error: null,
      startedAt: new Date(clockMs),
      updatedAt: new Date(clockMs),
    };
    const rows = Array.from({ length: 7000 }, (_, i) => ({ ...base, nodeId: `node-${i}`, completed: i }));
    rows.push({ ...base, nodeId: 'node-0', completed: 99 });
    await store.write(rows);
    const [{ count, zero }] = await db.query<{ count: string; zero: number }>(
      "SELECT count(*) AS count, max(completed) FILTER (WHERE node_id = 'node-0') AS zero FROM pipeline_progress WHERE experiment_id = 'exp-many'",
    );
    assert.equal(Number(count), 7000);
    assert.equal(zero, 99);
  });
});
