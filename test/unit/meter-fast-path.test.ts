// pipetel's synchronous instruments record straight into the SDK's accumulations. These tests
// feed the same calls to a plain SDK MeterProvider and to one behind PipetelMeterProvider and
// require identical exported points — values, counts, buckets, min/max, attributes — for every
// temporality, across collections, at the cardinality limit and with input the SDK rejects.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import {
  type Attributes,
  type Context,
  context,
  type Meter,
  ROOT_CONTEXT,
  ValueType,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  AggregationType,
  DataPointType,
  MeterProvider,
  MetricReader,
  type MetricReaderOptions,
  type ViewOptions,
} from '@opentelemetry/sdk-metrics';
import fc from 'fast-check';
import { REDACTED, TelemetryPolicy } from '../../exporters/policy/index.js';
import { PipetelMeterProvider } from '../../src/internal/PipetelMeterProvider.js';
import { type Accumulation, seriesAccessOf } from '../../src/internal/sdkMetricCells.js';
import { withMonitoringDisabledContext } from '../../src/pipeline/context.js';

class ManualReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

type Op =
  | {
      kind: 'counter' | 'updown' | 'histogram' | 'gauge' | 'intCounter';
      value: number;
      attributes?: Attributes;
    }
  | { kind: 'collect' };

interface Side {
  reader: ManualReader;
  instruments: Record<
    Exclude<Op['kind'], 'collect'>,
    { add?(v: number, a?: Attributes): void; record?(v: number, a?: Attributes): void }
  >;
}

function side(meterOf: (provider: MeterProvider) => Meter, options: MetricReaderOptions): Side {
  const reader = new ManualReader(options);
  const provider = new MeterProvider({ readers: [reader] });
  const meter = meterOf(provider);
  return {
    reader,
    instruments: {
      counter: meter.createCounter('c'),
      intCounter: meter.createCounter('ci', { valueType: ValueType.INT }),
      updown: meter.createUpDownCounter('u'),
      histogram: meter.createHistogram('h', { advice: { explicitBucketBoundaries: [1, 10, 100] } }),
      gauge: meter.createGauge('g'),
    },
  };
}

/** The exported points without timestamps, in a stable order. */
async function collect(s: Side): Promise<unknown[]> {
  const { resourceMetrics } = await s.reader.collect();
  const out: unknown[] = [];
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      for (const point of metric.dataPoints) {
        const attributes = Object.fromEntries(
          Object.entries(point.attributes).sort(([a], [b]) => a.localeCompare(b)),
        );
        out.push({
          name: metric.descriptor.name,
          type: DataPointType[metric.dataPointType],
          attributes,
          value: point.value,
        });
      }
    }
  }
  return out.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

async function replay(
  ops: Op[],
  options: MetricReaderOptions = {},
): Promise<{ plain: unknown[][]; ours: unknown[][] }> {
  const plain = side((p) => p.getMeter('m'), options);
  const ours = side((p) => new PipetelMeterProvider(p).getMeter('m'), options);
  const result = { plain: [] as unknown[][], ours: [] as unknown[][] };
  for (const op of [...ops, { kind: 'collect' } as Op]) {
    if (op.kind === 'collect') {
      result.plain.push(await collect(plain));
      result.ours.push(await collect(ours));
      continue;
    }
    for (const s of [plain, ours]) {
      const instrument = s.instruments[op.kind];
      if (instrument.add) instrument.add(op.value, op.attributes);
      else instrument.record!(op.value, op.attributes);
    }
  }
  return result;
}

const attributeSets: Attributes[] = [
  { stage: 'extract' },
  { stage: 'load' },
  { worker: 3, stage: 'extract' },
  { stage: 'extract', worker: 3 }, // same set, other key order
  { ok: true },
  { tags: ['a', 'b'] }, // not cacheable: goes through the SDK every time
  {},
];

