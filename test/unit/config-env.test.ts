// The environment layer: the named variables of SPEC §3, the generic PIPETEL__SECTION__KEY form
// for every key (parsed by the key's type), and errors that name both the variable and the key.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readEnvironment } from '../../src/config/env.js';
import { type Config, ConfigError, loadConfig } from '../../src/config/index.js';
import { tempDir } from '../helpers/tempDir.js';

const emptyDir = tempDir('pipetel-config-env-');

function fromEnv(env: NodeJS.ProcessEnv): Config {
  return loadConfig({ env, cwd: emptyDir });
}

function envError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    fromEnv(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error;
  }
  assert.fail('expected a ConfigError');
}

describe('named variables', () => {
  test('PIPETEL_DATABASE_URL, then DATABASE_URL → database.url', () => {
    assert.equal(fromEnv({ DATABASE_URL: 'postgres://b/db' }).values.database.url, 'postgres://b/db');
    assert.equal(
      fromEnv({ DATABASE_URL: 'postgres://b/db', PIPETEL_DATABASE_URL: 'postgresql://a/db' }).values.database
        .url,
      'postgresql://a/db',
    );
  });

  test('a DATABASE_URL that is not postgres:// belongs to the app, not pipetel: ignored', () => {
    const config = fromEnv({ DATABASE_URL: 'mysql://root:pw@db/app' });
    assert.equal(config.values.database.url, null);
    assert.deepEqual(config.sources, ['defaults']);
  });

  test('PIPETEL_EXPERIMENT_ID, PIPETEL_PROFILE, PIPETEL_LOG_LEVEL, OTEL_SERVICE_NAME', () => {
    const config = fromEnv({
      PIPETEL_EXPERIMENT_ID: 'exp-7',
      PIPETEL_PROFILE: 'minimal',
      PIPETEL_LOG_LEVEL: 'error',
      OTEL_SERVICE_NAME: 'etl',
    });
    assert.equal(config.values.experiment_id, 'exp-7');
    assert.equal(config.values.profile, 'minimal');
    assert.equal(config.values.monitoring.enabled, false, 'the minimal preset applies');
    assert.equal(config.values.logging.level, 'ERROR', 'PIPETEL_LOG_LEVEL wins over the preset');
    assert.equal(config.values.service_name, 'etl');
    assert.deepEqual(config.sources, ['defaults', 'profile:minimal', 'env']);
  });

  test('OTEL_SDK_DISABLED=true (any case) disables the SDK; other values do not', () => {
    assert.equal(fromEnv({}).values.disabled, false);
    assert.equal(fromEnv({ OTEL_SDK_DISABLED: 'true' }).values.disabled, true);
    assert.equal(fromEnv({ OTEL_SDK_DISABLED: 'TRUE' }).values.disabled, true);
    assert.equal(fromEnv({ OTEL_SDK_DISABLED: 'false' }).values.disabled, false);
    assert.equal(fromEnv({ OTEL_SDK_DISABLED: 'yes' }).values.disabled, false);
  });

  test('OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_HEADERS (k=v pairs, percent-encoded)', () => {
    const config = fromEnv({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20abc,x-tenant=acme',
    });
    assert.equal(config.values.otlp.endpoint, 'http://collector:4318');
    assert.deepEqual(config.values.otlp.headers, { authorization: 'Bearer abc', 'x-tenant': 'acme' });
  });

  test('empty variables count as unset', () => {
    const config = fromEnv({ PIPETEL_DATABASE_URL: '', PIPETEL_LOG_LEVEL: '', PIPETEL__SPOOL__ENABLED: '' });
    assert.equal(config.values.database.url, null);
    assert.deepEqual(config.sources, ['defaults']);
  });
});

