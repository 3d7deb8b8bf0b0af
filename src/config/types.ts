// The shape of pipetel's settings: every key of the seed's YAML blocks, with snake_case names kept
// exactly as the seed writes them so its files load unchanged. Defaults, validation and docs for
// each key live in schema.ts; this file is only the types the rest of the code reads.

export type LevelName = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR' | 'CRITICAL';
export type ProfileName = 'minimal' | 'balanced' | 'full';
export type PartitioningMode = 'none' | 'daily' | 'monthly';
export type MaintenanceScheduler = 'app' | 'pg_cron' | 'none';
export type OtlpProtocol = 'http/protobuf' | 'http/json' | 'grpc';
export type SpoolMode = 'fallback' | 'always';

export interface LoggingDatabaseSettings {
  /** Ship log records to PostgreSQL. */
  enabled: boolean;
  /** Records queued before a batch is written. */
  batch_size: number;
  /** Seconds between timed flushes. */
  flush_interval: number;
  /** Records held in memory before new ones are dropped (or spooled). */
  max_queue_size: number;
  /** Non-blocking emission (always true in pipetel; kept for the seed's files). */
  async_mode: boolean;
  /** Back-pressure: each stage() resolves only once what it recorded is stored. */
  wait_for_flush: boolean;
}

export interface LoggingFileSettings {
  enabled: boolean;
  /** JSON-lines file; null means $PIPETEL_HOME/logs/pipetel.log. */
  path: string | null;
  max_size_mb: number;
  backup_count: number;
}

export interface LoggingConsoleSettings {
  /** 'auto' prints only when stderr is a TTY. */
  enabled: boolean | 'auto';
  level: LevelName;
}

export interface LoggingSettings {
  level: LevelName;
  async_mode: boolean;
  compression: boolean;
  /** Share of records kept per level, 0..1 (e.g. { DEBUG: 0.1 }). Missing levels keep everything. */
  sampling: Partial<Record<LevelName, number>>;
  console: LoggingConsoleSettings;
  database: LoggingDatabaseSettings;
  file: LoggingFileSettings;
}

export interface MonitoringDatabaseSettings {
  connection_pool_size: number;
  /** Seconds to wait for a connection. */
  connection_timeout: number;
  /** Rows per write, at most. */
  max_batch_size: number;
  /** Seconds one batch write may take before it is abandoned and retried. */
  batch_timeout: number;
  use_prepared_statements: boolean;
  enable_query_cache: boolean;
}

export interface MonitoringSettings {
  enabled: boolean;
  /** Seconds between metric collections. */
  metrics_interval: number;
  /** Seconds between progress flushes per node. */
  progress_update_interval: number;
  enable_resource_tracking: boolean;
  /** Seconds between CPU/memory samples. */
  resource_sample_interval: number;
  aggregate_metrics: boolean;
  /** Seconds per aggregation window. */
  aggregation_window: number;
  /** Node runtime health metrics (event loop delay, heap) on top of the basic ones. */
  detailed_metrics: boolean;
  /** pipetel's own CPU share (%) above which it sheds load; null: no budget. */
  overhead_budget_percent: number | null;
  /** Seconds between checks of the overhead budget. */
  overhead_check_interval: number;
  database: MonitoringDatabaseSettings;
}

export interface DatabaseSettings {
  /** false: nothing is written to PostgreSQL by this process (OTLP only). */
  enabled: boolean;
  /** postgres:// URL; null means the embedded server. */
  url: string | null;
  auto_migrate: boolean;
  partitioning: PartitioningMode;
  /** Partitions created ahead by maintenance. */
  premake: number;
}

/** Days kept per table; null keeps everything. */
export interface RetentionSettings {
  logs_days: number | null;
  spans_days: number | null;
  metrics_days: number | null;
  archive_metrics_after_days: number | null;
}

export interface MaintenanceSettings {
  scheduler: MaintenanceScheduler;
  /** Seconds between in-app maintenance runs. */
  interval: number;
}

export interface SpoolSettings {
  enabled: boolean;
  /** Seconds between replay attempts of the spool. */
  sync_interval: number;
  /** Records per replayed batch. */
  batch_size: number;
  /** Seconds between fsyncs of the spool file. */
  fsync_interval: number;
  /** fallback: spool what the database cannot take; always: journal every record first. */
  mode: SpoolMode;
  /** With mode always: milliseconds between journal writes. */
  flush_ms: number;
}

export interface ShutdownSettings {
  /** Seconds shutdown (and signal handlers) may spend flushing. */
  timeout: number;
}

export interface OtlpSettings {
  /** Also send everything to an OpenTelemetry collector over OTLP/HTTP. */
  enabled: boolean;
  /** Base URL, e.g. http://localhost:4318; null means OTEL_EXPORTER_OTLP_ENDPOINT or the default. */
  endpoint: string | null;
  protocol: OtlpProtocol;
  headers: Record<string, string>;
}

export interface GatewaySettings {
  host: string;
  port: number;
  /** null: no OTLP/gRPC server. */
  grpc_port: number | null;
  /** Required off loopback. */
  token: string | null;
  max_body_mb: number;
}

export interface RedactionSettings {
  enabled: boolean;
  /** Attribute keys matching any of these (case-insensitive substrings) are redacted. */
  keys: string[];
}

export interface PipetelSettings {
  profile: ProfileName | null;
  service_name: string;
  experiment_id: string | null;
  /** The whole SDK is a no-op (OTEL_SDK_DISABLED=true). */
  disabled: boolean;
  logging: LoggingSettings;
  monitoring: MonitoringSettings;
  database: DatabaseSettings;
  retention: RetentionSettings;
  maintenance: MaintenanceSettings;
  spool: SpoolSettings;
  shutdown: ShutdownSettings;
  otlp: OtlpSettings;
  gateway: GatewaySettings;
  redaction: RedactionSettings;
}

/** A partial settings object, as written in YAML or passed to register({ config }). */
export type PartialSettings = DeepPartial<PipetelSettings>;

// Interfaces have no index signature, so `extends Record<string, unknown>` is false for them and
// would leave nested sections required; test for plain objects instead (arrays stay whole).
export type DeepPartial<T> = {
  [K in keyof T]?: T[K] extends readonly unknown[] ? T[K] : T[K] extends object ? DeepPartial<T[K]> : T[K];
};
