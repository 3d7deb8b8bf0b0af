// Log records into pipeline_logs: a LogRecordExporter for a user's own BatchLogRecordProcessor,
// and a LogRecordProcessor that enqueues on emit — what register() uses, so a record passes
// through one queue, not the SDK's queue and then ours.

import type { Context } from '@opentelemetry/api';
import type {
  LogRecordExporter,
  LogRecordProcessor,
  ReadableLogRecord,
  SdkLogRecord,
} from '@opentelemetry/sdk-logs';
import { encodeLogRecord, LOGS_TABLE } from './logRows.js';
import {
  type DeliveryHandle,
  openDelivery,
  type PostgresExporterOptions,
  QueueingExporter,
} from './PostgresDelivery.js';
import { ResourceInfoCache } from './resourceInfo.js';

export class PostgresLogRecordExporter
  extends QueueingExporter<ReadableLogRecord>
  implements LogRecordExporter
{
  /** @internal */
  protected readonly delivery: DeliveryHandle<ReadableLogRecord>;

  constructor(options: PostgresExporterOptions) {
    super();
    const resources = new ResourceInfoCache(options.experimentId);
    this.delivery = openDelivery(
      'logs',
      LOGS_TABLE,
      (policy) =>
        policy
          ? (record) => encodeLogRecord(policy.logRecord(record), resources)
          : (record) => encodeLogRecord(record, resources),
      options,
    );
  }
}

export class PostgresLogRecordProcessor implements LogRecordProcessor {
  readonly exporter: PostgresLogRecordExporter;

  constructor(options: PostgresExporterOptions | PostgresLogRecordExporter) {
    this.exporter =
      options instanceof PostgresLogRecordExporter ? options : new PostgresLogRecordExporter(options);
  }

  onEmit(record: SdkLogRecord, _context?: Context): void {
    // The SDK makes the record read-only once every processor has seen it; keeping it is safe.
    this.exporter.accept(record as ReadableLogRecord);
  }

  forceFlush(): Promise<void> {
    return this.exporter.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.exporter.shutdown();
  }
}
