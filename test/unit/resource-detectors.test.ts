// The resource: the standard detectors OTEL_NODE_RESOURCE_DETECTORS names (as the NodeSDK reads
// it), OTEL_RESOURCE_ATTRIBUTES, pipetel's attributes on top — and never the command line.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { buildResource } from '../../src/internal/otelSdk.js';

describe('buildResource', () => {
  const saved = process.env.OTEL_RESOURCE_ATTRIBUTES;
  after(() => {
    if (saved === undefined) delete process.env.OTEL_RESOURCE_ATTRIBUTES;
    else process.env.OTEL_RESOURCE_ATTRIBUTES = saved;
  });

  it('unset: every detector (host, os, process, service instance) and OTEL_RESOURCE_ATTRIBUTES; ours win', () => {
    process.env.OTEL_RESOURCE_ATTRIBUTES = 'team=data,service.name=from-env';
    const attributes = buildResource({ 'service.name': 'ours' }, {}).attributes;
    assert.equal(attributes['service.name'], 'ours');
    assert.equal(attributes.team, 'data');
    for (const key of ['host.name', 'os.type', 'process.pid', 'process.runtime.name', 'service.instance.id'])
      assert.ok(key in attributes, key);
  });

  it('never the command line (it can carry secrets), nor values only known later (host.id)', () => {
    const attributes = buildResource({}, {}).attributes;
    for (const key of ['process.command_args', 'process.command_line', 'process.command', 'host.id'])
      assert.ok(!(key in attributes), key);
  });

  it('a list picks detectors; none keeps only OTEL_RESOURCE_ATTRIBUTES; unknown names are warned about', () => {
    process.env.OTEL_RESOURCE_ATTRIBUTES = 'team=data';
    const warnings: string[] = [];
    const hostOnly = buildResource({}, { OTEL_NODE_RESOURCE_DETECTORS: 'host, bogus' }, (m) =>
      warnings.push(m),
    ).attributes;
    assert.ok('host.name' in hostOnly);
    assert.ok(!('process.pid' in hostOnly));
    assert.equal(hostOnly.team, 'data');
    assert.match(warnings[0]!, /OTEL_NODE_RESOURCE_DETECTORS: unknown detector "bogus"/);
    const none = buildResource({}, { OTEL_NODE_RESOURCE_DETECTORS: 'none' }).attributes;
    assert.ok(!('host.name' in none) && !('process.pid' in none));
    assert.equal(none.team, 'data');
  });
});
