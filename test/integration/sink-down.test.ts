// A pipeline process (test/fixtures/apps/sink-down.ts) run against a database that refuses
// connections, one whose schema is missing, a server that accepts and never answers, and a healthy
// database flooded past max_queue_size. Each time: where the records are, how long shutdown takes,
// and whether the process ends on its own once the app is done (the fixture never calls
// process.exit). Bounds are generous: they separate "about a second" from the 10–60 s of before.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spoolDirectory } from '../../exporters/delivery/Spool.js';
import { migrate } from '../../exporters/postgres/migrate.js';
import { register } from '../../src/index.js';
import { LogSynchronizer } from '../../src/sync/LogSynchronizer.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startTcpProxy } from '../helpers/tcpProxy.js';

const fixture = resolve(import.meta.dirname, '../fixtures/apps/sink-down.ts');
const REFUSED = 'postgresql://pipetel:not-the-password@127.0.0.1:1/pipetel'; // nothing listens on port 1
const quiet = { logging: { console: { enabled: false } } };

interface Event {
  event: string;
  atMs: number;
  afterMs?: number;
  tookMs?: number;
  identityBroken?: number;
  stats?: Record<string, unknown>;
}

interface Run {
  events: Map<string, Event>;
  stderr: string;
  code: number | null;
  /** From the fixture's last line (shutdown done, or the app's work done) to the process's exit. */
  exitAfterDoneMs: number;
}

/** Runs the fixture to its natural end; never kills it (the test's own timeout bounds it). */
function runFixture(
  env: Record<string, string>,
  onEvent?: (event: Event, child: ChildProcess) => void,
): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events = new Map<string, Event>();
  let stderr = '';
  let out = '';
  let doneAt = Date.now();
  child.stdout.on('data', (chunk) => {
    out += chunk;
    let newline = out.indexOf('\n');
    while (newline >= 0) {
      const event = JSON.parse(out.slice(0, newline)) as Event;
      events.set(event.event, event);
      doneAt = Date.now();
      onEvent?.(event, child);
      out = out.slice(newline + 1);
      newline = out.indexOf('\n');
    }
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolvePromise) => {
    child.once('exit', (code) =>
      resolvePromise({ events, stderr, code, exitAfterDoneMs: Date.now() - doneAt }),
    );
  });
}

let home: string;
const homes: string[] = [];
async function freshHome(): Promise<string> {
  home = await mkdtemp(join(tmpdir(), 'pipetel-sink-down-'));
  await chmod(home, 0o755);
  homes.push(home);
  return home;
}

/** Replays the current home's spool into `url`, records of any database too (as `pipetel sync --any-database`). */
async function replaySpool(url: string): ReturnType<LogSynchronizer['syncOnce']> {
  const sync = new LogSynchronizer({
    home,
    anyDatabase: true,
    connectionString: url,
    warn: () => undefined,
  });
  try {
    return await sync.syncOnce();
  } finally {
    await sync.stop();
  }
}

async function spoolSegments(dir: string): Promise<string[]> {
  const root = spoolDirectory(dir);
  const names: string[] = [];
  for (const writer of await readdir(root).catch(() => [] as string[]))
    for (const name of await readdir(join(root, writer)).catch(() => [] as string[]))
      if (name.startsWith('segment-')) names.push(`${writer}/${name}`);
  return names;
}

/** Handles the fixture found keeping its event loop alive right after shutdown() returned. */
/** A TCP server that accepts connections and never answers: a hung database or collector. */
async function silentServer(): Promise<{ port: number; accepted: () => number; close: () => void }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as import('node:net').AddressInfo).port,
    accepted: () => accepted,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

function keepingAlive(event: Event | undefined): string[] {
  const resources = (event as { resources?: string[] } | undefined)?.resources;
  assert.ok(resources, 'the fixture reports its active resources');
  return resources.filter((name) => /TCP|Timeout|Timer/i.test(name));
}

function logStats(event: Event | undefined): Record<string, unknown> | undefined {
  const stats = event?.stats as { logs?: Record<string, unknown> } | Record<string, unknown> | undefined;
  return stats && 'logs' in stats ? (stats.logs as Record<string, unknown>) : stats;
}

