// "Monitoring the monitors" (the seed's section of that name): pipetel's own health as pipetel.*
// metrics in pipeline_metrics — per signal the queue depth and the exported / dropped / spooled /
// failed counts, the rows per committed batch and the write time — plus, with
// monitoring.detailed_metrics, Node runtime health (event-loop delay, heap).

import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Histogram, Meter } from '@opentelemetry/api';
import type { DeliveryStats } from '../../exporters/delivery/types.js';
import type { SelfCost } from './SelfCost.js';

export interface MonitoredSignal {
  signal: 'logs' | 'spans' | 'metrics' | 'file';
  stats(): DeliveryStats;
}

export class SelfMonitoring {
  private readonly batchRows: Histogram;
  private readonly writeDuration: Histogram;

  constructor(
    private readonly meter: Meter,
    private readonly signals: () => MonitoredSignal[],
    ownCost?: { selfCost: SelfCost; shedStep: () => number },
  ) {
    this.batchRows = meter.createHistogram('pipetel.export.batch_size', {
      unit: '{row}',
      description: 'Rows per committed batch',
      advice: { explicitBucketBoundaries: [1, 10, 50, 100, 250, 500, 1000, 2500, 5000] },
    });
    this.writeDuration = meter.createHistogram('pipetel.export.duration', {
      unit: 'ms',
      description: 'Time to write one batch',
      advice: { explicitBucketBoundaries: [1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000] },
    });
    const depth = meter.createObservableGauge('pipetel.queue.depth', {
      unit: '{record}',
      description: 'Records waiting in memory',
    });
    const counters = {
      exported: meter.createObservableCounter('pipetel.records.exported', { unit: '{record}' }),
      dropped: meter.createObservableCounter('pipetel.records.dropped', { unit: '{record}' }),
      spooled: meter.createObservableCounter('pipetel.records.spooled', { unit: '{record}' }),
      failed: meter.createObservableCounter('pipetel.records.failed', { unit: '{record}' }),
    };
    meter.addBatchObservableCallback(
      (result) => {
        for (const { signal, stats } of this.signals()) {
          const s = stats();
          const attributes = { signal };
          result.observe(depth, s.queued, attributes);
          result.observe(counters.exported, s.exported, attributes);
          result.observe(counters.dropped, s.dropped, attributes);
          result.observe(counters.spooled, s.spooled, attributes);
          result.observe(counters.failed, s.failed, attributes);
        }
      },
      [depth, ...Object.values(counters)],
    );
    if (ownCost) this.observeOwnCost(ownCost.selfCost, ownCost.shedStep);
  }

  /** pipetel's own CPU share since the previous collection, the bytes its queues hold, the shed step. */
  private observeOwnCost(selfCost: SelfCost, shedStep: () => number): void {
    const window = selfCost.window();
    const cpuRatio = this.meter.createObservableGauge('pipetel.overhead.cpu_ratio', {
      unit: '1',
      description: "pipetel's estimated CPU time over the rest of the process's, since the last collection",
    });
    const bufferBytes = this.meter.createObservableGauge('pipetel.buffer.bytes', {
      unit: 'By',
      description: 'Estimated bytes held by records waiting in memory',
    });
    const shed = this.meter.createObservableGauge('pipetel.overhead.shed_step', {
      unit: '1',
      description: 'Load-shedding step of the overhead budget (0: nothing shed)',
    });
    this.meter.addBatchObservableCallback(
      (result) => {
        result.observe(cpuRatio, window.next().cpuOverheadPercent / 100);
        result.observe(bufferBytes, selfCost.bufferBytes());
        result.observe(shed, shedStep());
      },
      [cpuRatio, bufferBytes, shed],
    );
  }

  /** The exporters' onBatchWritten callback for one signal. */
  batchObserver(signal: MonitoredSignal['signal']): (rows: number, durationMs: number) => void {
    const attributes = { signal };
    return (rows, durationMs) => {
      this.batchRows.record(rows, attributes);
      this.writeDuration.record(durationMs, attributes);
    };
  }

  /** Node runtime health: event-loop delay percentiles and heap usage (detailed_metrics). */
  startRuntimeMetrics(): () => void {
    const histogram = monitorEventLoopDelay({ resolution: 20 });
    histogram.enable();
    const delay = this.meter.createObservableGauge('pipetel.runtime.event_loop.delay', {
      unit: 'ms',
      description: 'Event-loop delay since the previous collection',
    });
    const heap = this.meter.createObservableGauge('pipetel.runtime.heap.used', { unit: 'By' });
    const heapTotal = this.meter.createObservableGauge('pipetel.runtime.heap.total', { unit: 'By' });
    this.meter.addBatchObservableCallback(
      (result) => {
        result.observe(delay, histogram.percentile(50) / 1e6, { quantile: 'p50' });
        result.observe(delay, histogram.percentile(99) / 1e6, { quantile: 'p99' });
        result.observe(delay, histogram.max / 1e6, { quantile: 'max' });
        histogram.reset();
        const memory = process.memoryUsage();
        result.observe(heap, memory.heapUsed);
        result.observe(heapTotal, memory.heapTotal);
      },
      [delay, heap, heapTotal],
    );
    return () => histogram.disable();
  }
}
