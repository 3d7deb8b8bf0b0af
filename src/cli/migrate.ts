// `pipetel migrate [--status]`: applies the schema migrations to the configured (or embedded)
// database, or lists them with their state.

import { parseArgs } from 'node:util';
import { redactUrl } from '../../exporters/postgres/connectionSecrets.js';
import { migrate as applyMigrations, migrationStatus } from '../../exporters/postgres/migrate.js';
import { loadConfig } from '../config/index.js';
import { ensureEmbeddedPostgres } from '../db/embedded.js';

export async function migrate(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { status: { type: 'boolean', default: false } } });
  const config = loadConfig();
  const url = config.values.database.url ?? (await ensureEmbeddedPostgres({ home: config.home })).url;
  if (values.status) {
    for (const m of await migrationStatus(url)) {
      const state = m.applied ? `applied ${m.appliedAt?.toISOString()}` : 'pending';
      process.stdout.write(`${String(m.version).padStart(4, '0')} ${m.name.padEnd(24)} ${state}\n`);
    }
    return 0;
  }
  const applied = await applyMigrations(url);
  process.stdout.write(
    applied.length === 0
      ? `schema up to date (${redactUrl(url)})\n`
      : `applied migrations ${applied.join(', ')} to ${redactUrl(url)}\n`,
  );
  return 0;
}
