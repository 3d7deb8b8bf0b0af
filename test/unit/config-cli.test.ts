// `pipetel config validate` and `pipetel config print`, run in-process through main() with
// stdout/stderr captured: exit codes, one line per problem, and no secret in the printed config.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { config } from '../../src/cli/config.js';
import { loadConfig } from '../../src/config/index.js';
import { tempDir } from '../helpers/tempDir.js';

const SEED = fileURLToPath(new URL('../fixtures/seed/', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

// The test runner itself writes to process.stdout while tests run, so output is captured through
// the command's injectable streams rather than by patching process.stdout.
async function run(...args: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await config(args, {
    stdout: { write: (text: string) => out.push(text) },
    stderr: { write: (text: string) => err.push(text) },
  });
  return { code, stdout: out.join(''), stderr: err.join('') };
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The real thing: `pipetel config …` through main() in a fresh process. */
function spawnMain(args: string[], cwd: string): Run {
  const script = `import { main } from ${JSON.stringify(join(ROOT, 'src/cli/main.ts'))};
process.exitCode = await main(process.argv.slice(1));`;
  const result = spawnSync(
    process.execPath,
    ['--import', import.meta.resolve('tsx'), '--input-type=module', '-e', script, 'config', ...args],
    {
      cwd,
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '' },
    },
  );
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '');
}

// The CLI reads the real environment and working directory: make both hermetic for this file.
const savedEnv = { ...process.env };
const savedCwd = process.cwd();
let dir: string;

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

before(() => {
  for (const name of Object.keys(process.env)) {
    if (/^(PIPETEL|OTEL_)/i.test(name) || name === 'DATABASE_URL') delete process.env[name];
  }
  dir = tempDir('pipetel-config-cli-');
  process.chdir(dir);
});

after(() => {
  process.chdir(savedCwd);
  process.env = savedEnv;
});

describe('pipetel config validate', () => {
  test('every seed block is valid: exit 0 and one short "valid" line on stdout', async () => {
    for (const name of ['01-logging-configuration.yml', '05-cpu-intensive.yml', '08-template-full.yml']) {
      const result = await run('validate', join(SEED, name));
      assert.equal(result.code, 0, result.stderr);
      assert.equal(lines(result.stdout).length, 1);
      assert.match(result.stdout, /^valid: defaults ← file:.*\n$/);
      assert.equal(result.stderr, '');
    }
  });

  test('invalid: exit 2 and one line per problem on stderr, each starting with the dotted key', async () => {
    const path = file(
      'bad.yml',
      'logging:\n  level: LOUD\n  database:\n    batch_sise: 5\n    flush_interval: abc\nmonitoring:\n  enabled: yes\n',
    );
    const result = await run('validate', path);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '');
    const problems = lines(result.stderr);
    assert.deepEqual(
      problems.map((line) => line.split(':')[0]),
      [
        'logging.level',
        'logging.database.batch_sise',
        'logging.database.flush_interval',
        'monitoring.enabled',
      ],
    );
    assert.match(problems[1], /did you mean logging\.database\.batch_size\?/);
  });

  test('a setting accepted but without effect: valid (exit 0), and a note on stderr naming it', async () => {
    const result = await run(
      'validate',
      file(
        'noop.yml',
        'logging:\n  async_mode: false\nmonitoring:\n  database:\n    enable_query_cache: false\n',
      ),
    );
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^valid: /);
    assert.deepEqual(
      lines(result.stderr).map((line) => line.split(':').slice(0, 2).join(':')),
      [
        'note: logging.async_mode has no effect',
        'note: monitoring.database.enable_query_cache has no effect',
      ],
    );
    const defaults = await run('validate', file('plain.yml', 'logging:\n  level: INFO\n'));
    assert.equal(defaults.stderr, '', 'nothing to note when such keys keep their defaults');
  });

  test('database.enabled: false notes what it makes moot: a database.url, and monitoring without OTLP', async () => {
    const result = await run(
      'validate',
      file('worker.yml', 'database:\n  enabled: false\n  url: postgres://u@db/x\n'),
    );
    assert.equal(result.code, 0);
    assert.deepEqual(
      lines(result.stderr).map((line) => line.split(':').slice(0, 2).join(':')),
      ['note: database.url has no effect', 'note: monitoring.enabled has no effect'],
    );
    const worker = await run(
      'validate',
      file('fleet.yml', 'database:\n  enabled: false\notlp:\n  endpoint: http://collector:4318\n'),
    );
    assert.equal(worker.stderr, '', 'a worker behind a Collector: nothing to note');
  });

  test('a missing file: exit 2, one line', async () => {
    const result = await run('validate', 'missing.yml');
    assert.equal(result.code, 2);
    assert.deepEqual(lines(result.stderr), [`configFile: file not found: ${join(dir, 'missing.yml')}`]);
  });

  test('a YAML syntax error: exit 2, one line with file and line number', async () => {
    const result = await run('validate', file('broken.yml', 'logging:\n  level: [INFO\n'));
    assert.equal(result.code, 2);
    assert.equal(lines(result.stderr).length, 1);
    assert.match(result.stderr, /^\S*broken\.yml:\d+:\d+: YAML syntax error: /);
  });

  test('without FILE it checks what register() would load: ./pipetel.yml and the environment', async () => {
    file('pipetel.yml', 'logging:\n  level: DEBUG\n');
    try {
      const ok = await run('validate');
      assert.equal(ok.code, 0);
      assert.match(ok.stdout, /file:.*pipetel\.yml/);
      process.env.PIPETEL__LOGGING__DATABASE__BATCH_SIZE = 'lots';
      const bad = await run('validate');
      assert.equal(bad.code, 2);
      assert.match(
        bad.stderr,
        /^logging\.database\.batch_size: .*\[env PIPETEL__LOGGING__DATABASE__BATCH_SIZE\]\n$/,
      );
    } finally {
      delete process.env.PIPETEL__LOGGING__DATABASE__BATCH_SIZE;
      writeFileSync(join(dir, 'pipetel.yml'), '');
    }
  });
});

