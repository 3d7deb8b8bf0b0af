// Log records as JSON lines in a local file (`logging.file`): a LogRecordProcessor that serializes
// on emit into an in-memory buffer — what register() uses — and a LogRecordExporter for a user's own
// BatchLogRecordProcessor. The buffer is written in chunks (once per flush interval, or as soon as
// 64 KiB wait), so the pipeline never waits on the disk; what is left when the process exits is
// written synchronously, as pino does, so a short script keeps its last lines.

import type { Context } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import type {
  LogRecordExporter,
  LogRecordProcessor,
  ReadableLogRecord,
  SdkLogRecord,
} from '@opentelemetry/sdk-logs';
import { RateLimitedWarning, stderrWarning } from '../delivery/RateLimitedWarning.js';
import type { DeliveryStats, WarningSink } from '../delivery/types.js';
import { TelemetryPolicy } from '../policy/TelemetryPolicy.js';
import { JsonLineEncoder } from './jsonLine.js';
import { RotatingFile } from './RotatingFile.js';

export interface FileExporterOptions {
  /** logging.file.path (register() turns null into `$PIPETEL_HOME/logs/pipetel.log`). Directories are created. */
  path: string;
  /** logging.file.max_size_mb: the file is rotated before it would pass this size (MiB; fractions allowed). */
  maxSizeMb: number;
  /** logging.file.backup_count: rotated files kept; 0 deletes a file when it is rotated. */
  backupCount: number;
  /** logging.compression: gzip rotated files, in the background. */
  compress: boolean;
  /** Written on every line; default: the resource attribute `pipetel.experiment_id` (left out when absent). */
  experimentId?: string;
  /** Buffered lines are written at least this often (default 1000); 64 KiB of them start a write at once. */
  flushIntervalMs?: number;
  /** Lines held in memory (buffered or being written) before new ones are dropped (default 100000). */
  maxQueueSize?: number;
  /** UTF-16 code units held in memory before new lines are dropped (default 16 Mi, about 16 MiB of ASCII). */
  maxBufferedChars?: number;
  /** How long shutdown() and forceFlush() may wait for the disk when called without a bound (default 10000). */
  shutdownTimeoutMs?: number;
  warn?: WarningSink;
  /**
   * Secrets and limits (see TelemetryPolicy), applied to each record before it is written; default
   * a policy with `redactKeys`. 'upstream': records arrive through a front door that already
   * applied one (pipetel's register()).
   */
  policy?: TelemetryPolicy | 'upstream';
  /** For the default policy: redaction.keys (default DEFAULT_SECRET_KEYS; [] redacts nothing). */
  redactKeys?: readonly string[];
}

/** A write starts without waiting for the timer once this much is buffered. */
const WRITE_THRESHOLD_CHARS = 64 * 1024;
const BYTES_PER_MB = 1024 * 1024;

export class FileLogRecordExporter implements LogRecordExporter {
  readonly path: string;
  private readonly encoder: JsonLineEncoder;
  private readonly policy: TelemetryPolicy | undefined;
  private readonly file: RotatingFile;
  private readonly timer: NodeJS.Timeout;
  private readonly warnings = new Map<string, RateLimitedWarning>();
  private readonly warnSink: WarningSink;
  private readonly maxQueueSize: number;
  private readonly maxBufferedChars: number;
  private readonly shutdownTimeoutMs: number;
  private readonly exitHooks: ExitHooks;
  private lines: string[] = [];
  private bufferedChars = 0;
  private inflightLines = 0;
  private inflightChars = 0;
  private writing: Promise<void> | undefined;
  private writeScheduled = false;
  /** Set by the timer, so that one write per interval takes whatever is buffered. */
  private drainRequested = false;
  /** After a failed write, only the timer (or a flush) tries again: no retry per emitted record. */
  private paused = false;
  private closing: Promise<void> | undefined;
  /** Lines accepted and lines that have left memory (written or given up), for forceFlush(). */
  private accepted = 0;
  private settled = 0;
  private flushWaiters: Array<{ target: number; done: () => void }> = [];
  private readonly counts = { exported: 0, dropped: 0, failed: 0 };

  constructor(options: FileExporterOptions) {
    if (!(options.maxSizeMb > 0)) throw new RangeError('pipetel file exporter: maxSizeMb must be positive');
    if (!Number.isInteger(options.backupCount) || options.backupCount < 0)
      throw new RangeError('pipetel file exporter: backupCount must be a non-negative integer');
    this.path = options.path;
    this.encoder = new JsonLineEncoder(options.experimentId);
    this.policy =
      options.policy === 'upstream'
        ? undefined
        : (options.policy ?? new TelemetryPolicy({ redactKeys: options.redactKeys }));
    this.warnSink = options.warn ?? stderrWarning;
    this.maxQueueSize = options.maxQueueSize ?? 100_000;
    this.maxBufferedChars = options.maxBufferedChars ?? 16 * 1024 * 1024;
    this.shutdownTimeoutMs = options.shutdownTimeoutMs ?? 10_000;
    this.file = new RotatingFile({
      path: options.path,
      maxSizeBytes: Math.max(1, Math.floor(options.maxSizeMb * BYTES_PER_MB)),
      backupCount: options.backupCount,
      compress: options.compress,
      onBackgroundError: (error) =>
        this.rateLimitedWarn('rotate', `rotating ${this.path}: ${errorMessage(error)}`),
    });
    this.file
      .open()
      .catch((error) => this.rateLimitedWarn('write', `cannot open ${this.path}: ${errorMessage(error)}`));
    this.timer = setInterval(() => this.onTimer(), options.flushIntervalMs ?? 1000);
    this.timer.unref();
    this.exitHooks = { exit: () => this.writeAtExit(), beforeExit: () => this.flushBeforeExit() };
    watchProcessExit(this.exitHooks);
  }

