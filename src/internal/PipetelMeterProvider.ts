// The global MeterProvider pipetel installs: the SDK's, with synchronous instruments that are
// cheaper per call than the SDK's own and record nothing inside withMonitoringDisabled (the SDK's
// instruments ignore context). Per call: a flag test for the disabled check (the context lookup
// only once some code has disabled monitoring), a trie walk to the attribute set's cell, and the
// SDK accumulation's own record(). The first call of a series after each collection goes through
// the SDK, which validates, applies the cardinality limit and creates the series; the cell then
// caches what the SDK made. Observable instruments and everything else are the SDK's, untouched.

import type {
  MeterProvider as ApiMeterProvider,
  Attributes,
  Context,
  Counter,
  Gauge,
  Histogram,
  Meter,
  MeterOptions,
  MetricOptions,
  UpDownCounter,
} from '@opentelemetry/api';
import { isMonitoringDisabled, monitoringMayBeDisabled } from '../pipeline/context.js';
import { SeriesCache, type SeriesCell } from './SeriesCache.js';
import {
  type ActiveSeries,
  isIntegerInstrument,
  type SeriesAccess,
  type SeriesSource,
  seriesAccessOf,
} from './sdkMetricCells.js';

/** Direct recording into the SDK's accumulations of one instrument. */
export class DirectSeries {
  private readonly cache = new SeriesCache();
  /** The cell the last declined cell() looked up, for learn() after the SDK call. */
  private pending: SeriesCell | undefined = undefined;
  /** The SDK's active map as last seen, and a number that changes with it (each collection). */
  private series: ActiveSeries | undefined = undefined;
  private generation = 0;

  private readonly source: SeriesSource;
  private readonly processAttributes: SeriesAccess['processAttributes'];

  constructor(
    access: SeriesAccess,
    private readonly integerOnly: boolean,
  ) {
    this.source = access.source;
    this.processAttributes = access.processAttributes;
  }

  /**
   * The current cell for this call, whose accumulation the caller records into; undefined when
   * the SDK's own call must take this one (then call learn() after it).
   */
  cell(value: number, attributes: Attributes | undefined): SeriesCell | undefined {
    this.pending = undefined;
    if (typeof value !== 'number' || (this.integerOnly && !Number.isInteger(value))) return undefined;
    const cell = this.cache.cellFor(attributes);
    if (cell === undefined) return undefined;
    if (cell.generation === this.currentGeneration()) return cell;
    this.pending = cell;
    return undefined;
  }

  /** After the SDK recorded a call cell() declined: cache the series the SDK used. */
  learn(attributes: Attributes | undefined): void {
    const cell = this.pending;
    if (cell === undefined) return;
    this.pending = undefined;
    const generation = this.currentGeneration();
    // The SDK keyed the series by the attributes after the view's processing (e.g. redaction).
    const accumulation = this.series!.get(this.processAttributes(attributes ?? {}));
    // None when the SDK put the point in its overflow series: keep using the SDK path then.
    if (accumulation === undefined) return;
    cell.generation = generation;
    cell.accumulation = accumulation;
  }

  private currentGeneration(): number {
    const series = this.source._activeCollectionStorage;
    if (series !== this.series) {
      this.series = series;
      this.generation++;
    }
    return this.generation;
  }
}

/**
 * Whether monitoring is disabled for this call. The SDK ignores a sync instrument's context
 * argument, so a caller may pass anything there (null, {}): only a real Context is read, anything
 * else means the active one.
 */
function disabledIn(ctx: Context | undefined): boolean {
  return isMonitoringDisabled(typeof ctx?.getValue === 'function' ? ctx : undefined);
}

/** Synchronous instrument calls so far, for pipetel's estimate of its own cost. */
export interface CallTally {
  calls: number;
}

function directSeries(instrument: object): DirectSeries | undefined {
  const access = seriesAccessOf(instrument);
  return access && new DirectSeries(access, isIntegerInstrument(instrument));
}

// One class per instrument kind, deliberately near-identical: each call site in a user's loop
// then sees one shape (monomorphic), and each kind keeps the SDK's own validation rule inline.
class PipetelCounter implements Counter {
  private readonly direct: DirectSeries | undefined;

