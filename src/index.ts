// The public surface of `pipetel`: register() and what it returns, the logger, the config API and
// the types a pipeline author touches. Everything else is internal.

/// <reference types="node" preserve="true" />
// (Node types in these declarations: a TypeScript whose `types` default is empty still finds them.)

// Every type in a public signature is exported here too, so a user can name it (checked by
// test/e2e/consumer-types.test.ts).
export type { DeliveryStats, WarningSink } from '../exporters/delivery/types.js';
export type { PgClient, PgPool, PgPoolClient, PgQueryResult } from '../exporters/postgres/pgTypes.js';
export type {
  Config,
  ConfigInit,
  ConfigLayer,
  ConfigListener,
  ConfigProblem,
  LoadConfigOptions,
  PartialSettings,
  PipetelSettings,
} from './config/index.js';
export { ConfigError, loadConfig } from './config/index.js';
export type * from './config/types.js';
export type { OtlpCounts } from './internal/OtlpGuard.js';
export { getLogger } from './logging/global.js';
export type { Logger, LogMessage } from './logging/index.js';
export type { Progress, ProgressStatus } from './pipeline/Progress.js';
export type { ProfileReport } from './pipeline/SelfCost.js';
export { type RegisterOptions, register } from './registry.js';
export type { ShipResult } from './sync/LogFileShipper.js';
export {
  LogSynchronizer,
  type LogSynchronizerOptions,
  type SyncOptions,
  type SyncResult,
} from './sync/LogSynchronizer.js';
export type { StageOptions, Telemetry, TelemetryStats } from './telemetry.js';
