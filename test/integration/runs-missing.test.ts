// A run whose database is down when it starts, or for the whole run, still appears whole: the
// experiment row, its progress, logs and spans — once, however they got there (setup retried in
// the background, the spool replayed by the process itself or by `pipetel sync`). A spool replayed
// into a database without the schema migrates it first when auto_migrate allows.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { migrate } from '../../exporters/postgres/migrate.js';
import { register } from '../../src/index.js';
import { LogSynchronizer } from '../../src/sync/LogSynchronizer.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const REFUSED = 'postgresql://pipetel:not-the-password@127.0.0.1:1/pipetel'; // nothing listens on port 1

const quiet = {
  logging: { console: { enabled: false as const }, database: { flush_interval: 0.2 } },
  monitoring: { enable_resource_tracking: false, progress_update_interval: 0.2 },
  spool: { sync_interval: 1 },
  shutdown: { timeout: 5 },
};

/** A TCP proxy to the test server that drops every connection until open() is called. */
class GatedProxy {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private isOpen = false;

  constructor(private readonly target: { host: string; port: number }) {
    this.server = createServer((client) => this.accept(client));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as { port: number }).port;
  }

  open(): void {
    this.isOpen = true;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private accept(client: Socket): void {
    if (!this.isOpen) {
      client.destroy(); // like a server that is not up yet: the connection ends at once
      return;
    }
    const upstream = connect(this.target.port, this.target.host);
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        this.sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  }
}

