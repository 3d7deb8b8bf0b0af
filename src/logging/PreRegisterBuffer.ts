// Records made through getLogger() before register() runs: the first PRE_REGISTER_CAPACITY are
// kept (the rest counted as dropped) and handed to the pipeline once register() binds it — or,
// when the process ends without ever registering, printed to stderr so they are not lost silently.

import { stderrWarning } from '../../exporters/delivery/RateLimitedWarning.js';
import type { LogRecordSink, PipetelLogRecord } from './types.js';

/** Records kept before register(); enough for import-time and startup logging, bounded memory. */
export const PRE_REGISTER_CAPACITY = 1000;

export class PreRegisterBuffer implements LogRecordSink {
  private records: PipetelLogRecord[] = [];
  private dropped = 0;
  private exitHook: (() => void) | undefined;

  /**
   * @param printedLive whether the console already showed a record as it was made (not repeated
   *   at exit)
   */
  constructor(
    private readonly printedLive: (record: PipetelLogRecord) => boolean,
    private readonly capacity = PRE_REGISTER_CAPACITY,
  ) {}

  emit(record: PipetelLogRecord): void {
    if (this.records.length >= this.capacity) {
      this.dropped++;
      return;
    }
    this.records.push(record);
    if (!this.exitHook) {
      this.exitHook = () => this.printUndelivered();
      process.once('exit', this.exitHook);
    }
  }

  /** Hands every kept record to `sink` (those `keep` accepts), and says how many were dropped. */
  deliverTo(sink: LogRecordSink, keep: (record: PipetelLogRecord) => boolean): void {
    const { records, dropped } = this;
    this.records = [];
    this.dropped = 0;
    if (this.exitHook) process.removeListener('exit', this.exitHook);
    this.exitHook = undefined;
    for (const record of records) {
      if (!keep(record)) continue;
      try {
        sink.emit(record);
      } catch {
        // the sink counts and reports its own failures
      }
    }
    if (dropped > 0)
      stderrWarning(
        `${dropped} log record(s) made before register() were dropped: only the first ${this.capacity} are kept`,
      );
  }

  /** The process ends and register() never ran: the records go to stderr instead. */
  private printUndelivered(): void {
    const lines: string[] = [];
    for (const record of this.records) {
      if (this.printedLive(record)) continue;
      const time = record.hrTime;
      const iso = new Date(time[0] * 1000 + time[1] / 1e6).toISOString();
      lines.push(
        `${iso} ${record.severityText ?? ''} ${record.instrumentationScope.name}: ${String(record.body)}\n`,
      );
    }
    if (this.dropped > 0) lines.push(`(${this.dropped} more dropped: only ${this.capacity} are kept)\n`);
    if (lines.length === 0) return;
    process.stderr.write(`pipetel: register() never ran; log records made without it:\n${lines.join('')}`);
  }
}
