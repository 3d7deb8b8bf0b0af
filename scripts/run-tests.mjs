#!/usr/bin/env node
// `npm test`: unit tests, then the integration and end-to-end tests against pipetel's embedded
// PostgreSQL, then again against the server at 127.0.0.1:5432 when one answers there (or the one
// named by PIPETEL_TEST_EXTERNAL_URL). Exits non-zero if any run fails.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import pg from 'pg';

const root = resolve(import.meta.dirname, '..');
const testHome = resolve(root, '.pipetel-test');
const only = process.argv.slice(2); // e.g. `npm test -- unit`

function files(dir) {
  const full = resolve(root, 'test', dir);
  if (!existsSync(full)) return [];
  return readdirSync(full)
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => `test/${dir}/${f}`);
}

function run(label, testFiles, env) {
  if (testFiles.length === 0) return true;
  // Each run gets its own PIPETEL_HOME, so spools and log files of one run never leak into another.
  const home = mkdtempSync(resolve(tmpdir(), 'pipetel-test-home-'));
  process.stdout.write(`\n=== ${label} (${testFiles.length} files) ===\n`);
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=180000', ...testFiles],
    { cwd: root, stdio: 'inherit', env: { ...process.env, PIPETEL_HOME: home, ...env } },
  );
  rmSync(home, { recursive: true, force: true });
  return result.status === 0;
}

async function externalServer() {
  const url = process.env.PIPETEL_TEST_EXTERNAL_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return url;
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const GROUPS = ['unit', 'embedded', 'external'];
const unknown = only.filter((name) => !GROUPS.includes(name));
if (unknown.length > 0) {
  // A typo must not pass with nothing run.
  process.stderr.write(`unknown test group ${unknown.join(', ')}; the groups are ${GROUPS.join(', ')}\n`);
  process.exit(2);
}
const want = (name) => only.length === 0 || only.includes(name);
/** Files that talk to the test server; the others (e.g. the embedded server's own tests) run once. */
const usesTestServer = (file) =>
  /helpers\/database|PIPETEL_TEST_DATABASE_URL/.test(readFileSync(resolve(root, file), 'utf8'));
const results = [];
const dbTests = [...files('integration'), ...files('e2e')];

if (want('unit')) results.push(['unit', run('unit tests', files('unit'), {})]);
if (want('embedded')) {
  const env = { PIPETEL_TEST_HOME: testHome, PIPETEL_TEST_DATABASE_URL: '' };
  results.push([
    'integration on embedded PostgreSQL',
    run('integration + e2e on embedded PostgreSQL', dbTests, env),
  ]);
}
if (want('external')) {
  const url = await externalServer();
  if (url) {
    const env = { PIPETEL_TEST_DATABASE_URL: url, PIPETEL_TEST_HOME: testHome };
    results.push([
      `integration on ${new URL(url).host}`,
      run(`integration + e2e on ${new URL(url).host}`, dbTests.filter(usesTestServer), env),
    ]);
  } else {
    process.stdout.write('\n(no PostgreSQL answers at 127.0.0.1:5432: external-server run skipped)\n');
  }
}

// Leave no embedded test server running.
if (existsSync(resolve(testHome, 'pg'))) {
  spawnSync(process.execPath, [resolve(root, 'bin/pipetel.js'), 'db', 'stop'], {
    cwd: root,
    env: { ...process.env, PIPETEL_HOME: testHome },
    stdio: 'ignore',
  });
}

process.stdout.write('\n=== summary ===\n');
for (const [label, ok] of results) process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${label}\n`);
process.exit(results.every(([, ok]) => ok) ? 0 : 1);
