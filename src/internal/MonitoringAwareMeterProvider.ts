// The global MeterProvider pipetel installs: the SDK's, with synchronous instruments that record
// nothing inside withMonitoringDisabled (the SDK's instruments ignore context). The check is one
// context lookup per call; observable instruments are collected outside any pipeline context.

import {
  type Attributes,
  type Context,
  context,
  type Meter,
  type MeterOptions,
  type MeterProvider,
  type MetricOptions,
} from '@opentelemetry/api';
import { isMonitoringDisabled } from '../pipeline/context.js';

interface Recorder {
  add?(value: number, attributes?: Attributes, ctx?: Context): void;
  record?(value: number, attributes?: Attributes, ctx?: Context): void;
}

function guard<T extends Recorder>(instrument: T): T {
  const wrapped = Object.create(instrument) as T;
  if (instrument.add) {
    const add = instrument.add.bind(instrument);
    wrapped.add = (value, attributes, ctx) => {
      if (!isMonitoringDisabled(ctx ?? context.active())) add(value, attributes, ctx);
    };
  }
  if (instrument.record) {
    const record = instrument.record.bind(instrument);
    wrapped.record = (value, attributes, ctx) => {
      if (!isMonitoringDisabled(ctx ?? context.active())) record(value, attributes, ctx);
    };
  }
  return wrapped;
}

function guardMeter(meter: Meter): Meter {
  const wrapped = Object.create(meter) as Meter;
  wrapped.createCounter = (name: string, options?: MetricOptions) =>
    guard(meter.createCounter(name, options));
  wrapped.createUpDownCounter = (name: string, options?: MetricOptions) =>
    guard(meter.createUpDownCounter(name, options));
  wrapped.createHistogram = (name: string, options?: MetricOptions) =>
    guard(meter.createHistogram(name, options));
  wrapped.createGauge = (name: string, options?: MetricOptions) => guard(meter.createGauge(name, options));
  return wrapped;
}

export class MonitoringAwareMeterProvider implements MeterProvider {
  constructor(private readonly inner: MeterProvider) {}

  getMeter(name: string, version?: string, options?: MeterOptions): Meter {
    return guardMeter(this.inner.getMeter(name, version, options));
  }
}
