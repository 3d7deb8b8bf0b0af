// The dashboard's JSON API and live stream against a real PostgreSQL: runs, a run's detail, logs
// with search, progress; server-sent log events as batches are stored, resuming after
// Last-Event-ID; read-only; loopback unless a token guards it.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { RunReader } from '../../src/db/runReader.js';
import { type RunningUi, startUi } from '../../src/ui/server.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcpProxy.js';
import { tempDir } from '../helpers/tempDir.js';

const run = promisify(execFile);
const writer = resolve(import.meta.dirname, '../fixtures/log-writer.ts');

/** Reads server-sent events until `until` says stop (or the timeout). */
async function readEvents(
  url: string,
  headers: Record<string, string>,
  until: (events: Array<{ event: string; id?: string; data: unknown }>) => boolean,
  timeoutMs = 30_000,
) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const events: Array<{ event: string; id?: string; data: unknown }> = [];
  try {
    const res = await fetch(url, { headers, signal: controller.signal });
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let at = buffer.indexOf('\n\n');
      while (at >= 0) {
        const block = buffer.slice(0, at);
        buffer = buffer.slice(at + 2);
        const fields = Object.fromEntries(
          block
            .split('\n')
            .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]),
        );
        events.push({
          event: fields.event ?? 'message',
          id: fields.id,
          data: JSON.parse(fields.data ?? 'null'),
        });
        at = buffer.indexOf('\n\n');
      }
      if (until(events)) break;
    }
  } catch (error) {
    if ((error as Error).name !== 'AbortError') throw error;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return events;
}

