// The seed's network-constrained mode: logs go only to the JSON-lines file (`logging.file`), and
// the synchronizer ships what the file sink wrote — the current file and its rotated backups,
// gzipped or not — into pipeline_logs, exactly once. Each line's row id is derived from the file's
// first line and the line's byte offset, neither of which rotation or gzip changes, so shipping a
// line again (a crash before the checkpoint was saved, two processes sharing the file) is
// deduplicated by the database; the checkpoint beside the file only saves re-reading.

import { createHash } from 'node:crypto';
import { type FileHandle, open, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import type pg from 'pg';
import { writeBisecting } from '../../exporters/delivery/bisect.js';
import { isDataError } from '../../exporters/delivery/RetryPolicy.js';
import type { WarningSink } from '../../exporters/delivery/types.js';
import { jsonField, NULL_FIELD, textField } from '../../exporters/postgres/copyText.js';
import { LOGS_TABLE } from '../../exporters/postgres/logRows.js';
import { PostgresTableWriter } from '../../exporters/postgres/TableWriter.js';
import type { Config } from '../config/index.js';

const gunzipAsync = promisify(gunzip);

/**
 * Internal, as LogFileShipper is: of this module only ShipResult is public (SyncResult carries it).
 * @internal
 */
export interface LogFileShipperOptions {
  /** logging.file.path: the current file; its backups are `<path>.N` and `<path>.N.gz`. */
  path: string;
  pool: pg.Pool;
  /** Rows per write (spool.batch_size). */
  batchSize: number;
  /** For lines that carry no experiment id. */
  experimentId?: string;
  warn: WarningSink;
}

export interface ShipResult {
  /** Rows newly stored. */
  shipped: number;
  /** Lines whose rows were already stored (shipped before the checkpoint was saved, or by another process). */
  duplicates: number;
  /** Lines that are not a log record, or that the database refused. */
  rejected: number;
}

/** What was shipped, by file identity (hash of its first line): the byte offset shipped up to. */
interface Checkpoint {
  offsets: Record<string, number>;
  /** Files known to be fully shipped, by `<inode>:<size>`, so they are not read again. */
  done: Record<string, string>;
}

interface FileLine {
  timestamp?: unknown;
  level?: unknown;
  severity_number?: unknown;
  logger?: unknown;
  message?: unknown;
  experiment_id?: unknown;
  stage?: unknown;
  trace_id?: unknown;
  span_id?: unknown;
  traceback?: unknown;
  attributes?: unknown;
}

const NEWLINE = 0x0a;

/** @internal */
export class LogFileShipper {
  private readonly writer: PostgresTableWriter;
  private readonly checkpointPath: string;

  constructor(private readonly options: LogFileShipperOptions) {
    this.writer = new PostgresTableWriter(options.pool, LOGS_TABLE);
    this.checkpointPath = `${options.path}.shipped.json`;
  }

  /** Ships every complete line not yet shipped, oldest file first. Rejects when the database is down. */
  async ship(): Promise<ShipResult> {
    const result: ShipResult = { shipped: 0, duplicates: 0, rejected: 0 };
    const checkpoint = await this.loadCheckpoint();
    const live: Checkpoint = { offsets: {}, done: {} };
    for (const file of await this.files()) {
      await this.shipFile(file, checkpoint, live, result);
    }
    await this.saveCheckpoint(live); // forgets files that rotated away
    return result;
  }

  private async shipFile(path: string, checkpoint: Checkpoint, live: Checkpoint, result: ShipResult) {
    const handle = await open(path, 'r').catch((error) => {
      if (errorCode(error) === 'ENOENT') return undefined; // rotated or removed meanwhile
      throw error;
    });
    if (!handle) return;
    let unshipped: { identity: string; data: Buffer; base: number; key: string } | undefined;
    try {
      unshipped = await this.readUnshipped(handle, path.endsWith('.gz'), checkpoint, live);
    } finally {
      await handle.close();
    }
    if (!unshipped) return;
    const { identity, data, base, key } = unshipped;
    const end = data.lastIndexOf(NEWLINE) + 1; // a line still being written is left for later
    let position = 0;
    while (position < end) {
      const { rows, next, rejected } = this.rowsFrom(data, position, end, identity, base);
      result.rejected += rejected;
      await this.write(rows, result);
      position = next;
      live.offsets[identity] = base + position;
      await this.saveCheckpoint({ offsets: { ...checkpoint.offsets, ...live.offsets }, done: live.done });
    }
    live.offsets[identity] = base + position;
    if (position === data.length) live.done[key] = identity;
  }

  /**
   * The file's identity and the bytes after what was shipped (uncompressed, up to its size when
   * stat'ed); undefined when there is nothing to ship. A file known to be done is not read at all;
   * of the current file only the first line and the new bytes are.
   */
  private async readUnshipped(
    handle: FileHandle,
    gzipped: boolean,
    checkpoint: Checkpoint,
    live: Checkpoint,
  ) {
    const stats = await handle.stat();
    const key = `${stats.ino}:${stats.size}`;
    const known = checkpoint.done[key];
    if (known !== undefined) {
      live.done[key] = known;
      live.offsets[known] = Math.max(live.offsets[known] ?? 0, checkpoint.offsets[known] ?? 0);
      return undefined;
    }
    const whole = gzipped ? await gunzipAsync(await handle.readFile()) : undefined;
    const head = whole ?? (await readFirstLine(handle, stats.size));
    const firstNewline = head.indexOf(NEWLINE);
    if (firstNewline === -1) return undefined; // not even one complete line yet
    const identity = createHash('sha256').update(head.subarray(0, firstNewline)).digest('hex').slice(0, 32);
    const base = Math.max(live.offsets[identity] ?? 0, checkpoint.offsets[identity] ?? 0);
    live.offsets[identity] = base;
    const data = whole ? whole.subarray(base) : await readRange(handle, base, stats.size);
    return { identity, data, base, key };
  }

  /** Up to batchSize rows from `offset`: COPY lines of pipeline_logs, ids derived from the position. */
  private rowsFrom(data: Buffer, offset: number, end: number, identity: string, base: number) {
    const rows: string[] = [];
    let rejected = 0;
    let position = offset;
    while (position < end && rows.length < this.options.batchSize) {
      const newline = data.indexOf(NEWLINE, position);
      const text = data.toString('utf8', position, newline);
      const row = this.toRow(text, rowId(identity, base + position));
      if (row) rows.push(row);
      else if (text.trim() !== '') rejected++;
      position = newline + 1;
    }
    if (rejected > 0) this.options.warn(`log file: ${rejected} line(s) that are not log records skipped`);
    return { rows, next: position, rejected };
  }

  private toRow(text: string, id: string): string | undefined {
    let line: FileLine;
    try {
      line = JSON.parse(text) as FileLine;
    } catch {
      return undefined;
    }
    if (typeof line !== 'object' || line === null || typeof line.timestamp !== 'string') return undefined;
    const experimentId = stringOr(line.experiment_id, this.options.experimentId ?? 'default');
    const severity = Number.isInteger(line.severity_number) ? (line.severity_number as number) : 0;
    const attributes = typeof line.attributes === 'object' && line.attributes !== null ? line.attributes : {};
    return `${id}\t${textField(experimentId)}\t${textField(line.timestamp)}\t${textField(stringOr(line.level, 'INFO'))}\t${severity}\t${textField(stringOr(line.logger, ''))}\t${textField(stringOr(line.message, ''))}\t${optionalText(line.traceback)}\t${jsonField(attributes)}\t${optionalText(line.trace_id)}\t${optionalText(line.span_id)}\t${optionalText(line.stage)}\n`;
  }

  /** Idempotent write; a batch the database refuses as malformed is split until the bad rows stand alone. */
  /** Any other error (the database down) rejects, and ship() with it. */
  private write(rows: string[], result: ShipResult): Promise<void> {
    return writeBisecting(rows, {
      write: async (batch) => {
        const stored = await this.writer.write(batch, { idempotent: true });
        result.shipped += stored;
        result.duplicates += batch.length - stored;
      },
      isRowError: isDataError,
      onRejected: (_row, error) => {
        result.rejected++;
        this.options.warn(`log file: the database rejected a log line: ${(error as Error).message}`);
      },
    });
  }

  /** The backups, oldest (highest number) first, then the current file. */
  private async files(): Promise<string[]> {
    const directory = dirname(this.options.path);
    const name = basename(this.options.path);
    const entries = await readdir(directory).catch(() => [] as string[]);
    const backups: Array<{ index: number; entry: string }> = [];
    for (const entry of entries) {
      const match = /^(\d+)(\.gz)?$/.exec(entry.startsWith(`${name}.`) ? entry.slice(name.length + 1) : '');
      if (match) backups.push({ index: Number(match[1]), entry });
    }
    backups.sort((a, b) => b.index - a.index);
    return [...backups.map((b) => join(directory, b.entry)), this.options.path];
  }

  private async loadCheckpoint(): Promise<Checkpoint> {
    try {
      const parsed = JSON.parse(await readFile(this.checkpointPath, 'utf8')) as Partial<Checkpoint>;
      return { offsets: parsed.offsets ?? {}, done: parsed.done ?? {} };
    } catch {
      return { offsets: {}, done: {} }; // none yet, or torn: shipping again is deduplicated
    }
  }

  private async saveCheckpoint(checkpoint: Checkpoint): Promise<void> {
    const temporary = `${this.checkpointPath}.${process.pid}.tmp`;
    await writeFile(temporary, JSON.stringify(checkpoint));
    await rename(temporary, this.checkpointPath);
  }
}

/** Where the file sink writes: logging.file.path, else `$PIPETEL_HOME/logs/pipetel.log`. */
export function logFilePath(config: Config): string {
  return config.values.logging.file.path ?? join(config.home, 'logs', 'pipetel.log');
}

/**
 * The seed's network-constrained mode: records go to the file only, and the synchronizer ships
 * the file to the database later.
 */
export function shipsLogFile(config: Config): boolean {
  const { logging, disabled } = config.values;
  return logging.file.enabled && !logging.database.enabled && !disabled;
}

/** A UUID-shaped id from the file's identity and the line's offset: the same line, the same id. */
function rowId(identity: string, offset: number): string {
  const hex = createHash('sha256').update(`${identity}:${offset}`).digest('hex');
  // Version 8 ("custom"), RFC 9562 variant bits.
  const variant = ((Number.parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** The file's start, read until its first newline (or its end). */
async function readFirstLine(handle: FileHandle, size: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let position = 0;
  while (position < size) {
    const chunk = await readRange(handle, position, Math.min(size, position + 64 * 1024));
    chunks.push(chunk);
    position += chunk.length;
    if (chunk.length === 0 || chunk.includes(NEWLINE)) break;
  }
  return Buffer.concat(chunks);
}

/** Bytes [from, to) of the file (fewer if it is shorter). */
async function readRange(handle: FileHandle, from: number, to: number): Promise<Buffer> {
  const buffer = Buffer.alloc(Math.max(0, to - from));
  let filled = 0;
  while (filled < buffer.length) {
    const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, from + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return buffer.subarray(0, filled);
}

function stringOr(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}

function optionalText(value: unknown): string {
  return typeof value === 'string' ? textField(value) : NULL_FIELD;
}

function errorCode(error: unknown): string | undefined {
  return (error as { code?: string } | null)?.code;
}
