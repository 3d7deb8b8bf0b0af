// Integration tests run against a real PostgreSQL: the server named by PIPETEL_TEST_DATABASE_URL
// (CI sets it to 127.0.0.1:5432 when that answers), else pipetel's own embedded server. Each test
// file gets a database of its own, created fresh and dropped afterwards.

import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import pg from 'pg';
import { ensureEmbeddedPostgres } from '../../src/db/embedded/index.js';

let adminUrlPromise: Promise<string> | undefined;

/** URL of a database on the test server with rights to create databases. */
export function adminUrl(): Promise<string> {
  adminUrlPromise ??= (async () => {
    const fromEnv = process.env.PIPETEL_TEST_DATABASE_URL;
    if (fromEnv) return fromEnv;
    const home = resolve(process.env.PIPETEL_TEST_HOME ?? '.pipetel-test');
    return (await ensureEmbeddedPostgres({ home })).url;
  })();
  return adminUrlPromise;
}

export interface TestDatabase {
  url: string;
  name: string;
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<R[]>;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const admin = await adminUrl();
  const name = `pipetel_test_${randomBytes(5).toString('hex')}`;
  await withClient(admin, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = withDatabase(admin, name);
  const pool = testPool(url, 2);
  return {
    url,
    name,
    async query(sql, params) {
      return (await pool.query(sql, params)).rows;
    },
    async drop() {
      await pool.end();
      await withClient(admin, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

/**
 * A pool of the test's own, with the error listener every pool needs here. pg-pool's end()
 * resolves once its clients have been told to end, not once their backends have gone; a database
 * dropped WITH (FORCE) right after then sends "terminating connection due to administrator
 * command" to a client still closing, which the pool re-emits as 'error' — without a listener, an
 * uncaught exception that fails whichever test file is running (1 run in ~30, measured).
 */
export function testPool(url: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on('error', (error: Error & { code?: string }) => {
    // Only that race is expected; any other idle-client error fails the run as before.
    if (pool.ending || error.code === ADMIN_SHUTDOWN) return;
    throw error;
  });
  return pool;
}

/** SQLSTATE 57P01, "terminating connection due to administrator command". */
const ADMIN_SHUTDOWN = '57P01';

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

export async function withClient<R>(url: string, fn: (client: pg.Client) => Promise<R>): Promise<R> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
