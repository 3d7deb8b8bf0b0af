// Replays the spool into PostgreSQL (the seed's LogSynchronizer(sync_interval, batch_size)): each
// sealed segment is claimed by an atomic rename, its records written through the idempotent path
// of the table writers (rows carry client-made ids, so a replay never duplicates), and the file is
// deleted only after every one of its rows is committed. Experiment and progress rows replay
// through their tables' upserts; a missing schema is migrated first when auto_migrate allows.
// In the network-constrained mode (database logging off, file on) each pass also ships what the
// file sink wrote (LogFileShipper).

import { readdir, readFile, rename, rmdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type pg from 'pg';
import { writeBisecting } from '../../exporters/delivery/bisect.js';
import { KeyedWarnings, stderrWarning } from '../../exporters/delivery/RateLimitedWarning.js';
import { isConfigurationError, isDataError } from '../../exporters/delivery/RetryPolicy.js';
import { type Spool, SpoolFiles, spoolDirectory } from '../../exporters/delivery/Spool.js';
import { recoverSegment } from '../../exporters/delivery/spoolFormat.js';
import {
  describeTarget,
  type SpoolTarget,
  sameTarget,
  targetAddress,
  targetIdentity,
} from '../../exporters/delivery/spoolTarget.js';
import type { BatchSink, WarningSink } from '../../exporters/delivery/types.js';
import { safeErrorMessage } from '../../exporters/postgres/connectionSecrets.js';
import { LOGS_TABLE } from '../../exporters/postgres/logRows.js';
import { METRICS_TABLE } from '../../exporters/postgres/metricRows.js';
import { migrate } from '../../exporters/postgres/migrate.js';
import type { PgPool } from '../../exporters/postgres/pgTypes.js';
import { createPool, sharedPool, watchesAnswers } from '../../exporters/postgres/pool.js';
import { SPANS_TABLE } from '../../exporters/postgres/spanRows.js';
import { PostgresTableWriter, type TableSpec } from '../../exporters/postgres/TableWriter.js';
import { isHolderAlive, readLockFile } from '../../exporters/shared/lockFile.js';
import { isSameProcessAlive } from '../../exporters/shared/processes.js';
import { spooledRowSinks } from '../db/spooledRows.js';
import { LogFileShipper, type ShipResult } from './LogFileShipper.js';

export interface LogSynchronizerOptions {
  /** PIPETEL_HOME: the spool replayed is `<home>/spool`. */
  home: string;
  /**
   * Replay every spool, whatever database its records were written for (`pipetel sync
   * --any-database`); by default records only go to the database they were written for.
   */
  anyDatabase?: boolean;
  /**
   * Delete, unreplayed, the segments written for this other database (as the warning names it,
   * e.g. `127.0.0.1:1/x`): records spooled for a connection string that was wrong, which no
   * database will ever take (`pipetel sync --discard`).
   */
  discard?: string;
  /** A pool to share (a `pg.Pool`, never closed here); else one is opened on `connectionString`. */
  pool?: PgPool;
  connectionString?: string;
  /**
   * The caller reports a refused connection itself: start()'s passes stop on one without a
   * warning of their own (the gateway, which also starts them again once the database is back).
   */
  refusalReported?: boolean;
  /** spool.sync_interval in ms, for start(). Default 30000. */
  syncIntervalMs?: number;
  /** spool.batch_size: records per replayed write. Default 1000. */
  batchSize?: number;
  /** Replayed writes in flight at once. Default 2. */
  concurrency?: number;
  /**
   * A statement of a replay that gets no answer for this long (a server gone silent) fails the
   * pass, its connection dropped, so the next pass meets a fresh one instead of joining a pass that
   * waits ~15 minutes for the operating system. Default 60000: a replay's batches are large.
   */
  answerTimeoutMs?: number;
  /**
   * The spool this process writes, if any: sealed before each pass so what it holds becomes
   * replayable now rather than when its segment fills up or the process exits.
   * @internal
   */
  spool?: Spool;
  /** database.auto_migrate: a replay that finds the schema missing migrates it, then writes. */
  autoMigrate?: boolean;
  /**
   * The network-constrained mode: ship the JSON-lines log file at `path` (and its rotated
   * backups) into pipeline_logs, exactly once. Lines without an experiment id get `experimentId`.
   */
  logFile?: { path: string; experimentId?: string };
  /**
   * Called as records of `spool`'s own directory (this process's) are committed by a replay, per
   * table: they leave the spool for the database, and the caller's counts can say so.
   * @internal
   */
  onDelivered?: (table: string, records: number) => void;
  warn?: WarningSink;
}

export interface SyncOptions {
  /** Stop claiming segments at this time (ms since epoch); a segment under way is released. */
  deadline?: number;
  /** Replay only the directories this process wrote (its own spool, at shutdown). */
  ownOnly?: boolean;
}

/** A pass given a deadline ran out of time; what it did commit stays committed. */
export class SyncDeadlineError extends Error {
  constructor() {
    super('spool replay stopped at its deadline');
  }
}

export interface SyncResult {
  /** Rows newly stored by this pass. */
  replayed: number;
  /** Records whose rows were already in the database (an earlier write or replay did commit). */
  duplicates: number;
  /** Spool lines skipped because they failed the checksum, torn tails included. */
  corrupt: number;
  /** Records the database refused as malformed (or for a table it has no writer for). */
  rejected: number;
  /** Segments fully replayed and deleted. */
  segments: number;
  /** Segments left: still being written by a live process, or being replayed by another one. */
  remaining: number;
  /** Segments left because they were written for another database (see spoolTarget.ts). */
  otherDatabase: number;
  /** Segments deleted unreplayed (`discard`). */
  discarded: number;
  /** With `logFile`: lines of the log file shipped by this pass (also counted above). */
  logFile?: ShipResult;
}

type OwnerState = 'live' | 'dead' | 'closed';

interface ReplayOptions {
  deadline: number | undefined;
  /** The segment is this process's own: report what it delivers (onDelivered). */
  own: boolean;
}

interface SegmentFile {
  name: string;
  number: number;
  state: 'open' | 'log' | 'replaying';
  replayingPid?: number;
}

const TABLES: readonly TableSpec[] = [LOGS_TABLE, SPANS_TABLE, METRICS_TABLE];
const DEFAULT_ANSWER_TIMEOUT_MS = 60_000;

export class LogSynchronizer {
  private readonly pool: pg.Pool;
  private readonly ownsPool: boolean;
  private readonly writers = new Map<string, BatchSink>();
  private migration: Promise<unknown> | undefined;
  private readonly fileShipper: LogFileShipper | undefined;
  private readonly batchSize: number;
  private readonly concurrency: number;
  private readonly answerTimeoutMs: number;
  private readonly root: string;
  private readonly warnings: KeyedWarnings;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<SyncResult> | undefined;

  constructor(private readonly options: LogSynchronizerOptions) {
    this.root = spoolDirectory(options.home);
    this.warnings = new KeyedWarnings(options.warn ?? stderrWarning);
    this.batchSize = Math.max(1, options.batchSize ?? 1000);
    this.concurrency = Math.max(1, options.concurrency ?? 2);
    this.answerTimeoutMs = options.answerTimeoutMs ?? DEFAULT_ANSWER_TIMEOUT_MS;
    this.ownsPool = !options.pool;
    if (options.pool) {
      this.pool = sharedPool(options.pool);
    } else if (options.connectionString) {
      this.pool = createPool({
        connectionString: options.connectionString,
        maxConnections: this.concurrency,
        connectionTimeoutMs: 10_000,
        answerTimeoutMs: this.answerTimeoutMs,
      });
    } else {
      throw new Error('LogSynchronizer: pass `pool` or `connectionString`');
    }
    if (options.logFile) {
      this.fileShipper = new LogFileShipper({
        path: options.logFile.path,
        experimentId: options.logFile.experimentId,
        pool: this.pool,
        batchSize: this.batchSize,
        warn: (message) => this.warn('file', message),
      });
    }
  }

  /**
   * Replays every `syncIntervalMs` (first pass at once) without keeping the process alive, until
   * the server refuses the connection's role, password or database: no later pass could succeed.
   */
  start(): void {
    if (this.timer) return;
    const tick = () => {
      this.syncOnce().catch((error) => {
        // Stopped meanwhile: the pass failed because shutdown closed its connections.
        if (!this.timer) return;
        const message = safeErrorMessage(error, this.options.connectionString);
        if (!isConfigurationError(error)) {
          this.warn('unavailable', `spool replay failed, retrying every sync_interval: ${message}`);
          return;
        }
        if (this.timer) clearInterval(this.timer);
        this.timer = undefined; // start() may begin again (the gateway, once the database is back)
        if (this.options.refusalReported) return;
        this.warn(
          'refused',
          `spool replay stopped: the database refused the connection (${message}), a configuration error; the spool stays on disk for \`pipetel sync\` once the connection string is fixed`,
        );
      });
    };
    this.timer = setInterval(tick, this.options.syncIntervalMs ?? 30_000);
    this.timer.unref();
    setTimeout(tick, 0).unref();
  }

  /** Stops the timer, waits for a pass in progress, and closes the pool if it is our own. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
    if (this.ownsPool) await this.pool.end().catch(() => undefined);
  }

  /**
   * One pass over the whole spool. Rejects when the database cannot be reached (nothing is lost:
   * claimed segments are released). Calls made while a pass runs share that pass.
   */
  syncOnce(options: SyncOptions = {}): Promise<SyncResult> {
    this.running ??= this.pass(options).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /**
   * Replays what this process spooled (its spool must be closed or sealed first), until the
   * deadline: at shutdown, so overflow and outage records reach the database before the exit.
   */
  async replayOwn(deadline: number): Promise<SyncResult> {
    await this.running?.catch(() => undefined);
    return this.syncOnce({ deadline, ownOnly: true });
  }

  private async pass(options: SyncOptions): Promise<SyncResult> {
    const result: SyncResult = {
      replayed: 0,
      duplicates: 0,
      corrupt: 0,
      rejected: 0,
      segments: 0,
      remaining: 0,
      otherDatabase: 0,
      discarded: 0,
    };
    // A spool that cannot seal (disk trouble) only delays its own records; the rest still replays.
    await this.options.spool
      ?.seal()
      .catch((error) =>
        this.warn('seal', `spool: could not seal the current segment: ${describeError(error)}`),
      );
    let directories: string[] = [];
    try {
      directories = (await readdir(this.root)).sort(byStartTime);
    } catch (error) {
      // No spool yet: nothing to replay (a log file to ship may still be there).
      if (errorCode(error) !== 'ENOENT' && errorCode(error) !== 'ENOTDIR') throw error;
    }
    let reachable = false;
    for (const name of directories) {
      const match = SpoolFiles.directory.exec(name);
      if (!match) continue;
      // Written by this very process (same pid, made after it started): its records are ours to count.
      const own = Number(match[1]) === process.pid && isSameProcessAlive(process.pid, Number(match[2]));
      if (options.ownOnly && !own) continue;
      const directory = join(this.root, name);
      const owner = await ownerState(directory, Number(match[1]), Number(match[2]));
      const written = await ownerTarget(directory);
      for (const segment of await listSegments(directory)) {
        if (!(await isClaimable(directory, segment, owner))) {
          result.remaining++;
          continue;
        }
        if (!reachable) {
          await this.checkReachable(); // before claiming anything: a down database leaves the spool untouched
          reachable = true;
        }
        // Records written for another database stay for a synchronizer of that database.
        if (!this.options.anyDatabase && !sameTarget(written, this.target!)) {
          if (this.options.discard !== undefined && describeTarget(written) === this.options.discard) {
            // Gone already (another synchronizer claimed it): not ours to count.
            const deleted = await unlink(join(directory, segment.name)).then(
              () => true,
              (error) => (errorCode(error) === 'ENOENT' ? false : Promise.reject(error)),
            );
            if (deleted) result.discarded++;
            continue;
          }
          result.otherDatabase++;
          // Keyed by directory: two spools for two other databases are two warnings, not one and
          // a "similar" count.
          this.warn(
            `target ${directory}`,
            `spool: ${directory} holds records for ${describeTarget(written)}, not ${describeTarget(this.target)}; left in place (replay it with pipetel sync against that database${discardHint(written)})`,
          );
          continue;
        }
        if (options.deadline !== undefined && Date.now() >= options.deadline) throw new SyncDeadlineError();
        await this.replayClaimed(directory, segment, result, { deadline: options.deadline, own });
      }
      if (owner !== 'live') await removeIfEmpty(directory);
    }
    if (this.fileShipper) {
      const shipped = await this.withSchema(() => this.fileShipper!.ship());
      result.logFile = shipped;
      result.replayed += shipped.shipped;
      result.duplicates += shipped.duplicates;
      result.rejected += shipped.rejected;
    }
    return result;
  }

  /** The database this synchronizer writes to, once reached (compared with each spool's target). */
  private target: SpoolTarget | undefined;

  private async checkReachable(): Promise<void> {
    const client = await this.pool.connect();
    try {
      this.target ??= {
        address: targetAddress(this.options.connectionString ?? this.pool.options?.connectionString),
        identity: await targetIdentity(client),
      };
    } finally {
      client.release();
    }
  }

  private async replayClaimed(
    directory: string,
    segment: SegmentFile,
    result: SyncResult,
    replay: ReplayOptions,
  ): Promise<void> {
    const claimed = join(directory, SpoolFiles.name(segment.number, `replaying-${process.pid}`));
    try {
      await rename(join(directory, segment.name), claimed);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return; // another synchronizer claimed it first
      throw error;
    }
    let delivered: Map<string, number>;
    try {
      delivered = await this.replaySegment(claimed, result, replay);
    } catch (error) {
      // Release it for a later pass; rows already committed come back as duplicates, not twice.
      await rename(claimed, join(directory, SpoolFiles.name(segment.number, 'log'))).catch(() => undefined);
      throw error;
    }
    await unlink(claimed); // only now: every row of the segment is committed
    // Counted per whole segment: a segment released halfway comes back, and its rows with it.
    if (replay.own) for (const [table, records] of delivered) this.options.onDelivered?.(table, records);
    result.segments++;
  }

  /** Returns, per table, how many of the segment's records are now in the database. */
  private async replaySegment(
    path: string,
    result: SyncResult,
    replay: ReplayOptions,
  ): Promise<Map<string, number>> {
    const delivered = new Map<string, number>();
    const parsed = await recoverSegment(path);
    result.corrupt += parsed.corrupt;
    const byTable = new Map<string, string[]>();
    for (const record of parsed.records) {
      const lines = byTable.get(record.table);
      if (lines) lines.push(record.line);
      else byTable.set(record.table, [record.line]);
    }
    const batches: Array<{ writer: BatchSink; lines: string[] }> = [];
    for (const [table, lines] of byTable) {
      const writer = this.writerFor(table);
      if (!writer) {
        result.rejected += lines.length;
        this.warn('table', `spool: ${lines.length} records for unknown table ${table} skipped`);
        continue;
      }
      for (let i = 0; i < lines.length; i += this.batchSize)
        batches.push({ writer, lines: lines.slice(i, i + this.batchSize) });
    }
    let next = 0;
    const worker = async () => {
      while (next < batches.length) {
        if (replay.deadline !== undefined && Date.now() >= replay.deadline) throw new SyncDeadlineError();
        const batch = batches[next++]!;
        const stored = await this.writeBatch(batch.writer, batch.lines, result);
        const table = batch.writer.table;
        delivered.set(table, (delivered.get(table) ?? 0) + stored);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, batches.length) }, worker));
    return delivered;
  }

  /**
   * Idempotent write; a batch the database refuses as malformed is split until the bad rows stand
   * alone. Returns how many of the lines are now in the database (stored now or already there).
   */
  private async writeBatch(writer: BatchSink, lines: string[], result: SyncResult): Promise<number> {
    let delivered = 0;
    await writeBisecting(lines, {
      write: async (batch) => {
        const stored = await this.writeMigratingFirst(writer, batch);
        result.replayed += stored;
        result.duplicates += batch.length - stored;
        delivered += batch.length;
      },
      isRowError: isDataError,
      onRejected: (_line, error) => {
        result.rejected++;
        this.warn(
          'rejected',
          `spool: the database rejected a replayed ${writer.table} record: ${describeError(error)}`,
        );
      },
    });
    return delivered;
  }

  /**
   * A database without pipetel's tables (a fresh server, or one that came back empty) is migrated
   * once, when auto_migrate allows, instead of failing every sync_interval.
   */
  private writeMigratingFirst(writer: BatchSink, lines: string[]): Promise<number> {
    return this.withSchema(() => writer.write(lines, { idempotent: true }));
  }

  private async withSchema<R>(write: () => Promise<R>): Promise<R> {
    try {
      return await write();
    } catch (error) {
      if (!this.options.autoMigrate || !isUndefinedTable(error)) throw error;
      this.migration ??= migrate(this.pool).finally(() => {
        this.migration = undefined;
      });
      await this.migration;
      return await write();
    }
  }

  /** Each kind of trouble is rate-limited on its own, so an outage never hides a rejected record. */
  private warn(kind: string, message: string): void {
    this.warnings.warn(kind, message);
  }

  private writerFor(table: string): BatchSink | undefined {
    if (this.writers.size === 0) {
      for (const spec of TABLES)
        this.writers.set(
          spec.name,
          new PostgresTableWriter(this.pool, spec, {
            // A pool of createPool's with a bound watches every query itself.
            answerTimeoutMs: watchesAnswers(this.pool) ? undefined : this.answerTimeoutMs,
          }),
        );
      for (const sink of spooledRowSinks(this.pool)) this.writers.set(sink.table, sink);
    }
    return this.writers.get(table);
  }
}

