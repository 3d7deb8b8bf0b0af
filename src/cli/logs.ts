// `pipetel logs [RUN] [--level L] [--stage S] [--worker W] [--search TEXT] [--since D] [--limit N] [--follow]
// [--json]`: the newest log lines of a run (the latest run by default), oldest first. --follow then
// stays and prints new lines as they are stored: it LISTENs on the channel the pipeline_logs
// trigger notifies once per written batch (migration 0003), so it reads when a batch lands, never
// on a timer. It ends when the run has ended and its last lines are printed, or on Ctrl-C.

import { parseArgs } from 'node:util';
import {
  FOLLOW_SILENT_RUN_MS,
  type LogFilter,
  type LogRow,
  levelNamed,
  type RunReader,
  stillFollowed,
} from '../db/runReader.js';
import {
  parseLimit,
  parseSince,
  printable,
  statusText,
  UsageError,
  withReader,
  writeJson,
} from './reading.js';

/** The channel of migration 0003's trigger; the payload is the experiment id. */
const CHANNEL = 'pipetel_logs';
/**
 * A row's created_at is its transaction's start, and two batches can commit out of order: each
 * read looks back this far before the newest row seen, and skips the ids already printed.
 */
const OVERLAP_MS = 10_000;
/** How often a follower checks whether the run has ended (the trigger only speaks of new logs). */
const END_CHECK_MS = 2_000;

export async function logs(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      level: { type: 'string' },
      stage: { type: 'string' },
      worker: { type: 'string' },
      search: { type: 'string' },
      since: { type: 'string' },
      limit: { type: 'string' },
      follow: { type: 'boolean', short: 'f', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals.length > 1) throw new UsageError(`expects at most one RUN, got ${positionals.length}`);
  const level = values.level === undefined ? undefined : levelNamed(values.level);
  if (values.level !== undefined && level === undefined) {
    throw new UsageError(`--level expects DEBUG, INFO, WARNING, ERROR or CRITICAL, got "${values.level}"`);
  }
  const since = parseSince(values.since);
  const limit = parseLimit(values.limit, 200);
  return withReader(async (reader) => {
    const run = await reader.resolveRun(positionals[0]);
    const filter: LogFilter = {
      experimentId: run.experiment_id,
      level,
      stage: values.stage,
      worker: values.worker,
      search: values.search,
      since,
      limit,
    };
    if (!values.follow) {
      const rows = await reader.logs(filter);
      if (values.json) writeJson(rows);
      else for (const row of rows) process.stdout.write(formatLogLine(row));
      if (rows.length === 0 && values.worker !== undefined) {
        // A worker named as its lines do not show it (a pid alone, a typo): say which there are.
        const workers = await reader.workers(run.experiment_id);
        process.stderr.write(
          `pipetel logs: no lines of worker ${printable(values.worker)} in run ${printable(run.experiment_id)}; ${
            workers.length > 0
              ? `its workers: ${workers.map(printable).join(', ')}`
              : 'its lines name no worker (only runs written through pipetel gateway do)'
          }\n`,
        );
      }
      return 0;
    }
    const { rows, start } = await firstRead(reader, filter);
    const print = values.json
      ? (row: LogRow) => process.stdout.write(`${JSON.stringify(row)}\n`)
      : (row: LogRow) => process.stdout.write(formatLogLine(row));
    for (const row of rows) print(row);
    await follow(reader, filter, start, print);
    return 0;
  });
}

/** Where a follower starts: the stored-time cursor and the rows it must not print again. */
interface FollowStart {
  newest: Date;
  /** Every row the first read could see within the overlap window, printed or left out by --limit. */
  seen: Map<string, number>;
}

/**
 * --follow's first read: the newest `limit` lines, and in the same snapshot (one REPEATABLE READ
 * transaction) every matching line stored within the overlap window. The follower skips all of
 * those: the ones --limit left out are older than what was printed and were not asked for, and a
 * line is printed only when it was not yet visible at this read.
 */
