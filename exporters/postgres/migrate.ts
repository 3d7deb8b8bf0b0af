// Versioned schema migrations: the numbered .sql files in exporters/postgres/migrations, applied in order,
// each in its own transaction, recorded in pipetel_schema_migrations. A session-level advisory
// lock serializes concurrent migrators (two processes starting at once), so the second one finds
// the work done and applies nothing.

import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { PgClient, PgPool } from './pgTypes.js';
import { withoutAnswerWatch } from './pool.js';

/** Advisory lock key: the bytes of 'pipetel' as a bigint; fixed forever so every version agrees. */
const MIGRATION_LOCK_KEY = 0x70697065_74656c00n & 0x7fffffffffffffffn;

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export interface MigrationState {
  version: number;
  name: string;
  applied: boolean;
  appliedAt: Date | null;
}

export function migrationsDirectory(): string {
  // Compiled code lives in dist/exporters/postgres, sources in exporters/postgres; the .sql files
  // ship (unbuilt) in exporters/postgres/migrations.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'exporters', 'postgres', 'migrations');
    if (existsSync(join(dir, 'package.json')) && existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error(
    'pipetel: migrations directory not found (expected exporters/postgres/migrations in the package)',
  );
}

export function loadMigrations(directory = migrationsDirectory()): Migration[] {
  return readdirSync(directory)
    .filter((file) => /^\d{4}_[\w-]+\.sql$/.test(file))
    .sort()
    .map((file) => {
      const sql = readFileSync(join(directory, file), 'utf8');
      return {
        version: Number(file.slice(0, 4)),
        name: file.slice(5, -4),
        sql,
        checksum: createHash('sha256').update(sql).digest('hex'),
      };
    });
}

/**
 * Applies pending migrations through a `pg.Pool`, a connected `pg.Client` or a connection string;
 * returns the versions applied by this call.
 */
export async function migrate(target: PgPool | PgClient | string): Promise<number[]> {
  return withClient(target, async (client) => {
    // Waits for another process's migrations, however long they take (the server's
    // statement_timeout, where set, bounds it), so the wait is not taken for silence either.
    await withoutAnswerWatch(client, () =>
      client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY.toString()]),
    );
    try {
      await client.query(
        `CREATE TABLE IF NOT EXISTS pipetel_schema_migrations (
           version integer PRIMARY KEY,
           name text NOT NULL,
           checksum text NOT NULL,
           applied_at timestamptz NOT NULL DEFAULT now())`,
      );
      const done = new Set(
        (await client.query<{ version: number }>('SELECT version FROM pipetel_schema_migrations')).rows.map(
          (r) => r.version,
        ),
      );
      const applied: number[] = [];
      for (const migration of loadMigrations()) {
        if (done.has(migration.version)) continue;
        await client.query('BEGIN');
        try {
          // Several statements, each bounded by the server's statement_timeout but not their sum;
          // the server sends nothing until the last is done, which a pool's watchdog would take for
          // silence (see createPool).
          await withoutAnswerWatch(client, () => client.query(migration.sql));
          await client.query(
            'INSERT INTO pipetel_schema_migrations (version, name, checksum) VALUES ($1, $2, $3)',
            [migration.version, migration.name, migration.checksum],
          );
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw new Error(
            `migration ${migration.version} (${migration.name}) failed: ${(error as Error).message}`,
          );
        }
        applied.push(migration.version);
      }
      return applied;
    } finally {
      await client
        .query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY.toString()])
        .catch(() => undefined);
    }
  });
}

/** Every known migration with whether (and when) it was applied. */
export async function migrationStatus(target: PgPool | PgClient | string): Promise<MigrationState[]> {
  return withClient(target, async (client) => {
    const exists = await client.query(
      "SELECT to_regclass('pipetel_schema_migrations') IS NOT NULL AS present",
    );
    const rows = exists.rows[0].present
      ? (
          await client.query<{ version: number; applied_at: Date }>(
            'SELECT version, applied_at FROM pipetel_schema_migrations',
          )
        ).rows
      : [];
    const appliedAt = new Map(rows.map((r) => [r.version, r.applied_at]));
    return loadMigrations().map((m) => ({
      version: m.version,
      name: m.name,
      applied: appliedAt.has(m.version),
      appliedAt: appliedAt.get(m.version) ?? null,
    }));
  });
}

async function withClient<R>(
  target: PgPool | PgClient | string,
  fn: (client: pg.PoolClient | pg.Client) => Promise<R>,
): Promise<R> {
  // JavaScript callers (and `process.env.DATABASE_URL` unset) reach here with nothing to connect to.
  if (target === undefined || target === null || target === '') {
    throw new TypeError(
      'pipetel: migrate() needs a PostgreSQL connection string, a pg.Pool or a connected pg.Client ' +
        `(got ${target === '' ? 'an empty string' : String(target)}); for the embedded server, ` +
        'DATABASE_URL=$(npx pipetel db url)',
    );
  }
  if (typeof target === 'string') {
    const client = new pg.Client({ connectionString: target });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  if (target instanceof pg.Pool) {
    const client = await target.connect();
    try {
      return await fn(client);
    } finally {
      client.release();
    }
  }
  return fn(target as pg.Client);
}
