// The one schema of pipetel's settings: for every key its type, default, allowed values, the
// environment variables that set it and a one-line doc. Validation (validate.ts), the env layer
// (env.ts), redaction and the README's config table are all derived from this tree.

import { DEFAULT_SECRET_KEYS } from '../../exporters/policy/secrets.js';
import { redactUrl } from '../../exporters/postgres/connectionSecrets.js';
import {
  boolean,
  booleanOrAuto,
  enumMatcher,
  type FieldSpec,
  fractionCheck,
  type GroupSpec,
  group,
  integer,
  mapOf,
  noEffect,
  nullable,
  numberFromEnv,
  oneOf,
  percent,
  type SchemaNode,
  seconds,
  stringList,
  text,
  type ValueOf,
} from './fields.js';
import { clone, isPlainObject } from './tree.js';
import type {
  LevelName,
  MaintenanceScheduler,
  OtlpProtocol,
  PartitioningMode,
  PipetelSettings,
  ProfileName,
  SpoolMode,
} from './types.js';

export const LEVELS: readonly LevelName[] = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'];
export const PROFILES: readonly ProfileName[] = ['minimal', 'balanced', 'full'];
const PARTITIONING: readonly PartitioningMode[] = ['none', 'daily', 'monthly'];
const MAINTENANCE_SCHEDULERS: readonly MaintenanceScheduler[] = ['app', 'pg_cron', 'none'];
const OTLP_PROTOCOLS: readonly OtlpProtocol[] = ['http/protobuf', 'http/json', 'grpc'];

/** What an error about an OTel variable in milliseconds says of its unit. */
const IN_MS = 'milliseconds, read as seconds';
/** The OTel SDK's variables count milliseconds, pipetel's keys seconds; other text is left for the check to name. */
const millisecondsToSeconds = (text: string): unknown =>
  /^\s*\d+(\.\d+)?\s*$/.test(text) ? Number(text) / 1000 : text;
const SPOOL_MODES: readonly SpoolMode[] = ['fallback', 'always'];
const LEVEL_ALIASES = { WARN: 'WARNING' } as const;

const DAY = 86_400;
const HOUR = 3_600;

const level = (defaultValue: LevelName, doc: string, env?: string[]) =>
  oneOf(LEVELS, defaultValue, doc, { aliases: LEVEL_ALIASES, env });

const matchLevel = enumMatcher(LEVELS, LEVEL_ALIASES);

const isPostgresScheme = (value: string) => /^postgres(ql)?:\/\/\S+$/i.test(value.trim());
/**
 * A postgres:// URL node-postgres can parse: pg-connection-string reads it with WHATWG URL (spaces
 * and stray % encoded first, an empty host before the path allowed), so `host:notaport` fails
 * here, at configuration, instead of as an outage retried in the background.
 */
function isPostgresUrl(value: string): boolean {
  if (!isPostgresScheme(value)) return false;
  let url = value.trim();
  if (/ |%[^a-f0-9]|%[a-f0-9][^a-f0-9]/i.test(url)) url = encodeURI(url).replace(/%25(\d\d)/g, '%$1');
  return URL.canParse(url) || URL.canParse(url.replace('@/', '@___DUMMY___/'));
}
const isHttpUrl = (value: string) => /^https?:\/\/\S+$/i.test(value.trim());

