// The OTLP/HTTP exporters' agents are pipetel's (so shutdown can end a request a collector never
// answers): they must connect as the exporters' own would — keep-alive, and for https the
// certificate files the standard variables name, per signal before the general one.

import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { Agent as HttpsAgent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { OtlpAgents } from '../../src/internal/otelSdk.js';

describe('OtlpAgents', () => {
  it('uses the certificate files of the standard variables for https, and none for http', () => {
    const dir = mkdtempSync(join(tmpdir(), 'otlp-agents-'));
    const file = (name: string, text: string) => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    const env = {
      OTEL_EXPORTER_OTLP_CERTIFICATE: file('ca.pem', 'general ca'),
      OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE: file('traces-ca.pem', 'traces ca'),
      OTEL_EXPORTER_OTLP_CLIENT_KEY: file('key.pem', 'client key'),
      OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: join(dir, 'missing.pem'),
    };
    const warnings: string[] = [];
    const agents = new OtlpAgents(env, (m) => warnings.push(m));
    const traces = agents.factory('TRACES')('https:') as HttpsAgent;
    const logs = agents.factory('LOGS')('https:') as HttpsAgent;
    const options = (agent: HttpsAgent) => (agent as unknown as { options: Record<string, unknown> }).options;
    assert.equal(String(options(traces).ca), 'traces ca', 'the per-signal variable wins');
    assert.equal(String(options(logs).ca), 'general ca');
    assert.equal(String(options(logs).key), 'client key');
    assert.equal(options(logs).cert, undefined);
    assert.equal(options(logs).keepAlive, true);
    assert.ok(
      warnings.some((w) => w.includes('OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE')),
      warnings.join('\n'),
    );
    const http = agents.factory('METRICS')('http:');
    assert.equal((http as unknown as { options: Record<string, unknown> }).options.ca, undefined);
    agents.abort();
  });
});
