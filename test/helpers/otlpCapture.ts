// A stand-in for an OpenTelemetry collector on 127.0.0.1: accepts every OTLP/HTTP request with 200
// and keeps its path and body, so tests can look at what pipetel sent.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OtlpCapture {
  /** http://127.0.0.1:<port>, for OTEL_EXPORTER_OTLP_ENDPOINT or otlp.endpoint. */
  endpoint: string;
  requests: Array<{ path: string; body: string }>;
  /** The bodies received on `path` (e.g. '/v1/traces'), joined by newlines. */
  bodies(path: string): string;
  close(): Promise<void>;
}

export async function startOtlpCapture(): Promise<OtlpCapture> {
  const requests: OtlpCapture['requests'] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      requests.push({ path: req.url ?? '', body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    bodies: (path) =>
      requests
        .filter((r) => r.path === path)
        .map((r) => r.body)
        .join('\n'),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