describe('sinks down: spool, shutdown and exit', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
    await migrate(db.url);
  });
  after(async () => {
    await db?.drop();
    for (const dir of homes) await rm(dir, { recursive: true, force: true });
  });

  it('database refusing connections: records reach the spool in about flush_interval, and the process exits on its own', async (t) => {
    const run = await runFixture({
      PIPETEL_HOME: await freshHome(),
      PIPETEL_DATABASE_URL: REFUSED,
      COUNT: '5000',
      EXPERIMENT_ID: 'sink-refused',
      WAIT_FOR: 'spooled',
      CONFIG: JSON.stringify({ ...quiet, logging: { ...quiet.logging, database: { flush_interval: 0.2 } } }),
    });
    const spooled = run.events.get('spooled');
    const shutdown = run.events.get('shutdown');
    t.diagnostic(
      `refused: spooled after ${spooled?.afterMs} ms, shutdown ${shutdown?.tookMs} ms, exit ${run.exitAfterDoneMs} ms after`,
    );
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(spooled?.stats, { queued: 0, exported: 0, dropped: 0, spooled: 5000, failed: 0 });
    assert.equal(
      spooled?.identityBroken,
      0,
      'emitted = queued + exported + spooled + dropped + failed at every poll',
    );
    // Before: still queued after 20 s, spooled only after ~60 s (the 30 s retry budget, twice).
    assert.ok(spooled!.afterMs! < 5000, `spooled after ${spooled?.afterMs} ms`);
    // Before: shutdown 10.5 s, then ~20 s more until the process ended.
    assert.ok(shutdown!.tookMs! < 5000, `shutdown took ${shutdown?.tookMs} ms`);
    assert.ok(run.exitAfterDoneMs < 5000, `exited ${run.exitAfterDoneMs} ms after shutdown`);
    assert.match(run.stderr, /shutdown: logs 0 stored, 5000 left in the spool, 0 dropped/);
    assert.deepEqual(keepingAlive(shutdown), []);
    assert.ok(!run.stderr.includes('not-the-password'));
    // The warning names the server (some driver errors, e.g. a connection closed at once, do not).
    assert.match(run.stderr, /database setup failed \(database\.url 127\.0\.0\.1:1\/pipetel\)/);

    // Nothing was created after shutdown, and the spool holds every record once.
    const replay = await replaySpool(db.url);
    const [row] = await db.query<{ n: number; distinct: number }>(
      "SELECT count(*)::int AS n, count(DISTINCT message)::int AS distinct FROM pipeline_logs WHERE experiment_id = 'sink-refused'",
    );
    assert.equal(replay.duplicates, 0);
    assert.deepEqual(row, { n: 5000, distinct: 5000 });
  });

  it('SIGKILL once the records are spooled loses nothing: a replay stores every one, once', async () => {
    const run = await runFixture(
      {
        PIPETEL_HOME: await freshHome(),
        PIPETEL_DATABASE_URL: REFUSED,
        COUNT: '5000',
        WAIT_FOR: 'spooled',
        SHUTDOWN: 'hold',
        EXPERIMENT_ID: 'sink-killed',
        CONFIG: JSON.stringify({
          ...quiet,
          logging: { ...quiet.logging, database: { flush_interval: 0.2 } },
        }),
      },
      (event, child) => {
        if (event.event === 'spooled') child.kill('SIGKILL');
      },
    );
    assert.equal(run.code, null, 'killed');
    // Before: after 20 s, 2000 records were still in memory (and 1000 counted nowhere).
    assert.deepEqual(run.events.get('spooled')?.stats, {
      queued: 0,
      exported: 0,
      dropped: 0,
      spooled: 5000,
      failed: 0,
    });
    await replaySpool(db.url);
    const [row] = await db.query<{ n: number; distinct: number }>(
      "SELECT count(*)::int AS n, count(DISTINCT message)::int AS distinct FROM pipeline_logs WHERE experiment_id = 'sink-killed'",
    );
    assert.deepEqual(row, { n: 5000, distinct: 5000 });
  });

  it('schema missing (auto_migrate off): records reach the spool in about flush_interval', async (t) => {
    const bare = await createTestDatabase(); // no migrations: no pipeline_* tables
    try {
      const run = await runFixture({
        PIPETEL_HOME: await freshHome(),
        PIPETEL_DATABASE_URL: bare.url,
        COUNT: '2000',
        WAIT_FOR: 'spooled',
        EXPERIMENT_ID: 'sink-no-schema',
        CONFIG: JSON.stringify({
          ...quiet,
          logging: { ...quiet.logging, database: { flush_interval: 0.2 } },
          database: { auto_migrate: false },
        }),
      });
      const spooled = run.events.get('spooled');
      const shutdown = run.events.get('shutdown');
      t.diagnostic(
        `schema missing: spooled after ${spooled?.afterMs} ms, shutdown ${shutdown?.tookMs} ms, exit ${run.exitAfterDoneMs} ms after`,
      );
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(spooled?.stats, { queued: 0, exported: 0, dropped: 0, spooled: 2000, failed: 0 });
      assert.equal(spooled?.identityBroken, 0);
      assert.ok(spooled!.afterMs! < 5000, `spooled after ${spooled?.afterMs} ms`);
      assert.ok(shutdown!.tookMs! < 5000, `shutdown took ${shutdown?.tookMs} ms`);
      assert.ok(run.exitAfterDoneMs < 5000, `exited ${run.exitAfterDoneMs} ms after shutdown`);
    } finally {
      await bare.drop();
    }
  });

  for (const refusal of [
    { what: 'a role that does not exist', user: 'pipetel_no_such_role', database: undefined },
    { what: 'a database that does not exist', user: undefined, database: 'pipetel_no_such_db' },
  ]) {
    it(`${refusal.what}: a configuration error, dialed once and never retried; the records are spooled, not lost`, async () => {
      const target = new URL(db.url);
      if (refusal.user) target.username = refusal.user;
      if (refusal.database) target.pathname = `/${refusal.database}`;
      // A wrong password for the unknown role; for the unknown database the right one (a server
      // that checks passwords, like the embedded one, would otherwise refuse the password first).
      // Either way the URL carries a password, to see it hidden.
      if (refusal.user || !target.password) target.password = 'not-the-password';
      const password = decodeURIComponent(target.password);
      const proxy = await startTcpProxy(target.toString()); // counts how often the server is dialed
      try {
        const run = await runFixture({
          PIPETEL_HOME: await freshHome(),
          PIPETEL_DATABASE_URL: proxy.url,
          COUNT: '500',
          WAIT_FOR: 'spooled',
          EXPERIMENT_ID: 'sink-refused-config',
          CONFIG: JSON.stringify({
            ...quiet,
            logging: { ...quiet.logging, database: { flush_interval: 0.2 } },
          }),
        });
        assert.equal(run.code, 0, run.stderr);
        // Before: "retrying in the background" and a retry per batch, the records still in memory.
        assert.deepEqual(run.events.get('spooled')?.stats, {
          queued: 0,
          exported: 0,
          dropped: 0,
          spooled: 500,
          failed: 0,
        });
        const refused =
          run.stderr.match(/database\.url \(postgres(?:ql)?:\/\/[^)]*\) was refused by the server: .*/g) ??
          [];
        assert.equal(refused.length, 1, run.stderr);
        assert.match(refused[0]!, /:\*\*\*\*@127\.0\.0\.1:\d+\//, 'the URL is named, its password hidden');
        assert.match(
          refused[0]!,
          refusal.user
            ? // Under trust auth the role is looked up first (28000); under password auth the
              // server does not say whether a role exists (28P01).
              /(role "pipetel_no_such_role" does not exist \(SQLSTATE 28000\)|password authentication failed for user "pipetel_no_such_role" \(SQLSTATE 28P01\))\. A configuration error, not retried/
            : /database "pipetel_no_such_db" does not exist \(SQLSTATE 3D000\)\. A configuration error, not retried/,
        );
        assert.doesNotMatch(run.stderr, /retrying/);
        // One warning for one mistake: the queues do not each repeat it per signal.
        assert.doesNotMatch(run.stderr, /the database refused the connection/);
        assert.ok(!run.stderr.includes(password), 'no password in stderr');
        assert.match(run.stderr, /shutdown: logs 0 stored, 500 left in the spool, 0 dropped/);
        // Setup, every batch, the heartbeat, the replay and the run's end: one refused login in all.
        assert.equal(proxy.accepted(), 1);
      } finally {
        await proxy.close();
      }
      // Once the connection string is fixed, the spool delivers every record.
      await replaySpool(db.url);
      const [row] = await db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pipeline_logs WHERE experiment_id = 'sink-refused-config'",
      );
      assert.equal(row?.n, 500);
      await db.query("DELETE FROM pipeline_logs WHERE experiment_id = 'sink-refused-config'");
    });
  }

  it('a server that accepts and never answers: shutdown spools within seconds and no connection outlives it', async (t) => {
    const silent = await silentServer();
    const port = silent.port;
    try {
      const run = await runFixture({
        PIPETEL_HOME: await freshHome(),
        PIPETEL_DATABASE_URL: `postgresql://postgres@127.0.0.1:${port}/x`,
        COUNT: '5000',
        EXPERIMENT_ID: 'sink-blackhole',
        WAIT_FOR: 'spooled',
        // connection_timeout stays at its default, 30 s
        CONFIG: JSON.stringify({
          ...quiet,
          logging: { ...quiet.logging, database: { flush_interval: 0.2 } },
        }),
      });
      const registered = run.events.get('registered');
      const spooled = run.events.get('spooled');
      const shutdown = run.events.get('shutdown');
      t.diagnostic(
        `blackhole: register ${registered?.atMs} ms, spooled after ${spooled?.afterMs} ms, shutdown ${shutdown?.tookMs} ms, exit ${run.exitAfterDoneMs} ms after`,
      );
      assert.equal(run.code, 0, run.stderr);
      // Before: register() waited its full 5 s for a setup that could not connect.
      assert.ok(registered!.atMs < 3500, `register took ${registered?.atMs} ms`);
      // Before: nothing reached the spool until connection_timeout (30 s) or shutdown.
      assert.deepEqual(spooled?.stats, { queued: 0, exported: 0, dropped: 0, spooled: 5000, failed: 0 });
      assert.equal(spooled?.identityBroken, 0);
      assert.ok(spooled!.afterMs! < 5000, `spooled after ${spooled?.afterMs} ms`);
      assert.deepEqual(logStats(shutdown), { queued: 0, exported: 0, dropped: 0, spooled: 5000, failed: 0 });
      // Before: shutdown 12 s (over shutdown.timeout, 10 s), then 28 s until the process ended.
      assert.ok(shutdown!.tookMs! < 5000, `shutdown took ${shutdown?.tookMs} ms`);
      assert.ok(run.exitAfterDoneMs < 5000, `exited ${run.exitAfterDoneMs} ms after shutdown`);
      assert.ok(silent.accepted() > 0, 'pipetel did connect');
      assert.deepEqual(
        keepingAlive(shutdown),
        [],
        'no socket or timer of pipetel keeps the process alive once shutdown() returned',
      );
      assert.equal((await spoolSegments(home)).length > 0, true);
    } finally {
      silent.close();
    }
  });

  it('a database that stops answering mid-run: shutdown spools what it holds within seconds, a replay stores each record once', async (t) => {
    const proxy = await startTcpProxy(db.url);
    const previousHome = process.env.PIPETEL_HOME;
    process.env.PIPETEL_HOME = await freshHome();
    try {
      const tel = await register({
        experimentId: 'sink-silenced',
        databaseUrl: proxy.url,
        config: { ...quiet, logging: { ...quiet.logging, database: { flush_interval: 0.2 } } },
      });
      const log = tel.getLogger('silenced');
      for (let i = 0; i < 1000; i++) log.info('record %d', i);
      const waitStart = Date.now();
      while (tel.stats().logs.exported < 1000 && Date.now() - waitStart < 20_000)
        await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(tel.stats().logs.exported, 1000, 'written while the database answered');
      proxy.silence();
      for (let i = 1000; i < 2000; i++) log.info('record %d', i);
      await new Promise((resolve) => setTimeout(resolve, 300)); // a flush is now hanging in the proxy
      const started = Date.now();
      await tel.shutdown();
      const tookMs = Date.now() - started;
      const stats = tel.stats().logs;
      t.diagnostic(`silenced mid-run: shutdown ${tookMs} ms, ${JSON.stringify(stats)}`);
      // Before: the queue waited for the hanging writes until 1 s before the 10 s deadline, then
      // the experiment update and pg's end() waited on them too.
      assert.ok(tookMs < 5000, `shutdown took ${tookMs} ms`);
      assert.deepEqual(stats, { queued: 0, exported: 1000, dropped: 0, spooled: 1000, failed: 0 });
    } finally {
      await proxy.close();
      if (previousHome === undefined) delete process.env.PIPETEL_HOME;
      else process.env.PIPETEL_HOME = previousHome;
    }
    await replaySpool(db.url);
    const [row] = await db.query<{ n: number; distinct: number }>(
      "SELECT count(*)::int AS n, count(DISTINCT message)::int AS distinct FROM pipeline_logs WHERE experiment_id = 'sink-silenced'",
    );
    assert.deepEqual(row, { n: 2000, distinct: 2000 });
  });

  it('a database that goes silent while the run goes on: its records reach the spool within batch_timeout, and once it answers again every record is stored once', async (t) => {
    const proxy = await startTcpProxy(db.url);
    const previousHome = process.env.PIPETEL_HOME;
    process.env.PIPETEL_HOME = await freshHome();
    const stored = async () => {
      const [row] = await db.query<{ n: number; distinct: number }>(
        "SELECT count(*)::int AS n, count(DISTINCT message)::int AS distinct FROM pipeline_logs WHERE experiment_id = 'sink-silent-resumed'",
      );
      return row!;
    };
    const until = async (what: string, condition: () => boolean | Promise<boolean>, ms: number) => {
      const start = Date.now();
      while (!(await condition())) {
        assert.ok(
          Date.now() - start < ms,
          `${what}: not within ${ms} ms (${JSON.stringify(tel.stats().logs)})`,
        );
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return Date.now() - start;
    };
    // pipetel's warnings go to stderr: captured for this test.
    const warnings: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string | Uint8Array) => warnings.push(String(chunk)) > 0) as typeof write;
    const tel = await register({
      experimentId: 'sink-silent-resumed',
      databaseUrl: proxy.url,
      config: {
        ...quiet,
        logging: { ...quiet.logging, database: { flush_interval: 0.2 } },
        monitoring: { database: { batch_timeout: 1 } },
        spool: { sync_interval: 1 },
      },
    });
    try {
      const log = tel.getLogger('silent');
      for (let i = 0; i < 500; i++) log.info('record %d', i);
      await until('written while the database answered', () => tel.stats().logs.exported === 500, 20_000);
      proxy.silence();
      for (let i = 500; i < 1000; i++) log.info('record %d', i);
      // Before: the write hung until the operating system gave up on the socket (~15 min), the
      // records held in memory, where a crash would lose them.
      const spooledMs = await until(
        'spooled while the database is silent',
        () => tel.stats().logs.spooled === 500 && tel.stats().logs.queued === 0,
        15_000,
      );
      t.diagnostic(`silent: 500 records spooled ${spooledMs} ms after the silence began`);
      assert.ok(
        warnings.some((w) =>
          /pipeline_logs unreachable \(no answer from the database within 2000 ms/.test(w),
        ),
        `the outage is named: ${warnings.join(' | ')}`,
      );
      assert.ok(!warnings.some((w) => /database connection error/.test(w)), 'said once, by the exporter');
      proxy.resume();
      for (let i = 1000; i < 1500; i++) log.info('record %d', i);
      const resumedMs = await until(
        'stored after the database answered again',
        async () => (await stored()).n === 1500,
        40_000,
      );
      t.diagnostic(`resumed: all 1500 stored ${resumedMs} ms later, ${JSON.stringify(tel.stats().logs)}`);
    } finally {
      await tel.shutdown();
      process.stderr.write = write;
      await proxy.close();
      if (previousHome === undefined) delete process.env.PIPETEL_HOME;
      else process.env.PIPETEL_HOME = previousHome;
    }
    assert.deepEqual(await stored(), { n: 1500, distinct: 1500 });
    assert.equal(tel.stats().logs.dropped, 0);
  });

  it('a database gone silent while maintenance connects: the process still ends on its own after shutdown', async (t) => {
    const proxy = await startTcpProxy(db.url);
    try {
      const run = await runFixture(
        {
          PIPETEL_HOME: await freshHome(),
          PIPETEL_DATABASE_URL: proxy.url,
          COUNT: '100',
          EXPERIMENT_ID: 'sink-silent-maintenance',
          // maintenance's first run starts 5 s after setup: it meets the silence
          LINGER_MS: '6500',
          CONFIG: JSON.stringify({ ...quiet, maintenance: { scheduler: 'app' } }),
        },
        (event) => {
          if (event.event === 'registered') proxy.silence();
        },
      );
      const shutdown = run.events.get('shutdown');
      t.diagnostic(`shutdown ${shutdown?.tookMs} ms, exit ${run.exitAfterDoneMs} ms after`);
      assert.equal(run.code, 0, run.stderr);
      // Before: the maintenance connection, still connecting, was never ended: the process lived on.
      assert.deepEqual(keepingAlive(shutdown), [], 'nothing of pipetel keeps the process alive');
      assert.ok(run.exitAfterDoneMs < 5000, `exited ${run.exitAfterDoneMs} ms after shutdown`);
    } finally {
      await proxy.close();
    }
  });

  it('OTLP collector down: shutdown and exit within seconds, what it did not get counted and warned about', async (t) => {
    const run = await runFixture({
      PIPETEL_HOME: await freshHome(),
      PIPETEL_DATABASE_URL: db.url,
      COUNT: '500',
      EXPERIMENT_ID: 'sink-otlp-down',
      CONFIG: JSON.stringify({ ...quiet, otlp: { endpoint: 'http://127.0.0.1:1' } }),
    });
    const shutdown = run.events.get('shutdown');
    const otlp = (shutdown?.stats as { otlp?: Record<string, { exported: number; dropped: number }> })?.otlp;
    t.diagnostic(`otlp down: shutdown ${shutdown?.tookMs} ms, exit ${run.exitAfterDoneMs} ms after`);
    assert.equal(run.code, 0, run.stderr);
    // Before: 8.3 s of retries per batch on ref'd timers, and not a word on stderr.
    assert.ok(shutdown!.tookMs! < 5000, `shutdown took ${shutdown?.tookMs} ms`);
    assert.ok(run.exitAfterDoneMs < 5000, `exited ${run.exitAfterDoneMs} ms after shutdown`);
    // The 500 lines and the record that tells a gateway how the run ended.
    assert.deepEqual(otlp?.logs, { exported: 0, dropped: 501 });
    assert.ok(otlp!.metrics.dropped > 0);
    const logWarnings = run.stderr.match(/otlp: logs not exported/g) ?? [];
    assert.ok(logWarnings.length >= 1 && logWarnings.length <= 2, run.stderr);
    assert.match(run.stderr, /shutdown: .*otlp logs 501 not delivered/);
    assert.deepEqual(keepingAlive(shutdown), []);
    // PostgreSQL still got everything.
    const [row] = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pipeline_logs WHERE experiment_id = 'sink-otlp-down'",
    );
    assert.equal(row?.n, 500);
  });

  for (const protocol of ['http/protobuf', 'grpc'] as const)
    it(`an OTLP collector that accepts and never answers (${protocol}): no request of ours outlives shutdown, what it held is counted`, async (t) => {
      const silent = await silentServer();
      const port = silent.port;
      try {
        const run = await runFixture({
          PIPETEL_HOME: await freshHome(),
          PIPETEL_DATABASE_URL: db.url,
          COUNT: '500',
          EXPERIMENT_ID: `sink-otlp-silent-${protocol}`,
          CONFIG: JSON.stringify({
            ...quiet,
            otlp: { endpoint: `http://127.0.0.1:${port}`, protocol },
            shutdown: { timeout: 2 },
          }),
        });
        const shutdown = run.events.get('shutdown');
        const otlp = (shutdown?.stats as { otlp?: Record<string, { exported: number; dropped: number }> })
          ?.otlp;
        t.diagnostic(
          `otlp silent (${protocol}): shutdown ${shutdown?.tookMs} ms, exit ${run.exitAfterDoneMs} ms after`,
        );
        assert.equal(run.code, 0, run.stderr);
        // Before: the exporters' requests (and their retries, or gRPC calls waiting for a connection)
        // held the process for their 10 s timeout.
        assert.deepEqual(keepingAlive(shutdown), []);
        assert.deepEqual(otlp?.logs, { exported: 0, dropped: 500 });
        assert.match(run.stderr, /shutdown: .*otlp logs 500 not delivered/);
        const [row] = await db.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM pipeline_logs WHERE experiment_id = $1',
          [`sink-otlp-silent-${protocol}`],
        );
        assert.equal(row?.n, 500, 'PostgreSQL still got everything');
      } finally {
        silent.close();
      }
    });

  it('unwritable log file path: shutdown does not wait for it, the lines are counted as dropped and warned about', async (t) => {
    const run = await runFixture({
      PIPETEL_HOME: await freshHome(),
      PIPETEL_DATABASE_URL: db.url,
      COUNT: '500',
      EXPERIMENT_ID: 'sink-file-down',
      // Root ignores permissions: the path is unwritable because it runs through a regular file.
      CONFIG: JSON.stringify({
        logging: { ...quiet.logging, file: { enabled: true, path: '/etc/hostname/pipetel/pipetel.log' } },
      }),
    });
    const shutdown = run.events.get('shutdown');
    const file = (shutdown?.stats as { file?: Record<string, number> })?.file;
    t.diagnostic(
      `log file unwritable: shutdown ${shutdown?.tookMs} ms, exit ${run.exitAfterDoneMs} ms after`,
    );
    assert.equal(run.code, 0, run.stderr);
    // Before: shutdown waited the full 10 s and stats() said 0 dropped.
    assert.ok(shutdown!.tookMs! < 5000, `shutdown took ${shutdown?.tookMs} ms`);
    assert.equal(file?.dropped, 500);
    assert.equal(file?.queued, 0);
    assert.match(run.stderr, /file: cannot write \/etc\/hostname\/pipetel\/pipetel\.log/);
    assert.match(run.stderr, /shutdown: .*log file 500 lines dropped/);
    const [row] = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pipeline_logs WHERE experiment_id = 'sink-file-down'",
    );
    assert.equal(row?.n, 500, 'PostgreSQL still got every record');
  });

  it('50k records past max_queue_size, healthy database: none dropped, all stored by the time the process exits', async (t) => {
    const run = await runFixture({
      PIPETEL_HOME: await freshHome(),
      PIPETEL_DATABASE_URL: db.url,
      COUNT: '50000',
      EXPERIMENT_ID: 'sink-overflow',
      CONFIG: JSON.stringify(quiet), // default batching, max_queue_size 10000, spool on
    });
    const shutdown = run.events.get('shutdown');
    const [row] = await db.query<{ n: number; distinct: number }>(
      "SELECT count(*)::int AS n, count(DISTINCT message)::int AS distinct FROM pipeline_logs WHERE experiment_id = 'sink-overflow'",
    );
    t.diagnostic(
      `overflow: emitted 50000, stored ${row?.n}, shutdown ${shutdown?.tookMs} ms, exit ${run.exitAfterDoneMs} ms after`,
    );
    assert.equal(run.code, 0, run.stderr);
    // Before: 30,000 dropped, 10,000 spooled and 9,488 of them still on disk after the exit.
    assert.deepEqual(row, { n: 50_000, distinct: 50_000 });
    assert.deepEqual(logStats(shutdown), { queued: 0, exported: 50_000, dropped: 0, spooled: 0, failed: 0 });
    assert.deepEqual(await spoolSegments(home), [], 'nothing left in the spool');
    // The overflow warning's running count is current by the end (it used to stay at "1 so far").
    const counts = [...run.stderr.matchAll(/spooling new records to disk \((\d+) spooled so far\)/g)].map(
      (m) => Number(m[1]),
    );
    assert.equal(counts.at(-1), 40_000, run.stderr);
    assert.doesNotMatch(run.stderr, /dropped|left in the spool/);
  });
});
