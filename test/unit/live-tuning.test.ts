// LiveTuning applies the overhead budget's steps and live config changes to the running parts:
// the first step writes log batches five times larger (losing nothing), a restore brings the
// configured batching back, and a batch_size set while shedding keeps the step's factor.

import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { loadConfig } from '../../src/config/loader.js';
import { LiveTuning } from '../../src/internal/LiveTuning.js';
import { LoggerFactory } from '../../src/logging/index.js';

function tuningWith(readings: number[], maxQueueSize = 10_000, withLogExporter = true) {
  const config = loadConfig({
    env: {},
    cwd: mkdtempSync(join(tmpdir(), 'pipetel-tuning-')),
    config: {
      logging: { database: { batch_size: 100, flush_interval: 5, max_queue_size: maxQueueSize } },
      monitoring: { overhead_budget_percent: 2, database: { max_batch_size: 1000 } },
    },
  });
  const loggers = new LoggerFactory({
    level: 'INFO',
    sink: { emit: () => undefined },
    resource: resourceFromAttributes({}),
  });
  const batching: Array<[number, number]> = [];
  const warnings: string[] = [];
  const tuning = new LiveTuning({
    config,
    loggers,
    measurePercent: () => readings.shift() ?? 0,
    recordShedStep: () => undefined,
    warn: (message) => warnings.push(message),
    isShutDown: () => false,
  });
  if (withLogExporter) {
    tuning.attach({ logExporter: { setBatching: (size, intervalMs) => batching.push([size, intervalMs]) } });
  }
  return { config, tuning, batching, warnings };
}

describe('LiveTuning', () => {
  it("the budget's first step writes larger log batches; restoring brings the configured ones back", () => {
    const { tuning, batching, warnings } = tuningWith([5, 5, 0.1, 0.1]);
    tuning.budget.check();
    tuning.budget.check(); // two checks over budget: step 1
    assert.equal(tuning.budget.step, 1);
    assert.deepEqual(batching, [[500, 5000]]);
    assert.match(warnings[0]!, /shedding step 1 of 5: log batches ×5, DEBUG kept ×1, INFO ×1/);
    tuning.budget.check();
    tuning.budget.check(); // two calm checks: back to step 0
    assert.equal(tuning.budget.step, 0);
    assert.deepEqual(batching, [
      [500, 5000],
      [100, 5000],
    ]);
    tuning.budget.stop();
  });

  it('the larger batches stay under half the queue, and without a database log sink the step says it changed nothing', () => {
    const small = tuningWith([5, 5], 300);
    small.tuning.budget.check();
    small.tuning.budget.check();
    assert.deepEqual(small.batching, [[150, 5000]], 'max_queue_size 300: batches of 150, not 500');
    assert.match(small.warnings[0]!, /log batches ×1\.5 \(of ×5: no larger batch possible\)/);
    small.tuning.budget.stop();
    const fileOnly = tuningWith([5, 5], 10_000, false);
    fileOnly.tuning.budget.check();
    fileOnly.tuning.budget.check();
    assert.match(fileOnly.warnings[0]!, /log batches ×1 \(of ×5: no larger batch possible\)/);
    fileOnly.tuning.budget.stop();
  });

  it('a batch_size set while shedding keeps the step on top; other keys leave batching alone', () => {
    const { config, tuning, batching } = tuningWith([5, 5]);
    tuning.budget.check();
    tuning.budget.check();
    config.set('logging.database.batch_size', 150);
    assert.deepEqual(batching.at(-1), [750, 5000]);
    const writes = batching.length;
    config.set('monitoring.progress_update_interval', 20);
    assert.equal(batching.length, writes, 'the flush timer is not restarted by an unrelated key');
    config.set('logging.database.flush_interval', 2);
    assert.deepEqual(batching.at(-1), [750, 2000]);
    tuning.budget.stop();
  });
});
