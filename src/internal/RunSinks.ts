// The sinks of one registered run and their accounting: the PostgreSQL exporters behind the span
// and log processors and the metric readers, the log file, the OTLP targets, and the records the
// spool replay delivered later. tel.stats(), the self-monitoring metrics, pipetel's own cost
// estimate and the shutdown summary all read them here.

import { stderrWarning } from '../../exporters/delivery/RateLimitedWarning.js';
import type { DeliveryStats } from '../../exporters/delivery/types.js';
import type { FileLogRecordProcessor } from '../../exporters/file/index.js';
import type { PostgresLogRecordProcessor } from '../../exporters/postgres/PostgresLogRecordExporter.js';
import type { PostgresMetricExporter } from '../../exporters/postgres/PostgresMetricExporter.js';
import type { PostgresSpanProcessor } from '../../exporters/postgres/PostgresSpanExporter.js';
import type { MonitoredSignal } from '../pipeline/SelfMonitoring.js';
import type { OtlpCounts } from './OtlpGuard.js';
import type { OtlpTargets } from './otelSdk.js';

export interface TelemetryStats {
  spans: DeliveryStats;
  logs: DeliveryStats;
  metrics: DeliveryStats;
  /** pipetel's own cost since register(): estimated CPU share (0.01 = 1 %) and buffered bytes. */
  overhead: { cpuRatio: number; bufferBytes: number };
  /** With OTLP on: per signal, records the collector accepted and records it did not get. */
  otlp?: { spans: OtlpCounts; logs: OtlpCounts; metrics: OtlpCounts };
  /** With logging.file on: the log file sink's lines (spooled is always 0). */
  file?: DeliveryStats;
}

const EMPTY_STATS: DeliveryStats = Object.freeze({
  queued: 0,
  exported: 0,
  dropped: 0,
  spooled: 0,
  failed: 0,
});

const SIGNAL_OF_TABLE: Record<string, 'logs' | 'spans' | 'metrics' | undefined> = {
  pipeline_logs: 'logs',
  pipeline_spans: 'spans',
  pipeline_metrics: 'metrics',
};

export class RunSinks {
  logProcessor: PostgresLogRecordProcessor | undefined;
  fileProcessor: FileLogRecordProcessor | undefined;
  spanProcessor: PostgresSpanProcessor | undefined;
  readonly metricExporters: PostgresMetricExporter[] = [];
  otlp: OtlpTargets | undefined;
  /** Records of this run that reached the database later, through the spool replay. */
  private readonly delivered = { logs: 0, spans: 0, metrics: 0 };
  /**
   * pipetel's loggers build log records off the call (LoggerOptions.deferBuild): counts are read
   * after buildStaged() (tel.stats() calls it first, the logs self-metric here), so every record
   * emitted is accounted for; stagedLogs() are in memory too.
   */
  buildStaged: () => void = () => undefined;
  stagedLogs: () => number = () => 0;

  /** Setup was refused (role, password, database) and said so: the exporters spool, quietly. */
  refuse(error: unknown): void {
    this.logProcessor?.exporter.refuse(error);
    this.spanProcessor?.exporter.refuse(error);
    for (const exporter of this.metricExporters) exporter.refuse(error);
  }

  /** process 'exit' before shutdown() finished: every PostgreSQL queue spills what it holds (synchronously). */
  spillAtExit(): { spooled: number; lost: number } {
    const total = { spooled: 0, lost: 0 };
    const queues = [this.logProcessor?.exporter, this.spanProcessor?.exporter, ...this.metricExporters];
    for (const queue of queues) {
      if (!queue) continue;
      const { spooled, lost } = queue.spillAtExit();
      total.spooled += spooled;
      total.lost += lost;
    }
    return total;
  }

  /** The spool replay stored `records` rows of `table` that the queues had counted as spooled. */
  countDelivered(table: string, records: number): void {
    const signal = SIGNAL_OF_TABLE[table];
    if (signal) this.delivered[signal] += records;
  }

  stats(overhead: TelemetryStats['overhead']): TelemetryStats {
    return { ...this.deliveryStats(), overhead };
  }

