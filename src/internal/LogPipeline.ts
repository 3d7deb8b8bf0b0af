// The log pipeline behind both front doors: records emitted through the OTel Logs API arrive via
// onEmit (as the LoggerProvider's processor) and records from pipetel's Logger via emit(). Both
// reach the same sinks; API records also get the stage from context, are dropped inside
// withMonitoringDisabled and go through the secrets-and-limits policy here (pipetel's Logger has
// already done all three itself, with the same policy).

import type { Context } from '@opentelemetry/api';
import type { LogRecordProcessor, SdkLogRecord } from '@opentelemetry/sdk-logs';
import type { TelemetryPolicy } from '../../exporters/policy/TelemetryPolicy.js';
import { STAGE_ATTRIBUTE } from '../../exporters/shared/conventions.js';
import type { LogRecordSink, PipetelLogRecord } from '../logging/types.js';
import { isMonitoringDisabled, stageOf } from '../pipeline/context.js';

export class LogPipeline implements LogRecordProcessor, LogRecordSink {
  /**
   * Records that came in through the OTel Logs API, for pipetel's estimate of its own cost
   * (pipetel's own loggers count and time their calls themselves).
   */
  apiRecords = 0;
  /**
   * Builds the records of pipetel's loggers' staged calls: before every flush and shutdown, and
   * before a record from the OTel Logs API, so records reach the sinks in the order they were made.
   */
  drainStaged: (() => void) | undefined;

  constructor(
    private readonly policy: TelemetryPolicy,
    private readonly processors: LogRecordProcessor[],
  ) {}

  onEmit(record: SdkLogRecord, ctx?: Context): void {
    if (ctx && isMonitoringDisabled(ctx)) return;
    this.apiRecords++;
    this.drainStaged?.();
    const stage = ctx && stageOf(ctx);
    if (stage && record.attributes[STAGE_ATTRIBUTE] === undefined)
      record.setAttribute(STAGE_ATTRIBUTE, stage);
    const safe = this.policy.logRecord(record) as SdkLogRecord;
    for (const processor of this.processors) processor.onEmit(safe, ctx);
  }

  emit(record: PipetelLogRecord): void {
    for (const processor of this.processors) processor.onEmit(record as unknown as SdkLogRecord);
  }

  async forceFlush(): Promise<void> {
    this.drainStaged?.();
    await Promise.all(this.processors.map((p) => p.forceFlush()));
  }

  async shutdown(): Promise<void> {
    this.drainStaged?.();
    await Promise.all(this.processors.map((p) => p.shutdown()));
  }
}
