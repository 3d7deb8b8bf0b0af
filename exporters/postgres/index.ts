// Public surface of `pipetel/exporters/postgres`: exporters and processors that plug into a
// user's own OpenTelemetry SDK setup and write pipetel's PostgreSQL schema.

export type { RetryPolicyOptions } from '../delivery/RetryPolicy.js';
export type { DeliveryStats } from '../delivery/types.js';
export { levelForSeverity } from './logRows.js';
export { migrate } from './migrate.js';
export type { PostgresExporterOptions } from './PostgresDelivery.js';
export { PostgresLogRecordExporter, PostgresLogRecordProcessor } from './PostgresLogRecordExporter.js';
export { PostgresMetricExporter } from './PostgresMetricExporter.js';
export { PostgresSpanExporter, PostgresSpanProcessor } from './PostgresSpanExporter.js';
export { EXPERIMENT_ID_ATTRIBUTE, STAGE_ATTRIBUTE } from './resourceInfo.js';