export const settingsSchema = group('pipetel settings', {
  profile: nullable(
    oneOf(PROFILES, 'balanced', "Preset applied right above the built-in defaults: the seed's templates.", {
      env: ['PIPETEL_PROFILE'],
      noun: 'profile',
    }),
  ),
  service_name: text('pipeline', 'service.name of everything this process emits.', {
    env: ['OTEL_SERVICE_NAME'],
  }),
  experiment_id: nullable(
    text('', 'Experiment (run) id; null means register() generates one.', { env: ['PIPETEL_EXPERIMENT_ID'] }),
  ),
  disabled: boolean(false, 'The whole SDK is a no-op (OTEL_SDK_DISABLED=true).', {
    // OTel's rule for this variable: only "true" (any case) disables; anything else is false.
    env: [{ name: 'OTEL_SDK_DISABLED', parse: (value) => value.trim().toLowerCase() === 'true' }],
  }),

  logging: group('Logs: level, sampling and where records go.', {
    level: level('INFO', 'Lowest level recorded (WARN is accepted for WARNING; any case).', [
      'PIPETEL_LOG_LEVEL',
    ]),
    async_mode: noEffect(
      boolean(true, 'Non-blocking logging (emitting is always an in-memory enqueue).'),
      'emitting is always an in-memory enqueue, whatever the value',
    ),
    compression: boolean(true, 'Gzip rotated log files.'),
    sampling: mapOf<Partial<Record<LevelName, number>>>(
      {},
      'Share of records kept per level, 0..1, e.g. {DEBUG: 0.1}; unlisted levels keep all.',
      {
        type: 'map of level → 0..1',
        key: matchLevel,
        allowedKeys: LEVELS,
        expectedKey: `a level name (one of ${LEVELS.join(', ')})`,
        value: fractionCheck,
        valueFromEnv: numberFromEnv,
      },
    ),
    console: group('Human-readable copy of the logs on stderr.', {
      enabled: booleanOrAuto('auto', "Print to stderr; 'auto' prints only when stderr is a TTY."),
      level: level('WARNING', 'Lowest level printed to the console.'),
    }),
    database: group('Log records shipped to PostgreSQL (pipeline_logs).', {
      enabled: boolean(true, 'Ship log records to PostgreSQL.'),
      batch_size: integer(
        100,
        'Records queued before a batch is written (spans and metric points batch the same way).',
        { min: 1, max: 100_000, env: ['OTEL_BLRP_MAX_EXPORT_BATCH_SIZE'] },
      ),
      flush_interval: seconds(5.0, 'Seconds between timed flushes.', {
        max: HOUR,
        env: [{ name: 'OTEL_BLRP_SCHEDULE_DELAY', parse: millisecondsToSeconds, unit: IN_MS }],
      }),
      max_queue_size: integer(
        10_000,
        'Records held in memory; beyond it the newest go to the spool (spool.enabled), else are dropped; counted either way.',
        {
          min: 1,
          max: 10_000_000,
          env: ['OTEL_BLRP_MAX_QUEUE_SIZE'],
        },
      ),
      async_mode: noEffect(
        boolean(true, 'Non-blocking writes (always true in pipetel; kept for the seed).'),
        'writes never block the pipeline, whatever the value',
      ),
      wait_for_flush: boolean(
        false,
        'Back-pressure: each stage() resolves only once what it recorded is stored (bounded by shutdown.timeout).',
      ),
    }),
    file: group('JSON-lines log files.', {
      enabled: boolean(true, 'Write log records to a local JSON-lines file.'),
      path: nullable(text('', 'Log file path; null means $PIPETEL_HOME/logs/pipetel.log.')),
      max_size_mb: integer(100, 'Rotate the file at this size (MB).', { min: 1, max: 1_000_000 }),
      backup_count: integer(5, 'Rotated files kept.', { min: 0, max: 10_000 }),
    }),
  }),

  monitoring: group('Metrics, progress and resource tracking.', {
    enabled: boolean(true, 'Collect metrics, progress and resource usage.'),
    metrics_interval: seconds(
      10.0,
      "Seconds between metric collections (the seed's sampling interval): each collection samples every gauge; without aggregation each one is also written.",
      {
        max: DAY,
        // The SDK's standard variable, in milliseconds.
        env: [{ name: 'OTEL_METRIC_EXPORT_INTERVAL', parse: millisecondsToSeconds, unit: IN_MS }],
      },
    ),
    progress_update_interval: seconds(5.0, 'Seconds between progress flushes per node.', { max: DAY }),
    enable_resource_tracking: boolean(true, 'Sample CPU and memory (@opentelemetry/host-metrics).'),
    resource_sample_interval: seconds(30.0, 'Seconds between CPU/memory samples.', { max: DAY }),
    aggregate_metrics: boolean(
      true,
      "Write one pipeline_metrics row per series per aggregation_window instead of one per collection (the seed's data-volume reduction): gauges keep the window's last value with min, max, count and sum of its samples; sums and histograms, being cumulative, the window's last point.",
    ),
    aggregation_window: seconds(
      60,
      'Seconds each aggregated row covers (aggregate_metrics on, and longer than metrics_interval; else every collection is written).',
      { max: DAY },
    ),
    detailed_metrics: boolean(
      false,
      'Node runtime health metrics (event loop delay, heap) on top of the basic ones.',
    ),
    overhead_budget_percent: nullable(
      percent(
        2,
        "pipetel's own CPU time, in % of the rest of the process, above which it sheds load (first 5× larger log batches, losing nothing; then DEBUG, then INFO sampling, wider progress and metric windows; never WARNING and above); null turns the budget off.",
      ),
      2,
    ),
    overhead_check_interval: seconds(5, 'Seconds between checks of the overhead budget.', { max: HOUR }),
    database: group('How telemetry is written to PostgreSQL.', {
      connection_pool_size: integer(10, 'Connections in the writer pool.', { min: 1, max: 1_000 }),
      connection_timeout: seconds(30, 'Seconds to wait for a connection.', { max: HOUR }),
      max_batch_size: integer(1_000, 'Rows per write, at most.', { min: 1, max: 1_000_000 }),
      batch_timeout: seconds(
        10.0,
        'Seconds one statement (a batch write) may run before the server cancels it; a query with no answer 1 s later has its connection dropped, its batch retried or spooled.',
        {
          max: HOUR,
        },
      ),
      use_prepared_statements: boolean(true, 'Use named prepared statements for writes.'),
      enable_query_cache: noEffect(
        boolean(true, 'Cache query plans/text for repeated reads.'),
        'pipetel issues no repeated reads to cache; its writes use prepared statements (use_prepared_statements)',
      ),
    }),
  }),

  database: group('The PostgreSQL server telemetry is stored in.', {
    enabled: boolean(
      true,
      'false: this process writes nothing to PostgreSQL and starts no embedded server; traces, metrics and logs go to OTLP only (a worker behind a Collector and `pipetel gateway`).',
      { env: ['PIPETEL_DATABASE_ENABLED'] },
    ),
    url: nullable(
      text(
        '',
        'postgres:// URL; null means the embedded server. DATABASE_URL is used only if it is postgres://.',
        {
          type: 'postgres URL',
          expected: 'a well-formed postgres:// or postgresql:// URL',
          valid: isPostgresUrl,
          redact: redactUrl,
          // A generic DATABASE_URL for another scheme is someone else's; a malformed postgres:// one
          // is ours and reported.
          env: ['PIPETEL_DATABASE_URL', { name: 'DATABASE_URL', applies: isPostgresScheme }],
        },
      ),
    ),
    auto_migrate: boolean(true, 'register() applies pending schema migrations.'),
    partitioning: oneOf(
      PARTITIONING,
      'none',
      'Time partitioning of pipeline_logs, pipeline_spans and pipeline_metrics (range partitions per UTC day or month). Tables with at most 10 000 rows (16 MB) are converted by register(); larger ones by `pipetel migrate --partitioning daily|monthly`.',
    ),
    premake: integer(3, 'Partitions (days or months) created ahead of time by maintenance.', {
      min: 0,
      max: 366,
    }),
  }),

  retention: group('How long telemetry is kept (maintenance removes the rest).', {
    logs_days: nullable(
      integer(
        30,
        'Days of logs kept; runs, their progress and remaining rows go with them. null keeps everything.',
        {
          min: 1,
          max: 36_500,
        },
      ),
    ),
    spans_days: nullable(integer(30, 'Days of spans kept; null keeps everything.', { min: 1, max: 36_500 })),
    metrics_days: nullable(
      integer(30, 'Days of metric points kept; null keeps everything.', { min: 1, max: 36_500 }),
    ),
    archive_metrics_after_days: nullable(
      integer(
        7,
        'Metric points older than this are rolled up per hour into pipeline_metrics_archive, then removed from pipeline_metrics; null keeps them as they are.',
        { min: 1, max: 36_500 },
      ),
    ),
  }),

  maintenance: group(
    "Premaking partitions, retention and statistics (the seed's monitoring_maintenance()).",
    {
      scheduler: oneOf(
        MAINTENANCE_SCHEDULERS,
        'app',
        'app: each registered process runs maintenance every interval (one at a time per database, by advisory lock); pg_cron: schedule `SELECT monitoring_maintenance()` in the database yourself; none: only `pipetel maintain`.',
      ),
      interval: seconds(3600, 'Seconds between in-app maintenance runs (scheduler app).', { max: 7 * DAY }),
    },
  ),

  spool: group('Crash-safe local spool used while the database is unreachable.', {
    enabled: boolean(true, 'Spool records to $PIPETEL_HOME when the database is unreachable.'),
    sync_interval: seconds(30, 'Seconds between replay attempts of the spool.', { max: DAY }),
    batch_size: integer(1_000, 'Records per replayed batch.', { min: 1, max: 1_000_000 }),
    fsync_interval: seconds(1, 'Seconds between fsyncs of the spool file; 0 fsyncs every append.', {
      max: HOUR,
      allowZero: true,
    }),
    mode: oneOf(
      SPOOL_MODES,
      'fallback',
      'fallback: records reach the spool when the database cannot take them; always: every record is journaled to disk (within flush_ms) before it is written, so a killed process loses at most flush_ms of records.',
    ),
    flush_ms: integer(
      100,
      'With mode always: milliseconds between journal writes (what a SIGKILL can lose).',
      {
        min: 1,
        max: 60_000,
      },
    ),
  }),

  shutdown: group('Flushing on shutdown and on signals.', {
    timeout: seconds(10, 'Seconds shutdown (and SIGTERM/SIGINT handlers) may spend flushing.', { max: HOUR }),
  }),

  otlp: group('Also export to an OpenTelemetry collector.', {
    enabled: boolean(
      false,
      'Also send everything over OTLP (otlp.protocol); also on whenever an endpoint is set (here or by OTEL_EXPORTER_OTLP_ENDPOINT).',
    ),
    endpoint: nullable(
      text('', 'Collector base URL, e.g. http://localhost:4318; null means the OTel default.', {
        type: 'http(s) URL',
        expected: 'an http:// or https:// URL',
        valid: isHttpUrl,
        redact: redactUrl,
        env: ['OTEL_EXPORTER_OTLP_ENDPOINT'],
      }),
    ),
    protocol: oneOf(
      OTLP_PROTOCOLS,
      'http/protobuf',
      "Wire protocol of the official OTLP exporters: http/protobuf (the spec's default), http/json or grpc; OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL overrides it for one signal.",
      { env: ['OTEL_EXPORTER_OTLP_PROTOCOL'] },
    ),
    headers: mapOf<Record<string, string>>(
      {},
      'Extra HTTP headers (gRPC metadata) for OTLP requests (values are secrets).',
      {
        type: 'map of name → string',
        key: (name) => (name.trim() === '' ? undefined : name),
        expectedKey: 'a header name',
        value: (value) =>
          typeof value === 'string'
            ? { ok: true, value }
            : { ok: false, issues: [{ expected: 'a string', got: String(value) }] },
        valueFromEnv: (value) => value,
        secretValues: true,
        env: ['OTEL_EXPORTER_OTLP_HEADERS'],
      },
    ),
  }),

  gateway: group('`pipetel gateway`: OTLP from workers and Collectors into the database.', {
    host: text('127.0.0.1', 'Address to listen on; anything but loopback requires gateway.token.'),
    port: integer(4318, 'OTLP/HTTP port.', { min: 0, max: 65_535 }),
    grpc_port: nullable(integer(4317, 'OTLP/gRPC port; null serves no gRPC.', { min: 0, max: 65_535 }), 4317),
    token: nullable(
      text('', 'Bearer token every request must carry (required off loopback); never printed.', {
        redact: () => '****',
        env: ['PIPETEL_GATEWAY_TOKEN'],
      }),
    ),
    max_body_mb: integer(16, 'Largest request, compressed or not (413 beyond).', { min: 1, max: 1024 }),
  }),

  redaction: group('Hiding secrets in telemetry attributes.', {
    enabled: boolean(true, 'Redact attribute values whose keys look like secrets.'),
    keys: stringList(
      [...DEFAULT_SECRET_KEYS],
      'Attribute keys holding any of these as a whole word (password, db_password, authToken, x-api-key; not prompt_tokens) are redacted.',
    ),
  }),
});

