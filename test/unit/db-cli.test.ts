// `pipetel db url|status` speak of the embedded server; when database.url is set they say that
// pipetel uses that server instead — without its password.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../helpers/tempDir.js';

const main = resolve(import.meta.dirname, '../../src/cli/main.ts');

function db(sub: string, env: NodeJS.ProcessEnv) {
  const script = `const { main } = await import(${JSON.stringify(main)}); process.exitCode = await main(['db', ${JSON.stringify(sub)}]);`;
  return spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env,
    encoding: 'utf8',
  });
}

describe('pipetel db with database.url set', () => {
  const { PIPETEL_DATABASE_URL: _, DATABASE_URL: __, ...base } = process.env;
  const env = {
    ...base,
    PIPETEL_HOME: tempDir('pipetel-db-cli-'),
    PIPETEL_DATABASE_URL: 'postgres://etl:s3cret-pw@db.internal:5432/pipelines',
  };

  it('url and status say the configured server is the one in use, without its password', () => {
    for (const [sub, code] of [
      ['url', 1],
      ['status', 3],
    ] as const) {
      const result = db(sub, env);
      assert.equal(result.status, code, result.stderr);
      assert.match(
        result.stderr,
        /note: database\.url is set \(db\.internal:5432\/pipelines\): pipetel uses that server, not the embedded one/,
      );
      assert.doesNotMatch(result.stdout + result.stderr, /s3cret-pw/);
    }
  });

  it('says nothing of it when none is set', () => {
    const { PIPETEL_DATABASE_URL: ___, ...unset } = env;
    assert.doesNotMatch(db('url', unset).stderr, /database\.url is set/);
  });
});