  constructor(
    private readonly sdk: Counter,
    private readonly tally: CallTally,
  ) {
    this.direct = directSeries(sdk);
  }

  add(value: number, attributes?: Attributes, ctx?: Context): void {
    if (monitoringMayBeDisabled() && disabledIn(ctx)) return;
    this.tally.calls++;
    const direct = this.direct;
    if (direct === undefined) {
      this.sdk.add(value, attributes, ctx);
      return;
    }
    // Negative values go to the SDK, which warns and drops them.
    const cell = value >= 0 ? direct.cell(value, attributes) : undefined;
    if (cell !== undefined) {
      cell.accumulation!.record(value);
      return;
    }
    this.sdk.add(value, attributes, ctx);
    direct.learn(attributes);
  }
}

class PipetelUpDownCounter implements UpDownCounter {
  private readonly direct: DirectSeries | undefined;

  constructor(
    private readonly sdk: UpDownCounter,
    private readonly tally: CallTally,
  ) {
    this.direct = directSeries(sdk);
  }

  add(value: number, attributes?: Attributes, ctx?: Context): void {
    if (monitoringMayBeDisabled() && disabledIn(ctx)) return;
    this.tally.calls++;
    const direct = this.direct;
    if (direct === undefined) {
      this.sdk.add(value, attributes, ctx);
      return;
    }
    const cell = direct.cell(value, attributes);
    if (cell !== undefined) {
      cell.accumulation!.record(value);
      return;
    }
    this.sdk.add(value, attributes, ctx);
    direct.learn(attributes);
  }
}

class PipetelHistogram implements Histogram {
  private readonly direct: DirectSeries | undefined;

  constructor(
    private readonly sdk: Histogram,
    private readonly tally: CallTally,
  ) {
    this.direct = directSeries(sdk);
  }

  record(value: number, attributes?: Attributes, ctx?: Context): void {
    if (monitoringMayBeDisabled() && disabledIn(ctx)) return;
    this.tally.calls++;
    const direct = this.direct;
    if (direct === undefined) {
      this.sdk.record(value, attributes, ctx);
      return;
    }
    const cell = value >= 0 ? direct.cell(value, attributes) : undefined;
    if (cell !== undefined) {
      cell.accumulation!.record(value);
      return;
    }
    this.sdk.record(value, attributes, ctx);
    direct.learn(attributes);
  }
}

class PipetelGauge implements Gauge {
  private readonly direct: DirectSeries | undefined;

  constructor(
    private readonly sdk: Gauge,
    private readonly tally: CallTally,
  ) {
    this.direct = directSeries(sdk);
  }

  record(value: number, attributes?: Attributes, ctx?: Context): void {
    if (monitoringMayBeDisabled() && disabledIn(ctx)) return;
    this.tally.calls++;
    const direct = this.direct;
    if (direct === undefined) {
      this.sdk.record(value, attributes, ctx);
      return;
    }
    const cell = direct.cell(value, attributes);
    if (cell !== undefined) {
      cell.accumulation!.record(value);
      return;
    }
    this.sdk.record(value, attributes, ctx);
    direct.learn(attributes);
  }
}

function pipetelMeter(meter: Meter, tally: CallTally): Meter {
  const wrapped = Object.create(meter) as Meter;
  wrapped.createCounter = (name: string, options?: MetricOptions) =>
    new PipetelCounter(meter.createCounter(name, options), tally);
  wrapped.createUpDownCounter = (name: string, options?: MetricOptions) =>
    new PipetelUpDownCounter(meter.createUpDownCounter(name, options), tally);
  wrapped.createHistogram = (name: string, options?: MetricOptions) =>
    new PipetelHistogram(meter.createHistogram(name, options), tally);
  wrapped.createGauge = (name: string, options?: MetricOptions) =>
    new PipetelGauge(meter.createGauge(name, options), tally);
  return wrapped;
}

export class PipetelMeterProvider implements ApiMeterProvider {
  constructor(
    private readonly inner: ApiMeterProvider,
    readonly tally: CallTally = { calls: 0 },
  ) {}

  getMeter(name: string, version?: string, options?: MeterOptions): Meter {
    return pipetelMeter(this.inner.getMeter(name, version, options), this.tally);
  }
}
