// The overhead budget's state machine: one step shed per two checks in a row over budget, one
// restored after calm checks under half of it, the calm needed doubling after each re-shed, null
// turning it off.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OverheadBudget, SHED_STEPS, shedSettings } from '../../src/pipeline/OverheadBudget.js';

function budgetWith(readings: number[], budgetPercent: number | null = 2) {
  const applied: number[] = [];
  const budget = new OverheadBudget({
    budgetPercent,
    checkIntervalMs: 1000,
    measurePercent: () => readings.shift() ?? 0,
    apply: (step) => applied.push(step),
  });
  const run = (checks: number) => {
    for (let i = 0; i < checks; i++) budget.check();
  };
  return { budget, applied, run };
}

describe('OverheadBudget', () => {
  it('sheds one step per two checks in a row over budget, up to the last step, and never beyond', () => {
    const { budget, applied, run } = budgetWith(Array(14).fill(5));
    run(14);
    assert.deepEqual(applied, [1, 2, 3, 4, 5]);
    assert.equal(budget.step, SHED_STEPS.length - 1);
    assert.equal(budget.highestStep, 5);
  });

  it('restores one step after two checks under half the budget; between half and the budget it holds', () => {
    const { budget, applied, run } = budgetWith([3, 3, 3, 3, 1.5, 1.5, 1.5, 0.5, 0.5, 0.5, 0.5]);
    run(11);
    assert.deepEqual(applied, [1, 2, 1, 0]);
    assert.equal(budget.step, 0);
    assert.equal(budget.highestStep, 2);
  });

  it('needs twice the calm after shedding again following a restore (no flapping)', () => {
    // shed, 2 calm → restore, shed again, then 2 calm are not enough: 4 are needed.
    const { applied, run } = budgetWith([3, 3, 0.1, 0.1, 3, 3, 0.1, 0.1, 0.1, 0.1]);
    run(10);
    assert.deepEqual(applied, [1, 0, 1, 0]);
    const { applied: early, run: runEarly } = budgetWith([3, 3, 0.1, 0.1, 3, 3, 0.1, 0.1, 0.1]);
    runEarly(9);
    assert.deepEqual(early, [1, 0, 1], 'three calm checks did not restore yet');
  });

  it('a single check over budget sheds nothing: the cost must stay above it', () => {
    const { applied, run } = budgetWith([5, 1, 5, 1, 5]);
    run(5);
    assert.deepEqual(applied, []);
  });

  it('WARNING and above are never in a shed step; every step keeps some of DEBUG and INFO ordered', () => {
    for (const step of SHED_STEPS) {
      assert.ok(step.debug <= step.info, 'DEBUG is shed before INFO');
      assert.ok(step.debug > 0 && step.info > 0);
      assert.deepEqual(Object.keys(step).sort(), ['batches', 'debug', 'info', 'resources', 'windows']);
    }
  });

  it('the first step loses nothing: larger log batches only, every record and window kept', () => {
    const first = SHED_STEPS[1]!;
    assert.ok(first.batches > 1);
    assert.deepEqual({ ...first, batches: 1 }, SHED_STEPS[0]);
    for (const step of SHED_STEPS.slice(1)) assert.equal(step.batches, first.batches, 'later steps keep it');
  });

  it('a null budget sheds nothing, and setting it to null restores everything', () => {
    const off = budgetWith([50, 50, 50, 50], null);
    off.run(4);
    assert.deepEqual(off.applied, []);
    const on = budgetWith([50, 50, 50, 50]);
    on.run(4);
    on.budget.setBudget(null);
    assert.deepEqual(on.applied, [1, 2, 0]);
  });

  it('shedSettings scales the configured values: sampling on top of logging.sampling, then windows, then resources', () => {
    const base = {
      batchSize: 100,
      maxBatchSize: 1000,
      sampling: { DEBUG: 0.5, WARNING: 0.9 },
      progressIntervalMs: 10_000,
      metricWindowMs: undefined,
      metricsIntervalMs: 30_000,
      resourceIntervalMs: 30_000,
    };
    assert.deepEqual(shedSettings(0, base).sampling, { DEBUG: 0.5, INFO: 1, WARNING: 0.9 });
    assert.equal(shedSettings(0, base).batchSize, 100);
    assert.equal(shedSettings(0, base).metricWindowMs, undefined, 'step 0 keeps points unaggregated');
    const one = shedSettings(1, base);
    assert.equal(one.batchSize, 500, 'step 1: batches five times larger');
    assert.deepEqual(one.sampling, { DEBUG: 0.5, INFO: 1, WARNING: 0.9 }, 'step 1 keeps every record');
    assert.equal(shedSettings(1, { ...base, batchSize: 400 }).batchSize, 1000, 'at most max_batch_size');
    assert.match(
      shedSettings(1, { ...base, batchSize: 400 }).description,
      /^log batches ×2\.5 \(of ×5: no larger batch possible\)/,
      'the warning says what the step really did',
    );
    assert.equal(shedSettings(1, { ...base, batchSize: 2000 }).batchSize, 2000, 'never below the configured');
    assert.deepEqual(shedSettings(2, base).sampling, { DEBUG: 0.05, INFO: 1, WARNING: 0.9 });
    const three = shedSettings(3, base);
    assert.equal(three.sampling.INFO, 0.5);
    assert.equal(three.sampling.WARNING, 0.9, 'WARNING keeps exactly its configured sampling');
    assert.equal(three.progressIntervalMs, 10_000);
    const four = shedSettings(4, base);
    assert.equal(four.progressIntervalMs, 40_000);
    assert.equal(four.metricWindowMs, 120_000, 'no window configured: the collection interval × 4');
    assert.equal(four.resourceIntervalMs, 30_000);
    assert.equal(shedSettings(4, { ...base, metricWindowMs: 60_000 }).metricWindowMs, 240_000);
    assert.equal(shedSettings(5, base).resourceIntervalMs, 120_000);
    assert.match(shedSettings(5, base).description, /log batches ×5, DEBUG kept ×0.01, INFO ×0.1/);
    assert.equal(shedSettings(0, base).description, 'everything restored');
  });

  it('a new budget judges afresh: checks counted against the old one do not carry over', () => {
    const { budget, applied } = budgetWith([5, 5, 5]);
    budget.check(); // one over-budget check
    budget.setBudget(null);
    budget.setBudget(2);
    budget.check(); // one more over budget: not yet two in a row under this budget
    assert.deepEqual(applied, []);
    budget.check();
    assert.deepEqual(applied, [1]);
  });
});
