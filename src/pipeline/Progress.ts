// Progress of pipeline nodes: a Progress handle per node whose advance() only bumps a counter, and
// the ProgressTracker that owns the handles, turns them into rows with a smoothed rate and ETA on
// one unref'd timer, and hands every changed row to the writer in a single upsert per tick.

import type { Attributes, Meter } from '@opentelemetry/api';
import { RateLimitedWarning, stderrWarning } from '../../exporters/delivery/RateLimitedWarning.js';
import { isMonitoringDisabled, stageOf } from './context.js';

export type ProgressStatus = 'running' | 'done' | 'failed' | 'interrupted';

/** One row of pipeline_progress, as the tracker hands it to the writer. */
export interface ProgressRow {
  experimentId: string;
  nodeId: string;
  completed: number;
  total: number | null;
  status: ProgressStatus;
  rate: number | null;
  etaSeconds: number | null;
  stage: string | null;
  error: string | null;
  startedAt: Date;
  updatedAt: Date;
}

/** Stores progress rows: an upsert keyed by (experimentId, nodeId). */
export interface ProgressWriter {
  write(rows: ProgressRow[]): Promise<void>;
}

export interface ProgressTrackerOptions {
  experimentId: string;
  writer: ProgressWriter;
  /** monitoring.progress_update_interval, in milliseconds: at most one row update per node per interval. */
  updateIntervalMs: number;
  /** Records progress history as the observable gauges pipetel.progress.completed and pipetel.progress.rate. */
  meter?: Meter;
  /** Where write failures are reported (rate-limited); stderr by default. */
  warn?: (message: string) => void;
  /** Millisecond clock; Date.now by default (tests pass a fake one). */
  now?: () => number;
  /** Consulted when a handle is created; by default, whether the active context is inside withMonitoringDisabled. */
  isDisabled?: () => boolean;
}

/**
 * Weight of the newest instantaneous rate in the moving average; 0.3 is tqdm's default. Each
 * instantaneous rate already covers a whole update interval, so a burst within an interval is
 * averaged out; the EMA then damps the swings between intervals that make tqdm's raw ETA jumpy,
 * while still following a real change of pace within a few intervals (its weight halves in ~2).
 */
const RATE_SMOOTHING = 0.3;

const WARNING_INTERVAL_MS = 30_000;

/** What a handle needs from its tracker. */
interface ProgressHost {
  now(): number;
  finished(handle: Progress): void;
}

/** Progress of one node. Obtain it from `tel.progress(nodeId, { total })`; do not construct it. */
export class Progress {
  readonly nodeId: string;
  readonly stage: string | null;
  /** @internal Changed since the last row handed to the writer. */
  dirty = true;
  /** @internal The metric attributes of this node, built once. */
  readonly attributes: Attributes;
  private count = 0;
  private totalCount: number | null;
  private state: ProgressStatus = 'running';
  private smoothedRate: number | null = null;
  private errorMessage: string | null = null;
  private readonly startedAtMs: number;
  private lastSampleMs: number;
  private lastSampleCount = 0;
  private readonly host: ProgressHost;

  /** @internal */
  constructor(nodeId: string, total: number | null, stage: string | null, host: ProgressHost) {
    this.nodeId = nodeId;
    this.stage = stage;
    this.attributes = stage === null ? { node_id: nodeId } : { node_id: nodeId, stage };
    this.totalCount = total;
    this.host = host;
    this.startedAtMs = host.now();
    this.lastSampleMs = this.startedAtMs;
  }

  get completed(): number {
    return this.count;
  }

  get total(): number | null {
    return this.totalCount;
  }

  get status(): ProgressStatus {
    return this.state;
  }

  /** Items per second: the smoothed rate while running, the overall average once finished. */
  get rate(): number | null {
    return this.smoothedRate;
  }

  /** Seconds left at the current rate; null while unknown (no total, or no progress yet). */
  get etaSeconds(): number | null {
    if (this.state === 'done') return 0;
    if (
      this.state === 'failed' ||
      this.state === 'interrupted' ||
      this.totalCount === null ||
      this.smoothedRate === null
    )
      return null;
    if (this.smoothedRate <= 0) return null;
    return Math.max(0, this.totalCount - this.count) / this.smoothedRate;
  }

  /** The hot path: no clock, no I/O, no allocation. */
  advance(n = 1): void {
    this.count += n;
    this.dirty = true;
  }

  set(completed: number): void {
    this.count = completed;
    this.dirty = true;
  }

  setTotal(total: number): void {
    this.totalCount = total;
    this.dirty = true;
  }

