// Appends whole lines to a file and rotates it between two writes, never inside a line:
// `pipetel.log` → `pipetel.log.1(.gz)` … `.N`, the oldest removed. The full file is only renamed
// aside (`pipetel.log.<ms>-<pid>-<n>.pending`) before writing goes on in a fresh one; gzip and the
// renumbering of the backups happen in the background, and a crash's leftovers are finished on the
// next open. Written for the file sink instead of using rotating-file-stream, which gzips before
// it reopens (every write waits for the whole compression) and hides which bytes reached the
// file, which a synchronous flush at process exit has to know.

import {
  closeSync,
  createReadStream,
  createWriteStream,
  fstatSync,
  mkdirSync,
  openSync,
  writeSync,
} from 'node:fs';
import { type FileHandle, mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { type LockOptions, withLockFile } from '../shared/lockFile.js';
import { isSameProcessAlive } from '../shared/processes.js';

export interface RotatingFileOptions {
  path: string;
  /** A file is rotated before a write would take it past this size (one line larger than this goes alone). */
  maxSizeBytes: number;
  /** Rotated files kept; 0 deletes a file when it is rotated. */
  backupCount: number;
  /** Gzip rotated files (`.1.gz`), in the background. */
  compress: boolean;
  /** Largest single write (default 1 MiB). */
  maxWriteBytes?: number;
  /** Trouble in the background (compression, renumbering), which no caller awaits. */
  onBackgroundError: (error: unknown) => void;
}

export interface WriteResult {
  /** Lines handed to the OS, counted from the start of the batch. */
  written: number;
  error?: unknown;
}

/** A write handed to the OS but not yet confirmed: what the exit path needs to finish it exactly. */
interface InflightWrite {
  fd: number;
  sizeBefore: number;
  buffer: Buffer;
  /** Index of the batch's first line not in this write. */
  end: number;
}

const PENDING = /^(\d+)-(\d+)-(\d+)\.pending(\.gz)?$/;
/**
 * How often the file at `path` is checked to still be ours (moved or deleted by someone else, e.g.
 * another process sharing the path rotated it) and its size re-read (others append to it too).
 */
const IDENTITY_CHECK_MS = 1000;
/**
 * A rotated file is left alone this long before it is compressed, so that another process still
 * appending to it (until its next identity check) has its lines in it, not after the gzip read it.
 */
const ROTATION_GRACE_MS = 2 * IDENTITY_CHECK_MS;
/**
 * The renumbering lock, `<path>.lock` holding `<pid>\n`: taken over when its holder is dead or it
 * is older than 30 s.
 */
const RENUMBERING_LOCK: LockOptions = {
  format: 'pid',
  mode: 0o666,
  pollMs: 20,
  maxAgeMs: 30_000,
  unreadableMs: 30_000,
};

export class RotatingFile {
  readonly path: string;
  private readonly directory: string;
  private readonly name: string;
  private readonly maxWriteBytes: number;
  private handle: FileHandle | undefined;
  private opening: Promise<FileHandle> | undefined;
  private inode = 0;
  private size = 0;
  private checkedAt = 0;
  private rotations = 0;
  private recovered = false;
  private closed = false;
  private readonly graceTimers = new Set<() => void>();
  private background: Promise<void> = Promise.resolve();
  private batch: readonly string[] = [];
  private batchNext = 0;
  private inflight: InflightWrite | undefined;

  constructor(private readonly options: RotatingFileOptions) {
    this.path = options.path;
    this.directory = dirname(options.path);
    this.name = basename(options.path);
    this.maxWriteBytes = options.maxWriteBytes ?? 1024 * 1024;
  }

  /** Opens (creating the directories) ahead of the first write, so a bad path shows at once. */
  open(): Promise<void> {
    return this.ensureOpen().then(() => undefined);
  }

  /**
   * Appends the lines (each ending in '\n') in as few writes as the size limit allows, rotating
   * between lines. One call at a time. Never throws: a failure reports how far it got.
   */
  async writeLines(lines: readonly string[]): Promise<WriteResult> {
    this.batch = lines;
    this.batchNext = 0;
    try {
      while (this.batchNext < lines.length) await this.writeNextChunk(lines);
      return { written: lines.length };
    } catch (error) {
      return { written: this.batchNext, error };
    } finally {
      this.batch = [];
      this.batchNext = 0;
      this.inflight = undefined;
    }
  }

  /**
   * The exit path: synchronously finishes the write in progress, then appends the rest of the
   * current batch and `extra`, ignoring the size limit (the next open rotates an oversized file).
   * Returns the number of lines of `extra` written.
   */
  writeSyncAtExit(extra: readonly string[]): number {
    if (!this.inflight && this.batchNext >= this.batch.length && extra.length === 0) return 0;
    let fd = this.handle?.fd;
    const owned = fd === undefined;
    if (fd === undefined) {
      mkdirSync(this.directory, { recursive: true });
      fd = openSync(this.path, 'a');
    }
    try {
      const inflight = this.inflight;
      if (inflight) {
        const done = writtenSince(inflight);
        if (done < inflight.buffer.length) writeAllSync(fd, inflight.buffer.subarray(done));
      }
      const rest = this.batch.slice(inflight ? inflight.end : this.batchNext);
      this.batch = [];
      this.inflight = undefined;
      const text = rest.join('') + extra.join('');
      if (text.length > 0) writeAllSync(fd, Buffer.from(text));
      return extra.length;
    } finally {
      if (owned) closeSync(fd);
    }
  }

  /** Closes the file and waits for the background work (compression, renumbering) to finish. */
  async close(): Promise<void> {
    this.closed = true;
    for (const wake of this.graceTimers) wake();
    await this.opening?.catch(() => undefined);
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close().catch(() => undefined);
    await this.background;
  }

  private async writeNextChunk(lines: readonly string[]): Promise<void> {
    const handle = await this.ensureOpen();
    const start = this.batchNext;
    const room = this.options.maxSizeBytes - this.size;
    const limit = Math.max(0, Math.min(room, this.maxWriteBytes));
    let { end, buffer } = fitLines(lines, start, limit);
    if (end === start) {
      // The next line does not fit what is left of the file: rotate. In an empty file, or when it
      // is larger than one write, it goes alone (so a line larger than a whole file gets its own).
      const lineBytes = Buffer.byteLength(lines[start]!);
      if (this.size > 0 && room < lineBytes) {
        await this.rotate();
        return;
      }
      end = start + 1;
      buffer = Buffer.from(lines[start]!);
    }
    this.inflight = { fd: handle.fd, sizeBefore: this.size, buffer, end };
    let offset = 0;
    while (offset < buffer.length) {
      const { bytesWritten } = await handle.write(buffer, offset, buffer.length - offset);
      offset += bytesWritten;
    }
    this.inflight = undefined;
    this.size += buffer.length;
    this.batchNext = end;
  }

  private async ensureOpen(): Promise<FileHandle> {
    if (this.closed) throw new Error(`${this.path} is closed`);
    if (this.handle && Date.now() - this.checkedAt >= IDENTITY_CHECK_MS) await this.reopenIfMoved();
    if (this.handle) return this.handle;
    if (!this.opening) {
      this.opening = this.openLive().finally(() => {
        this.opening = undefined;
      });
    }
    return this.opening;
  }

  private async openLive(): Promise<FileHandle> {
    await mkdir(this.directory, { recursive: true });
    const handle = await open(this.path, 'a');
    const stats = await handle.stat().catch(async (error) => {
      await handle.close();
      throw error;
    });
    this.handle = handle;
    this.inode = stats.ino;
    this.size = stats.size;
    this.checkedAt = Date.now();
    if (!this.recovered) {
      this.recovered = true;
      this.inBackground(() => this.finishLeftovers());
    }
    return handle;
  }

  /** logrotate, a user's `rm`, or another process sharing the path may have moved the file. */
  private async reopenIfMoved(): Promise<void> {
    this.checkedAt = Date.now();
    const current = await stat(this.path).catch(() => undefined);
    if (current?.ino === this.inode) {
      this.size = Math.max(this.size, current.size);
      return;
    }
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close().catch(() => undefined);
  }

  private async rotate(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    this.size = 0;
    await handle?.close();
    const current = await stat(this.path).catch(() => undefined);
    // Someone else rotated it already; we only need to open the new file.
    if (current?.ino !== this.inode) return;
    const pending = join(
      this.directory,
      `${this.name}.${Date.now()}-${process.pid}-${++this.rotations}.pending`,
    );
    await rename(this.path, pending);
    const renamedAt = Date.now();
    this.inBackground(async () => {
      await this.graceDelay(renamedAt + ROTATION_GRACE_MS);
      await this.finishRotation(pending, false);
    });
  }

  /** Sleeps until `until`, or until close(): a closing sink finishes its rotations at once. */
  private graceDelay(until: number): Promise<void> {
    const ms = until - Date.now();
    if (ms <= 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.graceTimers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.graceTimers.add(wake);
    });
  }

  private inBackground(job: () => Promise<void>): void {
    this.background = this.background.then(job).catch((error) => this.options.onBackgroundError(error));
  }

  /** pending → (gzip →) shift `.1`…`.N` up by one, dropping what passes backupCount → `.1(.gz)`. */
  private async finishRotation(pending: string, alreadyCompressed: boolean): Promise<void> {
    const { backupCount, compress } = this.options;
    if (backupCount === 0) {
      await Promise.all([unlinkIfPresent(pending), unlinkIfPresent(`${pending}.gz`)]);
      return;
    }
    let rotated = pending;
    if (compress || alreadyCompressed) {
      rotated = `${pending}.gz`;
      if (!alreadyCompressed) {
        await pipeline(createReadStream(pending), createGzip(), createWriteStream(rotated));
        // From here on `.pending.gz` alone means "compressed, not yet numbered" (see finishLeftovers).
        await unlink(pending);
      }
    }
    await this.withRenumberingLock(async () => {
      await this.shiftBackups();
      await rename(rotated, join(this.directory, `${this.name}.1${rotated.endsWith('.gz') ? '.gz' : ''}`));
    });
  }

  /**
   * Processes sharing the path (or two sinks in one) renumber one at a time: rename() replaces
   * its target, so two interleaved shifts would overwrite a backup.
   */
  private withRenumberingLock(job: () => Promise<void>): Promise<void> {
    return withLockFile(`${this.path}.lock`, RENUMBERING_LOCK, job);
  }

  private async shiftBackups(): Promise<void> {
    const prefix = `${this.name}.`;
    const backups: Array<{ index: number; suffix: string }> = [];
    for (const entry of await readdir(this.directory)) {
      if (!entry.startsWith(prefix)) continue;
      const match = /^(\d+)(\.gz)?$/.exec(entry.slice(prefix.length));
      if (match) backups.push({ index: Number(match[1]), suffix: match[2] ?? '' });
    }
    backups.sort((a, b) => b.index - a.index);
    for (const { index, suffix } of backups) {
      const from = join(this.directory, `${prefix}${index}${suffix}`);
      if (index >= this.options.backupCount) await unlinkIfPresent(from);
      else await rename(from, join(this.directory, `${prefix}${index + 1}${suffix}`));
    }
  }

  /** Rotations that a process (now dead) left half done, finished in the order they happened. */
  private async finishLeftovers(): Promise<void> {
    const prefix = `${this.name}.`;
    const entries = new Set(await readdir(this.directory));
    const leftovers: Array<{ pending: string; time: number; seq: number; compressed: boolean }> = [];
    for (const entry of entries) {
      if (!entry.startsWith(prefix)) continue;
      const match = PENDING.exec(entry.slice(prefix.length));
      // Named <time>.<pid>: a live process with that pid that started after `time` is another one.
      if (!match || isSameProcessAlive(Number(match[2]), Number(match[1]))) continue;
      const pendingName = entry.replace(/\.gz$/, '');
      if (match[4] && entries.has(pendingName)) {
        await unlinkIfPresent(join(this.directory, entry)); // an interrupted gzip; redone below
        continue;
      }
      leftovers.push({
        pending: join(this.directory, pendingName),
        time: Number(match[1]),
        seq: Number(match[3]),
        compressed: match[4] !== undefined,
      });
    }
    leftovers.sort((a, b) => a.time - b.time || a.seq - b.seq);
    for (const leftover of leftovers) await this.finishRotation(leftover.pending, leftover.compressed);
  }
}