describe('PipetelMeterProvider: the direct path exports what the SDK exports', () => {
  it('engages on this SDK version (a dependency bump that changes its internals fails here)', () => {
    const provider = new MeterProvider({ readers: [new ManualReader()] });
    assert.ok(seriesAccessOf(provider.getMeter('m').createCounter('c')));
    assert.ok(seriesAccessOf(provider.getMeter('m').createHistogram('h')));
    const redacting = new MeterProvider({
      readers: [new ManualReader()],
      views: [new TelemetryPolicy().view()],
    });
    assert.ok(seriesAccessOf(redacting.getMeter('m').createCounter('c')), "with the policy's view too");
  });

  it('same points for a fixed sequence across collections, cumulative and delta', async () => {
    const ops: Op[] = [];
    for (let i = 0; i < 300; i++) {
      const attributes = attributeSets[i % attributeSets.length];
      ops.push({ kind: 'counter', value: i % 5, attributes });
      ops.push({ kind: 'histogram', value: (i * 7) % 150, attributes });
      ops.push({ kind: 'updown', value: (i % 7) - 3, attributes });
      ops.push({ kind: 'gauge', value: i, attributes });
      if (i % 90 === 89) ops.push({ kind: 'collect' });
    }
    for (const temporality of [AggregationTemporality.CUMULATIVE, AggregationTemporality.DELTA]) {
      const { plain, ours } = await replay(ops, { aggregationTemporalitySelector: () => temporality });
      assert.deepEqual(ours, plain);
      assert.ok(plain.flat().length > 20, 'the comparison saw points');
    }
  });

  it('rejects what the SDK rejects: negative counter and histogram values, fractions on INT, non-numbers', async () => {
    const ops: Op[] = [
      { kind: 'counter', value: 5, attributes: { a: 'x' } },
      { kind: 'counter', value: -2, attributes: { a: 'x' } },
      { kind: 'histogram', value: 3, attributes: { a: 'x' } },
      { kind: 'histogram', value: -1, attributes: { a: 'x' } },
      { kind: 'intCounter', value: 2, attributes: { a: 'x' } },
      { kind: 'intCounter', value: 2.7, attributes: { a: 'x' } },
      { kind: 'counter', value: '3' as unknown as number, attributes: { a: 'x' } },
    ];
    const { plain, ours } = await replay(ops);
    assert.deepEqual(ours, plain);
    const counter = plain[0]!.find((p) => (p as { name: string }).name === 'c') as { value: number };
    assert.equal(counter.value, 5);
  });

  it('pre-aggregated runs of one attribute set export what the SDK exports, collection after collection', async () => {
    // Long runs of the same one-key set: the instrument holds the sum back and hands it over at
    // the next collection or when the set changes; integers first, then a fraction ends it.
    const ops: Op[] = [];
    for (let block = 0; block < 12; block++) {
      const attributes = { stage: ['extract', 'load', 'train'][block % 3]! };
      for (let i = 0; i < 250; i++) {
        ops.push({ kind: 'counter', value: 1 + (i % 3), attributes });
        ops.push({ kind: 'updown', value: (i % 5) - 2, attributes });
        ops.push({ kind: 'intCounter', value: 2, attributes });
      }
      if (block % 4 === 3) ops.push({ kind: 'collect' });
      if (block === 9) ops.push({ kind: 'counter', value: 0.1, attributes });
    }
    for (const temporality of [AggregationTemporality.CUMULATIVE, AggregationTemporality.DELTA]) {
      const { plain, ours } = await replay(ops, { aggregationTemporalitySelector: () => temporality });
      assert.deepEqual(ours, plain);
      const extract = plain[0]!.find(
        (p) =>
          (p as { name: string; attributes: { stage?: string } }).name === 'c' &&
          (p as { attributes: { stage?: string } }).attributes.stage === 'extract',
      ) as { value: number };
      assert.equal(
        extract.value,
        2 * (84 * 1 + 83 * 2 + 83 * 3),
        'two extract blocks before the first collection',
      );
    }
  });

  it('every reader of a provider sees the held-back sums (two readers, collecting in turn)', async () => {
    const first = new ManualReader();
    const second = new ManualReader();
    const counter = new PipetelMeterProvider(new MeterProvider({ readers: [first, second] }))
      .getMeter('m')
      .createCounter('c');
    const pointValue = async (reader: ManualReader) =>
      (await reader.collect()).resourceMetrics.scopeMetrics[0]!.metrics[0]!.dataPoints[0]!.value;
    for (let i = 0; i < 100; i++) counter.add(1, { stage: 'a' });
    assert.equal(await pointValue(first), 100);
    for (let i = 0; i < 50; i++) counter.add(1, { stage: 'a' });
    assert.equal(await pointValue(second), 150);
    assert.equal(await pointValue(first), 150);
  });

  it('applies the cardinality limit as the SDK does', async () => {
    const ops: Op[] = [];
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 12; i++) ops.push({ kind: 'counter', value: 1, attributes: { id: i } });
      ops.push({ kind: 'collect' });
    }
    const { plain, ours } = await replay(ops, { cardinalitySelector: () => 5 });
    assert.deepEqual(ours, plain);
    assert.ok(JSON.stringify(plain).includes('otel.metric.overflow'));
  });

  it('property: arbitrary interleavings of calls and collections', async () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constantFrom('counter', 'updown', 'histogram', 'gauge', 'intCounter'),
        value: fc.oneof(fc.integer({ min: -5, max: 200 }), fc.double({ min: -10, max: 500, noNaN: true })),
        attributes: fc.constantFrom(...attributeSets, undefined),
      }),
      fc.constant({ kind: 'collect' as const }),
    ) as fc.Arbitrary<Op>;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), fc.boolean(), async (ops, delta) => {
        const temporality = delta ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE;
        const { plain, ours } = await replay(ops, { aggregationTemporalitySelector: () => temporality });
        assert.deepEqual(ours, plain);
      }),
      { numRuns: 150 },
    );
  });

  it('records nothing inside a monitoring-disabled context', async () => {
    const manager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(manager);
    after(() => context.disable());
    const reader = new ManualReader();
    const meter = new PipetelMeterProvider(new MeterProvider({ readers: [reader] })).getMeter('m');
    const counter = meter.createCounter('c');
    counter.add(1, { stage: 'a' });
    context.with(withMonitoringDisabledContext(context.active()), () => counter.add(100, { stage: 'a' }));
    counter.add(1, { stage: 'a' }, withMonitoringDisabledContext(context.active()));
    const { resourceMetrics } = await reader.collect();
    const point = resourceMetrics.scopeMetrics[0]!.metrics[0]!.dataPoints[0]!;
    assert.equal(point.value, 1);
  });

  it("a quiet series does not keep an old collection's map alive", async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const reader = new ManualReader();
    const sdkProvider = new MeterProvider({ readers: [reader] });
    const counter = new PipetelMeterProvider(sdkProvider).getMeter('m').createCounter('c');
    counter.add(1, { stage: 'a' });
    counter.add(1, { stage: 'a' }); // served by the cell, which now knows the active map
    const source = seriesAccessOf((counter as unknown as { sdk: object }).sdk)!.source;
    const before = new WeakRef(source._activeCollectionStorage as object);
    await reader.collect(); // the SDK swaps in a fresh map; series a stays quiet from here
    counter.add(1, { stage: 'b' }); // the instrument moves on to the new map
    counter.add(1, { stage: 'b' });
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    assert.equal(before.deref(), undefined, 'the map of the collected interval was freed');
  });

  it('inherited keys are not attributes: an object with a prototype, or keys added to Object.prototype', async () => {
    const inherited: Op[] = [
      { kind: 'counter', value: 1, attributes: Object.create({ stage: 'x' }) as Attributes },
      { kind: 'counter', value: 1, attributes: { stage: 'x' } },
      { kind: 'counter', value: 1, attributes: Object.create({ stage: 'x' }) as Attributes },
    ];
    const first = await replay(inherited);
    assert.deepEqual(first.ours, first.plain);
    const polluted = Object.prototype as Record<string, unknown>;
    polluted.tenant = 'acme';
    try {
      const second = await replay([
        { kind: 'counter', value: 1, attributes: {} },
        { kind: 'counter', value: 1, attributes: { tenant: 'acme' } },
        { kind: 'counter', value: 1, attributes: {} },
      ]);
      assert.deepEqual(second.ours, second.plain);
    } finally {
      delete polluted.tenant;
    }
  });

  it('a context argument that is not a Context (null, {}) is ignored as the SDK ignores it, never thrown on', async () => {
    withMonitoringDisabledContext(context.active()); // from now on every call checks its context
    const reader = new ManualReader();
    const counter = new PipetelMeterProvider(new MeterProvider({ readers: [reader] }))
      .getMeter('m')
      .createCounter('c');
    counter.add(1, { a: 'x' }, null as unknown as Context);
    counter.add(1, { a: 'x' }, {} as Context);
    const { resourceMetrics } = await reader.collect();
    assert.equal(resourceMetrics.scopeMetrics[0]!.metrics[0]!.dataPoints[0]!.value, 2);
  });
});

