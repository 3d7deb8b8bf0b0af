// The one place that knows how @opentelemetry/sdk-metrics 2.x stores a synchronous instrument's
// series: instrument → SyncMetricStorage → DeltaMetricProcessor → a map from attribute set to its
// accumulation, swapped for a fresh map at every collection. pipetel's instruments keep a direct
// reference to that accumulation, so a call skips the SDK's per-call attribute hashing (a sort
// and a JSON.stringify, ~90 % of its cost). Attribute processors are honoured when each says its
// result depends on the attributes alone (`contextFree`, as TelemetryPolicy's view does): a cell
// then stands for the series of the processed attributes. Any other shape (another SDK version,
// several views, a processor that reads the context) yields no cells, and every call then goes
// through the SDK's own path.

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

/** An instrument's series and what the SDK does to attributes before they pick a series. */
export interface SeriesAccess {
  source: SeriesSource;
  /** The view's attribute processing (identity when there is none). */
  processAttributes: (attributes: Attributes) => Attributes;
}

interface ProcessorShape {
  contextFree?: unknown;
  process?: (attributes: Attributes) => Attributes;
  _processors?: ProcessorShape[];
}

interface SyncStorageShape {
  _attributesProcessor?: ProcessorShape;
  _deltaMetricStorage?: Partial<SeriesSource>;
}

const identity = (attributes: Attributes) => attributes;

/**
 * The series of an SDK synchronous instrument, or undefined when its storage is not the single
 * SyncMetricStorage of the 2.x line with context-free attribute processing (then the caller must
 * use the SDK's call).
 */
export function seriesAccessOf(instrument: object): SeriesAccess | undefined {
  const storage = (instrument as { _writableMetricStorage?: SyncStorageShape })._writableMetricStorage;
  if (!storage || typeof storage !== 'object') return undefined;
  const processAttributes = contextFreeProcessing(storage._attributesProcessor);
  if (processAttributes === undefined) return undefined;
  const delta = storage._deltaMetricStorage;
  const active = delta?._activeCollectionStorage;
  if (!active || typeof active.get !== 'function') return undefined;
  return { source: delta as SeriesSource, processAttributes };
}

/** None, or the SDK's list of processors (MultiAttributesProcessor) each marked contextFree. */
function contextFreeProcessing(processor: ProcessorShape | undefined) {
  if (processor === undefined) return identity;
  const list = processor._processors;
  if (!Array.isArray(list)) return undefined;
  if (!list.every((p) => p?.contextFree === true && typeof p.process === 'function')) return undefined;
  if (list.length === 0) return identity;
  return (attributes: Attributes) => list.reduce((current, p) => p.process!(current), attributes);
}

/** Whether the SDK instrument only takes integers (ValueType.INT), as its own call checks. */
export function isIntegerInstrument(instrument: object): boolean {
  const descriptor = (instrument as { _descriptor?: { valueType?: number } })._descriptor;
  return descriptor?.valueType === ValueType.INT;
}

const collectHooks = new WeakMap<object, Array<() => void>>();

/**
 * Runs `hook` each time the SDK collects these series, just before it swaps the active map for a
 * fresh one (DeltaMetricProcessor.collect, whatever reader asks): values an instrument held back
 * reach the map that is being collected. False when the storage has no such method (another SDK
 * version): the caller must then not hold values back.
 */
export function beforeCollect(source: SeriesSource, hook: () => void): boolean {
  const processor = source as unknown as { collect?: (...args: unknown[]) => unknown };
  const original = processor.collect;
  if (typeof original !== 'function') return false;
  let hooks = collectHooks.get(source);
  if (hooks === undefined) {
    const list: Array<() => void> = [];
    hooks = list;
    collectHooks.set(source, list);
    processor.collect = function (this: unknown, ...args: unknown[]) {
      for (const run of list) run();
      return original.apply(this, args);
    };
  }
  hooks.push(hook);
  return true;
}