describe('pipetel config print', () => {
  const password = 'Sup3r-S3cret-pw';
  const token = 'tok-9f8e7d';

  test('YAML by default, with the database password and header values hidden', async () => {
    const path = file(
      'secrets.yml',
      `database:\n  url: postgres://app:${password}@db.internal:5432/tel\notlp:\n  headers:\n    authorization: Bearer ${token}\n`,
    );
    const result = await run('print', path);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(!result.stdout.includes(password), 'password printed');
    assert.ok(!result.stdout.includes(token), 'header value printed');
    assert.match(result.stdout, /url: postgres:\/\/app:\*\*\*\*@db\.internal:5432\/tel/);
    assert.match(result.stdout, /authorization: "\*\*\*\*"/);
    assert.match(result.stdout, /^# sources: defaults ← file:/m);
  });

  test('a password from DATABASE_URL is hidden too', async () => {
    process.env.DATABASE_URL = `postgres://app:${password}@db/tel`;
    try {
      const result = await run('print', '--json');
      assert.equal(result.code, 0);
      assert.ok(!result.stdout.includes(password));
      assert.equal(JSON.parse(result.stdout).database.url, 'postgres://app:****@db/tel');
    } finally {
      delete process.env.DATABASE_URL;
    }
  });

  test('--json prints the redacted settings as JSON', async () => {
    const result = await run('print', '--json');
    assert.equal(result.code, 0);
    assert.deepEqual(JSON.parse(result.stdout), loadConfig().redacted());
  });

  test('--profile NAME shows that preset applied', async () => {
    const result = await run('print', '--profile', 'minimal', '--json');
    assert.equal(result.code, 0);
    const printed = JSON.parse(result.stdout);
    assert.equal(printed.profile, 'minimal');
    assert.equal(printed.logging.level, 'WARNING');
    assert.equal(printed.monitoring.enabled, false);
  });

  test('--profile with an unknown name: exit 2 naming `profile`, the valid ones and the flag', async () => {
    const result = await run('print', '--profile', 'fast');
    assert.equal(result.code, 2);
    assert.equal(
      result.stderr,
      'profile: unknown profile "fast"; valid profiles are minimal, balanced, full [flag --profile]\n',
    );
    const typo = await run('print', '--profile', 'fulll');
    assert.equal(typo.code, 2);
    assert.match(
      typo.stderr,
      /^profile: unknown profile "fulll"; .*\(did you mean full\?\) \[flag --profile\]$/m,
    );
  });

  test('--profile is named as the source it is', async () => {
    const result = await run('print', '--profile', 'minimal');
    assert.match(result.stdout, /^# sources: defaults ← profile:minimal ← .*flag --profile$/m);
  });

  test('the printed YAML loads back to the same settings', async () => {
    const result = await run('print', '--profile', 'full');
    const printed = file('printed.yml', result.stdout);
    assert.deepEqual(
      loadConfig({ configFile: printed }).values,
      loadConfig({ config: { profile: 'full' } }).values,
    );
  });
});

describe('usage', () => {
  test('no subcommand, an unknown one, or an unknown option: exit 2 with usage on stderr', async () => {
    for (const args of [[], ['frobnicate'], ['print', '--bogus'], ['validate', 'a.yml', 'b.yml']]) {
      const result = await run(...args);
      assert.equal(result.code, 2, args.join(' '));
      assert.match(result.stderr, /usage: pipetel config/);
    }
  });

  test('--help: exit 0 with usage on stdout', async () => {
    const result = await run('--help');
    assert.equal(result.code, 0);
    assert.match(result.stdout, /pipetel config validate \[FILE\]/);
  });
});

describe('through main() in a separate process', () => {
  test('validate: exit 0 / exit 2 with one line per problem on stderr', () => {
    const ok = spawnMain(['validate', join(SEED, '04-memory-constrained.yml')], dir);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^valid: /);
    const bad = spawnMain(
      ['validate', file('two.yml', 'logging:\n  level: LOUD\nspool:\n  batch_size: 0\n')],
      dir,
    );
    assert.equal(bad.code, 2);
    assert.deepEqual(
      lines(bad.stderr).map((line) => line.split(':')[0]),
      ['logging.level', 'spool.batch_size'],
    );
  });

  test('print hides the password', () => {
    const path = file('pw.yml', 'database:\n  url: postgres://u:Very-Secret-42@db/x\n');
    const result = spawnMain(['print', path], dir);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(!result.stdout.includes('Very-Secret-42'));
    assert.match(result.stdout, /postgres:\/\/u:\*\*\*\*@db\/x/);
  });
});
