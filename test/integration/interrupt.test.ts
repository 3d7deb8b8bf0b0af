// Ctrl-C (SIGINT) or SIGTERM in the middle of a stage, with no handler of the application's: the
// open stage span is stored as ERROR, the running progress node as failed, the run as failed —
// each saying it was interrupted — and the process still ends by the signal.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

describe('interrupted by a signal mid-stage', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => db?.drop());

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal}: the open stage, its progress and the run are stored as interrupted`, async (t) => {
      const experimentId = `exp-${signal.toLowerCase()}-mid-stage`;
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', resolve(import.meta.dirname, '../fixtures/apps/interrupt.ts')],
        {
          env: { ...process.env, EXPERIMENT_ID: experimentId, DATABASE_URL: db.url },
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      let stdout = '';
      child.stdout.on('data', (d) => {
        stdout += d;
      });
      while (!stdout.includes('ready')) await once(child.stdout, 'data');
      const sentAt = Date.now();
      child.kill(signal);
      const [code, endedBy] = await once(child, 'exit');
      t.diagnostic(`${signal}: process ended ${Date.now() - sentAt} ms after the signal`);
      assert.equal(code, null);
      assert.equal(endedBy, signal, 'the default action of the signal still ends the process');

      const spans = await db.query(
        // Start times are whole milliseconds (OTel JS takes them from Date.now()): two stages in a
        // row can share one, and the one that ended first ran first.
        'SELECT name, status_code, status_message, attributes FROM pipeline_spans WHERE experiment_id = $1 ORDER BY start_time, end_time',
        [experimentId],
      );
      assert.deepEqual(
        spans.map((s) => [s.name, s.status_code, s.status_message]),
        [
          ['prepare', 'OK', null],
          ['train', 'ERROR', `interrupted by ${signal}`],
        ],
      );
      assert.equal(spans[1].attributes['pipetel.interrupted'], signal);
      const [progress] = await db.query(
        'SELECT completed, total, status, error FROM pipeline_progress WHERE experiment_id = $1',
        [experimentId],
      );
      assert.deepEqual(progress, {
        completed: 400,
        total: 1000,
        status: 'interrupted',
        error: `interrupted by ${signal}`,
      });
      const [experiment] = await db.query(
        'SELECT status, status_reason, ended_at FROM pipeline_experiments WHERE experiment_id = $1',
        [experimentId],
      );
      assert.equal(experiment.status, 'failed');
      assert.equal(experiment.status_reason, `interrupted by ${signal}`);
      assert.ok(experiment.ended_at);
      const logs = await db.query(
        "SELECT message FROM pipeline_logs WHERE experiment_id = $1 AND level = 'ERROR'",
        [experimentId],
      );
      assert.deepEqual(
        logs.map((l) => l.message),
        [`interrupted by ${signal} during stage train`],
      );
    });
  }

  it('an uncaught exception mid-stage: the stage stored as ERROR with it, progress failed, the crash logged', async () => {
    const experimentId = 'exp-crash-mid-stage';
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', resolve(import.meta.dirname, '../fixtures/apps/interrupt.ts')],
      {
        env: { ...process.env, EXPERIMENT_ID: experimentId, DATABASE_URL: db.url, CRASH: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const [code] = await once(child, 'exit');
    assert.equal(code, 1, 'exits 1, as without pipetel');
    assert.match(stderr, /GPU fell off the bus/, 'the error is still printed');
    const spans = await db.query(
      'SELECT name, status_code, status_message, events FROM pipeline_spans WHERE experiment_id = $1 ORDER BY start_time, end_time',
      [experimentId],
    );
    assert.deepEqual(
      spans.map((s) => [s.name, s.status_code, s.status_message]),
      [
        ['prepare', 'OK', null],
        ['train', 'ERROR', 'GPU fell off the bus'],
      ],
      'the stage it died in is stored',
    );
    assert.equal(spans[1].events[0]?.name, 'exception', 'with the exception recorded');
    const [progress] = await db.query(
      'SELECT completed, status, error FROM pipeline_progress WHERE experiment_id = $1',
      [experimentId],
    );
    assert.deepEqual(progress, { completed: 400, status: 'failed', error: 'Error: GPU fell off the bus' });
    const logs = await db.query(
      "SELECT message, traceback, stage FROM pipeline_logs WHERE experiment_id = $1 AND level = 'ERROR'",
      [experimentId],
    );
    assert.equal(logs.length, 1);
    assert.equal(logs[0].message, 'uncaught exception during stage train: GPU fell off the bus');
    assert.match(logs[0].traceback, /GPU fell off the bus\n\s+at /);
    const [experiment] = await db.query(
      'SELECT status, status_reason FROM pipeline_experiments WHERE experiment_id = $1',
      [experimentId],
    );
    assert.deepEqual(experiment, { status: 'failed', status_reason: 'Error: GPU fell off the bus' });
  });
});
