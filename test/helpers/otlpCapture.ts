// A stand-in for an OpenTelemetry collector on 127.0.0.1: accepts every OTLP/HTTP request (JSON or
// protobuf, gzip or not) with an empty success in the same encoding, and keeps its path, headers
// and body (decompressed), so tests can look at what pipetel sent. startOtlpGrpcCapture does the
// same for OTLP/gRPC's three Export methods.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync, inflateSync } from 'node:zlib';
import { Server, ServerCredentials, type UntypedServiceImplementation } from '@grpc/grpc-js';

export interface CapturedRequest {
  path: string;
  /** The body as text (protobuf strings appear verbatim in it). */
  body: string;
  contentType: string;
  contentEncoding: string;
}

export interface OtlpCapture {
  /** http://127.0.0.1:<port>, for OTEL_EXPORTER_OTLP_ENDPOINT or otlp.endpoint. */
  endpoint: string;
  requests: CapturedRequest[];
  /** The bodies received on `path` (e.g. '/v1/traces'), joined by newlines. */
  bodies(path: string): string;
  close(): Promise<void>;
}

function captured(requests: CapturedRequest[], endpoint: string, close: () => Promise<void>): OtlpCapture {
  return {
    endpoint,
    requests,
    bodies: (path) =>
      requests
        .filter((r) => r.path === path)
        .map((r) => r.body)
        .join('\n'),
    close,
  };
}

export async function startOtlpCapture(): Promise<OtlpCapture> {
  const requests: CapturedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const encoding = String(req.headers['content-encoding'] ?? '');
      const raw = Buffer.concat(chunks);
      const body = encoding === 'gzip' ? gunzipSync(raw) : encoding === 'deflate' ? inflateSync(raw) : raw;
      const contentType = String(req.headers['content-type'] ?? '');
      requests.push({
        path: req.url ?? '',
        body: body.toString('utf8'),
        contentType,
        contentEncoding: encoding,
      });
      if (contentType.includes('protobuf'))
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return captured(
    requests,
    `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    () => new Promise<void>((resolve) => server.close(() => resolve())),
  );
}

/** An OTLP/gRPC collector: the three Export methods, kept as raw request bytes; path = the method. */
export async function startOtlpGrpcCapture(): Promise<OtlpCapture> {
  const requests: CapturedRequest[] = [];
  const server = new Server();
  const raw = (b: Buffer) => b;
  for (const [service, pkg] of [
    ['TraceService', 'trace'],
    ['LogsService', 'logs'],
    ['MetricsService', 'metrics'],
  ] as const) {
    const path = `/opentelemetry.proto.collector.${pkg}.v1.${service}/Export`;
    const implementation: UntypedServiceImplementation = {
      Export: (call: { request: Buffer }, callback: (error: null, response: Buffer) => void) => {
        requests.push({
          path,
          body: call.request.toString('utf8'),
          contentType: 'application/grpc',
          contentEncoding: '',
        });
        callback(null, Buffer.alloc(0));
      },
    };
    server.addService(
      {
        Export: {
          path,
          requestStream: false,
          responseStream: false,
          requestSerialize: raw,
          requestDeserialize: raw,
          responseSerialize: raw,
          responseDeserialize: raw,
        },
      },
      implementation,
    );
  }
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return captured(
    requests,
    `http://127.0.0.1:${port}`,
    () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  );
}
