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
    loggerCalls: () => ({ calls: 0, timedCalls: 0, timedMs: 0, buildMs: 0 }),
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

  it('records built off the call count with the whole time their building took', () => {
    const timing = { calls: 0, timedCalls: 0, timedMs: 0, buildMs: 0 };
    const cost = new SelfCost(work({ loggerCalls: () => timing }));
    const before = cost.ownCpuMs();
    timing.calls += 160;
    timing.timedCalls += 10;
    timing.timedMs += 0.02; // 2 µs per sampled call, scaled to 160 calls: 0.32 ms
    timing.buildMs += 1.5; // building them, measured whole
    assert.ok(Math.abs(cost.ownCpuMs() - before - (0.32 + 1.5)) < 1e-9, `${cost.ownCpuMs() - before} ms`);
  });

  it('a drain inside a timed call is not counted twice', () => {
    const factory = new LoggerFactory({
      level: 'INFO',
      sink: { emit: () => spin(0.05) },
      resource: resourceFromAttributes({}),
      deferBuild: true,
    });
    const log = factory.getLogger('t');
    // 127 staged calls, then the 128th (a timed one: every 16th is) fills the stage and builds
    // all of them inside the call.
    for (let i = 0; i < 127; i++) log.info('x %d', i);
    const before = factory.callTiming();
    assert.equal(before.buildMs, 0);
    log.info('x %d', 127);
    const after = factory.callTiming();
    assert.equal(after.timedCalls, before.timedCalls + 1);
    assert.ok(after.buildMs >= 128 * 0.05, `built in ${after.buildMs} ms`);
    // Counted twice, the call would read its cap (0.5 ms): building took 6.4 ms or more.
    assert.ok(after.timedMs - before.timedMs < 0.5, `the call itself: ${after.timedMs - before.timedMs} ms`);
  });
});
