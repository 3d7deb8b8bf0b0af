// getLogger() before register(): records are kept in a bounded buffer (the first 1000; the rest are
// counted and reported as dropped), delivered at the configured level when the pipeline is bound,
// and printed to stderr at exit by a process that never registers.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { emptyResource } from '@opentelemetry/resources';
import { bindGlobalLogging, getLogger, unbindGlobalLogging } from '../../src/logging/global.js';
import type { PipetelLogRecord } from '../../src/logging/types.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

describe('records made before register()', () => {
  it('are delivered, in order and at the configured level, once the pipeline is bound', () => {
    const early = getLogger('early');
    early.debug('below the level configured later');
    for (let i = 0; i < 1005; i++) early.info('early %d', i, { i });

    const delivered: PipetelLogRecord[] = [];
    const stderr: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string) => {
      stderr.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    try {
      bindGlobalLogging({
        level: 'INFO',
        sink: { emit: (record) => void delivered.push(record) },
        resource: emptyResource(),
        console: { enabled: false, level: 'WARNING' },
      });
    } finally {
      process.stderr.write = write;
    }
    early.info('after binding');
    unbindGlobalLogging();

    // The DEBUG record is below the bound level and counts against nothing; 1000 INFO ones are kept.
    assert.equal(
      delivered.length,
      1000 - 1 + 1,
      'the first 1000 records made, minus the DEBUG one, plus one after',
    );
    assert.equal(delivered[0]!.body, 'early 0');
    assert.deepEqual(delivered[0]!.attributes, { i: 0 });
    assert.equal(delivered[998]!.body, 'early 998');
    assert.equal(delivered.at(-1)!.body, 'after binding');
    assert.match(stderr.join(''), /6 log record\(s\) made before register\(\) were dropped/);

    getLogger('late').error('after shutdown: not buffered for a later register()');
    assert.equal(
      delivered.at(-1)!.body,
      'after shutdown: not buffered for a later register()',
      "after shutdown a record goes to the ended run's sink, which counts it as dropped",
    );
    const again: PipetelLogRecord[] = [];
    bindGlobalLogging({
      level: 'DEBUG',
      sink: { emit: (record) => void again.push(record) },
      resource: emptyResource(),
      console: { enabled: false, level: 'WARNING' },
    });
    unbindGlobalLogging();
    assert.deepEqual(again, []);
  });

  it('are printed to stderr at exit when register() never runs', () => {
    const script = `
      import { getLogger } from './src/index.ts';
      getLogger('never.registered').info('loaded %d rows', 42);
    `;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: repoRoot,
      encoding: 'utf8',
      env: { ...process.env, OTEL_SDK_DISABLED: undefined },
    });
    assert.equal(child.status, 0, child.stderr);
    assert.match(child.stderr, /register\(\) never ran/);
    assert.match(child.stderr, /INFO never\.registered: loaded 42 rows/);
  });
});
