// `pipetel gateway` as a user starts it: the built command, configured by environment
// (PIPETEL_DATABASE_URL, PIPETEL_GATEWAY_TOKEN, PIPETEL__GATEWAY__…), fed by the official OTLP
// exporters, stopped with SIGINT. Needs `npm run build`.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { tempDir } from '../helpers/tempDir.js';

const run = promisify(execFile);
const bin = resolve(import.meta.dirname, '../../bin/pipetel.js');
const producer = resolve(import.meta.dirname, '../fixtures/otlp-json-producer.ts');

describe('pipetel gateway (the command)', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => db?.drop());

  it('takes its token and ports from the environment, stores what producers send, stops on SIGINT', async () => {
    const token = 'gw-secret-token-7';
    const child = spawn(process.execPath, [bin, 'gateway', '--port', '0'], {
      env: {
        ...process.env,
        PIPETEL_DATABASE_URL: db.url,
        PIPETEL_HOME: tempDir('pipetel-gateway-cli-'),
        PIPETEL_GATEWAY_TOKEN: token,
        PIPETEL__GATEWAY__GRPC_PORT: '0',
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = once(child, 'exit');
    try {
      const deadline = Date.now() + 60_000;
      while (!/OTLP\/gRPC on \S+/.test(stdout)) {
        if (Date.now() > deadline || child.exitCode !== null)
          throw new Error(`no banner: ${stdout}${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const url = /on (http:\/\/\S+)\/v1/.exec(stdout)![1]!;
      const grpc = /OTLP\/gRPC on (\S+?)[ ,)]/.exec(stdout)![1]!;
      assert.doesNotMatch(stdout + stderr, new RegExp(token), 'the token is never printed');
      const unauthorized = await fetch(`${url}/v1/logs`, {
        method: 'POST',
        body: '{"resourceLogs": []}',
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(unauthorized.status, 401, 'PIPETEL_GATEWAY_TOKEN guards the gateway');
      await run(process.execPath, ['--import', 'tsx', producer, url, 'cli-gw-http', token, 'proto'], {
        timeout: 60_000,
      });
      await run(
        process.execPath,
        ['--import', 'tsx', producer, `http://${grpc}`, 'cli-gw-grpc', token, 'grpc'],
        {
          timeout: 60_000,
        },
      );
      const waitUntil = Date.now() + 30_000;
      for (;;) {
        const rows = await db.query<{ experiment_id: string }>(
          "SELECT DISTINCT experiment_id FROM pipeline_spans WHERE experiment_id LIKE 'cli-gw-%' ORDER BY 1",
        );
        if (rows.length === 2) break;
        if (Date.now() > waitUntil) throw new Error(`stored: ${JSON.stringify(rows)}; ${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      child.kill('SIGINT');
      const [code] = await exited;
      assert.equal(code, 0, stderr);
    }
  });
});
