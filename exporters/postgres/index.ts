// Public surface of `pipetel/exporters/postgres`: exporters and processors that plug into a
// user's own OpenTelemetry SDK setup and write pipetel's PostgreSQL schema.

/// <reference types="node" preserve="true" />
// (Node types in these declarations: a TypeScript whose `types` default is empty still finds them.)

// Every type in a public signature is exported here too, so a user can name it.
export type { Journal, JournalOptions } from '../delivery/Journal.js';
export type { RetryPolicyOptions } from '../delivery/RetryPolicy.js';
export type { SpoolTarget } from '../delivery/spoolTarget.js';
export type { BatchSink, DeliveryStats, SpillTarget, WarningSink, WriteOptions } from '../delivery/types.js';
export type {
  SanitizeCounters,
  Sanitizer,
  SecretKeyMatcher,
  TelemetryPolicy,
  TelemetryPolicyOptions,
} from '../policy/index.js';
export { EXPERIMENT_ID_ATTRIBUTE, levelForSeverity, STAGE_ATTRIBUTE } from '../shared/conventions.js';
export { migrate } from './migrate.js';
export type { PostgresExporterOptions, QueueingExporter } from './PostgresDelivery.js';
export { PostgresLogRecordExporter, PostgresLogRecordProcessor } from './PostgresLogRecordExporter.js';
export { PostgresMetricExporter, type PostgresMetricExporterOptions } from './PostgresMetricExporter.js';
export { PostgresSpanExporter, PostgresSpanProcessor } from './PostgresSpanExporter.js';
export type { PgClient, PgPool, PgPoolClient, PgQueryResult } from './pgTypes.js';
