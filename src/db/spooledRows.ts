// The experiment and progress rows in the spool. Logs, spans and metrics are spooled as COPY lines;
// these two tables are written by upserts, so their spool lines are the rows as JSON (which never
// holds a raw newline) and their replay goes through the tables' own writers, not COPY.

import type pg from 'pg';
import { isDataError } from '../../exporters/delivery/RetryPolicy.js';
import type { BatchSink, SpillTarget, WarningSink } from '../../exporters/delivery/types.js';
import type { ProgressRow, ProgressWriter } from '../pipeline/Progress.js';
import { type ExperimentRow, ExperimentStore } from './experimentStore.js';
import { PostgresProgressStore } from './progressStore.js';

/** Spool "table" names of the two kinds of record; the same as the tables they replay into. */
export const EXPERIMENTS_SPOOL_TABLE = 'pipeline_experiments';
export const PROGRESS_SPOOL_TABLE = 'pipeline_progress';

export function encodeExperimentLine(row: ExperimentRow): string {
  return `${JSON.stringify(row)}\n`;
}

export function encodeProgressLine(row: ProgressRow): string {
  return `${JSON.stringify(row)}\n`;
}

function decodeExperimentLine(line: string): ExperimentRow {
  const raw = JSON.parse(line) as Omit<ExperimentRow, 'startedAt' | 'endedAt' | 'lastSeenAt'> & {
    startedAt: string;
    endedAt: string | null;
    lastSeenAt: string;
  };
  return {
    ...raw,
    startedAt: new Date(raw.startedAt),
    endedAt: raw.endedAt === null ? null : new Date(raw.endedAt),
    lastSeenAt: new Date(raw.lastSeenAt),
  };
}

function decodeProgressLine(line: string): ProgressRow {
  const raw = JSON.parse(line) as Omit<ProgressRow, 'startedAt' | 'updatedAt'> & {
    startedAt: string;
    updatedAt: string;
  };
  return { ...raw, startedAt: new Date(raw.startedAt), updatedAt: new Date(raw.updatedAt) };
}

/**
 * A line that does not parse is bad data, like a row the database refuses: the synchronizer
 * isolates and counts it instead of retrying it forever.
 */
function decodeAll<T>(lines: string[], decode: (line: string) => T): T[] {
  try {
    return lines.map(decode);
  } catch (error) {
    throw Object.assign(new Error(`spool: malformed row: ${(error as Error).message}`), { code: '22P02' });
  }
}

/** The replay sinks of LogSynchronizer for the two upserted tables. */
export function spooledRowSinks(pool: pg.Pool): BatchSink[] {
  const experiments = new ExperimentStore(pool);
  const progress = new PostgresProgressStore(pool);
  return [
    {
      table: EXPERIMENTS_SPOOL_TABLE,
      write: (lines) => experiments.replay(decodeAll(lines, decodeExperimentLine)),
    },
    {
      table: PROGRESS_SPOOL_TABLE,
      write: (lines) => progress.upsert(decodeAll(lines, decodeProgressLine)),
    },
  ];
}

/**
 * Progress rows the database cannot take now go to the spool instead of waiting in memory for
 * the next interval: a run that ends (or is killed) while the database is down still gets its
 * progress once the spool is replayed. Rows the database refuses as malformed are not spooled.
 */
export class SpoolingProgressWriter implements ProgressWriter {
  constructor(
    private readonly writer: ProgressWriter,
    private readonly spool: SpillTarget,
    private readonly warn: WarningSink,
  ) {}

  async write(rows: ProgressRow[]): Promise<void> {
    try {
      await this.writer.write(rows);
    } catch (error) {
      if (isDataError(error)) throw error;
      try {
        await this.spool.append(PROGRESS_SPOOL_TABLE, rows.map(encodeProgressLine));
      } catch (spoolError) {
        this.warn(`progress: could not spool ${rows.length} row(s): ${(spoolError as Error).message}`);
        throw error;
      }
    }
  }
}
