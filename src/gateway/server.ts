// `pipetel gateway`: an OTLP/HTTP receiver in front of a pipetel database, so workers and
// Collectors feed the same schema (SPEC §10). Requests are decoded into the SDK's record types and
// handed to pipetel's PostgreSQL exporters — the same policy (redaction, limits) and delivery path
// (queue → COPY → retry → spool) as a registered process. The experiment row of each resource is
// created and kept current. OTLP/HTTP with protobuf (otlpProtobuf.ts decodes it into the OTLP/JSON
// shape) or JSON, identity, gzip or deflate; OTLP/gRPC on its own port, through the same reader.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { gunzip as gunzipCallback, inflate as inflateCallback } from 'node:zlib';
import {
  Server as GrpcServer,
  status as grpcStatus,
  ServerCredentials,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import pg from 'pg';
import { TextKeyedWarnings } from '../../exporters/delivery/RateLimitedWarning.js';
import { isConfigurationError, sqlState } from '../../exporters/delivery/RetryPolicy.js';
import { Spool, spoolDirectory } from '../../exporters/delivery/Spool.js';
import { targetAddress, targetIdentity } from '../../exporters/delivery/spoolTarget.js';
import { refusedConnectionMessage, safeErrorMessage } from '../../exporters/postgres/connectionSecrets.js';
import { PostgresLogRecordExporter } from '../../exporters/postgres/PostgresLogRecordExporter.js';
import { PostgresMetricExporter } from '../../exporters/postgres/PostgresMetricExporter.js';
import { PostgresSpanExporter } from '../../exporters/postgres/PostgresSpanExporter.js';
import { closePool, createPool, forgetRefusal } from '../../exporters/postgres/pool.js';
import { ExperimentStore, GATEWAY_QUIET_SECONDS } from '../db/experimentStore.js';
import { EXPERIMENTS_SPOOL_TABLE, encodeExperimentLine } from '../db/spooledRows.js';
import { bearerMatches, carriesToken, requireTokenOffLoopback } from '../internal/httpAccess.js';
import { LogSynchronizer } from '../sync/LogSynchronizer.js';
import { type FleetNews, FleetRuns, readMetrics, readRecords } from './fleet.js';
import { logsFromProtobuf, spansFromProtobuf } from './otlpDirect.js';
import { BadRequest, type Decoded, logsFromJson, metricsFromJson, spansFromJson } from './otlpJson.js';
import { decodeOtlpProtobuf } from './otlpProtobuf.js';

export interface GatewayOptions {
  url: string;
  host?: string;
  port?: number;
  /** OTLP/gRPC port (the Collector's load-balancing exporter speaks only gRPC); null: not served. Default 4317. */
  grpcPort?: number | null;
  /** Required when `host` is not loopback; every request then sends `Authorization: Bearer …`. */
  token?: string;
  /** Largest request body, compressed or not (gateway.max_body_mb). Default 16 MiB. */
  maxBodyBytes?: number;
  /**
   * High-water mark: above it a request waits for room, then is answered 503. Default 10 000 records
   * per signal; the queue itself holds 50 000 more, so a large request accepted below the mark fits.
   */
  maxQueuedRecords?: number;
  /**
   * PIPETEL_HOME: with it, what the database cannot take (down, or behind) goes to the crash-safe
   * spool under it and is replayed when the database answers again, by this gateway or by
   * `pipetel sync` — accepted records are never lost. Without it the gateway pushes back with
   * 503 + Retry-After at the high-water mark and the producers' exporters retry.
   */
  home?: string;
  /**
   * Readies the database before anything is written (the command migrates the schema and sets up
   * partitions, as database.* says). Retried in the background while the database is down; the
   * gateway answers meanwhile (records go to the spool).
   */
  setUp?: (pool: pg.Pool) => Promise<void>;
  /** @internal Between setup attempts while the database is down. Default 5 s. */
  setUpRetryMs?: number;
  /** @internal Between checks whether a database that did not exist has been created. Default 60 s. */
  missingDatabaseRecheckMs?: number;
  /** database.auto_migrate: a spool replay that finds the schema missing migrates it. Default true. */
  autoMigrate?: boolean;
  /** How often the spool is replayed while the gateway runs (spool.sync_interval). Default 5 s. */
  syncIntervalMs?: number;
  warn?: (message: string) => void;
}

export interface RunningGateway {
  url: string;
  /** host:port of the OTLP/gRPC server, when served. */
  grpcAddress?: string;
  /** Resolves when every record accepted so far is stored (or spooled). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Experiment rows are refreshed at most this often per experiment. */
const EXPERIMENT_REFRESH_MS = 5_000;
/** SQLSTATE 3D000, invalid_catalog_name: the database does not exist. */
const MISSING_DATABASE = '3D000';
/** How long startGateway() waits for the database's setup before it serves anyway. */
const SETUP_WAIT_MS = 1_000;
/** How long batches wait for the first setup attempt before going to the spool. */
const SETUP_GATE_MS = 10_000;

const gunzip = promisify(gunzipCallback);
const inflate = promisify(inflateCallback);

/** How long a request may wait for room in a queue above its high-water mark before a 503. */
const BACKPRESSURE_WAIT_MS = 2_000;

/** A 413 while reading the body (also after decompression). */
class TooLarge extends Error {}

/** @internal The client closed the connection before its request was read: nobody to answer. */
export class ClientGone extends Error {}

export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const host = options.host ?? '127.0.0.1';
  requireTokenOffLoopback(host, options.token, '--token or PIPETEL_GATEWAY_TOKEN');
  const maxBody = options.maxBodyBytes ?? 16 * 2 ** 20;
  // A shallow queue keeps decoded records young (cheaper garbage: measured 0.85x direct at 5k
  // against 0.83x at 50k) and is still ten batches ahead of the two writers. The queue holds one
  // large request beyond the mark (a Collector's batches are 8192).
  const maxQueued = options.maxQueuedRecords ?? 10_000;
  // One message of a kind per 10 s at most: a database that is down for an hour is a line every
  // 10 s, while another kind of trouble (a signal's queue overflowing, the database answering again)
  // is still said when it happens.
  const limiter = new TextKeyedWarnings(
    options.warn ?? ((message: string) => process.stderr.write(`pipetel gateway: ${message}\n`)),
    10_000,
  );
  const warn = (message: string) => limiter.warn(message);
  const pool = createPool({
    connectionString: options.url,
    applicationName: 'pipetel-gateway',
    // A database gone silent fails the gateway's queries (experiment rows, replay, setup) after a
    // minute rather than the ~15 the operating system takes, so a later replay does not join a
    // hung one; migrations are exempt (withoutAnswerWatch). Its batch writes give up after 11 s.
    answerTimeoutMs: 60_000,
    onError: (error) => warn(`database connection error: ${safeErrorMessage(error, options.url)}`),
  });
  // The server's identity, recorded with spooled records so they go back to this database only.
  let identity: string | undefined;
  const spool = options.home
    ? new Spool({
        dir: spoolDirectory(options.home),
        target: () => ({ address: targetAddress(options.url), identity }),
        warn,
      })
    : undefined;
  // Batches wait for the first setup attempt (the tables may not exist yet), at most
  // SETUP_GATE_MS: past that they go to the spool as in any outage.
  let openWrites: () => void = () => undefined;
  const writesAfter = new Promise<void>((resolve) => {
    openWrites = resolve;
  });
  const gateTimer = setTimeout(() => openWrites(), SETUP_GATE_MS);
  gateTimer.unref();
  const exporterOptions = {
    pool,
    writesAfter,
    onRefused: (error: unknown) => refused(error),
    maxQueueSize: maxQueued + 50_000,
    batchSize: 500,
    flushIntervalMs: 1000,
    maxBatchSize: 1000,
    concurrency: 2,
    spill: spool,
    overflowToSpill: spool !== undefined,
    encodeAhead: true,
    warn,
  };
  const spans = new PostgresSpanExporter(exporterOptions);
  const logs = new PostgresLogRecordExporter(exporterOptions);
  const metrics = new PostgresMetricExporter(exporterOptions);
  const experiments = new ExperimentStore(pool);
  const synchronizer = spool
    ? new LogSynchronizer({
        home: options.home!,
        pool,
        // The gateway reports a refusal itself, once (see refused()), and restarts the replay.
        refusalReported: true,
        syncIntervalMs: options.syncIntervalMs ?? 5_000,
        spool,
        autoMigrate: options.autoMigrate ?? true,
        warn,
      })
    : undefined;
  synchronizer?.start();
  let setUpRetry: NodeJS.Timeout | undefined;
  let closed = false;
  /** The database as warnings name it: host:port/name, never the password. */
  const database = targetAddress(options.url) ?? 'as configured';
  let setUpFailed = false;
  /** Readies the database; true when it did. */
  const setUp = async (): Promise<boolean> => {
    try {
      await options.setUp?.(pool);
      identity ??= await targetIdentity(pool);
      // Said when it follows a failure that was said: the last line must not read "failing".
      if (setUpFailed && refusal === undefined)
        warn(`database setup done (database.url ${database}): writing, and replaying the spool`);
      setUpFailed = false;
      return true;
    } catch (error) {
      if (closed) return false; // close() ended the pool under it
      if (isConfigurationError(error)) {
        refused(error);
        return false;
      }
      setUpFailed = true;
      warn(
        `database setup failed (database.url ${database}), retrying in the background: ${safeErrorMessage(error, options.url)}`,
      );
      setUpRetry = setTimeout(() => void setUp(), options.setUpRetryMs ?? 5_000);
      setUpRetry.unref();
      return false;
    }
  };
  const recheckMs = options.missingDatabaseRecheckMs ?? 60_000;
  let refusal: unknown;
  /**
   * The server refused the role, password or database — at setup, or to a writer mid-run (a
   * database dropped): the pool does not ask again (see pool.ts). One warning, this one: the
   * exporters spool from now on without one each.
   */
  const refused = (error: unknown): void => {
    if (refusal !== undefined || closed) return;
    refusal = error;
    for (const exporter of [spans, logs, metrics]) exporter.refuse(error);
    const missingDatabase = sqlState(error) === MISSING_DATABASE;
    warn(
      missingDatabase
        ? `the database (database.url ${database}) does not exist: ${safeErrorMessage(error, options.url)}; records are spooled, and the gateway checks every ${recheckMs / 1000} s whether it exists again (created or restored)`
        : refusedConnectionMessage(
            options.url,
            error,
            'records are spooled until the gateway restarts with a working database.url',
          ),
    );
    // A database that does not exist may be created (again: dropped and restored): a service that
    // runs for months should not need a restart for that. A refused password is not retried,
    // which could lock the account.
    if (missingDatabase) {
      clearTimeout(setUpRetry);
      setUpRetry = setTimeout(() => void recheckMissingDatabase(), recheckMs);
      setUpRetry.unref();
    }
  };
  /** One connection of its own (the pool refuses to dial): does the database exist now? */
  const recheckMissingDatabase = async (): Promise<void> => {
    if (closed) return;
    const client = new pg.Client({ connectionString: options.url, connectionTimeoutMillis: 10_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch {
      if (closed) return;
      setUpRetry = setTimeout(() => void recheckMissingDatabase(), recheckMs);
      setUpRetry.unref();
      return;
    } finally {
      await client.end().catch(() => undefined);
    }
    forgetRefusal(pool);
    refusal = undefined;
    // Failed again: setUp() said so and retries (or rechecks) on its own.
    if (!(await setUp()) || closed) return;
    for (const exporter of [spans, logs, metrics]) exporter.resume();
    synchronizer?.start();
    warn(`the database (database.url ${database}) exists again: writing resumed, the spool is replayed`);
  };
  // A database that answers is ready before the first request is served; one that does not
  // answer within a second does not keep the gateway from listening (the producers have no spool).
  const firstSetUp = setUp().finally(() => {
    clearTimeout(gateTimer);
    openWrites();
  });
  const settled = await Promise.race([
    firstSetUp.then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), SETUP_WAIT_MS).unref()),
  ]);
  if (!settled)
    warn(
      `the database (database.url ${database}) has not answered within ${SETUP_WAIT_MS / 1000} s; serving anyway: records wait up to ${SETUP_GATE_MS / 1000} s for it, then go to the spool`,
    );
  const refreshed = new Map<string, number>();

  // Experiments whose row could not be written (the database was down) are retried until it is,
  // and spooled — when first missed, again when a worker ends it meanwhile, and at close — so a
  // gateway restarted (or killed) before the database is back does not leave runs whose records
  // are stored but whose row never is (every reader starts from the row).
  const unwritten = new Map<string, string>();
  /** When each run's records first and last arrived (since its row was last written). */
  const firstSeen = new Map<string, Date>();
  const lastSeen = new Map<string, Date>();
  /** Each run's workers: who sent records, who said its run ended (and how). */
  const fleet = new FleetRuns(GATEWAY_QUIET_SECONDS * 1000);
  const spoolExperiments = async (ids: Iterable<string>) => {
    if (!spool) return;
    const now = new Date();
    const lines: string[] = [];
    for (const experimentId of ids) {
      const serviceName = unwritten.get(experimentId);
      if (serviceName === undefined) continue;
      const ending = fleet.ending(experimentId);
      lines.push(
        encodeExperimentLine({
          experimentId,
          serviceName,
          status: ending.failed === undefined ? 'succeeded' : 'failed',
          startedAt: firstSeen.get(experimentId) ?? now,
          endedAt: lastSeen.get(experimentId) ?? now,
          lastSeenAt: now,
          statusReason: ending.failed ?? null,
          attributes: gatewayAttributes(ending.ended),
        }),
      );
    }
    if (lines.length > 0)
      await spool
        .append(EXPERIMENTS_SPOOL_TABLE, lines)
        .catch((error) => warn(`experiment rows could not be spooled: ${(error as Error).message}`));
  };
  /** Each run's row write under way (one at a time per run: a hung server), so flush() can wait. */
  const writing = new Map<string, Promise<void>>();
  /** Runs that changed while their row was being written: written again by the same write. */
  const dirty = new Set<string>();
  /** What each unwritten run's spooled row said (its ending): spooled again when that changes. */
  const spooledAs = new Map<string, string>();
  const observe = (experimentId: string, serviceName: string): Promise<void> => {
    const inFlight = writing.get(experimentId);
    if (inFlight) {
      dirty.add(experimentId);
      return inFlight;
    }
    const write = (async () => {
      try {
        do {
          dirty.delete(experimentId);
          await writeRow(experimentId, serviceName);
        } while (dirty.has(experimentId));
      } finally {
        writing.delete(experimentId);
      }
    })();
    writing.set(experimentId, write);
    return write;
  };
  const writeRow = async (experimentId: string, serviceName: string) => {
    const last = lastSeen.get(experimentId) ?? new Date();
    const first = firstSeen.get(experimentId) ?? last;
    const ending = fleet.ending(experimentId);
    const relaunched = fleet.takeRelaunch(experimentId);
    try {
      await experiments.observe(
        { experimentId, serviceName, attributes: gatewayAttributes(ending.ended) },
        { first, last },
        ending.failed,
        relaunched,
      );
      unwritten.delete(experimentId);
      spooledAs.delete(experimentId);
      // Written: the next row write starts from records that arrive after it.
      if (firstSeen.get(experimentId) === first) firstSeen.delete(experimentId);
      if (lastSeen.get(experimentId) === last) lastSeen.delete(experimentId);
    } catch {
      refreshed.delete(experimentId);
      unwritten.set(experimentId, serviceName);
      // Spooled once per ending it had (a worker's failure during an outage is spooled too).
      const said = JSON.stringify(ending);
      if (spooledAs.get(experimentId) !== said && !closed) {
        spooledAs.set(experimentId, said);
        await spoolExperiments([experimentId]);
      }
    }
  };
  /**
   * Experiments seen since their last refresh, inside its throttle window: refreshed when the
   * window ends (and at flush and close), so ended_at follows the last batch, not the last one
   * that happened to fall outside a window.
   */
  const seenSinceRefresh = new Map<string, string>();
  const keepExperiments = (found: Map<string, string>, news: FleetNews) => {
    const now = Date.now();
    const receivedAt = new Date(now);
    // A run that ended, failed or came back to life is written now, not at its next refresh.
    for (const experimentId of fleet.apply(news)) refreshed.delete(experimentId);
    for (const [experimentId, serviceName] of found) {
      if (!firstSeen.has(experimentId)) firstSeen.set(experimentId, receivedAt);
      lastSeen.set(experimentId, receivedAt);
      if ((refreshed.get(experimentId) ?? 0) > now - EXPERIMENT_REFRESH_MS) {
        seenSinceRefresh.set(experimentId, serviceName);
        continue;
      }
      refreshed.set(experimentId, now);
      seenSinceRefresh.delete(experimentId);
      void observe(experimentId, serviceName);
    }
  };
  /** The refreshes still owed (all of them with `all`, else those whose window has ended). */
  const refreshSeen = (all: boolean): Promise<unknown> => {
    const now = Date.now();
    const writes: Promise<void>[] = [];
    // A copy: observe() may change the map while this walks it.
    for (const [experimentId, serviceName] of [...seenSinceRefresh]) {
      if (!all && (refreshed.get(experimentId) ?? 0) > now - EXPERIMENT_REFRESH_MS) continue;
      refreshed.set(experimentId, now);
      seenSinceRefresh.delete(experimentId);
      writes.push(observe(experimentId, serviceName));
    }
    return Promise.all(writes);
  };
  const retryExperiments = setInterval(() => {
    for (const [experimentId, serviceName] of unwritten) void observe(experimentId, serviceName);
    void refreshSeen(false);
  }, EXPERIMENT_REFRESH_MS / 5);
  retryExperiments.unref();

  const routes: Record<
    string,
    {
      decode: (body: unknown) => Decoded<unknown>;
      /** OTLP/protobuf straight to records (logs), or through the OTLP/JSON shape. */
      fromProtobuf: (body: Buffer) => Decoded<unknown>;
      accept: (records: unknown[]) => number;
      queued: () => number;
      /** The records' workers (stamped on them) and the end records among them. */
      fleet: (records: unknown[]) => FleetNews;
    }
  > = {
    '/v1/traces': {
      decode: spansFromJson,
      fromProtobuf: spansFromProtobuf,
      accept: (records) => records.filter((r) => !spans.accept(r as never)).length,
      queued: () => spans.stats().queued,
      fleet: (records) => readRecords(records as never, false),
    },
    '/v1/logs': {
      decode: logsFromJson,
      fromProtobuf: logsFromProtobuf,
      accept: (records) => records.filter((r) => !logs.accept(r as never)).length,
      queued: () => logs.stats().queued,
      fleet: (records) => readRecords(records as never, true),
    },
    '/v1/metrics': {
      decode: metricsFromJson,
      fromProtobuf: (body) => metricsFromJson(decodeOtlpProtobuf(body, 'ExportMetricsServiceRequest')),
      accept: (records) => {
        let refused = 0;
        for (const r of records)
          metrics.export(r as never, (result) => (refused += result.code === 0 ? 0 : 1));
        return refused;
      },
      queued: () => metrics.stats().queued,
      fleet: (records) => readMetrics(records as never),
    },
  };

  /**
   * Backpressure: above the high-water mark a request waits (up to BACKPRESSURE_WAIT_MS) for the
   * queue to drain below it — a slower answer keeps the producer's batches flowing at the
   * database's pace — and only then is answered 503/UNAVAILABLE with Retry-After, which costs the
   * producer a whole second.
   */
  async function roomIn(route: { queued: () => number }): Promise<boolean> {
    const deadline = Date.now() + BACKPRESSURE_WAIT_MS;
    while (route.queued() > maxQueued) {
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return true;
  }

  const server = createServer((req, res) => {
    void handle(req, res).catch((error) => {
      if (!res.headersSent) status(res, 500, safeErrorMessage(error, options.url));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0]!;
    const route = routes[path];
    if (options.token && !carriesToken(req, options.token))
      return status(res, 401, 'a bearer token is required');
    if (!route) return status(res, 404, `no OTLP endpoint at ${path}`);
    if (req.method !== 'POST') return status(res, 405, 'OTLP/HTTP takes POST');
    const type = String(req.headers['content-type'] ?? '')
      .split(';')[0]!
      .trim();
    if (type !== 'application/json' && type !== 'application/x-protobuf') {
      return status(
        res,
        415,
        `content type ${type || '(none)'} is not OTLP: send application/x-protobuf or application/json`,
      );
    }
    const encoding = String(req.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (!['identity', 'gzip', 'deflate'].includes(encoding))
      return status(res, 415, `content encoding ${encoding} is not supported`);
    if (!(await roomIn(route))) {
      res.setHeader('retry-after', '1');
      return status(res, 503, 'the database is behind; retry shortly');
    }
    let body: Buffer;
    try {
      body = await readBody(req, encoding, maxBody);
    } catch (error) {
      if (error instanceof ClientGone) return;
      if (error instanceof TooLarge) return status(res, 413, `the request is larger than ${maxBody} bytes`);
      return status(res, 400, `unreadable body: ${(error as Error).message}`);
    }
    let decoded: Decoded<unknown>;
    try {
      decoded =
        type === 'application/json'
          ? route.decode(JSON.parse(body.toString('utf8')))
          : route.fromProtobuf(body);
    } catch (error) {
      return status(
        res,
        400,
        error instanceof BadRequest || error instanceof SyntaxError ? error.message : 'malformed request',
      );
    }
    keepExperiments(decoded.experiments, route.fleet(decoded.records));
    const rejected = route.accept(decoded.records);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify(
        rejected > 0
          ? { partialSuccess: { rejectedDataPoints: String(rejected), errorMessage: 'queue full' } }
          : {},
      ),
    );
  }

  /**
   * OTLP/gRPC: the three Export methods, raw bytes in and out (the same protobuf reader), the
   * token as `authorization: Bearer …` metadata, errors as gRPC status codes the OTLP spec names
   * (INVALID_ARGUMENT not retried, UNAVAILABLE retried, UNAUTHENTICATED).
   */
  async function startGrpc(bindHost: string, port: number) {
    const grpcServer = new GrpcServer({ 'grpc.max_receive_message_length': maxBody });
    const raw = (b: Buffer) => b;
    for (const [service, pkg, path] of [
      ['TraceService', 'trace', '/v1/traces'],
      ['LogsService', 'logs', '/v1/logs'],
      ['MetricsService', 'metrics', '/v1/metrics'],
    ] as const) {
      const route = routes[path]!;
      const method = `/opentelemetry.proto.collector.${pkg}.v1.${service}/Export`;
      grpcServer.addService(
        {
          Export: {
            path: method,
            requestStream: false,
            responseStream: false,
            requestSerialize: raw,
            requestDeserialize: raw,
            responseSerialize: raw,
            responseDeserialize: raw,
          },
        },
        {
          Export: async (
            call: { request: Buffer; metadata: { get(key: string): unknown[] } },
            callback: (error: { code: number; details: string } | null, response?: Buffer) => void,
          ) => {
            const fail = (code: number, details: string) => callback({ code, details });
            // grpc-js catches only what a handler throws synchronously: anything after an await
            // is answered here, never left as an unhandled rejection.
            try {
              if (
                options.token &&
                !bearerMatches(String(call.metadata.get('authorization')[0] ?? ''), options.token)
              )
                return fail(grpcStatus.UNAUTHENTICATED, 'a bearer token is required');
              if (!(await roomIn(route)))
                return fail(grpcStatus.UNAVAILABLE, 'the database is behind; retry shortly');
              let decoded: Decoded<unknown>;
              try {
                decoded = route.fromProtobuf(call.request);
              } catch (error) {
                return fail(
                  grpcStatus.INVALID_ARGUMENT,
                  error instanceof BadRequest ? error.message : 'malformed request',
                );
              }
              keepExperiments(decoded.experiments, route.fleet(decoded.records));
              route.accept(decoded.records);
              callback(null, Buffer.alloc(0));
            } catch (error) {
              fail(grpcStatus.INTERNAL, safeErrorMessage(error, options.url));
            }
          },
        } as UntypedServiceImplementation,
      );
    }
    const bound = await new Promise<number>((resolve, reject) =>
      grpcServer.bindAsync(
        `${bindHost.includes(':') ? `[${bindHost}]` : bindHost}:${port}`,
        ServerCredentials.createInsecure(),
        (error, p) => (error ? reject(error) : resolve(p)),
      ),
    );
    return {
      address: `${bindHost}:${bound}`,
      close: () => new Promise<void>((resolve) => grpcServer.tryShutdown(() => resolve())),
    };
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 4318, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const grpc = options.grpcPort === null ? undefined : await startGrpc(host, options.grpcPort ?? 4317);
  return {
    url: `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`,
    grpcAddress: grpc?.address,
    flush: async () => {
      await Promise.all([spans.forceFlush(), logs.forceFlush(), metrics.forceFlush(), refreshSeen(true)]);
      await Promise.all(writing.values());
    },
    close: async () => {
      await grpc?.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections?.();
      closed = true;
      clearInterval(retryExperiments);
      clearTimeout(setUpRetry);
      clearTimeout(gateTimer);
      await refreshSeen(true).catch(() => undefined);
      await Promise.all(writing.values());
      // Rows still unwritten go to the spool with their latest time: the next start replays them.
      await spoolExperiments(unwritten.keys());
      await synchronizer?.stop();
      await Promise.all([spans.shutdown(), logs.shutdown(), metrics.shutdown()]);
      await spool?.end();
      // pg's end() would wait for a connection attempt to a server that does not answer.
      await closePool(pool, 1000);
      // The newest warning of each kind the limiter held back, with its count: not lost with the process.
      limiter.flush();
    },
  };
}

/** A google.rpc.Status body (code, message), as the OTLP spec asks of errors. */
function status(res: ServerResponse, code: number, message: string): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ code, message }));
}

