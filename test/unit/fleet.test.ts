// The gateway's view of a run's workers: who sent records, who said the run ended, and how.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Attributes } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { FleetRuns, readMetrics, readRecords, type Worker, workerOf } from '../../src/gateway/fleet.js';

const resource = (experiment: string, host: string, pid: number) =>
  resourceFromAttributes({ 'pipetel.experiment_id': experiment, 'host.name': host, 'process.pid': pid });
const log = (res: ReturnType<typeof resource>, attributes: Attributes = {}) => ({
  resource: res,
  attributes,
});
const end = (status: 'succeeded' | 'failed', reason?: string) => ({
  'pipetel.run.status': status,
  ...(reason && { 'pipetel.run.reason': reason }),
});

describe('workerOf', () => {
  it('names a worker by host and pid, and tells workers apart by their instance id', () => {
    assert.deepEqual(workerOf({ 'host.name': 'h1', 'process.pid': 12, 'service.instance.id': 'u' }), {
      key: 'u',
      name: 'h1:12',
    });
    assert.deepEqual(workerOf({ 'host.name': 'h1', 'process.pid': 12 }), { key: 'h1:12', name: 'h1:12' });
    assert.deepEqual(workerOf({ 'service.instance.id': 'pod-7', 'pipetel.experiment_id': 'run' }), {
      key: 'pod-7',
      name: 'pod-7',
    });
    assert.deepEqual(
      workerOf({ 'service.instance.id': 'run', 'pipetel.experiment_id': 'run', 'host.name': 'h' }),
      { key: 'h', name: 'h' },
      'an instance id that is the experiment id names no worker',
    );
    assert.deepEqual(workerOf({ 'process.pid': 5 }), { key: '5', name: '5' });
    assert.deepEqual(workerOf({ 'service.name': 'x' }), { key: undefined, name: undefined });
  });
});

describe('readRecords / readMetrics', () => {
  it("stamps each log record with its resource's worker, leaving one already set", () => {
    const a = resource('run', 'h1', 1);
    const b = resource('run', 'h2', 2);
    const records = [log(a), log(b), log(a, { 'pipetel.worker': 'mine' })];
    const news = readRecords(records, true);
    assert.deepEqual(
      records.map((r) => r.attributes['pipetel.worker']),
      ['h1:1', 'h2:2', 'mine'],
    );
    assert.deepEqual([...news.heard.get('run')!.keys()], ['h1:1', 'h2:2']);
    assert.deepEqual(news.ends, []);
  });

  it('finds end records and leaves spans unstamped', () => {
    const a = resource('run', 'h1', 1);
    const news = readRecords([log(a, end('failed', 'boom'))], true);
    assert.deepEqual(news.ends, [
      { experimentId: 'run', worker: { key: 'h1:1', name: 'h1:1' }, status: 'failed', reason: 'boom' },
    ]);
    const span = log(a);
    readRecords([span], false);
    assert.equal(span.attributes['pipetel.worker'], undefined);
  });

  it("stamps every metric point with its worker, so two workers' points are two series", () => {
    const point = () => ({ startTime: [0, 0], endTime: [0, 0], attributes: { kind: 'row' }, value: 1 });
    const batch = (res: ReturnType<typeof resource>) =>
      ({
        resource: res,
        scopeMetrics: [{ scope: { name: 's' }, metrics: [{ dataPoints: [point(), point()] }] }],
      }) as unknown as ResourceMetrics;
    const batches = [batch(resource('run', 'h1', 1)), batch(resource('run', 'h2', 2))];
    readMetrics(batches);
    const workers = batches.flatMap((b) =>
      b.scopeMetrics[0]!.metrics[0]!.dataPoints.map((p) => p.attributes['pipetel.worker']),
    );
    assert.deepEqual(workers, ['h1:1', 'h1:1', 'h2:2', 'h2:2']);
  });
});

