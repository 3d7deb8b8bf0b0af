// The workers behind a gateway run. Many processes send one experiment's telemetry (a fleet given
// one PIPETEL_EXPERIMENT_ID), and OTLP says neither which of them sent a record nor when a run
// ended. The gateway names each record's worker from its resource and stamps it on log records
// and metric points (`pipetel.worker`; spans keep their whole resource), so a fleet's log lines say
// who wrote them and its workers' host metrics stay separate series. A pipetel process without a
// database sends one last log record saying how its run ended (`pipetel.run.status`): a failed
// worker fails the run at once; the run ends when every worker heard from has ended.

import type { Attributes } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import {
  EXPERIMENT_ID_ATTRIBUTE,
  RUN_REASON_ATTRIBUTE,
  RUN_STATUS_ATTRIBUTE,
  WORKER_ATTRIBUTE,
} from '../../exporters/shared/conventions.js';

/**
 * The worker a resource describes: `host.name:process.pid` when both are known (what a reader can
 * find again), else `service.instance.id` unless it names the experiment itself, else whichever
 * of the host and the pid is known, else undefined.
 */
export function workerOf(attributes: Attributes): string | undefined {
  const host = attributes['host.name'];
  const pid = attributes['process.pid'];
  const hostText = typeof host === 'string' && host ? host : undefined;
  const pidText = typeof pid === 'number' || (typeof pid === 'string' && pid) ? String(pid) : undefined;
  if (hostText && pidText) return `${hostText}:${pidText}`;
  const instance = attributes['service.instance.id'];
  if (typeof instance === 'string' && instance && instance !== attributes[EXPERIMENT_ID_ATTRIBUTE])
    return instance;
  return hostText ?? pidText;
}

/** How one worker said its run ended. */
export interface WorkerEnd {
  experimentId: string;
  worker: string | undefined;
  status: 'succeeded' | 'failed';
  reason: string | undefined;
}

/** What one request told about its runs' workers. */
export interface FleetNews {
  /** experiment id → the workers that sent records (undefined: a resource naming none). */
  heard: Map<string, Set<string | undefined>>;
  ends: WorkerEnd[];
}

interface Stamped {
  resource: Resource;
  attributes: Attributes;
}

/** One resource's experiment and worker, worked out once per resource object (one per batch). */
class ResourceMemo {
  private last: Resource | undefined;
  experimentId = '';
  worker: string | undefined;

  of(resource: Resource): this {
    if (resource !== this.last) {
      this.last = resource;
      this.experimentId = String(resource.attributes[EXPERIMENT_ID_ATTRIBUTE] ?? '');
      this.worker = workerOf(resource.attributes);
    }
    return this;
  }
}

function hear(news: FleetNews, experimentId: string, worker: string | undefined): void {
  const workers = news.heard.get(experimentId);
  if (workers) workers.add(worker);
  else news.heard.set(experimentId, new Set([worker]));
}

/** Log records (or spans: `stamp` false) of one request: their workers, stamps and end records. */
export function readRecords(records: readonly Stamped[], stamp: boolean, ends: boolean): FleetNews {
  const news: FleetNews = { heard: new Map(), ends: [] };
  const memo = new ResourceMemo();
  let lastResource: Resource | undefined;
  for (const record of records) {
    const { experimentId, worker } = memo.of(record.resource);
    if (record.resource !== lastResource) {
      lastResource = record.resource;
      hear(news, experimentId, worker);
    }
    const attributes = record.attributes as Record<string, unknown>;
    if (stamp && worker !== undefined && attributes[WORKER_ATTRIBUTE] === undefined)
      attributes[WORKER_ATTRIBUTE] = worker;
    if (!ends) continue;
    const status = attributes[RUN_STATUS_ATTRIBUTE];
    if (status === 'succeeded' || status === 'failed') {
      const reason = attributes[RUN_REASON_ATTRIBUTE];
      news.ends.push({
        experimentId,
        worker,
        status,
        reason: typeof reason === 'string' && reason ? reason : undefined,
      });
    }
  }
  return news;
}

/** Metric points of one request: their workers, stamped on every point. */
export function readMetrics(batches: readonly ResourceMetrics[]): FleetNews {
  const news: FleetNews = { heard: new Map(), ends: [] };
  const memo = new ResourceMemo();
  for (const batch of batches) {
    const { experimentId, worker } = memo.of(batch.resource);
    hear(news, experimentId, worker);
    if (worker === undefined) continue;
    for (const scope of batch.scopeMetrics)
      for (const metric of scope.metrics)
        for (const point of metric.dataPoints) {
          const attributes = point.attributes as Record<string, unknown>;
          if (attributes[WORKER_ATTRIBUTE] === undefined) attributes[WORKER_ATTRIBUTE] = worker;
        }
  }
  return news;
}

/** A run's state as the gateway knows it: what its experiment row should say. */
export interface RunEnding {
  /** Set once a worker failed: the run is `failed` with this reason. */
  failed: string | undefined;
  /** Every worker heard from has said it ended (none is still running). */
  ended: boolean;
}

/** Runs remembered at most (oldest forgotten first): a gateway runs for months. */
const MAX_RUNS = 10_000;

/**
 * What the gateway knows of each run's workers: heard from, ended. A worker heard from again after
 * its end (its last spans, sent after the end record) does not reopen the run; a new one does.
 */
export class FleetRuns {
  private readonly runs = new Map<string, { workers: Map<string | undefined, boolean>; failed?: string }>();

  /** Applies a request's news; returns the runs whose ending changed (to be written). */
  apply(news: FleetNews): Set<string> {
    const changed = new Set<string>();
    for (const [experimentId, workers] of news.heard) {
      const run = this.run(experimentId);
      for (const worker of workers) {
        if (run.workers.has(worker)) continue;
        const wasEnded = this.ending(experimentId).ended;
        run.workers.set(worker, false);
        if (wasEnded) changed.add(experimentId);
      }
    }
    for (const end of news.ends) {
      const run = this.run(end.experimentId);
      const before = this.ending(end.experimentId);
      run.workers.set(end.worker, true);
      if (end.status === 'failed' && run.failed === undefined) {
        const reason = end.reason ?? 'a worker failed';
        run.failed = run.workers.size > 1 && end.worker ? `${reason} (worker ${end.worker})` : reason;
      }
      const after = this.ending(end.experimentId);
      if (after.ended !== before.ended || after.failed !== before.failed) changed.add(end.experimentId);
    }
    return changed;
  }

  /** The run's ending as far as this gateway has heard (nothing heard: not ended, not failed). */
  ending(experimentId: string): RunEnding {
    const run = this.runs.get(experimentId);
    if (!run || run.workers.size === 0) return { failed: undefined, ended: false };
    let ended = true;
    for (const done of run.workers.values()) ended &&= done;
    return { failed: run.failed, ended };
  }

  private run(experimentId: string) {
    let run = this.runs.get(experimentId);
    if (run) {
      // Most recently used last: the oldest run is the first one forgotten.
      this.runs.delete(experimentId);
      this.runs.set(experimentId, run);
      return run;
    }
    run = { workers: new Map() };
    this.runs.set(experimentId, run);
    if (this.runs.size > MAX_RUNS) this.runs.delete(this.runs.keys().next().value!);
    return run;
  }
}