  /** Hot path: serialize and append to the buffer. Returns false when the record was dropped. */
  accept(record: ReadableLogRecord): boolean {
    if (this.closing) return this.drop('closed');
    if (this.lines.length + this.inflightLines >= this.maxQueueSize) return this.drop('overflow');
    let line: string;
    try {
      line = this.encoder.encode(this.policy ? this.policy.logRecord(record) : record);
    } catch (error) {
      this.counts.failed++;
      this.rateLimitedWarn('encode', `a log record could not be written as JSON: ${errorMessage(error)}`);
      return false;
    }
    if (this.bufferedChars + this.inflightChars + line.length > this.maxBufferedChars)
      return this.drop('overflow');
    this.lines.push(line);
    this.bufferedChars += line.length;
    this.accepted++;
    if (this.bufferedChars >= WRITE_THRESHOLD_CHARS && !this.writing && !this.paused) this.scheduleWrite();
    return true;
  }

  export(records: ReadableLogRecord[], resultCallback: (result: ExportResult) => void): void {
    let refused = 0;
    for (const record of records) if (!this.accept(record)) refused++;
    resultCallback(
      refused === 0
        ? { code: ExportResultCode.SUCCESS }
        : { code: ExportResultCode.FAILED, error: new Error(`pipetel: ${refused} log records not written`) },
    );
  }

  stats(): DeliveryStats {
    return {
      queued: this.lines.length + this.inflightLines,
      exported: this.counts.exported,
      dropped: this.counts.dropped,
      spooled: 0,
      failed: this.counts.failed,
    };
  }