describe('generic PIPETEL__SECTION__KEY form', () => {
  test('null (or ~) sets a key that may be null to null, as in YAML', () => {
    const config = fromEnv({
      PIPETEL__GATEWAY__GRPC_PORT: 'null',
      PIPETEL__MONITORING__OVERHEAD_BUDGET_PERCENT: '~',
    });
    assert.equal(config.values.gateway.grpc_port, null);
    assert.equal(config.values.monitoring.overhead_budget_percent, null);
    // A key that may not be null still says so.
    assert.throws(() => fromEnv({ PIPETEL__LOGGING__DATABASE__BATCH_SIZE: 'null' }), ConfigError);
  });

  test('double underscore is a dot; numbers are parsed', () => {
    const config = fromEnv({
      PIPETEL__LOGGING__DATABASE__BATCH_SIZE: '500',
      PIPETEL__LOGGING__DATABASE__FLUSH_INTERVAL: '10.0',
      PIPETEL__MONITORING__DATABASE__CONNECTION_POOL_SIZE: ' 4 ',
    });
    assert.equal(config.values.logging.database.batch_size, 500);
    assert.equal(config.values.logging.database.flush_interval, 10);
    assert.equal(config.values.monitoring.database.connection_pool_size, 4);
  });

  test('names are case-insensitive', () => {
    assert.equal(fromEnv({ pipetel__logging__level: 'debug' }).values.logging.level, 'DEBUG');
    assert.equal(fromEnv({ Pipetel__Shutdown__Timeout: '3' }).values.shutdown.timeout, 3);
  });

  test('booleans: true/false/1/0', () => {
    const values = (text: string) =>
      fromEnv({ PIPETEL__MONITORING__ENABLED: text }).values.monitoring.enabled;
    assert.equal(values('false'), false);
    assert.equal(values('0'), false);
    assert.equal(values('TRUE'), true);
    assert.equal(values('1'), true);
    assert.equal(
      fromEnv({ PIPETEL__LOGGING__CONSOLE__ENABLED: 'auto' }).values.logging.console.enabled,
      'auto',
    );
  });

  test('maps and lists as JSON, maps also as k=v pairs, lists also comma-separated', () => {
    assert.deepEqual(fromEnv({ PIPETEL__LOGGING__SAMPLING: '{"DEBUG":0.1}' }).values.logging.sampling, {
      DEBUG: 0.1,
    });
    assert.deepEqual(fromEnv({ PIPETEL__LOGGING__SAMPLING: 'debug=0.2,info=1' }).values.logging.sampling, {
      DEBUG: 0.2,
      INFO: 1,
    });
    assert.deepEqual(fromEnv({ PIPETEL__REDACTION__KEYS: '["a","b"]' }).values.redaction.keys, ['a', 'b']);
    assert.deepEqual(fromEnv({ PIPETEL__REDACTION__KEYS: 'a, b' }).values.redaction.keys, ['a', 'b']);
  });

  test('one map entry, and a whole section as JSON', () => {
    assert.deepEqual(fromEnv({ PIPETEL__LOGGING__SAMPLING__DEBUG: '0.1' }).values.logging.sampling, {
      DEBUG: 0.1,
    });
    const config = fromEnv({ PIPETEL__LOGGING__DATABASE: '{"batch_size":250,"enabled":false}' });
    assert.equal(config.values.logging.database.batch_size, 250);
    assert.equal(config.values.logging.database.enabled, false);
  });

  test('the generic form wins over a named variable for the same key', () => {
    const config = fromEnv({ PIPETEL_LOG_LEVEL: 'ERROR', PIPETEL__LOGGING__LEVEL: 'DEBUG' });
    assert.equal(config.values.logging.level, 'DEBUG');
  });

  test('unrelated PIPETEL_* variables (single underscore) are left alone', () => {
    assert.deepEqual(fromEnv({ PIPETEL_SOMETHING_ELSE: 'x' }).sources, ['defaults']);
  });
});

