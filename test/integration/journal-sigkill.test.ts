// spool.mode: always — a process SIGKILLed at a random moment loses at most the records of the last
// spool.flush_ms: a replay of its journal stores every record emitted before that, each once,
// whether its batch had reached the database before the kill or not.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LogSynchronizer } from '../../src/sync/LogSynchronizer.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const fixture = resolve(import.meta.dirname, '../fixtures/apps/journal-writer.ts');
const FLUSH_MS = 50;
/** Scheduling slack on a busy 2-core machine, on top of flush_ms. */
const MARGIN_MS = 250;

interface Progress {
  seq: number;
  atMs: number;
}

/** Runs the writer and kills it `killAfterMs` after it is ready; the progress lines it printed. */
function runAndKill(
  env: Record<string, string>,
  killAfterMs: number,
): Promise<{ progress: Progress[]; killedAt: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const progress: Progress[] = [];
  let out = '';
  let killedAt = 0;
  child.stdout.on('data', (chunk) => {
    out += chunk;
    let newline = out.indexOf('\n');
    while (newline >= 0) {
      const line = JSON.parse(out.slice(0, newline)) as Progress & { ready?: boolean };
      out = out.slice(newline + 1);
      newline = out.indexOf('\n');
      if (line.ready) {
        setTimeout(() => {
          killedAt = Date.now();
          child.kill('SIGKILL');
        }, killAfterMs);
      } else progress.push(line);
    }
  });
  return new Promise((resolvePromise) => child.once('exit', () => resolvePromise({ progress, killedAt })));
}

describe('spool.mode: always under SIGKILL', () => {
  let db: TestDatabase;
  const homes: string[] = [];
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => {
    for (const home of homes) await rm(home, { recursive: true, force: true });
    await db?.drop();
  });

  // Kill moments drawn at random (printed, so a failure can be rerun); two with small batches,
  // so some records are in the database before the kill and the replay must skip them.
  const runs = Array.from({ length: 4 }, (_, i) => ({
    killAfterMs: 500 + Math.floor(Math.random() * 1200),
    batchSize: i % 2 === 0 ? 100_000 : 300,
  }));
  for (const [i, { killAfterMs, batchSize }] of runs.entries()) {
    it(`run ${i + 1}: killed ${killAfterMs} ms after start, batch_size ${batchSize}: every record older than flush_ms is stored, once`, async () => {
      const home = await mkdtemp(join(tmpdir(), 'pipetel-journal-'));
      homes.push(home);
      const experimentId = `journal-${i}-${Date.now()}`;
      const { progress, killedAt } = await runAndKill(
        {
          PIPETEL_HOME: home,
          PIPETEL_DATABASE_URL: db.url,
          EXPERIMENT_ID: experimentId,
          FLUSH_MS: String(FLUSH_MS),
          BATCH_SIZE: String(batchSize),
        },
        killAfterMs,
      );
      // Records emitted by this moment must have survived the kill.
      const safeBefore = killedAt - FLUSH_MS - MARGIN_MS;
      const mustHave = Math.max(0, ...progress.filter((p) => p.atMs <= safeBefore).map((p) => p.seq));
      const emitted = Math.max(0, ...progress.map((p) => p.seq));
      assert.ok(mustHave > 0, `the writer emitted records well before the kill (${emitted} in all)`);
      const query = () =>
        db.query<{ n: string; distinct: string; below: string }>(
          `SELECT count(*) AS n, count(DISTINCT (attributes->>'seq')::int) AS distinct,
                  count(*) FILTER (WHERE (attributes->>'seq')::int < $2) AS below
             FROM pipeline_logs WHERE experiment_id = $1`,
          [experimentId, mustHave],
        );
      const [beforeReplay] = await query();

      const sync = new LogSynchronizer({ home, connectionString: db.url, warn: () => undefined });
      await sync.syncOnce();
      await sync.stop();
      const [stored] = await query();
      if (batchSize === 100_000)
        assert.equal(
          Number(beforeReplay!.n),
          0,
          'nothing was written before the kill: the journal alone kept them',
        );
      assert.equal(
        Number(stored!.below),
        mustHave,
        `all ${mustHave} records emitted before ${FLUSH_MS} ms + margin are stored`,
      );
      assert.equal(Number(stored!.n), Number(stored!.distinct), 'no record is stored twice');
      assert.ok(Number(stored!.n) <= emitted);
      if (batchSize === 300)
        assert.ok(Number(beforeReplay!.n) > 0, 'some batches had reached the database before the kill');
    });
  }
});