// The schema and types.ts must describe the same shape: this fails to compile when they drift.
type SchemaSettings = ValueOf<typeof settingsSchema>;
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
export const schemaMatchesTypes: Same<SchemaSettings, PipetelSettings> = true;

// ---- walking the tree -----------------------------------------------------------------------

export interface Leaf {
  path: string[];
  key: string;
  field: FieldSpec<unknown>;
}

function collectLeaves(node: GroupSpec, prefix: string[], out: Leaf[]): Leaf[] {
  for (const [name, child] of Object.entries(node.fields)) {
    const path = [...prefix, name];
    if (child.kind === 'group') collectLeaves(child, path, out);
    else out.push({ path, key: path.join('.'), field: child });
  }
  return out;
}

function collectPaths(node: GroupSpec, prefix: string[], out: string[]): string[] {
  for (const [name, child] of Object.entries(node.fields)) {
    const path = [...prefix, name];
    out.push(path.join('.'));
    if (child.kind === 'group') collectPaths(child, path, out);
  }
  return out;
}

/** Every setting (leaf) in schema order. */
export const leaves: readonly Leaf[] = collectLeaves(settingsSchema, [], []);

/** Keys set to something other than their default that have no effect (see noEffect), with why. */
export function ineffectiveSettings(settings: PipetelSettings): Array<{ key: string; reason: string }> {
  const found: Array<{ key: string; reason: string }> = [];
  for (const { path, key, field } of leaves) {
    if (!field.noEffect) continue;
    let value: unknown = settings;
    for (const name of path) value = (value as Record<string, unknown>)[name];
    if (value !== field.default) found.push({ key, reason: field.noEffect });
  }
  // database.enabled: false (a worker behind pipetel gateway) makes the database settings moot,
  // and without OTLP its traces and metrics have nowhere to go.
  if (!settings.database.enabled) {
    if (settings.database.url !== null)
      found.push({
        key: 'database.url',
        reason: 'database.enabled is false: this process writes to no database',
      });
    if (settings.monitoring.enabled && !settings.otlp.enabled && settings.otlp.endpoint === null)
      found.push({
        key: 'monitoring.enabled',
        reason:
          'database.enabled is false and OTLP is off: traces, metrics and progress go nowhere (logs: console and file only)',
      });
  }
  return found;
}