  /** Per sink: records queued, stored, spooled (less what the replay delivered since), dropped. */
  private deliveryStats(): Omit<TelemetryStats, 'overhead'> {
    const metricStats = this.metricExporters.map((e) => e.stats());
    const replayed = (stats: DeliveryStats, records: number): DeliveryStats => ({
      ...stats,
      exported: stats.exported + records,
      spooled: stats.spooled - records,
    });
    return {
      spans: replayed(this.spanProcessor?.exporter.stats() ?? { ...EMPTY_STATS }, this.delivered.spans),
      logs: replayed(this.logProcessor?.exporter.stats() ?? { ...EMPTY_STATS }, this.delivered.logs),
      metrics: replayed(
        metricStats.length > 0 ? sumStats(metricStats) : { ...EMPTY_STATS },
        this.delivered.metrics,
      ),
      ...(this.otlp && { otlp: this.otlp.counts() }),
      ...(this.fileProcessor && { file: this.fileProcessor.exporter.stats() }),
    };
  }

  /** Each PostgreSQL exporter with its signal, for the self-monitoring metrics. */
  monitoredSignals(): MonitoredSignal[] {
    const signals: MonitoredSignal[] = [];
    const logs = this.logProcessor?.exporter;
    const spans = this.spanProcessor?.exporter;
    if (logs)
      signals.push({
        signal: 'logs',
        stats: () => {
          this.buildStaged();
          return logs.stats();
        },
      });
    if (spans) signals.push({ signal: 'spans', stats: () => spans.stats() });
    for (const exporter of this.metricExporters)
      signals.push({ signal: 'metrics', stats: () => exporter.stats() });
    return signals;
  }

  /** No exporter has found the database unreachable. */
  answering(): boolean {
    return (
      (this.logProcessor?.exporter.sinkAvailable() ?? true) &&
      (this.spanProcessor?.exporter.sinkAvailable() ?? true) &&
      this.metricExporters.every((e) => e.sinkAvailable())
    );
  }

  /** Spans handed to the span exporter so far, whatever became of them. */
  spansRecorded(): number {
    const s = this.spanProcessor?.exporter.stats();
    return s ? s.queued + s.exported + s.dropped + s.spooled + s.failed : 0;
  }

  /** Encoding and export work the exporters timed on the event loop, ms. */
  timedWorkMs(): number {
    return (
      (this.logProcessor?.exporter.workMs() ?? 0) +
      (this.spanProcessor?.exporter.workMs() ?? 0) +
      this.metricExporters.reduce((sum, e) => sum + e.workMs(), 0)
    );
  }

  /** Records waiting in the queues, per signal. */
  buffered(): { logs: number; spans: number; metrics: number } {
    return {
      logs: (this.logProcessor?.exporter.stats().queued ?? 0) + this.stagedLogs(),
      spans: this.spanProcessor?.exporter.stats().queued ?? 0,
      metrics: this.metricExporters.reduce((sum, e) => sum + e.stats().queued, 0),
    };
  }

  /** Waits until every exporter has written (or spooled) what it holds, within `remaining()`. */
  async forceFlushExporters(remaining: () => number): Promise<void> {
    await Promise.all([
      this.spanProcessor?.exporter.forceFlush(remaining()),
      this.logProcessor?.exporter.forceFlush(remaining()),
      this.fileProcessor?.exporter.forceFlush(remaining()),
      ...this.metricExporters.map((e) => e.forceFlush(remaining())),
    ]);
  }

  /** One line on stderr when anything was dropped or is left in the spool (SPEC §5). */
  printShutdownSummary(): void {
    const stats = this.deliveryStats();
    const parts: string[] = [];
    for (const signal of ['logs', 'spans', 'metrics'] as const) {
      const { exported, dropped, spooled, failed } = stats[signal];
      if (dropped === 0 && spooled === 0) continue;
      parts.push(
        `${signal} ${exported} stored, ${spooled} left in the spool, ${dropped} dropped` +
          (failed > 0 ? `, ${failed} rejected` : ''),
      );
    }
    if (stats.file && stats.file.dropped > 0) parts.push(`log file ${stats.file.dropped} lines dropped`);
    for (const signal of ['spans', 'logs', 'metrics'] as const) {
      const dropped = stats.otlp?.[signal].dropped ?? 0;
      if (dropped > 0) parts.push(`otlp ${signal} ${dropped} not delivered`);
    }
    if (parts.length === 0) return;
    const spooled = stats.logs.spooled + stats.spans.spooled + stats.metrics.spooled;
    const later = spooled > 0 ? ' (the spool is replayed by the next run or `pipetel sync`)' : '';
    stderrWarning(`shutdown: ${parts.join('; ')}${later}`);
  }
}

function sumStats(list: DeliveryStats[]): DeliveryStats {
  const total = { ...EMPTY_STATS };
  for (const s of list) {
    total.queued += s.queued;
    total.exported += s.exported;
    total.dropped += s.dropped;
    total.spooled += s.spooled;
    total.failed += s.failed;
  }
  return total;
}
