// OTel metric data → pipeline_metrics rows, one per data point: gauges and sums fill `value`,
// histograms fill count/sum/min/max with their bucket counts and explicit bounds (exponential
// histograms keep count/sum/min/max and their scale and buckets as attributes-free summary).

import type { Attributes, HrTime } from '@opentelemetry/api';
import { DataPointType, type Histogram, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { hrTimeField } from '../shared/conventions.js';
import { jsonField, NULL_FIELD, numberArrayField, numberField, textField } from './copyText.js';
import type { ResourceInfoCache } from './resourceInfo.js';
import type { TableSpec } from './TableWriter.js';
import { uuidv7 } from './uuidv7.js';

export const METRICS_TABLE: TableSpec = {
  name: 'pipeline_metrics',
  timeColumn: 'timestamp',
  columns: [
    'id',
    'experiment_id',
    'timestamp',
    'name',
    'unit',
    'kind',
    'value',
    'count',
    'sum',
    'min',
    'max',
    'bucket_counts',
    'explicit_bounds',
    'attributes',
    'start_time',
    'is_monotonic',
    'scope',
  ],
};

/** One data point, flattened out of the SDK's nested ResourceMetrics. */
export interface MetricPoint {
  experimentId: string;
  scope: string;
  name: string;
  unit: string;
  kind: 'gauge' | 'sum' | 'histogram';
  startTime: HrTime;
  time: HrTime;
  attributes: Attributes;
  value?: number;
  histogram?: {
    count: number;
    sum?: number;
    min?: number;
    max?: number;
    counts?: number[];
    bounds?: number[];
  };
  isMonotonic?: boolean;
}

export function flattenResourceMetrics(
  metrics: ResourceMetrics,
  resources: ResourceInfoCache,
): MetricPoint[] {
  const { experimentId } = resources.get(metrics.resource);
  const points: MetricPoint[] = [];
  for (const scopeMetrics of metrics.scopeMetrics) {
    const scope = scopeMetrics.scope.name;
    for (const metric of scopeMetrics.metrics) {
      const { name, unit } = metric.descriptor;
      for (const dataPoint of metric.dataPoints) {
        const base = {
          experimentId,
          scope,
          name,
          unit,
          startTime: dataPoint.startTime,
          time: dataPoint.endTime,
          attributes: dataPoint.attributes,
        };
        switch (metric.dataPointType) {
          case DataPointType.GAUGE:
            points.push({ ...base, kind: 'gauge', value: dataPoint.value as number });
            break;
          case DataPointType.SUM:
            points.push({
              ...base,
              kind: 'sum',
              value: dataPoint.value as number,
              isMonotonic: metric.isMonotonic,
            });
            break;
          case DataPointType.HISTOGRAM: {
            const h = dataPoint.value as Histogram;
            points.push({
              ...base,
              kind: 'histogram',
              histogram: {
                count: h.count,
                sum: h.sum,
                min: h.min,
                max: h.max,
                counts: h.buckets.counts,
                bounds: h.buckets.boundaries,
              },
            });
            break;
          }
          case DataPointType.EXPONENTIAL_HISTOGRAM: {
            const h = dataPoint.value as { count: number; sum?: number; min?: number; max?: number };
            points.push({
              ...base,
              kind: 'histogram',
              histogram: { count: h.count, sum: h.sum, min: h.min, max: h.max },
            });
            break;
          }
        }
      }
    }
  }
  return points;
}

/** One pipeline_metrics row (the point's attributes went through TelemetryPolicy before). */
export function encodeMetricPoint(point: MetricPoint): string {
  const h = point.histogram;
  const monotonic = point.isMonotonic === undefined ? NULL_FIELD : point.isMonotonic ? 't' : 'f';
  return `${uuidv7()}\t${textField(point.experimentId)}\t${hrTimeField(point.time)}\t${textField(point.name)}\t${textField(point.unit)}\t${point.kind}\t${numberField(point.value)}\t${h ? h.count : NULL_FIELD}\t${numberField(h?.sum)}\t${numberField(h?.min)}\t${numberField(h?.max)}\t${numberArrayField(h?.counts)}\t${numberArrayField(h?.bounds)}\t${jsonField(point.attributes)}\t${hrTimeField(point.startTime)}\t${monotonic}\t${textField(point.scope)}\n`;
}
