// OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG, the SDK environment spec's sampler variables.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ROOT_CONTEXT, SpanKind, TraceFlags, trace } from '@opentelemetry/api';
import { SamplingDecision } from '@opentelemetry/sdk-trace-base';
import { samplerFromEnvironment } from '../../src/internal/otelSdk.js';

const decide = (env: NodeJS.ProcessEnv, traceId: string, parentSampled?: boolean) => {
  const warnings: string[] = [];
  const sampler = samplerFromEnvironment(env, (m) => warnings.push(m));
  const ctx =
    parentSampled === undefined
      ? ROOT_CONTEXT
      : trace.setSpanContext(ROOT_CONTEXT, {
          traceId,
          spanId: '00f067aa0ba902b7',
          traceFlags: parentSampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
          isRemote: true,
        });
  const decision = sampler?.shouldSample(ctx, traceId, 'stage', SpanKind.INTERNAL, {}, []).decision;
  return { sampler, decision, warnings };
};

const LOW = '00000000000000000000000000000001'; // sampled by any ratio above 0
const HIGH = 'ffffffff000000000000000000000000'; // sampled only at ratio 1 (the SDK XORs 32-bit chunks)

describe('samplerFromEnvironment', () => {
  it('unset: none (pipetel records every stage)', () => {
    assert.equal(decide({}, LOW).sampler, undefined);
  });

  it('always_on, always_off', () => {
    assert.equal(
      decide({ OTEL_TRACES_SAMPLER: 'always_on' }, HIGH).decision,
      SamplingDecision.RECORD_AND_SAMPLED,
    );
    assert.equal(decide({ OTEL_TRACES_SAMPLER: 'always_off' }, LOW).decision, SamplingDecision.NOT_RECORD);
  });

  it('traceidratio takes its ratio from OTEL_TRACES_SAMPLER_ARG', () => {
    const env = { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' };
    assert.equal(decide(env, LOW).decision, SamplingDecision.RECORD_AND_SAMPLED);
    assert.equal(decide(env, HIGH).decision, SamplingDecision.NOT_RECORD);
    assert.equal(decide({ ...env, OTEL_TRACES_SAMPLER_ARG: '0' }, LOW).decision, SamplingDecision.NOT_RECORD);
  });

  it('parentbased_* follow a remote parent and use their root sampler without one', () => {
    const env = { OTEL_TRACES_SAMPLER: 'parentbased_always_off' };
    assert.equal(decide(env, LOW).decision, SamplingDecision.NOT_RECORD, 'root: always off');
    assert.equal(decide(env, LOW, true).decision, SamplingDecision.RECORD_AND_SAMPLED, 'sampled parent');
    const on = { OTEL_TRACES_SAMPLER: 'parentbased_always_on' };
    assert.equal(decide(on, LOW, false).decision, SamplingDecision.NOT_RECORD, 'unsampled parent');
  });

  it('a bad value or ratio is warned about by name, not fatal', () => {
    const bad = decide({ OTEL_TRACES_SAMPLER: 'jaeger_remote' }, LOW);
    assert.equal(bad.sampler, undefined);
    assert.match(bad.warnings[0]!, /OTEL_TRACES_SAMPLER: "jaeger_remote" is not one of always_on/);
    const ratio = decide({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '1.5' }, HIGH);
    assert.equal(ratio.decision, SamplingDecision.RECORD_AND_SAMPLED);
    assert.match(ratio.warnings[0]!, /OTEL_TRACES_SAMPLER_ARG: expected a ratio from 0 to 1, got "1.5"/);
  });
});
