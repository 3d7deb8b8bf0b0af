// The public surface of `pipetel`: register() and what it returns, the logger, the config API and
// the types a pipeline author touches. Everything else is internal.

export type { DeliveryStats } from '../exporters/delivery/types.js';
export type { PgClient, PgPool, PgPoolClient, PgQueryResult } from '../exporters/postgres/pgTypes.js';
export type {
  Config,
  ConfigProblem,
  LoadConfigOptions,
  PartialSettings,
  PipetelSettings,
} from './config/index.js';
export { ConfigError, loadConfig } from './config/index.js';
export type { LevelName } from './config/types.js';
export { getLogger } from './logging/global.js';
export type { Logger } from './logging/index.js';
export type { Progress } from './pipeline/Progress.js';
export type { ProfileReport } from './pipeline/SelfCost.js';
export { type RegisterOptions, register } from './registry.js';
export { LogSynchronizer, type LogSynchronizerOptions, type SyncResult } from './sync/LogSynchronizer.js';
export type { StageOptions, Telemetry, TelemetryStats } from './telemetry.js';