  /** Marks the node done; its row is written promptly, not at the next interval. */
  done(): void {
    if (this.state !== 'running') return;
    if (this.totalCount !== null) this.count = this.totalCount;
    this.finish('done');
  }

  /** Marks the node failed with the error's message; its row is written promptly. */
  fail(error?: unknown): void {
    if (this.state !== 'running') return;
    this.errorMessage = error === undefined ? null : messageOf(error);
    this.finish('failed');
  }

  /** @internal Marks a running node interrupted (a signal ends the process); its row is written promptly. */
  interrupt(reason: string): void {
    if (this.state !== 'running') return;
    this.errorMessage = reason;
    this.finish('interrupted');
  }

  /** @internal Folds the progress since the previous sample into the moving average. */
  sample(nowMs: number): void {
    const elapsedMs = nowMs - this.lastSampleMs;
    if (this.state !== 'running' || elapsedMs <= 0) return;
    // set() may move the count backwards (a restart); that is no progress, not a negative rate.
    const instantRate = (Math.max(0, this.count - this.lastSampleCount) * 1000) / elapsedMs;
    this.smoothedRate =
      this.smoothedRate === null
        ? instantRate
        : RATE_SMOOTHING * instantRate + (1 - RATE_SMOOTHING) * this.smoothedRate;
    this.lastSampleMs = nowMs;
    this.lastSampleCount = this.count;
  }

  /** @internal */
  toRow(experimentId: string, nowMs: number): ProgressRow {
    return {
      experimentId,
      nodeId: this.nodeId,
      completed: this.count,
      total: this.totalCount,
      status: this.state,
      rate: this.smoothedRate,
      etaSeconds: this.etaSeconds,
      stage: this.stage,
      error: this.errorMessage,
      startedAt: new Date(this.startedAtMs),
      updatedAt: new Date(nowMs),
    };
  }

  private finish(status: 'done' | 'failed' | 'interrupted'): void {
    // A finished node's rate is its overall average: the figure a summary wants, free of the
    // last interval's noise.
    const elapsedMs = this.host.now() - this.startedAtMs;
    this.smoothedRate = elapsedMs > 0 ? (this.count * 1000) / elapsedMs : this.smoothedRate;
    this.state = status;
    this.dirty = true;
    this.host.finished(this);
  }
}

const DETACHED_HOST: ProgressHost = { now: () => 0, finished: () => undefined };

/** The handle given out while monitoring is disabled: every call is a no-op, nothing is stored. */
class DisabledProgress extends Progress {
  constructor() {
    super('', null, null, DETACHED_HOST);
    this.dirty = false;
  }
  override advance(): void {}
  override set(): void {}
  override setTotal(): void {}
  override done(): void {}
  override fail(): void {}
  override interrupt(): void {}
}

const DISABLED_PROGRESS: Progress = new DisabledProgress();

/** Owns the Progress handles of one experiment and writes their rows, throttled. */
export class ProgressTracker {
  private readonly handles = new Map<string, Progress>();
  private readonly experimentId: string;
  private readonly writer: ProgressWriter;
  private updateIntervalMs: number;
  private readonly now: () => number;
  private readonly isDisabled: () => boolean;
  private readonly warning: RateLimitedWarning;
  private readonly host: ProgressHost;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private finishedFlushScheduled = false;
  private closed = false;

  constructor(options: ProgressTrackerOptions) {
    if (!(options.updateIntervalMs > 0)) {
      throw new RangeError(
        `progress update interval must be a positive number of ms, got ${options.updateIntervalMs}`,
      );
    }
    this.experimentId = options.experimentId;
    this.writer = options.writer;
    this.updateIntervalMs = options.updateIntervalMs;
    this.now = options.now ?? Date.now;
    this.isDisabled = options.isDisabled ?? (() => isMonitoringDisabled());
    this.warning = new RateLimitedWarning(options.warn ?? stderrWarning, WARNING_INTERVAL_MS);
    this.host = { now: this.now, finished: () => this.scheduleFinishedFlush() };
    if (options.meter) this.registerMetrics(options.meter);
  }

  /**
   * The no-op handle, for when there is no tracker at all (telemetry disabled). The node id is
   * not kept: one shared handle serves every node.
   */
  static noop(_nodeId?: string): Progress {
    return DISABLED_PROGRESS;
  }

