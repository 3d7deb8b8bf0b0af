// The command line as a user runs it (the built bin/pipetel.js in a child process) against a real
// PostgreSQL: `pipetel demo` runs the example pipeline and prints what it stored, and
// `pipetel migrate` reports the schema state. Needs `npm run build` (npm test does it).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { layout } from '../../src/db/embedded/layout.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { tempDir } from '../helpers/tempDir.js';

const run = promisify(execFile);
const bin = resolve(import.meta.dirname, '../../bin/pipetel.js');

describe('pipetel CLI', () => {
  let db: TestDatabase;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    db = await createTestDatabase();
    env = {
      ...process.env,
      PIPETEL_DATABASE_URL: db.url,
      PIPETEL_HOME: tempDir('pipetel-cli-'),
    };
  });
  after(async () => db?.drop());

  it('migrate --status lists pending migrations, migrate applies them', async () => {
    const before = await run(process.execPath, [bin, 'migrate', '--status'], { env });
    assert.match(before.stdout, /0001 schema_v1\s+pending/);
    const applied = await run(process.execPath, [bin, 'migrate'], { env });
    assert.match(applied.stdout, /applied migrations 1/);
    assert.doesNotMatch(applied.stdout, new RegExp(new URL(db.url).password || 'no-password-in-url'));
    const after = await run(process.execPath, [bin, 'migrate', '--status'], { env });
    assert.match(after.stdout, /0001 schema_v1\s+applied/);
  });

  it('a reading command where no database is (none configured, an empty home) says so and creates none', async () => {
    const home = tempDir('pipetel-cli-empty-');
    const { PIPETEL_DATABASE_URL: _, DATABASE_URL: __, ...rest } = env;
    const failed = await run(process.execPath, [bin, 'runs'], { env: { ...rest, PIPETEL_HOME: home } }).then(
      () => undefined,
      (error: { code?: number; stderr?: string }) => error,
    );
    assert.equal(failed?.code, 1);
    assert.match(failed?.stderr ?? '', /no database to read: .*set PIPETEL_HOME or PIPETEL_DATABASE_URL/);
    assert.equal(existsSync(layout(home).pgDir), false, 'no embedded server made for it');
  });

  it('a database that refuses connections is named by its setting and host:port, never its password', async () => {
    const password = 'Refused-Pw-7319';
    const refusing = { ...env, PIPETEL_DATABASE_URL: `postgres://root:${password}@127.0.0.1:1/postgres` };
    for (const args of [['runs'], ['show'], ['logs'], ['stats'], ['maintain'], ['migrate', '--status']]) {
      const failed = await run(process.execPath, [bin, ...args], { env: refusing }).then(
        () => undefined,
        (error: { code?: number; stderr?: string }) => error,
      );
      assert.equal(failed?.code, 1, args.join(' '));
      assert.equal(
        failed?.stderr,
        `pipetel ${args[0]}: database.url: cannot connect to PostgreSQL at 127.0.0.1:1 (connect ECONNREFUSED 127.0.0.1:1)\n`,
        args.join(' '),
      );
      assert.ok(!failed?.stderr?.includes(password), `password in the stderr of ${args.join(' ')}`);
    }
  });

  it('doctor on a worker with database.enabled false checks no database and makes none', async () => {
    const home = tempDir('pipetel-cli-worker-');
    const { PIPETEL_DATABASE_URL: _, DATABASE_URL: __, ...rest } = env;
    const { stdout } = await run(process.execPath, [bin, 'doctor'], {
      env: { ...rest, PIPETEL_HOME: home, PIPETEL_DATABASE_ENABLED: 'false' },
    });
    assert.match(stdout, /database\s+disabled \(database\.enabled: false\) and OTLP is off/);
    assert.equal(existsSync(layout(home).pgDir), false);
  });

  it('health and write commands where no database is (an empty home) make none: doctor warns, sync, maintain and migrate --status say so', async () => {
    const home = tempDir('pipetel-cli-none-');
    const { PIPETEL_DATABASE_URL: _, DATABASE_URL: __, ...rest } = env;
    const here = { ...rest, PIPETEL_HOME: home };
    const doctor = await run(process.execPath, [bin, 'doctor'], { env: here });
    assert.match(doctor.stdout, /warn\s+database\s+none here: no database\.url and no embedded server/);
    for (const args of [['sync'], ['maintain', '--dry-run'], ['migrate', '--status']]) {
      const failed = await run(process.execPath, [bin, ...args], { env: here }).then(
        () => undefined,
        (error: { code?: number; stderr?: string }) => error,
      );
      assert.equal(failed?.code, 1, args.join(' '));
      assert.match(failed?.stderr ?? '', /no database to read: /, args.join(' '));
    }
    assert.equal(existsSync(layout(home).pgDir), false, 'no embedded server made by any of them');
  });

  // Once per `npm test` (in its embedded group): a fresh home's first start is seconds of initdb.
  it('demo on a fresh machine starts the embedded server and times it apart from the pipeline', {
    skip: process.env.PIPETEL_TEST_DATABASE_URL ? 'run once, in the embedded group' : false,
  }, async () => {
    const home = tempDir('pipetel-cli-fresh-');
    chmodSync(home, 0o755); // as root, a private home would move the cluster under /var/lib/pipetel
    const { PIPETEL_DATABASE_URL: _, DATABASE_URL: __, ...rest } = env;
    const fresh = { ...rest, PIPETEL_HOME: home };
    try {
      const { stdout } = await run(process.execPath, [bin, 'demo', '--items', '500'], {
        env: fresh,
        timeout: 120_000,
      });
      assert.match(stdout, /status=succeeded/);
      const timing =
        /^ {2}finished in (\d+\.\d) s \(after (\d+\.\d) s starting the embedded PostgreSQL, reused by later runs\)$/m.exec(
          stdout,
        );
      assert.ok(timing, stdout);
      assert.ok(Number(timing[2]) > 0, 'initdb and the first start take time of their own');
      const again = await run(process.execPath, [bin, 'demo', '--items', '500'], {
        env: fresh,
        timeout: 120_000,
      });
      assert.match(
        again.stdout,
        /^ {2}finished in \d+\.\d s$/m,
        'the running server is reused, nothing to wait for',
      );
    } finally {
      await run(process.execPath, [bin, 'db', 'stop'], { env: fresh });
    }
  });

  it('demo runs the example pipeline and prints the summary read back from the database', async () => {
    const { stdout } = await run(
      process.execPath,
      [bin, 'demo', '--items', '2000', '--experiment-id', 'demo-e2e'],
      {
        env,
        timeout: 120_000,
      },
    );
    assert.match(stdout, /Experiment demo-e2e .*status=succeeded/);
    assert.match(stdout, /^ {2}finished in \d+\.\d s$/m, 'database.url set: no embedded server to wait for');
    assert.match(stdout, /pipetel's own cost during the run \(tel\.profile\(\), estimated\): \d+\.\d\d % /);
    for (const stage of [
      'extract',
      'transform',
      'clean',
      'featurize',
      'train',
      'epoch-1',
      'validate',
      'load',
    ]) {
      assert.match(stdout, new RegExp(`\\b${stage}\\b`), `stage ${stage} in the summary`);
    }
    assert.match(stdout, /validate .* ERROR/);
    assert.match(stdout, /extract\s+2000\/2000\s+done/);
    assert.match(stdout, /validate\s+3\/10\s+failed/);
    assert.match(stdout, /DEBUG \d+ {3}INFO \d+ {3}WARNING \d+ {3}ERROR \d+ {3}CRITICAL \d+/);
    assert.match(stdout, /traceback: \d+ lines/);
    assert.match(
      stdout,
      /^ {2}npx pipetel show demo-e2e\s+# stage tree/m,
      'names the reading commands for this run',
    );
    assert.match(stdout, /^ {2}npx pipetel logs demo-e2e --level WARNING\s+#/m);

    const [exp] = await db.query("SELECT status FROM pipeline_experiments WHERE experiment_id = 'demo-e2e'");
    assert.equal(exp.status, 'succeeded');
    const levels = await db.query(
      "SELECT DISTINCT level FROM pipeline_logs WHERE experiment_id = 'demo-e2e'",
    );
    assert.equal(levels.length, 5, 'logs at every level');
    const [{ n }] = await db.query(
      "SELECT count(*)::int AS n FROM pipeline_metrics WHERE experiment_id = 'demo-e2e' AND name = 'process.memory.usage'",
    );
    assert.ok(n >= 1, 'resource samples recorded');
  });

  it('migrate --partitioning converts a populated install; maintain applies retention, --dry-run only says what it would do', async () => {
    const [{ before }] = await db.query<{ before: number }>(
      'SELECT count(*)::int AS before FROM pipeline_logs',
    );
    assert.ok(before > 0, 'the demo run left rows to move');
    const converted = await run(process.execPath, [bin, 'migrate', '--partitioning', 'daily'], { env });
    assert.match(
      converted.stdout,
      /^pipeline_logs: partitioned daily on timestamp, \d+ rows moved into \d+ partitions$/m,
    );
    const [{ after, kind }] = await db.query<{ after: number; kind: string }>(
      "SELECT (SELECT count(*)::int FROM pipeline_logs) AS after, (SELECT relkind FROM pg_class WHERE relname = 'pipeline_logs') AS kind",
    );
    assert.equal(after, before);
    assert.equal(kind, 'p');
    const again = await run(process.execPath, [bin, 'migrate', '--partitioning', 'daily'], { env });
    assert.match(again.stdout, /tables already partitioned daily/);

    // A row 40 days old, in its own partition: retention of 30 days drops that partition.
    await db.query(
      `SELECT pipetel_ensure_partitions('pipeline_logs', now() - interval '40 days', now() - interval '40 days');
       INSERT INTO pipeline_logs (id, experiment_id, "timestamp", level, severity_number, message)
       VALUES (gen_random_uuid(), 'old-run', now() - interval '40 days', 'INFO', 9, 'old')`,
    );
    const retention = { ...env, PIPETEL__RETENTION__LOGS_DAYS: '30' };
    const dry = await run(process.execPath, [bin, 'maintain', '--dry-run'], { env: retention });
    assert.match(
      dry.stdout,
      /^would drop partition pipeline_logs_\d{4}_\d{2}_\d{2} \(rows before .*; retention 30 days\)$/m,
    );
    const [{ still }] = await db.query<{ still: number }>(
      "SELECT count(*)::int AS still FROM pipeline_logs WHERE experiment_id = 'old-run'",
    );
    assert.equal(still, 1, 'a dry run deletes nothing');
    const done = await run(process.execPath, [bin, 'maintain'], { env: retention });
    assert.match(done.stdout, /^dropped partition pipeline_logs_\d{4}_\d{2}_\d{2} \(retention 30 days\)$/m);
    const [{ gone, kept }] = await db.query<{ gone: number; kept: number }>(
      "SELECT count(*) FILTER (WHERE experiment_id = 'old-run')::int AS gone, count(*)::int AS kept FROM pipeline_logs",
    );
    assert.equal(gone, 0);
    assert.equal(kept, before);
    const doctor = await run(process.execPath, [bin, 'doctor'], { env });
    assert.match(doctor.stdout, /^ok {4}partitioning\s+daily: pipeline_logs \d+/m);
    await assert.rejects(
      run(process.execPath, [bin, 'migrate', '--partitioning', 'weekly'], { env }),
      (e: { code: number; stderr: string }) =>
        e.code === 2 && /--partitioning expects daily or monthly/.test(e.stderr),
    );
  });

  it('unknown commands and bad arguments exit 2 with a message', async () => {
    await assert.rejects(
      run(process.execPath, [bin, 'nope'], { env }),
      (e: { code: number; stderr: string }) => {
        assert.equal(e.code, 2);
        assert.match(e.stderr, /unknown command 'nope'/);
        return true;
      },
    );
    // A database.url that does not answer: said at once, naming the setting, and nothing is run.
    await assert.rejects(
      run(process.execPath, [bin, 'demo'], {
        env: {
          ...env,
          PIPETEL_DATABASE_URL: 'postgres://u:Demo-Pw-55@127.0.0.1:1/x',
          PIPETEL_HOME: tempDir('pipetel-cli-'),
        },
      }),
      (e: { code: number; stdout: string; stderr: string }) => {
        assert.equal(e.code, 1);
        assert.equal(
          e.stderr,
          'pipetel demo: database.url: cannot connect to PostgreSQL at 127.0.0.1:1 (connect ECONNREFUSED 127.0.0.1:1)\n',
        );
        assert.equal(e.stdout, '', 'the pipeline did not run');
        return true;
      },
    );
    await assert.rejects(
      run(process.execPath, [bin, 'demo', '--items', 'lots'], { env }),
      (e: { code: number; stderr: string }) => {
        assert.equal(e.code, 2);
        assert.match(e.stderr, /--items expects a positive integer/);
        return true;
      },
    );
  });

  it('bad usage of any command exits 2 with a usage line naming the bad flag', async () => {
    for (const args of [
      ['demo', '--bogus'],
      ['migrate', '--bogus'],
      ['sync', '--bogus'],
      ['config', 'print', '--bogus'],
    ]) {
      await assert.rejects(
        run(process.execPath, [bin, ...args], { env }),
        (e: { code: number; stderr: string }) => {
          assert.equal(e.code, 2, `pipetel ${args.join(' ')}`);
          assert.match(e.stderr, /--bogus/);
          assert.match(e.stderr, /usage: pipetel/);
          return true;
        },
      );
    }
    const help = await run(process.execPath, [bin, 'demo', '--help'], { env });
    assert.match(help.stdout, /usage: pipetel demo \[--items N\]/);
    // --help after a subcommand is a question, answered with the command's usage and exit 0.
    for (const args of [
      ['config', 'validate', '--help'],
      ['config', 'print', '-h'],
      ['db', 'status', '--help'],
      ['db', 'start', '--help'],
      ['db', 'url', '-h'],
    ]) {
      const answer = await run(process.execPath, [bin, ...args], { env });
      assert.match(answer.stdout, new RegExp(`usage: pipetel ${args[0]}`), args.join(' '));
    }
  });

  it('config print shows OTLP on when an endpoint is set', async () => {
    const { stdout } = await run(process.execPath, [bin, 'config', 'print'], {
      env: { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' },
    });
    assert.match(stdout, /^otlp:\n {2}enabled: true\n {2}endpoint: http:\/\/127\.0\.0\.1:4318/m);
  });

  it("a YAML syntax error is reported with file:line:column and the parser's message", async () => {
    const file = join(env.PIPETEL_HOME!, 'broken.yml');
    writeFileSync(file, 'logging:\n  file:\n    path: [unclosed\nmonitoring:\n  enabled: true\n');
    await assert.rejects(
      run(process.execPath, [bin, 'config', 'validate', file], { env }),
      (e: { code: number; stderr: string }) => {
        assert.equal(e.code, 2);
        assert.equal(
          e.stderr,
          `${file}:4:1: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]\n`,
        );
        return true;
      },
    );
  });
});
