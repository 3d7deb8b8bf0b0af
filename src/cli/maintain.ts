// `pipetel maintain [--dry-run] [--json]`: one maintenance run now, by the configuration in effect
// (retention.*, database.premake): partitions premade, expired partitions detached and dropped,
// old rows deleted, metrics archived, runs past the logs' retention removed, statistics updated.
// Prints each action; --dry-run prints what it would do and changes nothing.

import { parseArgs } from 'node:util';
import { loadConfig } from '../config/index.js';
import { runMaintenance } from '../db/storeMaintenance.js';
import { connecting, existingDatabaseUrl, writeJson } from './reading.js';

export async function maintain(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { 'dry-run': { type: 'boolean', default: false }, json: { type: 'boolean', default: false } },
  });
  const config = loadConfig();
  // Maintaining a database that does not exist yet would make one (and find no tables in it).
  const url = await existingDatabaseUrl(config, 'pipetel maintain');
  if (!url) return 1;
  const dryRun = values['dry-run'] === true;
  const result = await connecting(config, () => runMaintenance(url, { dryRun, settings: config.values }));
  if (values.json) writeJson({ dryRun, ...result });
  else if (result.skipped) process.stdout.write(`nothing done: ${result.skipped}\n`);
  else if (result.actions.length === 0)
    process.stdout.write(dryRun ? 'nothing to do\n' : 'nothing needed doing\n');
  else for (const line of result.actions) process.stdout.write(`${line}\n`);
  return result.skipped ? 1 : 0;
}
