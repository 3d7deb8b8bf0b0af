// The configuration module (SPEC §3): every seed YAML block loads with the seed's values, presets
// are the seed's templates, sources stack in the documented order, and every kind of invalid input
// is one ConfigError naming the dotted key.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { DEFAULT_SECRET_KEYS } from '../../exporters/policy/index.js';
import { readSettingsFile } from '../../src/config/file.js';
import {
  Config,
  ConfigError,
  defaultSettings,
  type LoadConfigOptions,
  loadConfig,
  type PartialSettings,
  type PipetelSettings,
  presets,
  validateSettings,
} from '../../src/config/index.js';

import { tempDir as freshDir } from '../helpers/tempDir.js';

const SEED = fileURLToPath(new URL('../fixtures/seed/', import.meta.url));

/** A fresh empty directory, optionally holding files. */
function tempDir(files: Record<string, string> = {}): string {
  const dir = freshDir('pipetel-config-');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** loadConfig isolated from the real environment and working directory. */
function load(options: LoadConfigOptions = {}): Config {
  return loadConfig({ env: {}, cwd: options.cwd ?? tempDir(), ...options });
}

function loadError(options: LoadConfigOptions): ConfigError {
  try {
    load(options);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected loadConfig to throw');
}

function loadYaml(text: string, options: LoadConfigOptions = {}): Config {
  const cwd = tempDir({ 'pipetel.yml': text });
  return load({ cwd, ...options });
}

function yamlError(text: string): ConfigError {
  return loadError({ cwd: tempDir({ 'pipetel.yml': text }) });
}

const DEFAULTS: PipetelSettings = {
  profile: null,
  service_name: 'pipeline',
  experiment_id: null,
  disabled: false,
  logging: {
    level: 'INFO',
    async_mode: true,
    compression: true,
    sampling: {},
    console: { enabled: 'auto', level: 'WARNING' },
    database: {
      enabled: true,
      batch_size: 100,
      flush_interval: 5.0,
      max_queue_size: 10000,
      async_mode: true,
      wait_for_flush: false,
    },
    file: { enabled: true, path: null, max_size_mb: 100, backup_count: 5 },
  },
  monitoring: {
    enabled: true,
    metrics_interval: 10.0,
    progress_update_interval: 5.0,
    enable_resource_tracking: true,
    resource_sample_interval: 30.0,
    aggregate_metrics: true,
    aggregation_window: 60,
    detailed_metrics: false,
    overhead_budget_percent: 2,
    overhead_check_interval: 5,
    database: {
      connection_pool_size: 10,
      connection_timeout: 30,
      max_batch_size: 1000,
      batch_timeout: 10.0,
      use_prepared_statements: true,
      enable_query_cache: true,
    },
  },
  database: { enabled: true, url: null, auto_migrate: true, partitioning: 'none', premake: 3 },
  retention: { logs_days: null, spans_days: null, metrics_days: null, archive_metrics_after_days: null },
  maintenance: { scheduler: 'app', interval: 3600 },
  spool: {
    enabled: true,
    sync_interval: 30,
    batch_size: 1000,
    fsync_interval: 1,
    mode: 'fallback',
    flush_ms: 100,
  },
  shutdown: { timeout: 10 },
  otlp: { enabled: false, endpoint: null, protocol: 'http/protobuf', headers: {} },
  gateway: { host: '127.0.0.1', port: 4318, grpc_port: 4317, token: null, max_body_mb: 16 },
  redaction: {
    enabled: true,
    keys: [...DEFAULT_SECRET_KEYS],
  },
};

// What each YAML block of the seed says, written out by hand from the guide.
const SEED_BLOCKS: Record<string, PartialSettings> = {
  '01-logging-configuration.yml': {
    logging: {
      level: 'INFO',
      database: { enabled: true, batch_size: 100, flush_interval: 5.0, max_queue_size: 10000 },
      file: { enabled: true, max_size_mb: 100, backup_count: 5 },
      async_mode: true,
      compression: true,
    },
  },
  '02-monitoring-configuration.yml': {
    monitoring: {
      enabled: true,
      metrics_interval: 10.0,
      progress_update_interval: 5.0,
      enable_resource_tracking: true,
      resource_sample_interval: 30.0,
      aggregate_metrics: true,
      aggregation_window: 60,
    },
  },
  '03-database-optimization.yml': {
    monitoring: {
      database: {
        connection_pool_size: 10,
        connection_timeout: 30,
        max_batch_size: 1000,
        batch_timeout: 10.0,
        use_prepared_statements: true,
        enable_query_cache: true,
      },
    },
  },
  '04-memory-constrained.yml': {
    logging: { database: { batch_size: 50, max_queue_size: 1000 } },
    monitoring: { enable_resource_tracking: false, metrics_interval: 30.0, progress_update_interval: 15.0 },
  },
  '05-cpu-intensive.yml': {
    monitoring: { metrics_interval: 60.0, enable_resource_tracking: false },
    logging: { level: 'WARNING', database: { async_mode: true, wait_for_flush: false } },
  },
  '06-template-minimal.yml': {
    logging: { level: 'WARNING', database: { enabled: false }, file: { enabled: true } },
    monitoring: { enabled: false },
  },
  '07-template-balanced.yml': {
    logging: { level: 'INFO', database: { batch_size: 100, flush_interval: 5.0 } },
    monitoring: { metrics_interval: 30.0, progress_update_interval: 10.0 },
  },
  '08-template-full.yml': {
    logging: { level: 'DEBUG', database: { batch_size: 50, flush_interval: 2.0 } },
    monitoring: { metrics_interval: 5.0, progress_update_interval: 2.0, enable_resource_tracking: true },
  },
};

/** [dotted key, value] for every setting in a partial settings object. */
function settingsIn(partial: unknown, prefix = ''): Array<[string, unknown]> {
  if (typeof partial !== 'object' || partial === null || Array.isArray(partial)) return [[prefix, partial]];
  return Object.entries(partial).flatMap(([key, value]) =>
    settingsIn(value, prefix ? `${prefix}.${key}` : key),
  );
}

describe('defaults', () => {
  test('with no file, environment or options the settings are the documented defaults', () => {
    const config = load();
    assert.deepEqual(config.values, DEFAULTS);
    assert.deepEqual(config.sources, ['defaults']);
  });

  test('home is ./.pipetel under cwd, or PIPETEL_HOME resolved against cwd', () => {
    const cwd = tempDir();
    assert.equal(load({ cwd }).home, join(cwd, '.pipetel'));
    assert.equal(load({ cwd, env: { PIPETEL_HOME: 'state/tel' } }).home, join(cwd, 'state/tel'));
    assert.equal(load({ cwd, env: { PIPETEL_HOME: '/var/lib/pipetel' } }).home, '/var/lib/pipetel');
  });

  test('new Config() with no layers is the defaults', () => {
    assert.deepEqual(new Config().values, DEFAULTS);
  });
});

describe('seed YAML blocks load as written', () => {
  for (const [name, expected] of Object.entries(SEED_BLOCKS)) {
    test(name, () => {
      const path = join(SEED, name);
      const read = readSettingsFile(path, 'configFile');
      assert.deepEqual(read.problems, []);
      // Exactly the seed's keys and values are read from the file, nothing dropped or added.
      assert.deepEqual(read.settings, expected);

      const config = load({ configFile: path });
      assert.deepEqual(config.sources, ['defaults', `file:${path}`]);
      for (const [key, value] of settingsIn(expected)) assert.deepEqual(config.get(key), value, key);
    });
  }

  test('the fixture files parse to the same values as the hand-written expectations', () => {
    // Guards against a fixture edited away from the seed text without the test noticing.
    for (const [name, expected] of Object.entries(SEED_BLOCKS)) {
      assert.deepEqual(parse(readFileSync(join(SEED, name), 'utf8')), expected, name);
    }
  });
});

describe('profile presets', () => {
  const templates = {
    minimal: '06-template-minimal.yml',
    balanced: '07-template-balanced.yml',
    full: '08-template-full.yml',
  } as const;

  for (const [profile, file] of Object.entries(templates) as Array<[keyof typeof templates, string]>) {
    test(`${profile} is the seed's template, applied right above the defaults`, () => {
      assert.deepEqual(presets[profile], SEED_BLOCKS[file]);
      const config = load({ config: { profile } });
      assert.deepEqual(config.sources, ['defaults', `profile:${profile}`, 'options']);
      assert.equal(config.values.profile, profile);
      for (const [key, value] of settingsIn(presets[profile])) assert.deepEqual(config.get(key), value, key);
    });
  }

  test('a profile named in the file sits below the file’s own values', () => {
    const config = loadYaml('profile: full\nlogging:\n  level: INFO\n');
    assert.equal(config.values.logging.level, 'INFO');
    assert.equal(config.values.logging.database.batch_size, 50);
    assert.equal(config.values.monitoring.metrics_interval, 5.0);
  });

  test('the highest source naming a profile wins, and still sits below the file', () => {
    const config = loadYaml('profile: minimal\nmonitoring:\n  metrics_interval: 42\n', {
      env: { PIPETEL_PROFILE: 'full' },
    });
    assert.equal(config.values.profile, 'full');
    assert.equal(config.values.logging.level, 'DEBUG');
    assert.equal(config.values.monitoring.enabled, true);
    assert.equal(config.values.monitoring.metrics_interval, 42);
  });

  test('profile names are case-insensitive', () => {
    assert.equal(load({ config: { profile: 'Balanced' as 'balanced' } }).values.profile, 'balanced');
  });

  test('an unknown profile is said so, with the valid ones, wherever it was named', () => {
    const valid = 'valid profiles are minimal, balanced, full';
    assert.equal(
      loadError({ config: { profile: 'fast' as 'full' } }).message,
      `profile: unknown profile "fast"; ${valid} [options.config]`,
    );
    assert.equal(
      loadError({ env: { PIPETEL_PROFILE: 'fulll' } }).message,
      `profile: unknown profile "fulll"; ${valid} (did you mean full?) [env PIPETEL_PROFILE]`,
    );
    assert.equal(
      loadError({ layers: [{ source: 'flag --profile', settings: { profile: 'fast' as 'full' } }] }).message,
      `profile: unknown profile "fast"; ${valid} [flag --profile]`,
    );
    assert.throws(() => new Config().set('profile', 'fast'), /unknown profile "fast"; .* \[config\.set\]$/);
  });
});

describe('precedence: defaults < profile < file < env < options < set()', () => {
  test('each later source overrides the earlier one', () => {
    const cwd = tempDir({ 'pipetel.yml': 'logging:\n  database:\n    batch_size: 10\n' });
    const env = { PIPETEL__LOGGING__DATABASE__BATCH_SIZE: '20' };
    const batchSize = (config: Config) => config.values.logging.database.batch_size;

    assert.equal(batchSize(load({ cwd, config: { profile: 'full' } })), 10);
    assert.equal(batchSize(load({ cwd, env })), 20);
    const config = load({ cwd, env, config: { logging: { database: { batch_size: 30 } } } });
    assert.equal(batchSize(config), 30);
    assert.deepEqual(config.sources, ['defaults', `file:${join(cwd, 'pipetel.yml')}`, 'env', 'options']);
    config.set('logging.database.batch_size', 40);
    assert.equal(batchSize(config), 40);
    assert.equal(config.sources.at(-1), 'set');
  });

  test('sources merge key by key: a later source only replaces what it names', () => {
    const config = loadYaml('logging:\n  level: ERROR\n  database:\n    batch_size: 7\n', {
      env: { PIPETEL__LOGGING__DATABASE__FLUSH_INTERVAL: '9' },
      config: { logging: { file: { max_size_mb: 3 } } },
    });
    assert.equal(config.values.logging.level, 'ERROR');
    assert.equal(config.values.logging.database.batch_size, 7);
    assert.equal(config.values.logging.database.flush_interval, 9);
    assert.equal(config.values.logging.file.max_size_mb, 3);
    assert.equal(config.values.logging.database.max_queue_size, 10000);
  });

  test('the serviceName / experimentId / databaseUrl shortcuts win over options.config', () => {
    const config = load({
      config: { service_name: 'from-config', experiment_id: 'a', database: { url: 'postgres://x/a' } },
      serviceName: 'etl',
      experimentId: 'exp-42',
      databaseUrl: 'postgres://u@db/telemetry',
    });
    assert.equal(config.values.service_name, 'etl');
    assert.equal(config.values.experiment_id, 'exp-42');
    assert.equal(config.values.database.url, 'postgres://u@db/telemetry');
  });
});

describe('which file is read', () => {
  test('./pipetel.yml is preferred over ./config.yml', () => {
    const cwd = tempDir({ 'pipetel.yml': 'service_name: a\n', 'config.yml': 'service_name: b\n' });
    assert.equal(load({ cwd }).values.service_name, 'a');
  });

  test('./config.yml is read when there is no ./pipetel.yml', () => {
    const cwd = tempDir({ 'config.yml': 'service_name: b\n' });
    assert.equal(load({ cwd }).values.service_name, 'b');
  });

  test('./pipetel.yaml is read like ./pipetel.yml (a typo in it is reported, not ignored)', () => {
    assert.equal(load({ cwd: tempDir({ 'pipetel.yaml': 'service_name: y\n' }) }).values.service_name, 'y');
    const error = loadError({ cwd: tempDir({ 'pipetel.yaml': 'logging:\n  levl: DEBUG\n' }) });
    assert.match(error.message, /logging\.levl: unknown key \(did you mean logging\.level\?\)/);
  });

  test("an application's own ./config.yml (a key at its top level that is not pipetel's) is skipped with a warning", (t) => {
    const written: string[] = [];
    t.mock.method(process.stderr, 'write', (chunk: string) => {
      written.push(String(chunk));
      return true;
    });
    const cwd = tempDir({ 'config.yml': 'app:\n  name: shop\n' });
    assert.equal(load({ cwd }).values.service_name, defaultSettings().service_name);
    assert.match(written.join(''), /config\.yml is not read: app at its top level is not pipetel's/);
    // Common application sections next to it do not make it pipetel's.
    const mixed = tempDir({
      'config.yml': 'app:\n  name: shop\ndatabase:\n  host: db\nlogging:\n  format: json\n',
    });
    assert.equal(load({ cwd: mixed }).values.database.url, null);
    assert.match(written.join(''), /config\.yml is not read: app at its top level/);
  });

  test("a ./config.yml whose every top-level key is pipetel's (or close to one) is read: its problems say why it was read", () => {
    const typo = loadError({ cwd: tempDir({ 'config.yml': 'loging:\n  level: DEBUG\n' }) }).message;
    assert.match(typo, /loging: unknown key \(did you mean logging\?\)/);
    assert.match(
      typo,
      /config\.yml: read as pipetel's settings because every key at its top level is pipetel's or close to one/,
    );
    const appDatabase = loadError({ cwd: tempDir({ 'config.yml': 'database:\n  host: db\n' }) }).message;
    assert.match(appDatabase, /database\.host: unknown key/);
    assert.match(appDatabase, /name pipetel's file pipetel\.yml or set PIPETEL_CONFIG/);
  });

  test('with both pipetel.yml and pipetel.yaml, .yml is read and the other is named as not read', (t) => {
    const written: string[] = [];
    t.mock.method(process.stderr, 'write', (chunk: string) => {
      written.push(String(chunk));
      return true;
    });
    const cwd = tempDir({ 'pipetel.yml': 'service_name: yml\n', 'pipetel.yaml': 'service_name: yaml\n' });
    assert.equal(load({ cwd }).values.service_name, 'yml');
    assert.match(written.join(''), /pipetel\.yaml is not read: .*pipetel\.yml is/);
  });

  test('PIPETEL_CONFIG (relative to cwd) replaces the implicit files; configFile replaces both', () => {
    const cwd = tempDir({
      'pipetel.yml': 'service_name: a\n',
      'x.yml': 'service_name: x\n',
      'y.yml': 'service_name: y\n',
    });
    assert.equal(load({ cwd, env: { PIPETEL_CONFIG: 'x.yml' } }).values.service_name, 'x');
    assert.equal(
      load({ cwd, env: { PIPETEL_CONFIG: 'x.yml' }, configFile: 'y.yml' }).values.service_name,
      'y',
    );
  });

  test('an empty file, or an empty section, is valid and sets nothing', () => {
    assert.deepEqual(loadYaml('').values, DEFAULTS);
    assert.deepEqual(loadYaml('# only a comment\n').values, DEFAULTS);
    assert.deepEqual(loadYaml('logging:\nmonitoring:\n').values, DEFAULTS);
  });
});

describe('normalization', () => {
  test('levels are case-insensitive and WARN means WARNING', () => {
    assert.equal(loadYaml('logging:\n  level: info\n').values.logging.level, 'INFO');
    assert.equal(loadYaml('logging:\n  level: warn\n').values.logging.level, 'WARNING');
    assert.equal(loadYaml('logging:\n  console:\n    level: Error\n').values.logging.console.level, 'ERROR');
  });

  test('sampling is keyed by level name, any case, values 0..1', () => {
    const config = loadYaml('logging:\n  sampling:\n    debug: 0.1\n    INFO: 1\n    warn: 0\n');
    assert.deepEqual(config.values.logging.sampling, { DEBUG: 0.1, INFO: 1, WARNING: 0 });
  });

  test('seconds accept integers and fractions; 0 only where documented', () => {
    assert.equal(
      loadYaml('logging:\n  database:\n    flush_interval: 5\n').values.logging.database.flush_interval,
      5,
    );
    assert.equal(
      loadYaml('monitoring:\n  metrics_interval: 0.25\n').values.monitoring.metrics_interval,
      0.25,
    );
    assert.equal(loadYaml('spool:\n  fsync_interval: 0\n').values.spool.fsync_interval, 0);
    assert.equal(yamlError('monitoring:\n  metrics_interval: 0\n').key, 'monitoring.metrics_interval');
  });

  test("console.enabled takes true, false or 'auto'", () => {
    assert.equal(
      loadYaml('logging:\n  console:\n    enabled: false\n').values.logging.console.enabled,
      false,
    );
    assert.equal(
      loadYaml('logging:\n  console:\n    enabled: AUTO\n').values.logging.console.enabled,
      'auto',
    );
  });
});

describe('invalid input is one ConfigError naming the dotted key', () => {
  test('unknown key: names it, where it is, and the closest valid key', () => {
    const error = yamlError('logging:\n  database:\n    batch_sise: 500\n');
    assert.equal(error.key, 'logging.database.batch_sise');
    assert.equal(error.problems[0].suggestion, 'logging.database.batch_size');
    assert.match(
      error.message,
      /^logging\.database\.batch_sise: unknown key \(did you mean logging\.database\.batch_size\?\)/,
    );
    assert.match(error.message, /pipetel\.yml:3\]$/);
  });

  test('a dotted key used as one name inside an object says to nest it, not a different key', () => {
    const error = (() => {
      try {
        loadConfig({ config: { 'logging.level': 'DEBUG' } as unknown as PartialSettings });
      } catch (e) {
        return e as ConfigError;
      }
      assert.fail('expected a ConfigError');
    })();
    assert.equal(error.key, 'logging.level');
    assert.equal(error.problems[0].suggestion, undefined, 'not "did you mean logging.console.level?"');
    assert.match(error.message, /nest it, \{ logging: \{ level: … \} \} \[options\.config\]$/);
  });

  test('register() names an option it does not know, with the one meant', async () => {
    const { register } = await import('../../src/index.js');
    await assert.rejects(register({ experimentID: 'x' } as never), (error: ConfigError) => {
      assert.equal(error.name, 'ConfigError');
      assert.equal(error.key, 'experimentID');
      assert.equal(error.problems[0].suggestion, 'experimentId');
      assert.match(
        error.message,
        /^experimentID: unknown option \(did you mean experimentId\?\) \[register\(\) options\]/,
      );
      return true;
    });
    await assert.rejects(register({ bogusOption: true } as never), /bogusOption: unknown option/);
  });

  test('a key in the wrong section is pointed at the right one', () => {
    assert.equal(
      yamlError('logging:\n  batch_size: 500\n').problems[0].suggestion,
      'logging.database.batch_size',
    );
    assert.equal(yamlError('monitoring:\n  databse: {}\n').problems[0].suggestion, 'monitoring.database');
    assert.equal(yamlError('spool:\n  batchsize: 5\n').problems[0].suggestion, 'spool.batch_size');
  });

  test('wrong type: expected vs given', () => {
    const error = yamlError('logging:\n  database:\n    batch_size: abc\n');
    assert.equal(error.key, 'logging.database.batch_size');
    assert.deepEqual(
      { expected: error.problems[0].expected, got: error.problems[0].got },
      { expected: 'a positive integer', got: '"abc" (string)' },
    );
    assert.match(
      error.message,
      /^logging\.database\.batch_size: expected a positive integer, got "abc" \(string\)/,
    );
  });

  test('integers where the seed uses integers', () => {
    for (const key of ['batch_size', 'max_queue_size']) {
      assert.equal(yamlError(`logging:\n  database:\n    ${key}: 1.5\n`).key, `logging.database.${key}`);
    }
    assert.equal(yamlError('logging:\n  file:\n    backup_count: 2.5\n').key, 'logging.file.backup_count');
    assert.equal(
      yamlError('monitoring:\n  database:\n    max_batch_size: 10.5\n').key,
      'monitoring.database.max_batch_size',
    );
  });

  test('out of range: the range vs the value', () => {
    const error = yamlError('logging:\n  database:\n    batch_size: 0\n');
    assert.equal(error.problems[0].expected, 'an integer from 1 to 100000');
    assert.equal(error.problems[0].got, '0');
    const sampling = yamlError('logging:\n  sampling:\n    DEBUG: 1.5\n');
    assert.equal(sampling.key, 'logging.sampling.DEBUG');
    assert.match(sampling.message, /expected a number from 0 to 1, got 1\.5/);
  });

  test('enum: lists the allowed values and suggests the closest', () => {
    const error = yamlError('logging:\n  level: LOUD\n');
    assert.equal(error.key, 'logging.level');
    assert.match(
      error.message,
      /expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got "LOUD" \(string\)/,
    );
    assert.equal(
      yamlError('database:\n  partitioning: weekly\n').problems[0].expected,
      'one of none, daily, monthly',
    );
    assert.equal(yamlError('profile: ful\n').problems[0].suggestion, 'full');
    assert.equal(yamlError('logging:\n  sampling:\n    DEBG: 0.5\n').problems[0].suggestion, 'DEBUG');
  });

  test('a scalar where a section belongs, and a section where a value belongs', () => {
    assert.equal(yamlError('logging: true\n').key, 'logging');
    assert.equal(yamlError('logging:\n  level:\n    a: 1\n').key, 'logging.level');
  });

  test('every problem is reported, one line each, with its file line', () => {
    const error = yamlError(
      'logging:\n  level: LOUD\n  database:\n    batch_size: -1\nmonitoring:\n  enabled: yes\nunknown_thing: 1\n',
    );
    assert.deepEqual(
      error.problems.map((problem) => problem.key),
      ['logging.level', 'logging.database.batch_size', 'monitoring.enabled', 'unknown_thing'],
    );
    const lines = error.message.split('\n');
    assert.equal(lines.length, 4);
    assert.deepEqual(
      lines.map((line) => /pipetel\.yml:(\d+)\]$/.exec(line)?.[1]),
      ['2', '4', '6', '7'],
    );
    assert.equal(error.key, 'logging.level');
  });

  test('an explicitly named file that does not exist is an error; the implicit ones are optional', () => {
    const cwd = tempDir();
    const error = loadError({ cwd, configFile: 'nope.yml' });
    assert.equal(error.key, 'configFile');
    assert.match(error.message, /file not found: .*nope\.yml/);
    assert.equal(loadError({ cwd, env: { PIPETEL_CONFIG: 'gone.yml' } }).key, 'PIPETEL_CONFIG');
    assert.doesNotThrow(() => load({ cwd }));
  });

  test("a YAML syntax error names the file, line and column and the parser's message, not a key", () => {
    const error = yamlError('logging:\n  level: INFO\n  database:\n    batch_size: [1, 2\n  file: x\n');
    assert.equal(error.problems.length, 1);
    assert.match(error.message, /^\S*pipetel\.yml:5:3: YAML syntax error: Flow sequence .*must be .*\]$/);
    assert.match(error.key, /pipetel\.yml:5:3$/);
    const garbled = yamlError('a: 1\n b: 2\n');
    for (const problem of garbled.problems) {
      assert.match(problem.message, /^\S*pipetel\.yml:1:4: YAML syntax error: /);
      assert.doesNotMatch(problem.message, /a\.1/, 'no key made up from the broken text');
    }
    // A duplicate key is the one syntax error that is about a key: it is named.
    const duplicate = yamlError('a: 1\na: 2\n').problems[0]!;
    assert.equal(duplicate.key, 'a');
    assert.match(duplicate.message, /^a: YAML syntax error at \S*pipetel\.yml:2:1: Map keys must be unique/);
  });

  test('an OTLP endpoint turns otlp.enabled on in the effective settings', () => {
    assert.equal(
      load({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' } }).get('otlp.enabled'),
      true,
    );
    assert.equal(load({ config: { otlp: { endpoint: 'http://collector:4318' } } }).get('otlp.enabled'), true);
    assert.equal(load({}).get('otlp.enabled'), false);
  });

  test('a file that is not a mapping', () => {
    const error = yamlError('- a\n- b\n');
    assert.equal(error.key, '(root)');
    assert.match(error.message, /expected an object of settings/);
  });

  test('problems from several sources are reported together', () => {
    const error = loadError({
      cwd: tempDir({ 'pipetel.yml': 'logging:\n  level: LOUD\n' }),
      env: { PIPETEL__SPOOL__BATCH_SIZE: 'many' },
      config: { shutdown: { timeout: -1 } },
    });
    assert.deepEqual(
      error.problems.map((problem) => problem.key),
      ['logging.level', 'spool.batch_size', 'shutdown.timeout'],
    );
    assert.match(error.problems[2].message, /\[options\.config\]$/);
  });

  test('ConfigError is an Error with name ConfigError', () => {
    const error = yamlError('logging:\n  level: LOUD\n');
    assert.ok(error instanceof Error);
    assert.equal(error.name, 'ConfigError');
  });
});

describe('validateSettings', () => {
  test('valid input has no problems; presets and defaults are valid', () => {
    assert.deepEqual(validateSettings({ logging: { level: 'debug' } }), []);
    assert.deepEqual(validateSettings(DEFAULTS), []);
    for (const preset of Object.values(presets)) assert.deepEqual(validateSettings(preset), []);
    assert.deepEqual(validateSettings(undefined), []);
  });

  test('returns every problem, tagged with the source', () => {
    const problems = validateSettings({ logging: { level: 3, databse: {} }, disabled: 'no' }, 'my.yml');
    assert.deepEqual(
      problems.map((problem) => problem.key),
      ['logging.level', 'logging.databse', 'disabled'],
    );
    for (const problem of problems) assert.match(problem.message, /\[my\.yml\]$/);
  });
});

describe('Config', () => {
  test('get() reads dotted paths: settings, sections (as copies) and map entries', () => {
    const config = load({ config: { logging: { sampling: { DEBUG: 0.1 } } } });
    assert.equal(config.get('logging.database.batch_size'), 100);
    assert.equal(config.get('logging.sampling.DEBUG'), 0.1);
    assert.equal(config.get('logging.sampling.INFO'), undefined);
    const section = config.get('logging.database') as { batch_size: number };
    section.batch_size = 1;
    assert.equal(config.values.logging.database.batch_size, 100);
  });

  test('get() of an unknown path throws ConfigError with a suggestion', () => {
    const config = new Config();
    assert.throws(
      () => config.get('logging.databse.batch_size'),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.key === 'logging.databse.batch_size' &&
        error.problems[0].suggestion === 'logging.database.batch_size',
    );
    assert.throws(() => config.get('logging.level.extra'), ConfigError);
  });

  test('set() and get() of an unknown key name the call, like their other problems, and suggest', () => {
    const config = new Config();
    assert.throws(
      () => config.set('logging.levl', 'DEBUG'),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message === 'logging.levl: unknown key (did you mean logging.level?) [config.set]',
    );
    assert.throws(() => config.get('logging.levl'), /logging\.levl: unknown key .*\[config\.get\]$/);
    // A mistyped entry of a map is pointed at the entry meant.
    assert.throws(
      () => config.set('logging.sampling.DEBUGG', 0.1),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message ===
          'logging.sampling.DEBUGG: expected a level name (one of DEBUG, INFO, WARNING, ERROR, CRITICAL), got "DEBUGG" (did you mean DEBUG?) [config.set]',
    );
    // One that is no typo still says which entries there are.
    assert.throws(
      () => config.set('logging.sampling.VERBOSE', 0.5),
      /logging\.sampling\.VERBOSE: expected a level name \(one of DEBUG, INFO, WARNING, ERROR, CRITICAL\), got "VERBOSE" \[config\.set\]$/,
    );
  });

  test('set() validates and normalizes, updates values in place and notifies', () => {
    const config = new Config();
    const database = config.values.logging.database;
    const heard: Array<[string, unknown]> = [];
    config.onChange((path, value) => heard.push([path, value]));
    config.set('logging.database.batch_size', 500);
    config.set('logging.level', 'debug');
    assert.equal(database.batch_size, 500, 'references into values stay live');
    assert.equal(config.values.logging.level, 'DEBUG');
    assert.deepEqual(heard, [
      ['logging.database.batch_size', 500],
      ['logging.level', 'DEBUG'],
    ]);
    config.set('logging.level', 'DEBUG');
    assert.equal(heard.length, 2, 'setting the current value is not a change');
  });

  test('set() with a bad value throws, changes nothing and notifies no one', () => {
    const config = new Config();
    let heard = 0;
    config.onChange(() => heard++);
    for (const [path, value] of [
      ['logging.database.batch_size', 'abc'],
      ['logging.database.batch_size', 0],
      ['logging.level', 'LOUD'],
      ['logging.database', { batch_size: 5, flush_interval: -1 }],
      ['logging.database.batch_size', undefined],
    ] as Array<[string, unknown]>) {
      assert.throws(
        () => config.set(path, value),
        (error: unknown) => error instanceof ConfigError && error.key.startsWith(path.split('.')[0]),
      );
    }
    assert.throws(
      () => config.set('logging.databse.batch_size', 5),
      /did you mean logging\.database\.batch_size/,
    );
    assert.deepEqual(config.values, DEFAULTS);
    assert.equal(heard, 0);
  });

  test('set() takes a whole section or one map entry', () => {
    const config = new Config();
    config.set('logging.database', { batch_size: 500, flush_interval: 10.0 });
    config.set('logging.sampling.debug', 0.1);
    assert.equal(config.values.logging.database.batch_size, 500);
    assert.equal(config.values.logging.database.flush_interval, 10.0);
    assert.equal(config.values.logging.database.max_queue_size, 10000);
    assert.deepEqual(config.values.logging.sampling, { DEBUG: 0.1 });
  });

  test('the seed’s runtime calls work: config.set(…) and config.get(…)', () => {
    const config = new Config();
    config.set('logging.database.batch_size', 500);
    config.set('logging.database.flush_interval', 10.0);
    config.set('logging.database.enabled', false);
    config.set('logging.file.enabled', true);
    assert.equal(config.get('monitoring.detailed_metrics'), false);
    assert.equal(config.get('logging.database.enabled'), false);
  });

  test('set("profile") re-applies the preset under the explicit sources and reports each change', () => {
    const config = loadYaml('logging:\n  level: ERROR\n');
    const heard = new Map<string, unknown>();
    config.onChange((path, value) => heard.set(path, value));
    config.set('profile', 'full');
    assert.equal(config.values.logging.level, 'ERROR', 'the file still wins over the preset');
    assert.equal(config.values.logging.database.batch_size, 50);
    assert.deepEqual(Object.fromEntries(heard), {
      profile: 'full',
      'logging.database.batch_size': 50,
      'logging.database.flush_interval': 2,
      'monitoring.metrics_interval': 5,
      'monitoring.progress_update_interval': 2,
    });
    assert.ok(config.sources.includes('profile:full'));
  });

  test('onChange returns an unsubscribe function', () => {
    const config = new Config();
    let heard = 0;
    const stop = config.onChange(() => heard++);
    config.set('shutdown.timeout', 3);
    stop();
    config.set('shutdown.timeout', 4);
    assert.equal(heard, 1);
  });

  test('toJSON() is a deep copy', () => {
    const config = new Config();
    const copy = config.toJSON();
    copy.logging.database.batch_size = 1;
    copy.redaction.keys.push('x');
    assert.deepEqual(config.values, DEFAULTS);
    assert.equal(JSON.stringify(config), JSON.stringify(DEFAULTS));
  });

  test('redacted() hides the database password and OTLP header values, leaving values intact', () => {
    const config = load({
      databaseUrl: 'postgres://app:s3cr3t-pw@db.internal:5432/telemetry',
      config: {
        otlp: {
          endpoint: 'https://user:otlp-pw@collector:4318',
          headers: { authorization: 'Bearer tok-123' },
        },
      },
    });
    const redacted = config.redacted();
    assert.equal(redacted.database.url, 'postgres://app:****@db.internal:5432/telemetry');
    assert.equal(redacted.otlp.endpoint, 'https://user:****@collector:4318');
    assert.deepEqual(redacted.otlp.headers, { authorization: '****' });
    const text = JSON.stringify(redacted);
    for (const secret of ['s3cr3t-pw', 'otlp-pw', 'tok-123']) assert.ok(!text.includes(secret), secret);
    assert.equal(config.values.database.url, 'postgres://app:s3cr3t-pw@db.internal:5432/telemetry');
  });

  test('an invalid database URL is reported without its password', () => {
    const error = loadError({ databaseUrl: 'mysql://root:hunter2@db/x' });
    assert.equal(error.key, 'database.url');
    assert.ok(!error.message.includes('hunter2'), error.message);
    assert.match(error.message, /mysql:\/\/root:\*\*\*\*@db\/x/);
    assert.match(error.message, /\[option databaseUrl\]$/);
  });

  test('the Config constructor validates its layers too', () => {
    assert.throws(
      () => new Config({ layers: [{ source: 'test', settings: { logging: { level: 'LOUD' as 'INFO' } } }] }),
      (error: unknown) => error instanceof ConfigError && error.key === 'logging.level',
    );
  });
});
