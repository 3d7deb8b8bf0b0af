// The pg_cron path of maintenance (maintenance.scheduler: pg_cron): a PostgreSQL server this test
// sets up with pg_cron preloaded, pipetel's migrations, and the job the README shows, scheduled with
// cron.schedule — the database itself then applies retention, with no pipetel process running.
// Needs PostgreSQL's server binaries and the pg_cron package (Debian: postgresql-15-cron, which
// .ci/run installs); where they are absent the test is skipped and says so.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { migrate } from '../../exporters/postgres/index.js';

function pgBinDir(): string | undefined {
  for (const version of ['17', '16', '15']) {
    const dir = `/usr/lib/postgresql/${version}`;
    if (existsSync(join(dir, 'bin', 'initdb')) && existsSync(join(dir, 'lib', 'pg_cron.so'))) return dir;
  }
  return undefined;
}

const pgDir = pgBinDir();
const skip = pgDir
  ? false
  : 'pg_cron is not installed here (Debian: apt-get install postgresql-15-cron): the pg_cron path of maintenance is not tested on this machine';
if (skip) process.stdout.write(`# SKIP pg-cron.test.ts: ${skip}\n`);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

describe('maintenance scheduled by pg_cron', { skip }, () => {
  let dataDir: string;
  let url: string;
  const asServerUser = (file: string, args: string[]) =>
    process.getuid?.() === 0
      ? execFileSync('runuser', ['-u', 'postgres', '--', file, ...args], { stdio: 'pipe' })
      : execFileSync(file, args, { stdio: 'pipe' });

  before(async () => {
    const root = mkdtempSync(join(tmpdir(), 'pipetel-pgcron-'));
    dataDir = join(root, 'data');
    if (process.getuid?.() === 0) execFileSync('chown', ['postgres:postgres', root]);
    asServerUser(join(pgDir!, 'bin', 'initdb'), [
      '-D',
      dataDir,
      '-U',
      'postgres',
      '--auth=trust',
      '-E',
      'UTF8',
    ]);
    const port = await freePort();
    writeFileSync(
      join(root, 'extra.conf'),
      `port = ${port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${root}'\n` +
        "shared_preload_libraries = 'pg_cron'\ncron.database_name = 'postgres'\n",
    );
    if (process.getuid?.() === 0) execFileSync('chown', ['postgres:postgres', join(root, 'extra.conf')]);
    execFileSync('sh', [
      '-c',
      `echo "include '${join(root, 'extra.conf')}'" >> ${join(dataDir, 'postgresql.conf')}`,
    ]);
    asServerUser(join(pgDir!, 'bin', 'pg_ctl'), [
      '-D',
      dataDir,
      '-l',
      join(root, 'server.log'),
      '-w',
      'start',
    ]);
    url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  });

  after(() => {
    if (!dataDir) return;
    try {
      asServerUser(join(pgDir!, 'bin', 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', 'stop']);
    } catch {
      // not started
    }
    rmSync(join(dataDir, '..'), { recursive: true, force: true });
  });

  it('SELECT monitoring_maintenance() scheduled with cron.schedule applies retention without pipetel running', async () => {
    await migrate(url);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query('CREATE EXTENSION pg_cron');
      await client.query('UPDATE pipetel_settings SET logs_days = 7');
      await client.query(
        `INSERT INTO pipeline_logs (id, experiment_id, "timestamp", level, severity_number, message)
         VALUES (gen_random_uuid(), 'cron', now() - interval '9 days', 'INFO', 9, 'old'),
                (gen_random_uuid(), 'cron', now(), 'INFO', 9, 'new')`,
      );
      // Every minute: the smallest schedule pg_cron 1.4 takes (the job's first run is within 60 s).
      await client.query(
        "SELECT cron.schedule('pipetel-maintenance', '* * * * *', 'SELECT monitoring_maintenance()')",
      );
      const deadline = Date.now() + 75_000;
      let status: string | undefined;
      while (Date.now() < deadline) {
        const { rows } = await client.query<{ status: string }>(
          'SELECT status FROM cron.job_run_details ORDER BY start_time DESC LIMIT 1',
        );
        status = rows[0]?.status;
        if (status === 'succeeded' || status === 'failed') break;
        await new Promise((r) => setTimeout(r, 500));
      }
      assert.equal(status, 'succeeded', 'the cron job ran monitoring_maintenance()');
      const { rows } = await client.query<{ message: string }>(
        'SELECT message FROM pipeline_logs ORDER BY timestamp',
      );
      assert.deepEqual(
        rows.map((r) => r.message),
        ['new'],
      );
    } finally {
      await client.end();
    }
  });
});
