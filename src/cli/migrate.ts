// `pipetel migrate [--status] [--partitioning daily|monthly]`: applies the schema migrations to the
// configured (or embedded) database, or lists them with their state; --partitioning then converts
// the telemetry tables to time partitions, moving their rows (one transaction).

import { parseArgs } from 'node:util';
import pg from 'pg';
import { redactUrl } from '../../exporters/postgres/connectionSecrets.js';
import { migrate as applyMigrations, migrationStatus } from '../../exporters/postgres/migrate.js';
import { loadConfig } from '../config/index.js';
import { connect } from '../db/DatabaseConnectError.js';
import { ensureEmbeddedPostgres } from '../db/embedded/index.js';
import { currentPartitioning, partitionTables } from '../db/storeMaintenance.js';
import { connecting, existingDatabaseUrl, UsageError } from './reading.js';

export async function migrate(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { status: { type: 'boolean', default: false }, partitioning: { type: 'string' } },
  });
  if (values.partitioning !== undefined && !['daily', 'monthly'].includes(values.partitioning)) {
    throw new UsageError(`--partitioning expects daily or monthly, got "${values.partitioning}"`);
  }
  const config = loadConfig();
  // --status reads: it makes no embedded server; applying migrations may (it sets one up).
  const url = values.status
    ? await existingDatabaseUrl(config, 'pipetel migrate --status')
    : (config.values.database.url ?? (await ensureEmbeddedPostgres({ home: config.home })).url);
  if (!url) return 1;
  // Connected here, not inside migrate(), so that a refused connection names database.url.
  const client = new pg.Client({ connectionString: url, application_name: 'pipetel-migrate' });
  client.on('error', () => undefined);
  await connecting(config, () => connect(client, url));
  try {
    if (values.status) {
      for (const m of await migrationStatus(client)) {
        const state = m.applied ? `applied ${m.appliedAt?.toISOString()}` : 'pending';
        process.stdout.write(`${String(m.version).padStart(4, '0')} ${m.name.padEnd(24)} ${state}\n`);
      }
      return 0;
    }
    return await applyAll(client, url, values.partitioning as 'daily' | 'monthly' | undefined);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Applies the pending migrations on `client`, then converts the tables when --partitioning asks. */
async function applyAll(
  client: pg.Client,
  url: string,
  partitioning: 'daily' | 'monthly' | undefined,
): Promise<number> {
  const applied = await applyMigrations(client);
  process.stdout.write(
    applied.length === 0
      ? `schema up to date (${redactUrl(url)})\n`
      : `applied migrations ${applied.join(', ')} to ${redactUrl(url)}\n`,
  );
  if (partitioning) {
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    pool.on('error', () => undefined);
    try {
      const current = await currentPartitioning(pool);
      if (current === partitioning) process.stdout.write(`tables already partitioned ${partitioning}\n`);
      else for (const line of await partitionTables(pool, partitioning)) process.stdout.write(`${line}\n`);
    } finally {
      await pool.end();
    }
  }
  return 0;
}