/** Every valid dotted key, sections included, in schema order (candidates for "did you mean"). */
export const dottedKeys: readonly string[] = collectPaths(settingsSchema, [], []);

function buildDefaults(node: GroupSpec): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [name, child] of Object.entries(node.fields)) {
    result[name] = child.kind === 'group' ? buildDefaults(child) : clone(child.default);
  }
  return result;
}

const defaults = buildDefaults(settingsSchema) as unknown as PipetelSettings;

/** A fresh copy of the built-in defaults. */
export function defaultSettings(): PipetelSettings {
  return clone(defaults);
}

export type ResolvedPath =
  | { kind: 'group'; path: string[]; node: GroupSpec }
  | { kind: 'field'; path: string[]; node: FieldSpec<unknown> }
  | { kind: 'entry'; path: string[]; node: FieldSpec<unknown>; entryKey: string };

/**
 * Maps segments to a schema node. `ignoreCase` serves environment variables. A map field takes
 * one more segment naming an entry (`logging.sampling.DEBUG`). Returns the index of the first
 * unknown segment when the path is not valid.
 */
export function resolvePath(
  segments: readonly string[],
  options: { ignoreCase?: boolean } = {},
): ResolvedPath | { unknownAt: number } {
  let node: SchemaNode = settingsSchema;
  const path: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    if (node.kind === 'field') {
      const entryKey = i === segments.length - 1 ? node.entry?.normalizeKey(segment) : undefined;
      return entryKey === undefined ? { unknownAt: i } : { kind: 'entry', path, node, entryKey };
    }
    const name: string | undefined = options.ignoreCase
      ? Object.keys(node.fields).find((candidate) => candidate.toLowerCase() === segment.toLowerCase())
      : Object.hasOwn(node.fields, segment)
        ? segment
        : undefined;
    if (name === undefined) return { unknownAt: i };
    node = node.fields[name]!;
    path.push(name);
  }
  return node.kind === 'group' ? { kind: 'group', path, node } : { kind: 'field', path, node };
}

// ---- docs -----------------------------------------------------------------------------------

function showDefault(value: unknown): string {
  if (typeof value === 'string') return value;
  if (isPlainObject(value) && Object.keys(value).length === 0) return '{}';
  return JSON.stringify(value);
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** The README's configuration reference: one row per setting (key | default | meaning). */
export function renderConfigTable(): string {
  const rows = leaves.map(({ key, field }) => {
    const env = field.env.map((alias) => `\`${alias.name}\``);
    const meaning = [
      field.doc,
      `Type: ${field.type}.`,
      env.length > 0 ? `Env: ${env.join(', ')}.` : '',
      field.noEffect ? `**No effect:** ${field.noEffect}.` : '',
    ]
      .filter(Boolean)
      .join(' ');
    return `| \`${key}\` | \`${cell(showDefault(field.default))}\` | ${cell(meaning)} |`;
  });
  return ['| key | default | meaning |', '| --- | --- | --- |', ...rows].join('\n') + '\n';
}