  /**
   * The handle of a node: the same one while that node is running, a fresh one after it finished.
   * The stage defaults to the active stage (tel.stage) at creation.
   */
  progress(nodeId: string, options: { total?: number; stage?: string } = {}): Progress {
    if (this.closed || this.isDisabled()) return DISABLED_PROGRESS;
    const existing = this.handles.get(nodeId);
    if (existing && existing.status === 'running') {
      if (options.total !== undefined) existing.setTotal(options.total);
      return existing;
    }
    const stage = options.stage ?? stageOf() ?? null;
    const handle = new Progress(nodeId, options.total ?? null, stage, this.host);
    this.handles.set(nodeId, handle);
    this.startTimer();
    return handle;
  }

  /** Writes every changed handle now, in one statement, after any write already in flight. */
  async flush(): Promise<void> {
    while (this.inFlight) await this.inFlight;
    await this.writeChanged(false);
  }

  /** Changes how often rows are written from now on (the overhead budget widens it). */
  setUpdateIntervalMs(intervalMs: number): void {
    if (!(intervalMs > 0) || intervalMs === this.updateIntervalMs) return;
    this.updateIntervalMs = intervalMs;
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = null;
    if (!this.closed) this.startTimer();
  }

  /** Marks every running node interrupted with `reason` (the process is being interrupted by a signal). */
  interrupt(reason: string): void {
    for (const handle of this.handles.values()) handle.interrupt(reason);
  }

  /** Marks every node still running failed with `reason` (the run failed with them open). */
  failRunning(reason: string): void {
    for (const handle of this.handles.values()) handle.fail(reason);
  }

  /**
   * process 'exit' before shutdown(): every node's row as it stands now (failed with `reason` when
   * the run failed), for the caller to spool synchronously — there is no event loop to write with.
   */
  rowsAtExit(reason: string | null): ProgressRow[] {
    if (reason) this.failRunning(reason);
    const nowMs = this.now();
    return [...this.handles.values()].map((handle) => handle.toRow(this.experimentId, nowMs));
  }

  /** Stops the timer and writes what is left. Handles keep their status: nothing is marked. */
  async shutdown(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }

  private startTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.updateIntervalMs);
    this.timer.unref();
  }

  private tick(): void {
    // A slow database must not pile up writes: skip this tick, the rows stay dirty for the next.
    if (this.inFlight) return;
    void this.writeChanged(false);
  }

  /** done()/fail() are written on the next turn of the event loop, coalesced across handles. */
  private scheduleFinishedFlush(): void {
    if (this.finishedFlushScheduled || this.closed) return;
    this.finishedFlushScheduled = true;
    setImmediate(() => {
      this.finishedFlushScheduled = false;
      if (!this.closed) void this.flushFinished();
    });
  }

  private async flushFinished(): Promise<void> {
    while (this.inFlight) await this.inFlight;
    await this.writeChanged(true);
  }

  /**
   * Collects the changed handles (only finished ones for a prompt done/fail write, so running
   * nodes keep their one-update-per-interval pace) and writes them. Never rejects.
   */
  private writeChanged(finishedOnly: boolean): Promise<void> {
    const nowMs = this.now();
    const written: Progress[] = [];
    const rows: ProgressRow[] = [];
    for (const handle of this.handles.values()) {
      if (!handle.dirty || (finishedOnly && handle.status === 'running')) continue;
      handle.sample(nowMs);
      handle.dirty = false;
      written.push(handle);
      rows.push(handle.toRow(this.experimentId, nowMs));
    }
    if (rows.length === 0) return Promise.resolve();
    const write = this.callWriter(rows)
      .then(
        () => undefined,
        (error: unknown) => {
          for (const handle of written) handle.dirty = true;
          this.warning.warn(
            `progress write of ${rows.length} row(s) failed, retrying next interval: ${messageOf(error)}`,
          );
        },
      )
      .finally(() => {
        this.inFlight = null;
      });
    this.inFlight = write;
    return write;
  }

  /** The writer's promise, or a rejected one if it threw synchronously. */
  private callWriter(rows: ProgressRow[]): Promise<void> {
    try {
      return this.writer.write(rows);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Gauges read the handles when the metric reader collects: nothing is added to advance(). */
  private registerMetrics(meter: Meter): void {
    const completed = meter.createObservableGauge('pipetel.progress.completed', {
      description: 'Items completed by a pipeline node',
      unit: '{item}',
    });
    const rate = meter.createObservableGauge('pipetel.progress.rate', {
      description: 'Smoothed processing rate of a pipeline node (overall average once finished)',
      unit: '{item}/s',
    });
    meter.addBatchObservableCallback(
      (result) => {
        for (const handle of this.handles.values()) {
          result.observe(completed, handle.completed, handle.attributes);
          if (handle.rate !== null) result.observe(rate, handle.rate, handle.attributes);
        }
      },
      [completed, rate],
    );
  }
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