describe('PipetelMeterProvider: histograms hold values back for a repeated one-key set', () => {
  /** Histogram points of one provider's collections, without timestamps. */
  async function histogramPoints(reader: ManualReader): Promise<unknown[]> {
    const { resourceMetrics } = await reader.collect();
    return resourceMetrics.scopeMetrics
      .flatMap((scope) => scope.metrics)
      .flatMap((metric) =>
        metric.dataPoints.map((p) => ({
          name: metric.descriptor.name,
          attributes: p.attributes,
          value: p.value,
        })),
      )
      .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  }

  it("runs longer than the held array, set changes, rejected values and collections: the SDK's points, explicit and exponential", async () => {
    const views: ViewOptions[] = [
      { instrumentName: 'exp', aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM } },
    ];
    for (const temporality of [AggregationTemporality.CUMULATIVE, AggregationTemporality.DELTA]) {
      const readers = [0, 1].map(
        () => new ManualReader({ aggregationTemporalitySelector: () => temporality }),
      );
      const meters = [
        new MeterProvider({ readers: [readers[0]!], views }).getMeter('m'),
        new PipetelMeterProvider(new MeterProvider({ readers: [readers[1]!], views })).getMeter('m'),
      ];
      const instruments = meters.map((meter) => [
        meter.createHistogram('h', { advice: { explicitBucketBoundaries: [1, 10, 100] } }),
        meter.createHistogram('exp'),
        meter.createHistogram('int', { valueType: ValueType.INT }),
      ]);
      for (let block = 0; block < 9; block++) {
        const attributes = { stage: ['extract', 'load', 'train'][block % 3]! };
        for (let i = 0; i < 150 + block * 7; i++) {
          // Fractions, zero, large values; every 37th call a value the SDK rejects (negative, or a
          // fraction on the INT instrument) between held ones.
          const value = i % 37 === 36 ? -1 : ((i * 7.25) % 300) * (block + 1);
          for (const [h, exp, int] of instruments) {
            h!.record(value, attributes);
            exp!.record(value / 3, attributes);
            int!.record(i % 37 === 35 ? 2.5 : Math.round(value), attributes);
          }
        }
        if (block % 3 === 2) {
          const [plain, ours] = await Promise.all(readers.map(histogramPoints));
          assert.deepEqual(ours, plain, `collection after block ${block}`);
          assert.equal(plain!.length, 9, 'three instruments × three stages');
        }
      }
    }
  });

  it("the SDK's accumulation gets the held values at the collection, in call order", async () => {
    const reader = new ManualReader();
    const histogram = new PipetelMeterProvider(new MeterProvider({ readers: [reader] }))
      .getMeter('m')
      .createHistogram('h');
    histogram.record(1, { stage: 'a' }); // the SDK's call creates the series
    histogram.record(2, { stage: 'a' }); // the direct call that starts holding this set
    const access = seriesAccessOf((histogram as unknown as { sdk: object }).sdk)!;
    const accumulation = access.source._activeCollectionStorage.get({ stage: 'a' }) as Accumulation;
    assert.ok(accumulation, 'the series exists');
    const seen: number[] = [];
    const record = accumulation.record.bind(accumulation);
    accumulation.record = (value: number) => {
      seen.push(value);
      record(value);
    };
    for (let i = 3; i <= 10; i++) histogram.record(i, { stage: 'a' });
    assert.deepEqual(seen, [], 'held, not recorded at the call');
    const { resourceMetrics } = await reader.collect();
    assert.deepEqual(seen, [3, 4, 5, 6, 7, 8, 9, 10]);
    const point = resourceMetrics.scopeMetrics[0]!.metrics[0]!.dataPoints[0]!.value as {
      count: number;
      sum: number;
    };
    assert.equal(point.count, 10);
    assert.equal(point.sum, 55);
  });

  it('records nothing inside a monitoring-disabled context', async () => {
    const manager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(manager);
    after(() => context.disable());
    const reader = new ManualReader();
    const histogram = new PipetelMeterProvider(new MeterProvider({ readers: [reader] }))
      .getMeter('m')
      .createHistogram('h');
    histogram.record(1, { stage: 'a' });
    histogram.record(2, { stage: 'a' });
    context.with(withMonitoringDisabledContext(context.active()), () =>
      histogram.record(100, { stage: 'a' }),
    );
    const { resourceMetrics } = await reader.collect();
    const point = resourceMetrics.scopeMetrics[0]!.metrics[0]!.dataPoints[0]!.value as {
      count: number;
      sum: number;
    };
    assert.deepEqual([point.count, point.sum], [2, 3]);
  });
});

