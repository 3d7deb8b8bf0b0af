import { type FileHandle, open, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { createWriterDirectory, readBack, SpoolFiles, writeAll } from './Spool.js';
import { encodeRecords } from './spoolFormat.js';
import type { SpoolTarget } from './spoolTarget.js';
import type { WarningSink } from './types.js';

export interface JournalOptions {
  /** The spool root (`spoolDirectory(home)`): the journal is one writer directory in it. */
  dir: string;
  /** spool.flush_ms: buffered records reach the file at most this late. Default 100. */
  flushMs?: number;
  /** A segment is closed and a new one started past this size. Default 2 MiB (see Spool). */
  segmentMaxBytes?: number;
  /** The database these records are for, recorded with the directory (see spoolTarget.ts). */
  target?: () => SpoolTarget;
  warn?: WarningSink;
}

interface Segment {
  number: number;
  path: string;
  handle: FileHandle | undefined;
  bytes: number;
  /** Per table, one past the highest sequence number written to this segment. */
  ends: Map<string, number>;
}

const DEFAULT_SEGMENT_MAX_BYTES = 2 * 1024 * 1024;

export class Journal {
  private readonly flushMs: number;
  private readonly segmentMaxBytes: number;
  private directory: Promise<string> | undefined;
  private readonly segments: Segment[] = [];
  private nextSegment = 1;
  /** Encoded records waiting for the next write, and per table one past their highest sequence number. */
  private buffer: string[] = [];
  private bufferEnds = new Map<string, number>();
  /** Per table: every record below this sequence number has settled. */
  private readonly released = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly counts = { records: 0, bytes: 0, segmentsDeleted: 0 };

  constructor(private readonly options: JournalOptions) {
    this.flushMs = options.flushMs ?? 100;
    this.segmentMaxBytes = options.segmentMaxBytes ?? DEFAULT_SEGMENT_MAX_BYTES;
  }

  /**
   * Journals the encoded `lines` of `table`, whose sequence numbers end just below `end` (the
   * caller numbers its records in the order it will settle them). Written within flushMs.
   */
  append(table: string, lines: readonly string[], end: number): void {
    if (this.closed || lines.length === 0) return;
    this.buffer.push(encodeRecords(table, lines));
    this.bufferEnds.set(table, end);
    this.counts.records += lines.length;
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush().catch((error) => this.options.warn?.(`journal: write failed: ${describe(error)}`));
      }, this.flushMs);
      this.timer.unref();
    }
  }

  /** Every record of `table` below sequence number `watermark` has settled: their segments may go. */
  release(table: string, watermark: number): void {
    if (watermark <= (this.released.get(table) ?? 0)) return;
    this.released.set(table, watermark);
    if (this.segments.length > 1) void this.serialize(() => this.deleteReleased());
  }

  /** Writes what is buffered now; resolves once it is in the file. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.buffer.length === 0) return this.serialize(async () => undefined);
    const data = Buffer.from(this.buffer.join(''), 'utf8');
    const ends = this.bufferEnds;
    this.buffer = [];
    this.bufferEnds = new Map();
    return this.serialize(async () => {
      await this.rescueIfDeleted();
      let segment = this.segments.at(-1);
      if (!segment?.handle || segment.bytes >= this.segmentMaxBytes) segment = await this.openSegment();
      await writeAll(segment as Segment & { handle: FileHandle }, data);
      this.counts.bytes += data.length;
      for (const [table, end] of ends) segment.ends.set(table, end);
      await this.deleteReleased();
    });
  }

  /**
   * The queues have settled everything (written or moved to the spool): the journal is deleted.
   * With `keep`, it stays on disk to be replayed (a shutdown that could not settle everything).
   */
  close(options: { keep?: boolean } = {}): Promise<void> {
    const flushed = options.keep ? this.flush() : Promise.resolve();
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.buffer = [];
    return flushed.then(() =>
      this.serialize(async () => {
        for (const segment of this.segments) await segment.handle?.close();
        if (!options.keep && this.directory) await rm(await this.directory, { recursive: true, force: true });
        this.segments.length = 0;
      }),
    );
  }

  stats(): { records: number; bytes: number; segmentsDeleted: number; segments: number } {
    return { ...this.counts, segments: this.segments.length };
  }

  private serialize<R>(operation: () => Promise<R>): Promise<R> {
    const result = this.chain.then(operation);
    this.chain = result.catch(() => undefined);
    return result;
  }

  private async openSegment(): Promise<Segment> {
    if (this.directory === undefined) this.directory = this.openDirectory();
    let directory: string;
    try {
      directory = await this.directory;
    } catch (error) {
      this.directory = undefined; // tried again at the next flush
      throw error;
    }
    const current = this.segments.at(-1);
    if (current?.handle) {
      await current.handle.close();
      current.handle = undefined;
    }
    let number = this.nextSegment++;
    // `.open` for as long as this process lives: a live writer's open segments are never replayed.
    let path = join(directory, SpoolFiles.name(number, 'open'));
    let handle: FileHandle;
    try {
      // Read-write: a segment deleted while open is read back (rescueIfDeleted).
      handle = await open(path, 'wx+', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      // The directory was deleted (PIPETEL_HOME removed): journal into a new one.
      this.options.warn?.(`journal: ${directory} was deleted while in use; journaling to a new directory`);
      this.nextSegment = 1;
      this.directory = this.openDirectory();
      directory = await this.directory;
      number = this.nextSegment++;
      path = join(directory, SpoolFiles.name(number, 'open'));
      handle = await open(path, 'wx+', 0o600);
    }
    const segment: Segment = { number, path, handle, bytes: 0, ends: new Map() };
    this.segments.push(segment);
    return segment;
  }

  /**
   * The segment being written was deleted under it (its directory removed): the records it holds
   * are read back from the still-open handle into a segment of a new directory, so the journal
   * keeps its promise for them; those in earlier segments went with the directory (they are still
   * in memory, on their way to the database).
   */
  private async rescueIfDeleted(): Promise<void> {
    const segment = this.segments.at(-1);
    if (!segment?.handle || (await segment.handle.stat()).nlink > 0) return;
    const data = await readBack(segment as Segment & { handle: FileHandle });
    const gone = this.directory;
    this.directory = undefined;
    this.nextSegment = 1;
    // Open the new segment first: if that fails, the old handle (the last copy) stays for a retry.
    const previous = this.segments.splice(0);
    let fresh: Segment;
    try {
      this.segments.push({ ...segment }); // openSegment closes "the current one": not this handle yet
      this.segments[0]!.handle = undefined;
      fresh = await this.openSegment();
      await writeAll(fresh as Segment & { handle: FileHandle }, data);
    } catch (error) {
      for (const s of this.segments)
        if (s.handle && s.handle !== segment.handle) await s.handle.close().catch(() => undefined);
      this.segments.splice(0, this.segments.length, ...previous);
      this.directory = gone;
      throw error;
    }
    this.segments.splice(0, this.segments.length - 1); // only the new segment is left to delete later
    for (const [table, end] of segment.ends) fresh.ends.set(table, end);
    await segment.handle.close().catch(() => undefined);
    this.options.warn?.(
      `journal: ${segment.path} was deleted while in use (was ${this.options.dir} removed?); ` +
        `what it held is written again to ${fresh.path}`,
    );
  }

  private openDirectory(): Promise<string> {
    return createWriterDirectory(this.options.dir, { journal: true, target: this.options.target?.() });
  }

  /** Deletes, oldest first, the segments (not the one being written) whose records have all settled. */
  private async deleteReleased(): Promise<void> {
    while (this.segments.length > 1) {
      const oldest = this.segments[0]!;
      for (const [table, end] of oldest.ends) if ((this.released.get(table) ?? 0) < end) return;
      this.segments.shift();
      await oldest.handle?.close();
      await unlink(oldest.path).catch(() => undefined);
      this.counts.segmentsDeleted++;
    }
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