async function firstRead(
  reader: RunReader,
  filter: LogFilter,
): Promise<{ rows: LogRow[]; start: FollowStart }> {
  const client = reader.connection;
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const rows = await reader.logs(filter);
    // The cursor starts at the newest row printed, or the server's clock when none was.
    const newest =
      rows.reduce<Date | undefined>(
        (max, r) => (!max || r.created_at > max ? r.created_at : max),
        undefined,
      ) ?? (await client.query<{ now: Date }>('SELECT now() AS now')).rows[0]!.now;
    const window = await reader.logs({
      ...filter,
      storedAfter: new Date(newest.getTime() - OVERLAP_MS),
      limit: 10_000,
    });
    await client.query('COMMIT');
    const seen = new Map<string, number>();
    for (const r of [...rows, ...window]) seen.set(r.id, r.created_at.getTime());
    return { rows, start: { newest, seen } };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** Prints lines stored from now on until the run ends (or SIGINT/SIGTERM). */
async function follow(
  reader: RunReader,
  filter: LogFilter,
  start: FollowStart,
  print: (row: LogRow) => void,
): Promise<void> {
  const client = reader.connection;
  let newest = start.newest;
  /** Ids printed (or deliberately not) within the overlap window, with their created_at for pruning. */
  const seen = start.seen;

  let printedCount = 0;
  let reading: Promise<void> | undefined;
  let again = false;
  const read = (): Promise<void> => {
    if (reading) {
      again = true;
      return reading;
    }
    reading = (async () => {
      do {
        again = false;
        const rows = await reader.logs({
          ...filter,
          storedAfter: new Date(newest.getTime() - OVERLAP_MS),
          limit: 10_000,
        });
        for (const row of rows) {
          if (seen.has(row.id)) continue;
          seen.set(row.id, row.created_at.getTime());
          if (row.created_at > newest) newest = row.created_at;
          printedCount++;
          print(row);
        }
        const horizon = newest.getTime() - OVERLAP_MS;
        for (const [id, at] of seen) if (at < horizon) seen.delete(id);
      } while (again);
    })().finally(() => {
      reading = undefined;
    });
    return reading;
  };

  await client.query(`LISTEN ${CHANNEL}`);
  let finish!: () => void;
  let fail!: (error: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  client.on('notification', (message) => {
    if (message.channel === CHANNEL && message.payload === filter.experimentId) read().catch(fail);
  });
  client.on('error', fail);
  client.on('end', () => fail(new Error('the database closed the connection')));
  // Lines stored between the first read and LISTEN taking effect.
  await read();
  // A run's last records can land just after its row says it ended (the process replays its own
  // spool at shutdown): the follower ends after one more quiet check once the run has ended.
  let endedChecks = 0;
  let saidSilent = false;
  const endCheck = setInterval(() => {
    reader
      .resolveRun(filter.experimentId)
      .then(async (run) => {
        if (run.live) {
          saidSilent = false;
          return;
        }
        if (stillFollowed(run)) {
          if (!saidSilent)
            process.stderr.write(
              `pipetel logs: ${statusText(run)} (a long synchronous step, or its process died); still following for ${FOLLOW_SILENT_RUN_MS / 60_000} min\n`,
            );
          saidSilent = true;
          return;
        }
        const before = printedCount;
        await read();
        if (printedCount > before) endedChecks = 0;
        if (++endedChecks < 2) return;
        clearInterval(endCheck);
        if (run.status === 'running')
          process.stderr.write(
            `pipetel logs: stopped following: ${statusText(run)} — its process looks dead\n`,
          );
        finish();
      })
      .catch(fail);
  }, END_CHECK_MS);
  const stop = () => finish();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await done;
  } finally {
    clearInterval(endCheck);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    client.removeAllListeners('notification');
    await reading?.catch(() => undefined);
  }
}

/** `12:00:01.250 ERROR [train] pipeline.model: message {attributes}`, then the traceback indented. */
export function formatLogLine(row: LogRow): string {
  const t = row.timestamp;
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const time = `${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}.${pad(t.getMilliseconds(), 3)}`;
  const stage = row.stage ? ` [${printable(row.stage)}]` : '';
  const attributes = Object.keys(row.attributes ?? {}).length
    ? ` ${printable(JSON.stringify(row.attributes))}`
    : '';
  let line = `${time} ${row.level.padEnd(8)}${stage} ${printable(row.logger_name)}: ${printable(row.message)}${attributes}\n`;
  if (row.traceback) {
    for (const tb of row.traceback.split('\n')) if (tb) line += `    ${printable(tb)}\n`;
  }
  return line;
}