/**
 * A sealed segment is always claimable; the one being written only once its writer is gone; a
 * claim only when its claimer died (a replay killed halfway: its rows are deduplicated).
 */
async function isClaimable(directory: string, segment: SegmentFile, owner: OwnerState): Promise<boolean> {
  if (segment.state === 'log') return true;
  if (segment.state === 'open') return owner !== 'live';
  // rename() sets ctime: the claim time. A process with the claimant's pid that started after it
  // is another process (the pid came back, e.g. a container's PID 1 restarted after a crash).
  const claimed = await stat(join(directory, segment.name)).catch(() => undefined);
  return claimed !== undefined && !isSameProcessAlive(segment.replayingPid!, claimed.ctimeMs);
}

async function listSegments(directory: string): Promise<SegmentFile[]> {
  let names: string[];
  try {
    names = await readdir(directory);
  } catch (error) {
    if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return [];
    throw error;
  }
  const segments: SegmentFile[] = [];
  for (const name of names) {
    const match = SpoolFiles.segment.exec(name);
    if (!match) continue;
    const replaying = match[3] !== undefined;
    segments.push({
      name,
      number: Number(match[1]),
      state: replaying ? 'replaying' : (match[2] as 'open' | 'log'),
      replayingPid: replaying ? Number(match[3]) : undefined,
    });
  }
  return segments.sort((a, b) => a.number - b.number);
}

