// The one place that knows how @opentelemetry/sdk-metrics 2.x stores a synchronous instrument's
// series: instrument → SyncMetricStorage → DeltaMetricProcessor → a map from attribute set to its
// accumulation, swapped for a fresh map at every collection. pipetel's instruments keep a direct
// reference to that accumulation, so a call skips the SDK's per-call attribute hashing (a sort
// and a JSON.stringify, ~90 % of its cost). Any other shape (another SDK version, several views,
// an attribute filter) yields no cells, and every call then goes through the SDK's own path.

import { type Attributes, ValueType } from '@opentelemetry/api';

/** The SDK's aggregation cell for one attribute set (SumAccumulation, HistogramAccumulation, …). */
export interface Accumulation {
  record(value: number): void;
}

/** The active map of one instrument's series; its identity changes at every collection. */
export interface ActiveSeries {
  get(attributes: Attributes): Accumulation | undefined;
}

/** Where an instrument's series live; read on every call, so a property read and nothing more. */
export interface SeriesSource {
  _activeCollectionStorage: ActiveSeries;
}

interface SyncStorageShape {
  _attributesProcessor?: unknown;
  _deltaMetricStorage?: Partial<SeriesSource>;
}

/**
 * The series source of an SDK synchronous instrument, or undefined when its storage is not the
 * single, unfiltered SyncMetricStorage of the 2.x line (then the caller must use the SDK's call).
 */
export function seriesSourceOf(instrument: object): SeriesSource | undefined {
  const storage = (instrument as { _writableMetricStorage?: SyncStorageShape })._writableMetricStorage;
  if (!storage || typeof storage !== 'object' || storage._attributesProcessor !== undefined) return undefined;
  const delta = storage._deltaMetricStorage;
  const active = delta?._activeCollectionStorage;
  if (!active || typeof active.get !== 'function') return undefined;
  return delta as SeriesSource;
}

/** Whether the SDK instrument only takes integers (ValueType.INT), as its own call checks. */
export function isIntegerInstrument(instrument: object): boolean {
  const descriptor = (instrument as { _descriptor?: { valueType?: number } })._descriptor;
  return descriptor?.valueType === ValueType.INT;
}
