// A stage's resource attributes: CPU time from cpuUsage deltas, RSS start / end / peak. Reading RSS
// costs a /proc read, so a reading younger than 10 ms is reused: a stage per item does not pay it
// twice per item, and a stage that lasts longer still ends with a fresh reading.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { measureStage } from '../../src/pipeline/StageResources.js';

describe('measureStage', () => {
  it('reads RSS at most once per 10 ms, and freshly for a stage that outlasts that', (t) => {
    let now = 1_000_000;
    let resident = 100_000_000;
    t.mock.method(performance, 'now', () => now);
    const reads = t.mock.method(process.memoryUsage, 'rss', () => resident);
    for (let i = 0; i < 1000; i++) measureStage()(); // a thousand short stages within one millisecond
    assert.equal(reads.mock.callCount(), 1);

    now += 50;
    const end = measureStage();
    assert.equal(reads.mock.callCount(), 2, 'a reading 50 ms old is not reused');
    resident += 5_000_000;
    now += 20;
    const usage = end();
    assert.equal(reads.mock.callCount(), 3);
    assert.equal(usage['pipetel.memory.rss_start_bytes'], 100_000_000);
    assert.equal(usage['pipetel.memory.rss_end_bytes'], 105_000_000);
    assert.equal(usage['pipetel.memory.rss_peak_bytes'], 105_000_000);
    assert.ok(usage['pipetel.cpu.user_ms'] >= 0 && usage['pipetel.cpu.system_ms'] >= 0);
  });
});