  /** Resolves once every line accepted before the call is handed to the OS (or timeoutMs passes). */
  forceFlush(timeoutMs = this.shutdownTimeoutMs): Promise<void> {
    const target = this.accepted;
    if (this.settled >= target) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = { target, done };
      const timer = setTimeout(() => {
        this.flushWaiters = this.flushWaiters.filter((w) => w !== waiter);
        done();
      }, timeoutMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.flushWaiters.push(waiter);
      this.paused = false;
      this.write();
    });
  }

  /**
   * Stops accepting records, writes what is buffered, closes the file and waits for the last
   * compression, all within timeoutMs; lines still unwritten at the deadline are counted as dropped.
   */
  shutdown(timeoutMs = this.shutdownTimeoutMs): Promise<void> {
    this.closing ??= this.close(timeoutMs);
    return this.closing;
  }

  private async close(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    // The timer keeps running meanwhile: it is what retries a failed write.
    await this.forceFlush(timeoutMs);
    clearInterval(this.timer);
    unwatchProcessExit(this.exitHooks);
    // A write still in flight stays counted as queued: it may yet complete.
    const unwritten = this.lines.length;
    if (unwritten > 0) {
      this.lines = [];
      this.bufferedChars = 0;
      this.counts.dropped += unwritten;
      this.rateLimitedWarn(
        'shutdown',
        `${unwritten} log lines not written to ${this.path} before the shutdown deadline`,
      );
    }
    await withDeadline(this.file.close(), deadline);
  }

  private onTimer(): void {
    if (this.lines.length === 0) return;
    this.paused = false;
    this.drainRequested = true;
    this.write();
  }

  private scheduleWrite(): void {
    if (this.writeScheduled) return;
    this.writeScheduled = true;
    setImmediate(() => {
      this.writeScheduled = false;
      this.write();
    });
  }

  private write(): Promise<void> {
    this.writing ??= this.writeBuffered().finally(() => {
      this.writing = undefined;
      // A flush asked for while this write wound down (after its loop's last look at the buffer)
      // joined it: its lines go now, not at the next flush interval. Not after a failed write
      // (paused): the timer retries that.
      if (this.lines.length > 0 && !this.paused && this.wantsWrite()) void this.write();
    });
    return this.writing;
  }

  private async writeBuffered(): Promise<void> {
    while (this.lines.length > 0 && this.wantsWrite()) {
      this.drainRequested = false;
      const batch = this.lines;
      this.lines = [];
      this.inflightLines = batch.length;
      this.inflightChars = this.bufferedChars;
      this.bufferedChars = 0;
      const { written, error } = await this.file.writeLines(batch);
      this.inflightLines = 0;
      this.inflightChars = 0;
      this.counts.exported += written;
      this.settle(written);
      if (error === undefined) continue;
      const unwritten = batch.slice(written);
      if (this.closing) {
        this.giveUpAtShutdown(unwritten, error);
        return;
      }
      // Keep the rest, in order, for the next attempt; the buffer's bounds still apply.
      this.lines = unwritten.concat(this.lines);
      for (const line of unwritten) this.bufferedChars += line.length;
      this.paused = true;
      this.rateLimitedWarn(
        'write',
        `cannot write ${this.path}: ${errorMessage(error)}; ${this.lines.length} lines kept for the next attempt`,
      );
      return;
    }
  }

  /**
   * A write failed while shutting down (an unwritable path, a full disk): waiting for the timer's
   * next attempt would only hold shutdown until its deadline, so the lines are dropped and counted now.
   */
  private giveUpAtShutdown(unwritten: string[], error: unknown): void {
    const lost = unwritten.length + this.lines.length;
    this.lines = [];
    this.bufferedChars = 0;
    this.counts.dropped += lost;
    this.warnSink(
      `file: cannot write ${this.path}: ${errorMessage(error)}; ${lost} log lines dropped at shutdown` +
        ` (${this.counts.dropped} dropped in all)`,
    );
    this.settle(lost);
  }

  private wantsWrite(): boolean {
    return (
      this.drainRequested ||
      this.bufferedChars >= WRITE_THRESHOLD_CHARS ||
      this.flushWaiters.length > 0 ||
      this.closing !== undefined
    );
  }

  private settle(lines: number): void {
    this.settled += lines;
    if (this.flushWaiters.length === 0) return;
    const waiting = [];
    for (const waiter of this.flushWaiters) {
      if (waiter.target <= this.settled) waiter.done();
      else waiting.push(waiter);
    }
    this.flushWaiters = waiting;
  }

  /** The event loop ran dry with lines buffered: write them the ordinary way (this keeps it alive). */
  private flushBeforeExit(): void {
    if (this.lines.length === 0 || this.paused || this.closing) return;
    this.drainRequested = true;
    this.write();
  }

  /** process 'exit': no more event loop, so whatever is left is written synchronously. */
  private writeAtExit(): void {
    const lines = this.lines;
    this.lines = [];
    this.bufferedChars = 0;
    try {
      const inflight = this.inflightLines;
      this.file.writeSyncAtExit(lines);
      this.counts.exported += lines.length + inflight;
    } catch (error) {
      this.counts.dropped += lines.length;
      this.warnSink(
        `file: ${lines.length} log lines lost at exit, cannot write ${this.path}: ${errorMessage(error)}`,
      );
    }
  }

  private drop(reason: 'closed' | 'overflow'): false {
    this.counts.dropped++;
    if (reason === 'closed') {
      this.rateLimitedWarn(
        'closed',
        `log record emitted after shutdown, dropped (${this.counts.dropped} dropped so far)`,
      );
    } else {
      this.rateLimitedWarn(
        'overflow',
        `${this.path} is not keeping up, buffer full (${this.maxQueueSize} lines / ${this.maxBufferedChars} chars), ` +
          `dropping new log lines (${this.counts.dropped} dropped so far)`,
      );
    }
    return false;
  }

  /** Each kind of trouble is rate-limited on its own. */
  private rateLimitedWarn(kind: string, message: string): void {
    let warning = this.warnings.get(kind);
    if (!warning) {
      warning = new RateLimitedWarning(this.warnSink);
      this.warnings.set(kind, warning);
    }
    warning.warn(`file: ${message}`);
  }
}

export class FileLogRecordProcessor implements LogRecordProcessor {
  readonly exporter: FileLogRecordExporter;

  constructor(options: FileExporterOptions | FileLogRecordExporter) {
    this.exporter = options instanceof FileLogRecordExporter ? options : new FileLogRecordExporter(options);
  }

  onEmit(record: SdkLogRecord, _context?: Context): void {
    this.exporter.accept(record as ReadableLogRecord);
  }

  forceFlush(): Promise<void> {
    return this.exporter.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.exporter.shutdown();
  }
}

// One pair of process listeners for every open file exporter (a global because the process is one).
interface ExitHooks {
  exit(): void;
  beforeExit(): void;
}

const openExporters = new Set<ExitHooks>();

function onProcessExit(): void {
  for (const hooks of openExporters) hooks.exit();
}

function onProcessBeforeExit(): void {
  for (const hooks of openExporters) hooks.beforeExit();
}

function watchProcessExit(hooks: ExitHooks): void {
  if (openExporters.size === 0) {
    process.on('exit', onProcessExit);
    process.on('beforeExit', onProcessBeforeExit);
  }
  openExporters.add(hooks);
}

function unwatchProcessExit(hooks: ExitHooks): void {
  if (!openExporters.delete(hooks) || openExporters.size > 0) return;
  process.off('exit', onProcessExit);
  process.off('beforeExit', onProcessBeforeExit);
}

function withDeadline(promise: Promise<unknown>, deadline: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
    promise.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      () => {
        clearTimeout(timer);
        resolve();
      },
    );
  });
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