describe('PipetelMeterProvider: one wrapper per SDK series storage', () => {
  it('two create calls of one instrument export what the SDK exports (held values in call order)', async () => {
    const run = async (wrap: boolean) => {
      const reader = new ManualReader();
      const sdk = new MeterProvider({ readers: [reader] });
      const meter = (wrap ? new PipetelMeterProvider(sdk) : sdk).getMeter('m');
      const [h1, h2] = [meter.createHistogram('duration'), meter.createHistogram('duration')];
      const [c1, c2] = [meter.createCounter('bytes'), meter.createCounter('bytes')];
      const attributes = { stage: 'load' };
      // Float sums depend on the order of their terms: these differ when a held value is handed
      // over after a later call's value.
      for (const v of [0.81, 84.72, 69.76, 88.27, 10.15]) h1!.record(v, attributes);
      h2!.record(45.86, attributes);
      for (const v of [448, 944, 760]) c1!.add(v, attributes);
      c2!.add(40.18, attributes);
      return collect({ reader } as Side);
    };
    assert.deepEqual(await run(true), await run(false));
  });

  it('a create call in a loop returns the same wrapper (no hook or buffer per call)', () => {
    const meter = new PipetelMeterProvider(new MeterProvider({ readers: [new ManualReader()] })).getMeter(
      'm',
    );
    assert.equal(meter.createHistogram('h'), meter.createHistogram('h'));
    assert.equal(meter.createCounter('c'), meter.createCounter('c'));
    assert.equal(meter.createUpDownCounter('u'), meter.createUpDownCounter('u'));
    assert.notEqual(meter.createCounter('c'), meter.createCounter('other'));
  });
});

