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

/** A worker: `key` tells workers apart, `name` is what log lines and points show. */
export interface Worker {
  key: string | undefined;
  name: string | undefined;
}

/**
 * The worker a resource describes. Its name is `host.name:process.pid` when both are known (what a
 * reader can find again), else `service.instance.id` unless it names the experiment itself, else
 * whichever of the host and the pid is known. Its key is `service.instance.id` when there is one
 * (unique per process: pipetel's and the SDK's detectors make one; containers share `pid 1`, and a
 * Collector may put its own `host.name` on every resource), else the name.
 */
export function workerOf(attributes: Attributes): Worker {
  const host = attributes['host.name'];
  const pid = attributes['process.pid'];
  const hostText = typeof host === 'string' && host ? host : undefined;
  const pidText = typeof pid === 'number' || (typeof pid === 'string' && pid) ? String(pid) : undefined;
  const instance = attributes['service.instance.id'];
  const instanceText =
    typeof instance === 'string' && instance && instance !== attributes[EXPERIMENT_ID_ATTRIBUTE]
      ? instance
      : undefined;
  const name = hostText && pidText ? `${hostText}:${pidText}` : (instanceText ?? hostText ?? pidText);
  return { key: instanceText ?? name, name };
}

/** How one worker said its run ended. */
export interface WorkerEnd {
  experimentId: string;
  worker: Worker;
  status: 'succeeded' | 'failed';
  reason: string | undefined;
}

/** What one request told about its runs' workers. */
export interface FleetNews {
  /** experiment id → the workers that sent records, by key. */
  heard: Map<string, Map<string | undefined, Worker>>;
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
  worker: Worker = { key: undefined, name: undefined };

  of(resource: Resource): this {
    if (resource !== this.last) {
      this.last = resource;
      this.experimentId = String(resource.attributes[EXPERIMENT_ID_ATTRIBUTE] ?? '');
      this.worker = workerOf(resource.attributes);
    }
    return this;
  }
}

function hear(news: FleetNews, experimentId: string, worker: Worker): void {
  const workers = news.heard.get(experimentId);
  if (workers) workers.set(worker.key, worker);
  else news.heard.set(experimentId, new Map([[worker.key, worker]]));
}

/**
 * Log records of one request (`logs`: stamped with their worker, end records found) or its spans
 * (workers only: a span row keeps its whole resource).
 */
export function readRecords(records: readonly Stamped[], logs: boolean): FleetNews {
  const news: FleetNews = { heard: new Map(), ends: [] };
  const memo = new ResourceMemo();
  let lastResource: Resource | undefined;
  for (const record of records) {
    const { experimentId, worker } = memo.of(record.resource);
    if (record.resource !== lastResource) {
      lastResource = record.resource;
      hear(news, experimentId, worker);
    }
    if (!logs) continue;
    const attributes = record.attributes as Record<string, unknown>;
    if (worker.name !== undefined && attributes[WORKER_ATTRIBUTE] === undefined)
      attributes[WORKER_ATTRIBUTE] = worker.name;
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
    if (worker.name === undefined) continue;
    for (const scope of batch.scopeMetrics)
      for (const metric of scope.metrics)
        for (const point of metric.dataPoints) {
          const attributes = point.attributes as Record<string, unknown>;
          if (attributes[WORKER_ATTRIBUTE] === undefined) attributes[WORKER_ATTRIBUTE] = worker.name;
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

/** Runs remembered at most (the least recently heard forgotten first): a gateway runs for months. */
const MAX_RUNS = 10_000;
/** Ended workers a run remembers at most (a long-lived id with process churn): the oldest go. */
const MAX_ENDED_WORKERS = 1_000;

interface RunWorkers {
  /** Worker key → ended. */
  workers: Map<string | undefined, boolean>;
  running: number;
  failed: string | undefined;
  /** When every worker had ended (Date.now()), else undefined. */
  endedAt: number | undefined;
  /** Heard of by this gateway, its row not yet written by it: the row decides whether it was relaunched. */
  fresh: boolean;
  /** A new launch of the run began since its row was last written. */
  relaunched: boolean;
}

/**
 * What the gateway knows of each run's workers: heard from, ended. A worker heard from again after
 * its end (its last spans, sent after the end record) does not reopen the run; a new one does —
 * within GATEWAY_QUIET_SECONDS of the end as the same launch (a failure stays), later as a new
 * launch of the same experiment id (a fleet started again: failure and workers forgotten).
 */
export class FleetRuns {
  private readonly runs = new Map<string, RunWorkers>();

  constructor(
    private readonly quietMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Applies a request's news; returns the runs whose ending changed (to be written). */
  apply(news: FleetNews): Set<string> {
    const changed = new Set<string>();
    for (const [experimentId, workers] of news.heard) {
      const run = this.run(experimentId);
      for (const worker of workers.values()) {
        if (run.workers.has(worker.key)) continue;
        if (run.endedAt !== undefined) {
          changed.add(experimentId);
          if (this.now() - run.endedAt > this.quietMs) this.relaunch(run);
          run.endedAt = undefined;
        }
        run.workers.set(worker.key, false);
        run.running++;
      }
    }
    for (const end of news.ends) {
      const run = this.run(end.experimentId);
      const before = this.ending(end.experimentId);
      const ended = run.workers.get(end.worker.key);
      if (ended === false) run.running--;
      if (ended !== true) this.forgetEnded(run);
      run.workers.set(end.worker.key, true);
      if (run.running === 0 && run.endedAt === undefined) run.endedAt = this.now();
      if (end.status === 'failed' && run.failed === undefined) {
        const reason = end.reason ?? 'a worker failed';
        run.failed =
          run.workers.size > 1 && end.worker.name ? `${reason} (worker ${end.worker.name})` : reason;
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
    return { failed: run.failed, ended: run.running === 0 };
  }

  /**
   * Whether the run's next row write starts a new launch: true or false when this gateway knows,
   * undefined when it has not written the run yet (the row knows: ended and quiet). Read once.
   */
  takeRelaunch(experimentId: string): boolean | undefined {
    const run = this.runs.get(experimentId);
    if (!run) return undefined;
    const relaunched = run.fresh ? undefined : run.relaunched;
    run.fresh = false;
    run.relaunched = false;
    return relaunched;
  }

  private relaunch(run: RunWorkers): void {
    run.workers.clear();
    run.running = 0;
    run.failed = undefined;
    run.relaunched = true;
  }

  /** Keeps a run's ended workers within MAX_ENDED_WORKERS (one more is about to be added). */
  private forgetEnded(run: RunWorkers): void {
    if (run.workers.size - run.running < MAX_ENDED_WORKERS) return;
    for (const [key, ended] of run.workers) {
      if (!ended) continue;
      run.workers.delete(key);
      return;
    }
  }

  private run(experimentId: string): RunWorkers {
    let run = this.runs.get(experimentId);
    if (run) {
      // Most recently used last: the oldest run is the first one forgotten.
      this.runs.delete(experimentId);
      this.runs.set(experimentId, run);
      return run;
    }
    run = {
      workers: new Map(),
      running: 0,
      failed: undefined,
      endedAt: undefined,
      fresh: true,
      relaunched: false,
    };
    this.runs.set(experimentId, run);
    if (this.runs.size > MAX_RUNS) this.runs.delete(this.runs.keys().next().value!);
    return run;
  }
}