async function withHome<T>(fn: (home: string) => Promise<T>): Promise<T> {
  const home = await mkdtemp(join(tmpdir(), 'pipetel-runs-'));
  const previous = process.env.PIPETEL_HOME;
  process.env.PIPETEL_HOME = home;
  try {
    return await fn(home);
  } finally {
    if (previous === undefined) delete process.env.PIPETEL_HOME;
    else process.env.PIPETEL_HOME = previous;
    await rm(home, { recursive: true, force: true });
  }
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A small pipeline: one stage, one progress node of 100 items, `count` log records. */
async function runPipeline(tel: Awaited<ReturnType<typeof register>>, count: number): Promise<void> {
  const log = tel.getLogger('runs.missing');
  await tel.stage('extract', async () => {
    const progress = tel.progress('extract.rows', { total: 100 });
    for (let i = 0; i < 100; i++) progress.advance(1);
    for (let i = 0; i < count; i++) log.info('record %d', i);
    progress.done();
  });
}

describe('runs go missing no more', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
    await migrate(db.url);
  });
  after(async () => db?.drop());

  async function runRows(experimentId: string) {
    const [experiment] = await db.query(
      'SELECT status, service_name, started_at, ended_at, attributes FROM pipeline_experiments WHERE experiment_id = $1',
      [experimentId],
    );
    const [{ logs, distinct }] = await db.query(
      'SELECT count(*)::int AS logs, count(DISTINCT message)::int AS distinct FROM pipeline_logs WHERE experiment_id = $1',
      [experimentId],
    );
    const spans = await db.query('SELECT name, status_code FROM pipeline_spans WHERE experiment_id = $1', [
      experimentId,
    ]);
    const progress = await db.query(
      'SELECT node_id, completed, total, status FROM pipeline_progress WHERE experiment_id = $1',
      [experimentId],
    );
    return { experiment, logs, distinct, spans, progress };
  }

  it('database down for 3 s at register(): setup is retried and the run appears whole', {
    timeout: 60_000,
  }, async (t) => {
    await withHome(async (home) => {
      const target = new URL(db.url);
      const proxy = new GatedProxy({ host: target.hostname, port: Number(target.port || 5432) });
      const proxyUrl = new URL(db.url);
      proxyUrl.port = String(await proxy.listen());
      let tel: Awaited<ReturnType<typeof register>> | undefined;
      try {
        const registeredAt = Date.now();
        tel = await register({
          serviceName: 'late-db',
          experimentId: 'exp-late-db',
          databaseUrl: proxyUrl.toString(),
          attributes: { team: 'data' },
          config: quiet,
        });
        await runPipeline(tel, 300);
        const opensIn = Math.max(0, 3000 - (Date.now() - registeredAt));
        await new Promise((resolve) => setTimeout(resolve, opensIn));
        proxy.open();
        const openedAt = Date.now();
        await waitFor('the experiment row', async () => {
          const [row] = await db.query(
            "SELECT 1 FROM pipeline_experiments WHERE experiment_id = 'exp-late-db'",
          );
          return row !== undefined;
        });
        t.diagnostic(`experiment row stored ${Date.now() - openedAt} ms after the database came back`);
        await tel.shutdown();
        // What the process could not write before it ended waits in the spool for the next replay.
        const sync = new LogSynchronizer({ home, anyDatabase: true, connectionString: db.url });
        const replay = await sync.syncOnce();
        await sync.stop();
        t.diagnostic(`after shutdown the spool held ${replay.replayed + replay.duplicates} records`);
      } finally {
        await tel?.shutdown();
        await proxy.close();
      }
      const run = await runRows('exp-late-db');
      assert.equal(run.experiment?.status, 'succeeded');
      assert.equal(run.experiment?.service_name, 'late-db');
      assert.equal(run.experiment?.attributes.team, 'data');
      assert.ok(run.experiment?.ended_at);
      assert.deepEqual({ logs: run.logs, distinct: run.distinct }, { logs: 300, distinct: 300 });
      assert.deepEqual(
        run.spans.map((s) => [s.name, s.status_code]),
        [['extract', 'OK']],
      );
      assert.deepEqual(run.progress, [
        { node_id: 'extract.rows', completed: 100, total: 100, status: 'done' },
      ]);
    });
  });

  it('database down for the whole run: `pipetel sync` replays the experiment and progress rows too', {
    timeout: 60_000,
  }, async () => {
    await withHome(async (home) => {
      const startedBefore = new Date();
      const tel = await register({
        serviceName: 'offline',
        experimentId: 'exp-offline',
        databaseUrl: REFUSED,
        config: quiet,
      });
      await runPipeline(tel, 200);
      tel.fail(new Error('source went away'));
      await tel.shutdown();

      const sync = new LogSynchronizer({ home, anyDatabase: true, connectionString: db.url });
      const first = await sync.syncOnce();
      const second = await sync.syncOnce();
      await sync.stop();
      assert.equal(first.rejected, 0);
      assert.equal(second.replayed, 0, 'nothing is left to replay');

      const run = await runRows('exp-offline');
      assert.equal(run.experiment?.status, 'failed');
      assert.equal(run.experiment?.service_name, 'offline');
      assert.ok(run.experiment?.started_at >= new Date(startedBefore.getTime() - 1000));
      assert.ok(run.experiment?.ended_at >= run.experiment?.started_at);
      assert.deepEqual({ logs: run.logs, distinct: run.distinct }, { logs: 200, distinct: 200 });
      assert.equal(run.spans.length, 1);
      assert.deepEqual(run.progress, [
        { node_id: 'extract.rows', completed: 100, total: 100, status: 'done' },
      ]);
    });
  });

  it('a run SIGKILLed while the database was down still appears once its spool is replayed', {
    timeout: 60_000,
  }, async () => {
    await withHome(async (home) => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', resolve(import.meta.dirname, '../fixtures/apps/offline-run.ts')],
        {
          env: { ...process.env, PIPETEL_HOME: home, EXPERIMENT_ID: 'exp-killed', DATABASE_URL: REFUSED },
          stdio: ['ignore', 'pipe', 'ignore'],
        },
      );
      let stdout = '';
      child.stdout.on('data', (d) => {
        stdout += d;
      });
      while (!stdout.includes('ready')) await once(child.stdout, 'data');
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;

      const sync = new LogSynchronizer({ home, anyDatabase: true, connectionString: db.url });
      await sync.syncOnce();
      await sync.stop();
      const run = await runRows('exp-killed');
      assert.equal(
        run.experiment?.status,
        'running',
        'the run is there; the next register() marks it failed once stale',
      );
      assert.equal(run.experiment?.service_name, 'offline-killed');
      assert.deepEqual(run.progress, [
        { node_id: 'load.rows', completed: 250, total: 1000, status: 'running' },
      ]);
    });
  });

  it('replay into a database without the schema migrates first when auto_migrate allows', {
    timeout: 60_000,
  }, async () => {
    const empty = await createTestDatabase(); // no migrations run
    try {
      await withHome(async (home) => {
        const tel = await register({ experimentId: 'exp-no-schema', databaseUrl: REFUSED, config: quiet });
        await runPipeline(tel, 50);
        await tel.shutdown();

        const refusing = new LogSynchronizer({
          home,
          anyDatabase: true,
          connectionString: empty.url,
          autoMigrate: false,
        });
        await assert.rejects(refusing.syncOnce(), /does not exist/);
        await refusing.stop();

        const migrating = new LogSynchronizer({
          home,
          anyDatabase: true,
          connectionString: empty.url,
          autoMigrate: true,
        });
        const result = await migrating.syncOnce();
        await migrating.stop();
        assert.equal(result.rejected, 0);
        const [{ n }] = await empty.query(
          "SELECT count(*)::int AS n FROM pipeline_logs WHERE experiment_id = 'exp-no-schema'",
        );
        assert.equal(n, 50);
        const [experiment] = await empty.query(
          "SELECT status FROM pipeline_experiments WHERE experiment_id = 'exp-no-schema'",
        );
        assert.equal(experiment?.status, 'succeeded');
      });
    } finally {
      await empty.drop();
    }
  });
});