/**
 * The lines from `start` that fit in `limitBytes`, and their bytes. Counting UTF-16 units first
 * (never more than the UTF-8 bytes) keeps the common ASCII case to one join and one encode.
 */
function fitLines(
  lines: readonly string[],
  start: number,
  limitBytes: number,
): { end: number; buffer: Buffer } {
  let end = start;
  let chars = 0;
  while (end < lines.length && chars + lines[end]!.length <= limitBytes) chars += lines[end++]!.length;
  let buffer = Buffer.from(joinRange(lines, start, end));
  if (buffer.length <= limitBytes) return { end, buffer };
  end = start;
  let bytes = 0;
  while (end < lines.length) {
    const lineBytes = Buffer.byteLength(lines[end]!);
    if (bytes + lineBytes > limitBytes) break;
    bytes += lineBytes;
    end++;
  }
  buffer = Buffer.from(joinRange(lines, start, end));
  return { end, buffer };
}

function joinRange(lines: readonly string[], start: number, end: number): string {
  if (start === 0 && end === lines.length) return lines.join('');
  let text = '';
  for (let i = start; i < end; i++) text += lines[i];
  return text;
}

/** Bytes of an unconfirmed write that are already in the file (the file grew by them). */
function writtenSince(inflight: InflightWrite): number {
  try {
    const grown = fstatSync(inflight.fd).size - inflight.sizeBefore;
    return Math.min(Math.max(grown, 0), inflight.buffer.length);
  } catch {
    return 0;
  }
}

function writeAllSync(fd: number, buffer: Buffer): void {
  let offset = 0;
  while (offset < buffer.length) offset += writeSync(fd, buffer, offset, buffer.length - offset);
}

async function unlinkIfPresent(path: string): Promise<void> {
  await unlink(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}