/** The database a spool directory's records are for, from its owner.lock (none: unknown). */
async function ownerTarget(directory: string): Promise<SpoolTarget | undefined> {
  try {
    const owner = JSON.parse(await readFile(join(directory, SpoolFiles.owner), 'utf8')) as {
      target?: SpoolTarget;
    };
    return owner.target;
  } catch {
    return undefined;
  }
}

/**
 * Whether a spool directory's writer may still append to it: the pid and start time in the
 * directory's name identify the writer (a reused pid is another process), and the owner.lock its
 * host. A writer on another host (a shared volume) can't be checked and counts as live; a reused
 * pid only delays the replay, never loses data.
 */
async function ownerState(directory: string, pid: number, startedMs: number): Promise<OwnerState> {
  const names = await readdir(directory).catch(() => [] as string[]);
  if (names.includes(SpoolFiles.closed)) return 'closed';
  // No (or a half-written) owner.lock: this host.
  const lock = await readLockFile(join(directory, SpoolFiles.owner)).catch(() => null);
  return isHolderAlive({ pid, host: lock?.holder?.host, takenMs: startedMs }) ? 'live' : 'dead';
}

/** A finished writer's directory goes once its last segment is replayed. */
async function removeIfEmpty(directory: string): Promise<void> {
  if ((await listSegments(directory)).length > 0) return;
  for (const name of [SpoolFiles.owner, SpoolFiles.closed])
    await unlink(join(directory, name)).catch(() => undefined);
  await rmdir(directory).catch(() => undefined);
}

/**
 * How to delete a spool written for another database — offered only when that database was never
 * reached (no identity recorded): a connection string that was wrong, not a server that is down.
 */
function discardHint(written: SpoolTarget | undefined): string {
  if (written?.identity !== undefined) return '';
  return `, or delete it with \`pipetel sync --discard ${describeTarget(written)}\``;
}

/** Oldest writer first: `<pid>-<startMs>-<random>`. */
function byStartTime(a: string, b: string): number {
  return Number(a.split('-')[1] ?? 0) - Number(b.split('-')[1] ?? 0) || a.localeCompare(b);
}

/** SQLSTATE 42P01: the table does not exist (the schema is missing). */
function isUndefinedTable(error: unknown): boolean {
  return errorCode(error) === '42P01';
}

function errorCode(error: unknown): string | undefined {
  return (error as { code?: string } | null)?.code;
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
