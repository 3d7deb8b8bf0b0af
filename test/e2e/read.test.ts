// Reading runs without SQL, as a user does: the built `pipetel` command in a child process against
// a real PostgreSQL holding runs that register() wrote — runs, show, logs (filters, search, live
// --follow through LISTEN/NOTIFY), progress, stats, export, doctor. Needs `npm run build`.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { tempDir } from '../helpers/tempDir.js';

const run = promisify(execFile);
const bin = resolve(import.meta.dirname, '../../bin/pipetel.js');
const writer = resolve(import.meta.dirname, '../fixtures/log-writer.ts');

describe('reading runs from the command line', () => {
  let db: TestDatabase;
  let env: NodeJS.ProcessEnv;
  const pipetel = (...args: string[]) => run(process.execPath, [bin, ...args], { env, timeout: 60_000 });
  const json = async <T>(...args: string[]): Promise<T> =>
    JSON.parse((await pipetel(...args, '--json')).stdout);
  const fails = async (args: string[], code: number, message: RegExp) =>
    assert.rejects(pipetel(...args), (e: { code: number; stderr: string }) => {
      assert.equal(e.code, code, `pipetel ${args.join(' ')}: ${e.stderr}`);
      assert.match(e.stderr, message);
      return true;
    });

  before(async () => {
    db = await createTestDatabase();
    env = { ...process.env, PIPETEL_DATABASE_URL: db.url, PIPETEL_HOME: tempDir('pipetel-read-') };
    await run(process.execPath, [bin, 'demo', '--items', '2000', '--experiment-id', 'read-demo'], {
      env,
      timeout: 120_000,
    });
    // A second run, newer, with a hostile message: terminal escapes and a newline.
    await run(process.execPath, ['--import', 'tsx', writer, 'read-writer', '3', '0', 'evil \x1b[2J\nnext'], {
      env,
      timeout: 60_000,
    });
  });
  after(async () => db?.drop());

  it('runs lists runs newest first with status and error counts, and filters them', async () => {
    const rows = await json<Array<{ experiment_id: string; status: string; errors: number }>>('runs');
    assert.deepEqual(
      rows.map((r) => r.experiment_id),
      ['read-writer', 'read-demo'],
    );
    assert.equal(rows[1]!.status, 'succeeded');
    assert.equal(rows[1]!.errors, 2, 'the demo logs one ERROR and one CRITICAL');
    const human = (await pipetel('runs')).stdout;
    assert.match(human, /^RUN\s+SERVICE\s+STATUS\s+STARTED\s+DURATION\s+ERRORS$/m);
    assert.match(human, /^read-demo\s+pipetel-demo\s+succeeded\s/m);
    assert.deepEqual(await json('runs', '--status', 'failed'), []);
    assert.equal((await json<unknown[]>('runs', '--limit', '1')).length, 1);
    assert.equal((await json<unknown[]>('runs', '--since', '1h')).length, 2);
    assert.deepEqual(await json('runs', '--since', '2000-01-01', '--status', 'running'), []);
    await fails(['runs', '--since', 'yesterday'], 2, /--since expects a duration/);
    await fails(['runs', '--status', 'done'], 2, /--status expects one of running, succeeded, failed/);
  });

  it('show prints the stage tree with CPU and peak RSS, progress and errors; RUN may be a prefix', async () => {
    const { stdout } = await pipetel('show', 'read-d');
    assert.match(stdout, /^run read-demo {2}service pipetel-demo {2}succeeded$/m);
    assert.match(stdout, /^ {2}STAGE\s+DURATION\s+CPU USER\s+CPU SYS\s+PEAK RSS\s+STATUS$/m);
    assert.match(stdout, /^ {4}epoch-2\s+[\d.]+ (ms|s)\s+[\d.]+ (ms|s)\s+[\d.]+ (ms|s)\s+[\d.]+ MB\s+OK$/m);
    assert.match(stdout, /^ {2}validate\s.*ERROR$/m);
    assert.match(stdout, /^ {2}validate\s+3\s+10\s+failed/m);
    assert.match(stdout, /ERROR pipetel\.stage: stage validate failed: .*\[traceback: \d+ lines\]/);
    // A histogram's latest point reads as its mean and count, not its sum.
    const [latest] = await db.query<{ count: string; sum: number }>(
      `SELECT count, sum FROM pipeline_metrics WHERE experiment_id = 'read-demo' AND name = 'demo.batch_duration'
        ORDER BY "timestamp" DESC LIMIT 1`,
    );
    const mean = Number((latest!.sum / Number(latest!.count)).toFixed(3));
    assert.match(
      stdout,
      new RegExp(
        `^ {2}demo\\.batch_duration\\s+histogram\\s+\\d+\\s+1\\s+mean ${mean} of ${latest!.count}$`,
        'm',
      ),
    );
    const detail = await json<{ run: { experiment_id: string }; stages: unknown[] }>('show');
    assert.equal(detail.run.experiment_id, 'read-writer', 'RUN defaults to the latest run');
    await fails(['show', 'read-'], 1, /run 'read-' is ambiguous: it starts read-writer, read-demo/);
    await fails(['show', 'nope'], 1, /no run 'nope'/);
  });

  it('logs filters by level, stage, text and time, oldest first, and never prints raw control characters', async () => {
    const errors = await json<Array<{ level: string; message: string }>>(
      'logs',
      'read-demo',
      '--level',
      'error',
    );
    assert.deepEqual(
      errors.map((r) => r.level),
      ['ERROR', 'CRITICAL'],
    );
    const [{ n }] = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pipeline_logs WHERE experiment_id = 'read-demo' AND stage = 'train'",
    );
    const train = await json<Array<{ stage: string }>>('logs', 'read-demo', '--stage', 'train');
    assert.equal(train.length, n);
    assert.ok(n > 0 && train.every((r) => r.stage === 'train'));
    const found = await json<Array<{ message: string }>>('logs', 'read-demo', '--search', 'imbalance');
    assert.equal(found.length, 1);
    assert.match(found[0]!.message, /class imbalance/);
    assert.deepEqual(await json('logs', 'read-demo', '--search', 'imbalance -rare'), []);
    const tail = await json<Array<{ timestamp: string }>>('logs', 'read-demo', '--limit', '3');
    assert.equal(tail.length, 3);
    const all = await json<Array<{ timestamp: string }>>('logs', 'read-demo');
    assert.deepEqual(tail, all.slice(-3), '--limit keeps the newest lines, oldest first');
    assert.deepEqual(await json('logs', 'read-demo', '--since', '2099-01-01'), []);

    const human = (await pipetel('logs', 'read-writer')).stdout;
    assert.match(human, /INFO {5}test\.writer: evil \\x1b\[2J\\x0anext 0/);
    assert.doesNotMatch(human, /\x1b/, 'no escape character reaches the terminal');
    await fails(['logs', '--level', 'loud'], 2, /--level expects DEBUG, INFO, WARNING, ERROR or CRITICAL/);
  });

  it('logs --follow prints lines as their batches are stored and ends when the run ends', async () => {
    // A writer that logs 8 lines 300 ms apart, each flushed on its own (flush_interval 0.1 s).
    const child = spawn(process.execPath, ['--import', 'tsx', writer, 'read-live', '8', '300', 'live'], {
      env,
    });
    const childExit = new Promise<number | null>((done) => child.on('exit', done));
    await waitFor(
      async () =>
        (await db.query("SELECT 1 FROM pipeline_experiments WHERE experiment_id = 'read-live'")).length > 0,
    );
    const follower = spawn(process.execPath, [bin, 'logs', 'read-live', '--follow', '--json'], { env });
    let out = '';
    follower.stdout.on('data', (chunk) => {
      out += chunk;
    });
    let err = '';
    follower.stderr.on('data', (chunk) => {
      err += chunk;
    });
    const followerExit = new Promise<number | null>((done) => follower.on('exit', done));
    // Lines arrive while the writer is still running, not only at its end.
    await waitFor(async () => out.split('\n').filter(Boolean).length >= 2);
    assert.equal(child.exitCode, null, 'the writer is still running');
    assert.equal(await childExit, 0);
    assert.equal(await followerExit, 0, `the follower ends after the run ends: ${err}`);
    const lines = out
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { message: string; id: string });
    assert.deepEqual(
      lines.map((l) => l.message),
      Array.from({ length: 8 }, (_, i) => `live ${i}`),
    );
    assert.equal(new Set(lines.map((l) => l.id)).size, 8, 'no line twice');
  });

  it('logs --follow on a running run gone silent: keeps following a while, lets a long-dead one go', async () => {
    await db.query(
      `INSERT INTO pipeline_experiments (experiment_id, service_name, status, started_at, last_seen_at)
       VALUES ('read-silent', 's', 'running', now() - interval '10 minutes', now() - interval '2 minutes'),
              ('read-dead', 's', 'running', now() - interval '1 hour', now() - interval '30 minutes')`,
    );
    // Silent for 2 minutes (a long synchronous step, say): followed, and said so.
    const follower = spawn(process.execPath, [bin, 'logs', 'read-silent', '--follow'], { env });
    let err = '';
    follower.stderr.on('data', (chunk) => {
      err += chunk;
    });
    const followerExit = new Promise<number | null>((done) => follower.on('exit', done));
    await waitFor(async () => /still following for 5 min/.test(err));
    assert.equal(follower.exitCode, null, 'still following');
    follower.kill('SIGINT');
    await followerExit;
    // Silent for 30 minutes: let go, saying why.
    const dead = await pipetel('logs', 'read-dead', '--follow');
    assert.match(dead.stderr, /stopped following: running, no heartbeat since .* its process looks dead/);
  });

  it('logs --follow --limit N starts with the newest N lines only, on an ended run too', async () => {
    // The follower looks back over a window for batches that commit out of order; lines --limit
    // left out of its first read sit in that window and must not be printed after the newest.
    const all = await json<Array<{ id: string }>>('logs', 'read-demo');
    assert.ok(all.length > 3, `the demo stored ${all.length} lines`);
    const { stdout } = await pipetel('logs', 'read-demo', '--follow', '--limit', '2', '--json');
    const followed = stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { id: string }).id);
    assert.deepEqual(
      followed,
      all.slice(-2).map((r) => r.id),
    );
  });

  it('the pipeline_logs trigger notifies once per written statement, not once per row', async () => {
    const listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    try {
      const payloads: string[] = [];
      listener.on('notification', (m) => payloads.push(m.payload ?? ''));
      await listener.query('LISTEN pipetel_logs');
      await db.query(
        `INSERT INTO pipeline_logs (id, experiment_id, "timestamp", level, severity_number, message)
         SELECT gen_random_uuid(), CASE WHEN g % 2 = 0 THEN 'notify-a' ELSE 'notify-b' END, now(), 'INFO', 9, 'm'
           FROM generate_series(1, 500) g`,
      );
      await waitFor(async () => payloads.length >= 2);
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(payloads.sort(), ['notify-a', 'notify-b']);
    } finally {
      await listener.end();
    }
  });

  it('progress prints bars with counts and status', async () => {
    const { stdout } = await pipetel('progress', 'read-demo');
    assert.match(stdout, /^ {2}extract\s+█{24} 100% {2}2,000\/2,000\s.*done$/m);
    assert.match(stdout, /^ {2}validate\s+█{7}░{17} {2}30% {2}3\/10\s.*failed: validation accuracy/m);
    const rows = await json<Array<{ node_id: string; completed: number }>>('progress', 'read-demo');
    assert.ok(rows.some((r) => r.node_id === 'train' && r.completed > 0));
    // --watch on an ended run draws once and returns.
    const watched = await pipetel('progress', 'read-demo', '--watch');
    assert.match(watched.stdout, /extract/);
  });

  it('export streams a run as csv or jsonl, every row once', async () => {
    const [{ n }] = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pipeline_logs WHERE experiment_id = 'read-demo'",
    );
    const csv = (await pipetel('export', 'read-demo', '--format', 'csv')).stdout;
    assert.match(
      csv,
      /^id,experiment_id,timestamp,level,severity_number,logger_name,message,traceback,attributes/,
    );
    const jsonl = (await pipetel('export', 'read-demo')).stdout.trimEnd().split('\n');
    assert.equal(jsonl.length, n);
    const rows = jsonl.map((l) => JSON.parse(l) as { experiment_id: string; traceback: string | null });
    assert.ok(rows.every((r) => r.experiment_id === 'read-demo'));
    assert.ok(
      rows.some((r) => r.traceback?.includes('\n')),
      'multi-line tracebacks survive as JSON strings',
    );
    const file = join(env.PIPETEL_HOME!, 'spans.csv');
    await pipetel('export', 'read-demo', '--table', 'spans', '--format', 'csv', '--output', file);
    const spanLines = readFileSync(file, 'utf8').trimEnd().split('\n');
    const [{ spans }] = await db.query<{ spans: number }>(
      "SELECT count(*)::int AS spans FROM pipeline_spans WHERE experiment_id = 'read-demo'",
    );
    assert.ok(spanLines.length >= spans + 1, 'header plus every span (csv quotes multi-line values)');
    await fails(['export', 'read-demo', '--format', 'xml'], 2, /--format expects jsonl or csv/);
  });

  it('stats reports logs per minute, batch sizes and table sizes', async () => {
    const s = await json<{
      logsPerMinute: Array<{ logs: number }>;
      batchEfficiency: Array<{ batches: number; avg_batch_size: number }>;
      tables: Array<{ table: string; rows: number }>;
      records: Array<{ signal: string; exported: number }>;
      writeLatency: Array<{ signal: string; batches: number }>;
    }>('stats');
    const [{ n }] = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pipeline_logs WHERE created_at > now() - interval '1 hour'",
    );
    assert.equal(
      s.logsPerMinute.reduce((sum, m) => sum + m.logs, 0),
      n,
    );
    assert.ok(s.batchEfficiency.every((b) => b.batches >= 1 && b.avg_batch_size > 0));
    assert.ok(s.tables.some((t) => t.table === 'pipeline_logs'));
    // pipetel's own counters are taken after the last batch: a short run's final count is in.
    // (Rows other tests insert with SQL are not pipetel's to count.)
    const [{ written }] = await db.query<{ written: number }>(
      "SELECT count(*)::int AS written FROM pipeline_logs WHERE experiment_id IN ('read-demo', 'read-writer', 'read-live')",
    );
    assert.equal(
      s.records.find((r) => r.signal === 'logs')?.exported,
      written,
      'every line the registered processes stored is counted',
    );
    assert.ok((s.writeLatency.find((w) => w.signal === 'logs')?.batches ?? 0) >= 1);
    assert.match((await pipetel('stats')).stdout, /logs per minute[\s\S]*tables[\s\S]*pipeline_logs/);
  });

  it('ui serves the dashboard until Ctrl-C, and refuses to bind off loopback without a token', async () => {
    const child = spawn(process.execPath, [bin, 'ui', '--port', '0'], { env });
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    const exited = new Promise<number | null>((done) => child.on('exit', done));
    await waitFor(async () => /pipetel ui: http:\/\/127\.0\.0\.1:\d+\//.test(out));
    const base = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)![1]!;
    const runs = (await (await fetch(`${base}api/runs`)).json()) as Array<{ experiment_id: string }>;
    assert.ok(runs.some((r) => r.experiment_id === 'read-demo'));
    child.kill('SIGINT');
    assert.equal(await exited, 0);
    await fails(
      ['ui', '--host', '0.0.0.0', '--port', '0'],
      2,
      /binding 0\.0\.0\.0 \(not loopback\) needs a token/,
    );
  });

  it('doctor passes on a healthy install and fails, naming it, when the live-tail trigger is gone', async () => {
    const ok = await pipetel('doctor');
    assert.match(ok.stdout, /^ok {4}migrations\s+all \d+ applied$/m);
    assert.match(ok.stdout, /^ok {4}live tail/m);
    await db.query('ALTER TABLE pipeline_logs DISABLE TRIGGER pipetel_logs_notify');
    await assert.rejects(pipetel('doctor'), (e: { code: number; stdout: string }) => {
      assert.equal(e.code, 1);
      assert.match(e.stdout, /^FAIL {2}live tail\s+trigger pipetel_logs_notify missing or disabled$/m);
      return true;
    });
    await db.query('ALTER TABLE pipeline_logs ENABLE TRIGGER pipetel_logs_notify');
    const unreachable = { ...env, PIPETEL_DATABASE_URL: 'postgres://nobody:secret-pw@127.0.0.1:1/none' };
    await assert.rejects(
      run(process.execPath, [bin, 'doctor'], { env: unreachable }),
      (e: { code: number; stdout: string }) => {
        assert.equal(e.code, 1);
        assert.match(e.stdout, /^FAIL {2}reachable\s+cannot connect/m);
        assert.doesNotMatch(e.stdout, /secret-pw/);
        return true;
      },
    );
  });
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
