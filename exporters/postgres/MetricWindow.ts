// Metric aggregation over a time window (monitoring.aggregate_metrics / aggregation_window):
// collections arrive every metrics_interval, but one row per instrument and attribute set is
// written per window, so data volume stays flat however often instruments are sampled. Gauges
// keep the last value plus min/max/count/sum of the samples in the window; sums and histograms
// are cumulative, so the last collection of the window already holds the whole window.

import type { MetricPoint } from './metricRows.js';

interface Series {
  point: MetricPoint;
  samples: number;
  sum: number;
  min: number;
  max: number;
}

export class MetricWindow {
  private series = new Map<string, Series>();

  add(points: MetricPoint[]): void {
    for (const point of points) {
      const key = `${point.name}\u0000${point.kind}\u0000${point.scope}\u0000${JSON.stringify(point.attributes)}`;
      const value = point.value;
      const existing = this.series.get(key);
      if (point.kind !== 'gauge' || value === undefined) {
        this.series.set(key, { point, samples: 1, sum: 0, min: 0, max: 0 });
      } else if (!existing) {
        this.series.set(key, { point, samples: 1, sum: value, min: value, max: value });
      } else {
        existing.point = point;
        existing.samples++;
        existing.sum += value;
        if (value < existing.min) existing.min = value;
        if (value > existing.max) existing.max = value;
      }
    }
  }

  /** The window's rows; the window starts empty again. */
  drain(): MetricPoint[] {
    const out: MetricPoint[] = [];
    for (const s of this.series.values()) {
      if (s.point.kind === 'gauge' && s.point.value !== undefined) {
        out.push({ ...s.point, histogram: { count: s.samples, sum: s.sum, min: s.min, max: s.max } });
      } else {
        out.push(s.point);
      }
    }
    this.series = new Map();
    return out;
  }

  get size(): number {
    return this.series.size;
  }
}