describe("PipetelMeterProvider with the policy's view: attributes redacted before aggregation", () => {
  async function points(views: ViewOptions[], record: (meter: Meter) => void) {
    const reader = new ManualReader();
    const provider = new MeterProvider({ readers: [reader], views });
    record(new PipetelMeterProvider(provider).getMeter('m'));
    const { resourceMetrics } = await reader.collect();
    return resourceMetrics.scopeMetrics.flatMap((s) =>
      s.metrics.flatMap((m) => m.dataPoints.map((p) => ({ attributes: p.attributes, value: p.value }))),
    );
  }

  it('series that differ only in a secret become one series with the total (direct path and SDK path alike)', async () => {
    const got = await points([new TelemetryPolicy().view()], (meter) => {
      const counter = meter.createCounter('c');
      for (let i = 0; i < 50; i++) counter.add(1, { session: `s-${i % 5}`, stage: 'load' }); // cached after the first call
      counter.add(1, { session: 'other', stage: 'load' }, ROOT_CONTEXT);
    });
    assert.deepEqual(got, [{ attributes: { session: REDACTED, stage: 'load' }, value: 51 }]);
  });

  it('a processor that may read the context keeps every call on the SDK path', () => {
    const provider = new MeterProvider({
      readers: [new ManualReader()],
      views: [{ instrumentName: '*', attributesProcessors: [{ process: (a) => a }] }],
    });
    assert.equal(seriesAccessOf(provider.getMeter('m').createCounter('c')), undefined);
  });
});