describe('a bad value names the variable and the dotted key', () => {
  test('wrong type in the generic form', () => {
    const error = envError({ PIPETEL__LOGGING__DATABASE__BATCH_SIZE: 'abc' });
    assert.equal(error.key, 'logging.database.batch_size');
    assert.equal(
      error.message,
      'logging.database.batch_size: expected a positive integer, got "abc" (string) [env PIPETEL__LOGGING__DATABASE__BATCH_SIZE]',
    );
  });

  test('a boolean that is not true/false/1/0', () => {
    const error = envError({ PIPETEL__SPOOL__ENABLED: 'yes' });
    assert.equal(error.key, 'spool.enabled');
    assert.match(error.message, /\[env PIPETEL__SPOOL__ENABLED\]$/);
  });

  test('a named variable', () => {
    const error = envError({ PIPETEL_LOG_LEVEL: 'loud' });
    assert.equal(error.key, 'logging.level');
    assert.match(error.message, /^logging\.level: expected one of .*\[env PIPETEL_LOG_LEVEL\]$/);
    assert.equal(envError({ PIPETEL_PROFILE: 'fast' }).key, 'profile');
  });

  test('an unknown key, with the closest valid one', () => {
    const error = envError({ PIPETEL__LOGGING__DATABSE__BATCH_SIZE: '5' });
    assert.equal(error.key, 'logging.databse.batch_size');
    assert.equal(error.problems[0].suggestion, 'logging.database.batch_size');
    assert.match(error.message, /\[env PIPETEL__LOGGING__DATABSE__BATCH_SIZE\]$/);
  });

  test('a key written with single underscores is a warning naming the form that works, not ignored', () => {
    assert.deepEqual(readEnvironment({ PIPETEL_LOGGING_LEVEL: 'DEBUG' }).warnings, [
      'PIPETEL_LOGGING_LEVEL is not read (logging.level is set by PIPETEL__LOGGING__LEVEL or PIPETEL_LOG_LEVEL: two underscores between the parts of a key)',
    ]);
    assert.match(
      readEnvironment({ PIPETEL_SHUTDOWN_TIMEOUT: '5' }).warnings[0] ?? '',
      /^PIPETEL_SHUTDOWN_TIMEOUT is not read \(shutdown\.timeout is set by PIPETEL__SHUTDOWN__TIMEOUT:/,
    );
    // Not an error: such a name may be someone else's. Kubernetes makes this one for a Service
    // named pipetel-gateway, and it is not even warned about.
    const k8s = { PIPETEL_GATEWAY_PORT: 'tcp://10.96.0.12:4318' };
    assert.equal(fromEnv(k8s).values.gateway.port, 4318);
    assert.deepEqual(readEnvironment(k8s).warnings, []);
    // Named variables, and PIPETEL_ variables that name no setting, are not touched.
    assert.deepEqual(
      readEnvironment({ PIPETEL_DATABASE_URL: 'postgres://a/db', PIPETEL_TEST_DATABASE_URL: 'x' }).warnings,
      [],
    );
  });

  test('out of range, and broken JSON', () => {
    assert.equal(envError({ PIPETEL__LOGGING__SAMPLING__DEBUG: '2' }).key, 'logging.sampling.DEBUG');
    assert.equal(envError({ PIPETEL__LOGGING__SAMPLING: '{"DEBUG":' }).key, 'logging.sampling');
  });

  test('a bad PIPETEL_DATABASE_URL is reported without its password', () => {
    const error = envError({ PIPETEL_DATABASE_URL: 'http://u:topsecret@db/x' });
    assert.equal(error.key, 'database.url');
    assert.ok(!error.message.includes('topsecret'), error.message);
    assert.match(error.message, /\[env PIPETEL_DATABASE_URL\]$/);
  });

  test('a postgres:// URL node-postgres cannot parse is a configuration error, not an outage', () => {
    for (const [name, url] of [
      ['PIPETEL_DATABASE_URL', 'postgres://bob:s3cretPW@127.0.0.1:notaport/db'],
      ['DATABASE_URL', 'postgresql://bob:s3cretPW@[::1/db'],
    ] as const) {
      const error = envError({ [name]: url });
      assert.equal(error.key, 'database.url');
      assert.match(error.message, /well-formed postgres:\/\//);
      assert.ok(!error.message.includes('s3cretPW'), error.message);
    }
    // What node-postgres accepts stays accepted: a socket directory, an encoded host, no host.
    for (const url of [
      'postgres://u:p@127.0.0.1:5432/db',
      'postgres:///db?host=/var/run/postgresql',
      'postgres://u@%2Fvar%2Frun%2Fpostgresql/db',
      'postgresql://u@/db?host=/tmp',
    ])
      assert.equal(fromEnv({ PIPETEL_DATABASE_URL: url }).values.database.url, url);
  });

  test('every bad variable is reported', () => {
    const error = envError({ PIPETEL_LOG_LEVEL: 'x', PIPETEL__SPOOL__BATCH_SIZE: '0', PIPETEL__NOPE: '1' });
    assert.deepEqual(error.problems.map((problem) => problem.key).sort(), [
      'logging.level',
      'nope',
      'spool.batch_size',
    ]);
  });
});