describe('FleetRuns', () => {
  const worker = (key: string) => ({ key, name: key });
  const heard = (experiment: string, ...keys: string[]) => ({
    heard: new Map([[experiment, new Map(keys.map((k) => [k, worker(k)] as [string, Worker]))]]),
    ends: [],
  });
  const ended = (experiment: string, key: string, status: 'succeeded' | 'failed', reason?: string) => ({
    heard: new Map([[experiment, new Map([[key, worker(key)] as [string, Worker]])]]),
    ends: [{ experimentId: experiment, worker: worker(key), status, reason }],
  });
  const clock = () => {
    const c = { t: 1_000_000, now: () => c.t };
    return c;
  };

  it('ends a run when every worker heard from has ended', () => {
    const fleet = new FleetRuns(40_000);
    assert.deepEqual([...fleet.apply(heard('run', 'a', 'b'))], []);
    assert.deepEqual([...fleet.apply(ended('run', 'a', 'succeeded'))], [], 'b still runs');
    assert.deepEqual(fleet.ending('run'), { failed: undefined, ended: false });
    assert.deepEqual([...fleet.apply(ended('run', 'b', 'succeeded'))], ['run']);
    assert.deepEqual(fleet.ending('run'), { failed: undefined, ended: true });
  });

  it("keeps a run ended when an ended worker's last records arrive; a new worker soon after reopens it", () => {
    const c = clock();
    const fleet = new FleetRuns(40_000, c.now);
    fleet.apply(ended('run', 'a', 'failed', 'boom'));
    assert.deepEqual([...fleet.apply(heard('run', 'a'))], []);
    assert.equal(fleet.ending('run').ended, true);
    c.t += 5_000;
    assert.deepEqual([...fleet.apply(heard('run', 'c'))], ['run']);
    assert.deepEqual(
      fleet.ending('run'),
      { failed: 'boom', ended: false },
      'the same launch: the failure stays',
    );
  });

  it('takes a new worker long after the end for a new launch: its failure and workers are forgotten', () => {
    const c = clock();
    const fleet = new FleetRuns(40_000, c.now);
    fleet.apply(ended('run', 'a', 'failed', 'monday: shard 3 OOM'));
    assert.equal(fleet.takeRelaunch('run'), undefined, 'not written yet: the row decides');
    assert.equal(fleet.takeRelaunch('run'), false);
    c.t += 3_600_000;
    assert.deepEqual([...fleet.apply(heard('run', 'b'))], ['run']);
    assert.deepEqual(fleet.ending('run'), { failed: undefined, ended: false });
    assert.equal(fleet.takeRelaunch('run'), true, 'the next row write starts the run again');
    assert.equal(fleet.takeRelaunch('run'), false, 'once');
  });

  it('fails a run at the first failed worker, naming it in a fleet, and keeps it failed', () => {
    const fleet = new FleetRuns(40_000);
    fleet.apply(heard('run', 'a', 'b'));
    assert.deepEqual([...fleet.apply(ended('run', 'b', 'failed', 'out of memory'))], ['run']);
    assert.deepEqual(fleet.ending('run'), { failed: 'out of memory (worker b)', ended: false });
    fleet.apply(ended('run', 'a', 'succeeded'));
    assert.deepEqual(fleet.ending('run'), { failed: 'out of memory (worker b)', ended: true });
    const single = new FleetRuns(40_000);
    single.apply(ended('solo', 'a', 'failed', 'boom'));
    assert.equal(single.ending('solo').failed, 'boom', 'one worker: the reason alone');
  });

  it('stays cheap with many workers: a count, not a scan', () => {
    const fleet = new FleetRuns(40_000);
    for (let i = 0; i < 20_000; i++) fleet.apply(heard('big', `w${i}`));
    for (let i = 0; i < 20_000; i++) fleet.apply(ended('big', `w${i}`, 'succeeded'));
    assert.deepEqual(fleet.ending('big'), { failed: undefined, ended: true });
  });

  it('knows nothing of a run it has not heard from', () => {
    assert.deepEqual(new FleetRuns(40_000).ending('other'), { failed: undefined, ended: false });
  });
});
