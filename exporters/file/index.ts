// Public surface of `pipetel/exporters/file`: the `logging.file` sink — log records as JSON lines
// in a local file, rotated by size and gzipped — for register() or a user's own OpenTelemetry SDK.

/// <reference types="node" preserve="true" />
// (Node types in these declarations: a TypeScript whose `types` default is empty still finds them.)

export type { DeliveryStats, WarningSink } from '../delivery/types.js';
export type {
  SanitizeCounters,
  Sanitizer,
  SecretKeyMatcher,
  TelemetryPolicy,
  TelemetryPolicyOptions,
} from '../policy/index.js';
export {
  type FileExporterOptions,
  FileLogRecordExporter,
  FileLogRecordProcessor,
} from './FileLogRecordExporter.js';