/** @internal The body, decompressed, never more than `limit` bytes either way (no zip bombs). */
export async function readBody(req: IncomingMessage, encoding: string, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new TooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  await new Promise<void>((resolve, reject) => {
    // A client that went away (e.g. while the request waited for room) ends nothing: without
    // this the request would wait for an 'end' that never comes.
    if (req.destroyed) return reject(new ClientGone());
    req.once('close', () => {
      if (!req.complete) reject(new ClientGone());
    });
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.destroy();
        reject(new TooLarge());
      } else chunks.push(chunk);
    });
    req.once('end', resolve);
    req.once('error', reject);
  });
  const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
  if (encoding === 'identity') return body;
  // One call on the thread pool, its output capped: a small body that inflates past the limit
  // fails with ERR_BUFFER_TOO_LARGE without ever holding more than `limit` bytes.
  try {
    return await (encoding === 'gzip' ? gunzip : inflate)(body, { maxOutputLength: limit });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new TooLarge();
    throw error;
  }
}

/** A gateway run's row attributes; `pipetel.ended` once every worker said its run ended. */
function gatewayAttributes(ended: boolean): Record<string, unknown> {
  return ended ? { 'pipetel.source': 'gateway', 'pipetel.ended': true } : { 'pipetel.source': 'gateway' };
}
