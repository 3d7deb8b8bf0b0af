// The human-readable console output: line format, its own level, colors only when asked for (a
// terminal), buffering until the next turn of the event loop or flush().

import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerFactory, type PipetelLogRecord, resolveConsoleEnabled } from '../../src/logging/index.js';
import { withMonitoringDisabledContext, withStage } from '../../src/pipeline/context.js';

const resource = resourceFromAttributes({ 'service.name': 'test' });

function setup(consoleLevel: 'DEBUG' | 'INFO' | 'WARNING' = 'INFO', colors?: boolean) {
  const records: PipetelLogRecord[] = [];
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  const factory = new LoggerFactory({
    level: 'INFO',
    resource,
    sink: { emit: (r) => records.push(r) },
    console: { enabled: true, level: consoleLevel, stream, colors },
  });
  return { factory, records, chunks, log: factory.getLogger('etl.extract') };
}

const TIME = String.raw`\d\d:\d\d:\d\d\.\d{3}`;

describe('console output', () => {
  it('prints one line per record: time, level, logger, [stage], message, key=value', () => {
    const { factory, chunks, log } = setup();
    const manager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(manager);
    try {
      context.with(withStage(context.active(), 'extract'), () => {
        log.info('extracted %d rows', 3, { source: 's3://bucket/x', note: 'two words', n: 1.5 });
      });
    } finally {
      context.disable();
    }
    log.warning('plain');
    factory.flush();
    const lines = chunks.join('').split('\n');
    assert.match(
      lines[0],
      new RegExp(
        `^${TIME} INFO     etl\\.extract \\[extract\\] extracted 3 rows source=s3://bucket/x note="two words" n=1\\.5$`,
      ),
    );
    assert.match(lines[1], new RegExp(`^${TIME} WARNING  etl\\.extract plain$`));
    assert.doesNotMatch(chunks.join(''), /\x1b\[/, 'no colors on a non-terminal');
  });

  it('still prints for humans while monitoring is disabled (only the sinks are skipped)', () => {
    const { factory, chunks, records, log } = setup();
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    try {
      context.with(withMonitoringDisabledContext(context.active()), () => log.info('quiet for the sinks'));
    } finally {
      context.disable();
    }
    factory.flush();
    assert.equal(records.length, 0);
    assert.match(chunks.join(''), /quiet for the sinks/);
  });

  it('uses its own level, independent of the sink level', () => {
    const { factory, chunks, records, log } = setup('DEBUG');
    log.debug('console only');
    log.info('both');
    factory.flush();
    assert.deepEqual(
      records.map((r) => r.body),
      ['both'],
    );
    assert.match(chunks.join(''), /DEBUG +etl\.extract console only\n.*INFO +etl\.extract both\n/);
    assert.equal(log.isEnabledFor('DEBUG'), true);
  });

  it('does not print below its level', () => {
    const { factory, chunks, records, log } = setup('WARNING');
    log.info('sink only');
    factory.flush();
    assert.equal(records.length, 1);
    assert.equal(chunks.join(''), '');
  });

  it('prints the stack trace indented under the line', () => {
    const { factory, chunks, log } = setup();
    log.exception('failed', new Error('boom'));
    factory.flush();
    const text = chunks.join('');
    assert.match(text, new RegExp(`^${TIME} ERROR    etl\\.extract failed\\n    Error: boom\\n        at `));
    assert.doesNotMatch(text.split('\n')[0], /exception\./);
  });

  it('buffers lines and writes them together on the next turn', async () => {
    const { chunks, log } = setup();
    log.info('one');
    log.info('two');
    assert.equal(chunks.length, 0, 'nothing written synchronously');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(chunks.length, 1);
    assert.match(chunks[0], /one\n.*two\n$/);
  });

  it('colors the level when colors are on', () => {
    const { factory, chunks, log } = setup('INFO', true);
    log.error('red');
    factory.flush();
    assert.match(chunks.join(''), /\x1b\[31mERROR/);
  });

  it("resolves enabled: 'auto' to whether the stream is a terminal", () => {
    assert.equal(resolveConsoleEnabled('auto', { isTTY: true } as unknown as NodeJS.WritableStream), true);
    assert.equal(resolveConsoleEnabled('auto', new Writable()), false);
    assert.equal(resolveConsoleEnabled(true, new Writable()), true);
    assert.equal(resolveConsoleEnabled(false, { isTTY: true } as unknown as NodeJS.WritableStream), false);
  });
});