describe('pipetel ui: the JSON API and the live stream', () => {
  let db: TestDatabase;
  let env: NodeJS.ProcessEnv;
  let ui: RunningUi;
  before(async () => {
    db = await createTestDatabase();
    env = { ...process.env, PIPETEL_DATABASE_URL: db.url, PIPETEL_HOME: tempDir('pipetel-ui-') };
    await run(
      process.execPath,
      ['--import', 'tsx', writer, 'ui-done', '3', '0', '<img src=x onerror=alert(1)> line'],
      {
        env,
        timeout: 60_000,
      },
    );
    ui = await startUi({ url: db.url, port: 0 });
  });
  after(async () => {
    await ui?.close();
    await db?.drop();
  });

  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(new URL(path, ui.url), { headers });

  it('serves runs, a run, its logs (with full-text search) and progress as JSON; unknown runs are 404s', async () => {
    const runs = (await (await get('/api/runs')).json()) as Array<{ experiment_id: string }>;
    assert.ok(runs.some((r) => r.experiment_id === 'ui-done'));
    const detail = (await (await get('/api/runs/ui-done')).json()) as {
      run: { status: string };
      stages: unknown[];
    };
    assert.equal(detail.run.status, 'succeeded');
    const logs = (await (await get('/api/runs/ui-done/logs?search=line')).json()) as Array<{
      message: string;
    }>;
    assert.deepEqual(
      logs.map((l) => l.message),
      [
        '<img src=x onerror=alert(1)> line 0',
        '<img src=x onerror=alert(1)> line 1',
        '<img src=x onerror=alert(1)> line 2',
      ],
      'stored text comes back as JSON strings, untouched',
    );
    assert.equal((await get('/api/runs/ui-done/progress')).status, 200);
    const series = (await (
      await get('/api/runs/ui-done/metrics?name=pipetel.records.exported')
    ).json()) as Array<{
      attributes: { signal?: string };
      points: Array<[number, number]>;
    }>;
    assert.ok(
      series.some((s) => s.attributes.signal === 'logs' && s.points.length > 0),
      JSON.stringify(series),
    );
    assert.equal((await get('/api/runs/ui-done/metrics')).status, 400, 'name= is required');
    const uplot = await get('/assets/uplot.js');
    assert.equal(uplot.status, 200);
    assert.match(await uplot.text(), /uPlot/);
    // The run page's address (SPEC §11) leads to the page's own route for it.
    const runPage = await fetch(new URL('/runs/ui-done', ui.url), { redirect: 'manual' });
    assert.equal(runPage.status, 302);
    assert.equal(runPage.headers.get('location'), '/#/run/ui-done');
    const withToken = await fetch(new URL('/runs/ui%20x?token=t', ui.url), { redirect: 'manual' });
    assert.equal(withToken.headers.get('location'), '/?token=t#/run/ui%20x', 'the query (a token) is kept');
    // A filter value the API does not know is a 400 naming it, as the CLI's usage error.
    for (const [path, named] of [
      ['/api/runs?status=bogus', /status= expects one of running, succeeded, failed, got "bogus"/],
      ['/api/runs/ui-done/logs?level=bogus', /level= expects DEBUG/],
      ['/api/runs?limit=abc', /limit= expects a positive integer/],
    ] as const) {
      const answer = await get(path);
      assert.equal(answer.status, 400, path);
      assert.match(((await answer.json()) as { error: string }).error, named);
    }
    const missing = await get('/api/runs/nope');
    assert.equal(missing.status, 404);
    assert.match(((await missing.json()) as { error: string }).error, /no run 'nope'/);
    // A prefix of two runs is a conflict, not a missing run.
    await db.query(
      "INSERT INTO pipeline_experiments (experiment_id, service_name, status, started_at) VALUES ('ui-dx', 's', 'succeeded', now())",
    );
    const ambiguous = await get('/api/runs/ui-d');
    assert.equal(ambiguous.status, 409);
    assert.deepEqual(await ambiguous.json(), {
      error: "run 'ui-d' is ambiguous: it starts ui-dx, ui-done",
      candidates: ['ui-dx', 'ui-done'],
    });
    await db.query("DELETE FROM pipeline_experiments WHERE experiment_id = 'ui-dx'");
    const page = await get('/');
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(
      csp,
      /script-src 'self' 'sha256-[A-Za-z0-9+/=]+';/,
      'inline script allowed by its hash only',
    );
    assert.doesNotMatch(/script-src[^;]*/.exec(csp)![0], /unsafe-inline/);
    assert.match(await page.text(), /<title>pipetel<\/title>/);
    assert.equal((await fetch(new URL('/api/runs', ui.url), { method: 'POST' })).status, 405, 'read-only');
    assert.equal(
      (await fetch(new URL('/', ui.url), { method: 'HEAD' })).status,
      200,
      'HEAD, for health checks',
    );
    assert.equal(
      (await fetch(new URL('/api/runs/x/events', ui.url), { method: 'HEAD' })).status,
      405,
      'HEAD only for the page: a live stream never ends a response',
    );
  });

  it('streams log events as a live run stores them, ends with the run, and resumes after Last-Event-ID', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', writer, 'ui-live', '6', '300', 'live'], {
      env,
    });
    const exited = new Promise((done) => child.on('exit', done));
    const deadline = Date.now() + 30_000;
    while (
      (await db.query("SELECT 1 FROM pipeline_experiments WHERE experiment_id = 'ui-live'")).length === 0
    ) {
      if (Date.now() > deadline) throw new Error('the live run never started');
      await new Promise((r) => setTimeout(r, 50));
    }
    const events = await readEvents(new URL('/api/runs/ui-live/events', ui.url).href, {}, (all) =>
      all.some((e) => e.event === 'end'),
    );
    await exited;
    const logs = events.filter((e) => e.event === 'log').map((e) => (e.data as { message: string }).message);
    assert.ok(logs.length >= 4, `log events while the run was live: ${logs.join(', ')}`);
    assert.deepEqual(logs, logs.slice().sort(), 'in order');
    assert.equal(new Set(logs).size, logs.length, 'none twice');
    assert.ok(events.some((e) => e.event === 'progress'));
    assert.deepEqual(events.find((e) => e.event === 'end')?.data, { status: 'succeeded' });

    // A client that saw the third line reconnects: it gets what came after it, not what it had.
    const third = events.filter((e) => e.event === 'log')[2]!;
    const resumed = await readEvents(
      new URL('/api/runs/ui-live/events', ui.url).href,
      { 'last-event-id': third.id! },
      (all) => all.some((e) => e.event === 'end'),
    );
    const again = resumed
      .filter((e) => e.event === 'log')
      .map((e) => (e.data as { message: string }).message);
    assert.ok(!again.includes((third.data as { message: string }).message), 'not the line it had');
    // The first stream may have connected after 'live 0' was stored (a live stream sends what comes
    // next): what follows its third line is what it saw after that line.
    assert.deepEqual(again, logs.slice(3), 'exactly the lines after it');
    assert.equal(again.at(-1), 'live 5');
  });

  it('a reconnect in the middle of a batch gets the rest of that batch, once', async () => {
    // Six lines logged at once are stored in one COPY: one created_at for all. The event id names
    // the row, so resuming after the third sends the other three (a bare millisecond, as an older
    // server sent, still skips its whole millisecond).
    await run(process.execPath, ['--import', 'tsx', writer, 'ui-batch', '6', '0', 'batch'], {
      env,
      timeout: 60_000,
    });
    const rows = (await (await get('/api/runs/ui-batch/logs')).json()) as Array<{
      id: string;
      message: string;
      created_at: string;
    }>;
    assert.deepEqual(
      rows.map((r) => r.message),
      ['batch 0', 'batch 1', 'batch 2', 'batch 3', 'batch 4', 'batch 5'],
    );
    assert.equal(new Set(rows.map((r) => r.created_at)).size, 1, 'one batch');
    const ms = Date.parse(rows[2]!.created_at);
    const after = async (lastEventId: string) =>
      (
        await readEvents(
          new URL('/api/runs/ui-batch/events', ui.url).href,
          { 'last-event-id': lastEventId },
          (all) => all.some((e) => e.event === 'end'),
        )
      )
        .filter((e) => e.event === 'log')
        .map((e) => (e.data as { message: string }).message);
    assert.deepEqual(await after(`${ms}.${rows[2]!.id}`), ['batch 3', 'batch 4', 'batch 5']);
    assert.deepEqual(await after(String(ms)), []);
    // An ended run's progress does not change: it is sent once, not on every tick until `end`.
    const all = await readEvents(new URL('/api/runs/ui-batch/events', ui.url).href, {}, (events) =>
      events.some((e) => e.event === 'end'),
    );
    assert.equal(all.filter((e) => e.event === 'progress').length, 1);
  });

  it('keeps answering after the database ended its connections (a server restart)', async () => {
    assert.equal((await get('/api/runs')).status, 200);
    await db.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
    );
    await new Promise((r) => setTimeout(r, 100)); // the pool hears of it
    const runs = await get('/api/runs');
    assert.equal(runs.status, 200, await runs.clone().text());
    assert.ok(((await runs.json()) as unknown[]).length > 0);
  });

  it('a live stream whose LISTEN connection the server ended ends too, so the browser reconnects', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', writer, 'ui-lost', '40', '200', 'lost'], {
      env,
    });
    const exited = new Promise((done) => child.on('exit', done));
    try {
      const deadline = Date.now() + 30_000;
      while (
        (await db.query("SELECT 1 FROM pipeline_experiments WHERE experiment_id = 'ui-lost'")).length === 0
      ) {
        if (Date.now() > deadline) throw new Error('the live run never started');
        await new Promise((r) => setTimeout(r, 50));
      }
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), 20_000);
      const res = await fetch(new URL('/api/runs/ui-lost/events', ui.url), { signal: controller.signal });
      let text = '';
      let killed = false;
      let endedByServer = false;
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          text += Buffer.from(chunk).toString();
          if (!killed && text.includes('event: log')) {
            killed = true;
            await db.query(
              "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pipetel-ui' AND query LIKE 'LISTEN%'",
            );
          }
        }
        endedByServer = true;
      } catch (error) {
        if ((error as Error).name !== 'AbortError') throw error;
      } finally {
        clearTimeout(timer);
      }
      assert.ok(killed, 'a log event arrived before the connection was ended');
      assert.ok(endedByServer, 'the stream ended, instead of staying open on a dead channel');
      assert.ok(!text.includes('event: end'), 'while the run was still running');
    } finally {
      child.kill();
      await exited;
    }
  });

  it("the UI's pooled reader has JIT off on every connection, without pg's overlapping-query deprecation", async (t) => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    t.after(() => process.off('warning', onWarning));
    const reader = await RunReader.pooled(db.url);
    try {
      const client = (
        reader as unknown as { client: { query(sql: string): Promise<{ rows: Array<{ jit: string }> }> } }
      ).client;
      const results = await Promise.all(Array.from({ length: 6 }, () => client.query('SHOW jit')));
      assert.deepEqual(
        results.map((r) => r.rows[0]?.jit),
        Array(6).fill('off'),
      );
    } finally {
      await reader.close();
    }
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      warnings.filter((w) => w.includes('already executing a query')),
      [],
    );
  });

  it('while the database is unreachable the API answers 503 (not 500), and 200 again once it is back', async () => {
    const proxy = await startTcpProxy(db.url);
    const port = Number(new URL(proxy.url).port);
    const viaProxy = await startUi({ url: proxy.url, port: 0 });
    let reopened: TcpProxy | undefined;
    try {
      const runs = () => fetch(new URL('/api/runs', viaProxy.url));
      assert.equal((await runs()).status, 200);
      await proxy.close(); // ends its connections and refuses new ones
      const down = await runs();
      assert.equal(down.status, 503, await down.clone().text());
      assert.match(((await down.json()) as { error: string }).error, /^database unreachable: /);
      reopened = await startTcpProxy(db.url, port);
      assert.equal((await runs()).status, 200);
    } finally {
      await viaProxy.close();
      await reopened?.close();
    }
  });

  it('a busy port is an error and the command ends (it used to stay up holding its connection)', async () => {
    const cli = pathToFileURL(resolve(import.meta.dirname, '../../src/cli/main.ts')).href;
    const port = new URL(ui.url).port;
    const script = `const { main } = await import(${JSON.stringify(cli)}); process.exitCode = await main(['ui', '--port', '${port}']);`;
    const failed = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env,
      timeout: 30_000,
    }).then(
      () => undefined,
      (error: { code?: number; killed?: boolean; stderr?: string }) => error,
    );
    assert.ok(failed, 'the second ui on the same port must fail');
    assert.equal(failed.killed, false, 'it exits by itself, not at the test timeout');
    assert.match(failed.stderr ?? '', /EADDRINUSE/);
  });

  it('off loopback it needs a token, and checks it on every request', async () => {
    await assert.rejects(startUi({ url: db.url, host: '0.0.0.0', port: 0 }), /needs a token/);
    const guarded = await startUi({ url: db.url, host: '0.0.0.0', port: 0, token: 's3cret-token' });
    try {
      const base = guarded.url.replace('0.0.0.0', '127.0.0.1');
      assert.equal((await fetch(new URL('/api/runs', base))).status, 401);
      assert.equal(
        (await fetch(new URL('/api/runs', base), { headers: { authorization: 'Bearer wrong' } })).status,
        401,
      );
      assert.equal(
        (await fetch(new URL('/api/runs', base), { headers: { authorization: 'Bearer s3cret-token' } }))
          .status,
        200,
      );
      assert.equal((await fetch(new URL('/api/runs?token=s3cret-token', base))).status, 200);
    } finally {
      await guarded.close();
    }
  });
});
