// pipetel's estimate of its own cost: a window whose estimate covers the whole process reads as a
// large share (never 0), and a sampled log call that was preempted counts at most the cap.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerFactory } from '../../src/logging/index.js';
import { CALL_COST_NS, type OwnWork, SelfCost } from '../../src/pipeline/SelfCost.js';

function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    /* busy */
  }
}

function work(overrides: Partial<OwnWork> = {}): OwnWork {
  return {
    apiLogRecords: () => 0,
    loggerCalls: () => ({ calls: 0, stagedCalls: 0, builtCalls: 0, timedCalls: 0, timedMs: 0, buildMs: 0 }),
    metricCalls: () => 0,
    stages: () => 0,
    spans: () => 0,
    timedWorkMs: () => 0,
    batchesWritten: () => ({ batches: 0, rows: 0 }),
    buffered: () => ({ logs: 0, spans: 0, metrics: 0 }),
    ...overrides,
  };
}

describe('SelfCost', () => {
  it('an estimate covering the whole window reads as a large share, not zero', () => {
    let encodingMs = 0;
    const cost = new SelfCost(work({ timedWorkMs: () => encodingMs }));
    const window = cost.window();
    spin(20);
    encodingMs += 1_000; // more than the window: pipetel "was" the whole process
    const report = window.next();
    assert.equal(report.ownCpuMs, report.processCpuMs, 'own time is capped at the process time');
    assert.ok(Number.isFinite(report.cpuOverheadPercent) && report.cpuOverheadPercent > 0);
    // The share is over the rest of the window: when the thread had the CPU the whole window (no
    // preemption by other work on the machine), pipetel's share is at least the rest, ≥ 100 %.
    if (report.processCpuMs >= 0.9 * report.windowMs) {
      assert.ok(report.cpuOverheadPercent >= 100, `share ${report.cpuOverheadPercent} %`);
    }
  });

  it('an idle window with nothing done by pipetel reads 0 %', () => {
    const cost = new SelfCost(work());
    const window = cost.window();
    spin(5);
    assert.equal(window.next().cpuOverheadPercent, 0);
  });

  it('batch writes count as their measured cost: a fixed part per batch and a part per further row', () => {
    const written = { batches: 0, rows: 0 };
    const cost = new SelfCost(work({ batchesWritten: () => written }));
    const before = cost.ownCpuMs();
    written.batches += 3;
    written.rows += 300;
    const expectedMs = (3 * CALL_COST_NS.batchWrite + 297 * CALL_COST_NS.batchRow) / 1e6;
    assert.ok(Math.abs(cost.ownCpuMs() - before - expectedMs) < 1e-9, `${cost.ownCpuMs() - before} ms`);
    assert.ok(expectedMs > 2, 'three batches of 100 are milliseconds of CPU, not microseconds');
  });

  it('a timed log call counts at most the cap, however long the thread was away', () => {
    const slowSink = { emit: () => spin(5) };
    const factory = new LoggerFactory({
      level: 'INFO',
      sink: slowSink,
      resource: resourceFromAttributes({}),
    });
    const log = factory.getLogger('t');
    for (let i = 0; i < 16; i++) log.info('x');
    const timing = factory.callTiming();
    assert.equal(timing.calls, 16);
    assert.equal(timing.timedCalls, 1);
    assert.ok(timing.timedMs <= 0.5, `timed ${timing.timedMs} ms`);
  });

  it('staged log calls count as the constant, and their building with the time it took', () => {
    const timing = { calls: 0, stagedCalls: 0, builtCalls: 0, timedCalls: 0, timedMs: 0, buildMs: 0 };
    const cost = new SelfCost(work({ loggerCalls: () => timing }));
    const before = cost.ownCpuMs();
    timing.calls += 170;
    timing.stagedCalls += 160;
    timing.builtCalls += 10;
    timing.timedCalls += 1;
    timing.timedMs += 0.02; // one sampled call of 20 µs, scaled to the 10 built at the call: 0.2 ms
    timing.buildMs += 1.5; // building the staged ones, measured whole
    const expectedMs = (160 * CALL_COST_NS.stagedLogCall) / 1e6 + 0.2 + 1.5;
    assert.ok(Math.abs(cost.ownCpuMs() - before - expectedMs) < 1e-9, `${cost.ownCpuMs() - before} ms`);
  });

  it('staged calls are not timed; a sampled call that builds them first does not count their building', () => {
    // A preempted thread can push one sampled call to the cap on a loaded machine; counting the
    // building (5 ms and more) would put every try at the cap, so the least of a few tries tells.
    const callMs: number[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      const factory = new LoggerFactory({
        level: 'INFO',
        sink: { emit: () => spin(0.05) },
        resource: resourceFromAttributes({}),
        deferBuild: true,
      });
      const log = factory.getLogger('t');
      // 15 calls built at once (a nested object: not copied at the call), then 100 staged ones.
      // Not an Error: formatting its stack (source-mapped under tsx) can itself pass the cap.
      for (let i = 0; i < 15; i++) log.info('failed %d', i, { nested: { i } });
      for (let i = 0; i < 100; i++) log.info('x %d', i);
      const before = factory.callTiming();
      assert.equal(before.stagedCalls, 100);
      assert.equal(before.builtCalls, 15);
      assert.equal(before.timedCalls, 0);
      // The 16th built at once is timed: it first builds the 100 staged ones (5 ms and more).
      log.info('failed %d', 15, { nested: { i: 15 } });
      const after = factory.callTiming();
      assert.equal(after.timedCalls, 1);
      assert.ok(
        after.buildMs - before.buildMs >= 100 * 0.05,
        `built in ${after.buildMs - before.buildMs} ms`,
      );
      callMs.push(after.timedMs);
    }
    // Counting the building too, the call would read its cap (0.5 ms) every time.
    assert.ok(Math.min(...callMs) < 0.5, `the call itself: ${callMs.join(', ')} ms`);
  });
});
