// `pipetel sync`: replays everything in $PIPETEL_HOME/spool into the configured (or embedded)
// database and prints what it did. Exit 1 when the database can't be reached: the spool is left
// as it was, to be replayed later.

import { parseArgs } from 'node:util';
import { redactUrl, safeErrorMessage } from '../../exporters/postgres/connectionSecrets.js';
import { migrate } from '../../exporters/postgres/migrate.js';
import { loadConfig } from '../config/index.js';
import { logFilePath, shipsLogFile } from '../sync/LogFileShipper.js';
import { LogSynchronizer, type SyncResult } from '../sync/LogSynchronizer.js';
import { existingDatabaseUrl } from './reading.js';

export const sync = async (args: string[]): Promise<number> => {
  const { values } = parseArgs({
    args,
    options: { 'any-database': { type: 'boolean' }, discard: { type: 'string' } },
  });
  if (values.discard !== undefined && values['any-database'])
    throw Object.assign(
      new Error('--discard and --any-database contradict each other: one deletes what the other replays'),
      { code: 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' },
    );
  const config = loadConfig();
  // Records go back to the database they were written for: a new embedded server is not it.
  const url = await existingDatabaseUrl(config, 'pipetel sync');
  if (!url) return 1;
  const synchronizer = new LogSynchronizer({
    home: config.home,
    connectionString: url,
    batchSize: config.values.spool.batch_size,
    // Records are replayed into the database they were written for, unless told otherwise.
    anyDatabase: values['any-database'] === true,
    // Records spooled for a database that will never take them (a connection string that was wrong).
    discard: values.discard,
    autoMigrate: config.values.database.auto_migrate,
    // Network-constrained mode: also ship what the file sink wrote.
    logFile: shipsLogFile(config) ? { path: logFilePath(config) } : undefined,
  });
  let result: SyncResult;
  try {
    if (config.values.database.auto_migrate) await migrate(url);
    result = await synchronizer.syncOnce();
  } catch (error) {
    process.stderr.write(
      `pipetel sync: cannot write to the database at ${hostOf(url)}: ${safeErrorMessage(error, url)}\n` +
        'the spool is kept; run `pipetel sync` again once the database is reachable\n',
    );
    return 1;
  } finally {
    await synchronizer.stop();
  }
  process.stdout.write(`${summary(result)}\n`);
  if (values.discard !== undefined && result.discarded === 0)
    process.stderr.write(
      `pipetel sync: nothing was spooled for ${values.discard} (--discard takes the database as the spool's warning names it, e.g. 127.0.0.1:5432/pipetel)\n`,
    );
  return 0;
};

export function summary(result: SyncResult): string {
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  let line =
    `replayed ${plural(result.replayed, 'record')} (${result.duplicates} already present, ` +
    `${plural(result.corrupt, 'corrupt line')} skipped) from ${plural(result.segments, 'segment')}`;
  if (result.logFile)
    line += `; ${plural(result.logFile.shipped, 'log-file line')} shipped (${result.logFile.duplicates} already present)`;
  if (result.rejected > 0) line += `; ${plural(result.rejected, 'record')} rejected by the database`;
  if (result.discarded > 0)
    line += `; ${plural(result.discarded, 'segment')} discarded unreplayed (--discard)`;
  if (result.otherDatabase > 0)
    line += `; ${plural(result.otherDatabase, 'segment')} left: written for another database (see the warning; --any-database replays them here)`;
  if (result.remaining > 0)
    line += `; ${plural(result.remaining, 'segment')} left (still being written or replayed by a running process)`;
  return line;
}

/** host:port/database, without user or password. */
function hostOf(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.host}${parsed.pathname}`;
  } catch {
    return redactUrl(url);
  }
}
