// Gateway ingest against the direct exporter, on the same log records (SPEC §10, issue 12): the
// records a registered process hands to PostgresLogRecordExporter, against the same records sent
// by a producer as OTLP/protobuf + gzip (the official serializer, 512 per request as the SDK's
// batch processor sends them) to `pipetel gateway`, which decompresses, decodes and writes them
// through the same exporter settings. Both timed from the first record handed over to the last one
// committed; alternating runs on one server, medians. The producer's own work (serializing and
// compressing) is done before timing: it is the producer's CPU, not the gateway's.

import { Agent, request } from 'node:http';
import { gzipSync } from 'node:zlib';
import { ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { migrate } from '../exporters/postgres/migrate.js';
import { PostgresLogRecordExporter } from '../exporters/postgres/PostgresLogRecordExporter.js';
import { startGateway } from '../src/gateway/server.js';
import {
  type BenchmarkResult,
  benchServerUrl,
  environment,
  freshDatabase,
  makeLogRecords,
  median,
  truncateLogs,
  writeResult,
} from './lib.js';
import { isQuick } from './run.js';

const ROWS = Number(process.env.BENCH_ROWS ?? (isQuick() ? 20_000 : 100_000));
const RUNS = Number(process.env.BENCH_RUNS ?? (isQuick() ? 2 : 5));
const REQUEST_RECORDS = 512; // the SDK batch processor's default export batch
const IN_FLIGHT = 4;
/** The gateway's exporter settings (src/gateway/server.ts), used for the direct side too. */
const EXPORTER = { batchSize: 500, flushIntervalMs: 1000, maxBatchSize: 1000, concurrency: 2 };

async function direct(url: string, records: ReadableLogRecord[]): Promise<number> {
  const exporter = new PostgresLogRecordExporter({
    connectionString: url,
    maxQueueSize: records.length,
    poolSize: EXPORTER.concurrency + 1,
    ...EXPORTER,
  });
  const started = performance.now();
  for (let i = 0; i < records.length; i += REQUEST_RECORDS) {
    exporter.export(records.slice(i, i + REQUEST_RECORDS), () => undefined);
    await new Promise((r) => setImmediate(r)); // the SDK processor hands over batches on later ticks
  }
  await exporter.forceFlush();
  const elapsed = performance.now() - started;
  const { exported } = exporter.stats();
  await exporter.shutdown();
  if (exported !== records.length) throw new Error(`direct: stored ${exported} of ${records.length}`);
  return elapsed;
}

/** POSTs one body; resolves with the status, honouring Retry-After on 429/503 like the SDK exporter. */
function post(agent: Agent, url: URL, body: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/x-protobuf',
          'content-encoding': 'gzip',
          'content-length': body.length,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) return resolve();
          if (res.statusCode === 503 || res.statusCode === 429) {
            const wait = Number(res.headers['retry-after'] ?? 1) * 1000;
            setTimeout(() => post(agent, url, body).then(resolve, reject), wait);
            return;
          }
          reject(new Error(`gateway answered ${res.statusCode}`));
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function viaGateway(url: string, bodies: Buffer[], rows: number): Promise<number> {
  const gateway = await startGateway({ url, port: 0, grpcPort: null }); // shipped defaults
  const agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
  const target = new URL('/v1/logs', gateway.url);
  try {
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < bodies.length) await post(agent, target, bodies[next++]!);
      }),
    );
    await gateway.flush();
    const elapsed = performance.now() - started;
    const client = new (await import('pg')).default.Client({ connectionString: url });
    await client.connect();
    const stored = Number((await client.query('SELECT count(*) AS n FROM pipeline_logs')).rows[0].n);
    await client.end();
    if (stored !== rows) throw new Error(`gateway: stored ${stored} of ${rows}`);
    return elapsed;
  } finally {
    agent.destroy();
    await gateway.close();
  }
}

export async function run(): Promise<BenchmarkResult> {
  const server = await benchServerUrl();
  const db = await freshDatabase(server.url);
  try {
    await migrate(db.url);
    const records = makeLogRecords(ROWS, 'bench-gateway');
    const bodies: Buffer[] = [];
    let wireBytes = 0;
    let rawBytes = 0;
    for (let i = 0; i < records.length; i += REQUEST_RECORDS) {
      const raw = ProtobufLogsSerializer.serializeRequest(records.slice(i, i + REQUEST_RECORDS))!;
      const body = gzipSync(raw);
      rawBytes += raw.length;
      wireBytes += body.length;
      bodies.push(body);
    }
    const directRuns: number[] = [];
    const gatewayRuns: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      await truncateLogs(db.url);
      directRuns.push((ROWS / (await direct(db.url, records))) * 1000);
      await truncateLogs(db.url);
      gatewayRuns.push((ROWS / (await viaGateway(db.url, bodies, ROWS))) * 1000);
      process.stderr.write(
        `  run ${r + 1}/${RUNS}: direct ${Math.round(directRuns.at(-1)!)} rows/s, gateway ${Math.round(gatewayRuns.at(-1)!)} rows/s\n`,
      );
    }
    const ratio = median(gatewayRuns) / median(directRuns);
    return {
      benchmark: 'gateway',
      description: `${ROWS.toLocaleString('en-US')} log records into pipeline_logs: handed to PostgresLogRecordExporter directly, or sent to pipetel gateway as OTLP/HTTP protobuf + gzip (${REQUEST_RECORDS} per request, ${IN_FLIGHT} in flight, ${(rawBytes / ROWS).toFixed(0)} B/record raw, ${(wireBytes / ROWS).toFixed(0)} B gzipped), ${RUNS} alternating runs`,
      target: 'gateway ≥ 0.8 × the direct exporter',
      headline: { label: 'gateway / direct', value: ratio, unit: '×', meetsTarget: ratio >= 0.8 },
      measurements: [
        {
          name: 'PostgresLogRecordExporter, records handed over in 512s (export() to committed)',
          side: 'anchor',
          unit: 'rows/s',
          median: median(directRuns),
          runs: directRuns,
        },
        {
          name: 'pipetel gateway, OTLP/HTTP protobuf + gzip (first request to committed)',
          side: 'pipetel',
          unit: 'rows/s',
          median: median(gatewayRuns),
          runs: gatewayRuns,
        },
      ],
      notes: [
        'Same records, same exporter settings (batch 500, up to 1000 rows per COPY, 2 writers); the gateway decompresses, decodes (its own protobuf reader) and maps each request on its event loop before the same path.',
        "The producer's serialization and gzip happen before timing (its CPU, not the gateway's); the sender shares the gateway's process, so its HTTP work is counted against the gateway.",
      ],
      environment: environment({
        server: server.label,
        rows: ROWS,
        requestRecords: REQUEST_RECORDS,
        inFlight: IN_FLIGHT,
      }),
    };
  } finally {
    await db.drop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await run();
  process.stdout.write(`${JSON.stringify(result.headline)}\n`);
  writeResult(result);
}
