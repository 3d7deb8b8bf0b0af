// The crash-safe spool: batches the database could not take are appended, one checksummed line per
// record, to segment files under `<dir>/<pid>-<startMs>-<random>/` — a directory per writer
// process, so processes sharing a PIPETEL_HOME never write the same file. The segment being
// written is `segment-<n>.open`; a sealed one is renamed `segment-<n>.log` and may be replayed.

import { randomBytes } from 'node:crypto';
import { closeSync, fdatasyncSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { type FileHandle, mkdir, open, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLockFile, createLockFileSync } from '../shared/lockFile.js';
import { encodeRecords } from './spoolFormat.js';
import type { SpoolTarget } from './spoolTarget.js';
import type { SpillTarget, WarningSink } from './types.js';

export interface SpoolOptions {
  /** The spool root shared by every process of one PIPETEL_HOME: `spoolDirectory(home)`. */
  dir: string;
  /** spool.fsync_interval in ms: data reaches the disk at most this late; 0 syncs before each append resolves. Default 1000. */
  fsyncIntervalMs?: number;
  /**
   * A segment is sealed and a new one started past this size. Default 2 MiB: a replay parses a
   * segment in one go on the event loop (~15 ms per MiB here), so segments stay small.
   */
  segmentMaxBytes?: number;
  /** The database these records are for, recorded with the directory (see spoolTarget.ts). */
  target?: () => SpoolTarget;
  warn?: WarningSink;
}

export interface SpoolStats {
  /** Records appended by this process. */
  records: number;
  /** Segments this process started. */
  segments: number;
  /** The directory this process writes, once the first record was spooled. */
  directory: string | undefined;
}

/** Names inside a writer's directory, shared with the synchronizer that replays them. */
export const SpoolFiles = {
  owner: 'owner.lock',
  closed: 'closed',
  /** `segment-000001.open` | `.log` | `.replaying-<pid>` */
  segment: /^segment-(\d+)\.(open|log|replaying-(\d+))$/,
  directory: /^(\d+)-(\d+)-[0-9a-f]+$/,
  name: (n: number, state: 'open' | 'log' | `replaying-${number}`) =>
    `segment-${String(n).padStart(6, '0')}.${state}`,
} as const;

/** Where the spool of a PIPETEL_HOME lives. */
export function spoolDirectory(home: string): string {
  return join(home, 'spool');
}

const DEFAULT_SEGMENT_MAX_BYTES = 2 * 1024 * 1024;

interface Segment {
  number: number;
  path: string;
  handle: FileHandle;
  bytes: number;
}

export class Spool implements SpillTarget {
  private readonly fsyncIntervalMs: number;
  private readonly segmentMaxBytes: number;
  private directory: string | undefined;
  private segment: Segment | undefined;
  private nextSegment = 1;
  private dirty = false;
  private ended = false;
  private timer: NodeJS.Timeout | undefined;
  /** Every file operation runs in order on this chain: appends never interleave. */
  private chain: Promise<unknown> = Promise.resolve();
  private readonly counts = { records: 0, segments: 0 };

  constructor(private readonly options: SpoolOptions) {
    this.fsyncIntervalMs = options.fsyncIntervalMs ?? 1000;
    this.segmentMaxBytes = options.segmentMaxBytes ?? DEFAULT_SEGMENT_MAX_BYTES;
  }

  /** Appends one batch of COPY lines; resolves once written (and synced, with fsyncIntervalMs 0). */
  append(table: string, lines: string[]): Promise<void> {
    if (lines.length === 0) return Promise.resolve();
    if (this.ended) return Promise.reject(new Error('spool closed: the process is shutting down'));
    const data = Buffer.from(encodeRecords(table, lines), 'utf8');
    return this.serialize(async () => {
      const segment = this.segment ?? (await this.openSegment());
      try {
        await writeAll(segment, data);
      } catch (error) {
        // Start afresh next time: whatever this write left behind ends a sealed segment, where
        // recovery cuts it back, instead of sitting in front of the next record.
        await this.sealSegment().catch(() => undefined);
        throw error;
      }
      this.counts.records += lines.length;
      if (this.fsyncIntervalMs === 0) {
        await this.rescueIfDeleted();
        await this.segment?.handle.datasync();
      } else this.dirty = true;
      if (this.segment && this.segment.bytes >= this.segmentMaxBytes) await this.sealSegment();
    });
  }

  /**
   * The process is exiting (process.exit() before shutdown): `lines` are written, synchronously, to
   * a segment of their own — sealed and fsynced at once, since the open segment may have a write in
   * flight that will never finish — in this process's directory (made now if there is none). The
   * next run, or `pipetel sync`, replays them like any other segment.
   */
  appendAtExit(table: string, lines: string[]): void {
    if (lines.length === 0) return;
    const data = Buffer.from(encodeRecords(table, lines), 'utf8');
    this.directory ??= createWriterDirectorySync(this.options.dir, { target: this.options.target?.() });
    let path = join(this.directory, SpoolFiles.name(this.nextSegment++, 'open'));
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      // The directory was deleted under the process (a cleanup job): a new one, as openSegment does.
      this.directory = createWriterDirectorySync(this.options.dir, { target: this.options.target?.() });
      this.nextSegment = 1;
      path = join(this.directory, SpoolFiles.name(this.nextSegment++, 'open'));
      fd = openSync(path, 'wx', 0o600);
    }
    try {
      let offset = 0;
      while (offset < data.length) offset += writeSync(fd, data, offset, data.length - offset);
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(path, path.replace(/\.open$/, '.log'));
    this.counts.records += lines.length;
    this.counts.segments++;
  }

  /**
   * Closes the segment being written so a synchronizer may replay it; the next append starts a
   * new one. LogSynchronizer calls this on the spool of its own process before each pass.
   */
  seal(): Promise<void> {
    return this.serialize(() => this.sealSegment());
  }

  /** Syncs and seals the last segment and marks the directory closed. Appends after this start a new directory. */
  close(): Promise<void> {
    return this.serialize(async () => {
      this.stopTimer();
      await this.sealSegment();
      if (this.directory) {
        await writeFile(join(this.directory, SpoolFiles.closed), '').catch(() => undefined);
        this.directory = undefined;
        this.nextSegment = 1;
      }
    });
  }

  /**
   * close(), for good: appends after it are refused (the caller counts those records as dropped),
   * so nothing creates a spool directory once the process has shut pipetel down.
   */
  end(): Promise<void> {
    this.ended = true;
    return this.close();
  }

  stats(): SpoolStats {
    return { ...this.counts, directory: this.directory };
  }

  private serialize<R>(operation: () => Promise<R>): Promise<R> {
    const result = this.chain.then(operation);
    this.chain = result.catch(() => undefined);
    return result;
  }

  private async openSegment(): Promise<Segment> {
    let directory = this.directory ?? (await this.openDirectory());
    let number = this.nextSegment++;
    let path = join(directory, SpoolFiles.name(number, 'open'));
    // Read-write: a segment deleted while open is read back to be rescued (rescueIfDeleted).
    let handle: FileHandle;
    try {
      handle = await open(path, 'wx+', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || this.directory === undefined) throw error;
      // The directory was deleted (PIPETEL_HOME removed, a cleanup job): start a new one.
      this.options.warn?.(`spool: ${directory} was deleted while in use; spooling to a new directory`);
      this.directory = undefined;
      this.nextSegment = 1;
      directory = await this.openDirectory();
      number = this.nextSegment++;
      path = join(directory, SpoolFiles.name(number, 'open'));
      handle = await open(path, 'wx+', 0o600);
    }
    await syncDirectory(directory); // the new file's name must survive a power loss too
    this.segment = { number, path, handle, bytes: 0 };
    this.counts.segments++;
    this.startTimer();
    return this.segment;
  }

  private async openDirectory(): Promise<string> {
    this.directory = await createWriterDirectory(this.options.dir, { target: this.options.target?.() });
    return this.directory;
  }

  private async sealSegment(): Promise<void> {
    await this.rescueIfDeleted();
    const segment = this.segment;
    if (!segment) return;
    this.segment = undefined;
    this.dirty = false;
    try {
      await segment.handle.datasync();
    } finally {
      await segment.handle.close();
      await rename(segment.path, segment.path.replace(/\.open$/, '.log'));
    }
  }

  /**
   * The open segment's file was deleted under it (its directory removed by hand or by a cleanup
   * job): what it holds would vanish with the handle, though counted as spooled. Checked before
   * every sync and seal — one fstat. Its records are read back from the still-open handle and
   * written to a segment of a new directory.
   */
  private async rescueIfDeleted(): Promise<void> {
    const segment = this.segment;
    if (!segment || (await segment.handle.stat()).nlink > 0) return;
    const data = await readBack(segment);
    // Whatever else the directory held went with it; the next segment starts a new one.
    this.segment = undefined;
    this.directory = undefined;
    this.nextSegment = 1;
    let fresh: Segment | undefined;
    try {
      fresh = await this.openSegment();
      await writeAll(fresh, data);
    } catch (error) {
      // The deleted file's handle is the last copy of these records: keep it, and try again at the
      // next sync, seal or append (space freed, permissions fixed).
      if (fresh) {
        await fresh.handle.close().catch(() => undefined);
        await unlink(fresh.path).catch(() => undefined);
      }
      this.segment = segment;
      this.directory = undefined;
      this.nextSegment = 1;
      this.options.warn?.(
        `spool: ${segment.path} was deleted while in use, and writing what it held again failed: ${describe(error)}; retrying`,
      );
      throw error;
    }
    await segment.handle.close().catch(() => undefined);
    this.dirty = true;
    this.options.warn?.(
      `spool: ${segment.path} was deleted while in use (was ${this.options.dir} removed?); ` +
        `what it held is written again to ${fresh.path} — segments sealed there ` +
        'earlier and not yet replayed went with it and are lost',
    );
  }

  private startTimer(): void {
    if (this.timer || this.fsyncIntervalMs === 0) return;
    this.timer = setInterval(() => {
      if (!this.dirty) return;
      this.serialize(async () => {
        if (!this.dirty || !this.segment) return;
        this.dirty = false;
        await this.rescueIfDeleted();
        await this.segment?.handle.datasync();
      }).catch((error) => this.options.warn?.(`spool: fsync failed: ${describe(error)}`));
    }, this.fsyncIntervalMs);
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/**
 * A writer directory `<pid>-<startMs>-<random>` under the spool root, with its owner.lock (pid,
 * host, start, and `extra`: the target database, whether it is a journal).
 */
export async function createWriterDirectory(root: string, extra: Record<string, unknown>): Promise<string> {
  await mkdir(root, { recursive: true, mode: 0o700 });
  const name = `${process.pid}-${Date.now()}-${randomBytes(4).toString('hex')}`;
  const directory = join(root, name);
  await mkdir(directory, { mode: 0o700 });
  await createLockFile(join(directory, SpoolFiles.owner), { timeField: 'startedAt', fields: extra });
  return directory;
}

/** createWriterDirectory(), synchronously (process 'exit'). */
export function createWriterDirectorySync(root: string, extra: Record<string, unknown>): string {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const directory = join(root, `${process.pid}-${Date.now()}-${randomBytes(4).toString('hex')}`);
  mkdirSync(directory, { mode: 0o700 });
  createLockFileSync(join(directory, SpoolFiles.owner), { timeField: 'startedAt', fields: extra });
  return directory;
}

/** The first `bytes` of a segment's file, through its handle (which outlives a deleted file). */
export async function readBack(segment: { handle: FileHandle; bytes: number }): Promise<Buffer> {
  const data = Buffer.alloc(segment.bytes);
  let read = 0;
  while (read < data.length) {
    const { bytesRead } = await segment.handle.read(data, read, data.length - read, read);
    if (bytesRead === 0) break;
    read += bytesRead;
  }
  return data.subarray(0, read);
}

/**
 * Writes the whole buffer at the end of the segment. On failure (disk full) the segment is cut
 * back to its last complete record, so a half-written batch can't glue onto the next one.
 */
export async function writeAll(segment: { handle: FileHandle; bytes: number }, data: Buffer): Promise<void> {
  let offset = 0;
  try {
    while (offset < data.length) {
      const { bytesWritten } = await segment.handle.write(
        data,
        offset,
        data.length - offset,
        segment.bytes + offset,
      );
      offset += bytesWritten;
    }
    segment.bytes += data.length;
  } catch (error) {
    await segment.handle.truncate(segment.bytes).catch(() => undefined);
    throw error;
  }
}

async function syncDirectory(directory: string): Promise<void> {
  try {
    const handle = await open(directory, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Not every platform can fsync a directory; the data itself is synced regardless.
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
