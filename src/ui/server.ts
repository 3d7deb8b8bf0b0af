// `pipetel ui`: a read-only page and JSON API over a pipetel database, served by node:http from the
// package (no CDN, no build step). The queries are RunReader's, the same as the CLI's. Loopback
// by default; bound anywhere else it requires a token. Live updates are server-sent events: the
// log tail LISTENs on the channel migration 0003's trigger notifies (one event per stored batch,
// resuming after Last-Event-ID), progress is re-read while the run is running.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { isUnavailable } from '../../exporters/delivery/RetryPolicy.js';
import { safeErrorMessage } from '../../exporters/postgres/connectionSecrets.js';
import {
  AmbiguousRunError,
  type LogRow,
  levelNamed,
  ReadError,
  RunReader,
  stillFollowed,
} from '../db/runReader.js';
import { carriesToken, requireTokenOffLoopback } from '../internal/httpAccess.js';
import { PAGE_HTML } from './page.js';

/** The CSP source of the page's one inline script (sha256 of its text). */
const PAGE_SCRIPT_HASH = (() => {
  const inline = /<script>([\s\S]*?)<\/script>/.exec(PAGE_HTML);
  if (!inline) throw new Error('pipetel ui: the page has no inline script to hash');
  return `sha256-${createHash('sha256').update(inline[1]!, 'utf8').digest('base64')}`;
})();

export interface UiOptions {
  /** The pipetel database to read. */
  url: string;
  host?: string;
  port?: number;
  /** Required when `host` is not a loopback address. */
  token?: string;
}

export interface RunningUi {
  url: string;
  close(): Promise<void>;
}

/** uPlot (MIT, a dependency), served from the package: the charts need no CDN. */
const uplotDir = dirname(createRequire(import.meta.url).resolve('uplot/package.json'));
const ASSETS: Record<string, { type: string; body: () => Promise<Buffer> }> = {
  '/assets/uplot.js': {
    type: 'text/javascript; charset=utf-8',
    body: () => readFile(join(uplotDir, 'dist/uPlot.iife.min.js')),
  },
  '/assets/uplot.css': {
    type: 'text/css; charset=utf-8',
    body: () => readFile(join(uplotDir, 'dist/uPlot.min.css')),
  },
};
const CHANNEL = 'pipetel_logs';
/** Rows of one batch share their created_at; a reader resumes a little before the last one it saw. */
const OVERLAP_MS = 10_000;
const PROGRESS_EVERY_MS = 1_000;

export async function startUi(options: UiOptions): Promise<RunningUi> {
  const host = options.host ?? '127.0.0.1';
  requireTokenOffLoopback(host, options.token, '--token or PIPETEL_UI_TOKEN');
  const reader = await RunReader.pooled(options.url);
  const streams = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    void handle(req, res).catch((error) => {
      if (res.headersSent) res.end();
      // The database down (a restart) is a 503 the page can wait out, not a server error.
      else if (isUnavailable(error))
        json(res, 503, { error: `database unreachable: ${safeErrorMessage(error, options.url)}` });
      else json(res, 500, { error: safeErrorMessage(error, options.url) });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://ui.local');
    res.setHeader('x-content-type-options', 'nosniff');
    if (options.token && !carriesToken(req, options.token, url.searchParams.get('token'))) {
      json(res, 401, { error: 'a token is required (Authorization: Bearer …, or ?token=…)' });
      return;
    }
    // HEAD for the page only (health checks): the API's live streams never end a response.
    if (req.method !== 'GET' && !(req.method === 'HEAD' && url.pathname === '/')) {
      json(res, 405, { error: 'read-only' });
      return;
    }
    if (url.pathname === '/') {
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        // Scripts: the served assets and the page's own inline script, by its hash — nothing else
        // runs, not an inline handler a hostile value might smuggle in (textContent already keeps
        // such values text; this is the second line).
        'content-security-policy': `default-src 'none'; script-src 'self' '${PAGE_SCRIPT_HASH}'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:`,
      });
      res.end(PAGE_HTML);
      return;
    }
    // The run page's address (SPEC §11): the page itself routes by hash, so send it there.
    const runPage = /^\/runs(?:\/([^/]+))?\/?$/.exec(url.pathname);
    if (runPage) {
      // The segment stays as the client encoded it: the page decodes the hash once.
      const hash = runPage[1] ? `#/run/${runPage[1]}` : '';
      res.writeHead(302, { location: `/${url.search}${hash}` }).end();
      return;
    }
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    const asset = ASSETS[url.pathname];
    if (asset) {
      res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'max-age=3600' });
      res.end(await asset.body());
      return;
    }
    const route = /^\/api\/runs(?:\/([^/]+)(?:\/(logs|progress|events|metrics))?)?$/.exec(url.pathname);
    if (!route) {
      json(res, 404, { error: `no such page: ${url.pathname}` });
      return;
    }
    const [, runId, part] = route;
    // A filter value the API does not know is a 400 naming it, as the CLI's usage error: never a
    // 200 that quietly ignored it.
    const bad = badFilter(url.searchParams);
    if (bad) {
      json(res, 400, { error: bad });
      return;
    }
    try {
      if (runId === undefined) {
        const status = url.searchParams.get('status') || undefined;
        const limit = Math.min(Number(url.searchParams.get('limit') ?? 50) || 50, 500);
        json(res, 200, await reader.runs({ status, limit }));
        return;
      }
      const run = await reader.resolveRun(decodeURIComponent(runId));
      if (part === undefined) json(res, 200, { run, ...(await reader.summary(run.experiment_id)) });
      else if (part === 'progress') json(res, 200, await reader.progress(run.experiment_id));
      else if (part === 'metrics') {
        const name = url.searchParams.get('name');
        if (!name) json(res, 400, { error: 'name= is required' });
        else json(res, 200, await reader.metricSeries(run.experiment_id, name));
      } else if (part === 'logs') {
        const level = url.searchParams.get('level');
        json(
          res,
          200,
          await reader.logs({
            experimentId: run.experiment_id,
            level: level ? levelNamed(level) : undefined,
            stage: url.searchParams.get('stage') || undefined,
            worker: url.searchParams.get('worker') || undefined,
            search: url.searchParams.get('search') || undefined,
            limit: Math.min(Number(url.searchParams.get('limit') ?? 500) || 500, 5000),
          }),
        );
      } else await events(req, res, run.experiment_id);
    } catch (error) {
      // An ambiguous prefix is not a missing run: 409, with the runs it could mean.
      if (error instanceof AmbiguousRunError)
        json(res, 409, { error: error.message, candidates: error.candidates });
      else if (error instanceof ReadError) json(res, 404, { error: error.message });
      else throw error;
    }
  }

  /**
   * Server-sent events for one run: `log` events as batches are stored (each event's id is the
   * row's created_at in ms and its id, so a reconnect sends Last-Event-ID and resumes right after
   * that row, even in the middle of a batch), `progress` every second while the run is running,
   * `end` once it has ended.
   */
  async function events(req: IncomingMessage, res: ServerResponse, experimentId: string): Promise<void> {
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    streams.add(res);
    const listener = new pg.Client({ connectionString: options.url, application_name: 'pipetel-ui' });
    let closed = false;
    // The server ended the LISTEN connection (a restart): end the stream, so the browser's
    // EventSource reconnects and resumes after Last-Event-ID instead of waiting on a dead channel.
    const lost = () => {
      if (!closed) res.end();
    };
    listener.on('error', lost);
    listener.on('end', lost);
    await listener.connect();
    let resume = parseEventId(req.headers['last-event-id']);
    // Event ids carry created_at in whole milliseconds (the driver's Date; the column has
    // microseconds): a resume reads from the start of that millisecond, and skips that
    // millisecond's rows up to the one the client had, in the order they were sent.
    let cursor = resume ? new Date(resume.createdAtMs - 1) : new Date();
    /** Nothing stored before this is sent: the client has it (resumed) or read it from /logs. */
    const floor = resume ? resume.createdAtMs : cursor.getTime();
    /** Ids sent within the overlap window, with their created_at (pruned as the cursor moves). */
    const seen = new Map<string, number>();
    const send = (event: string, data: unknown, id?: string) =>
      res.write(`${id ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    let sent = 0;
    let reading = Promise.resolve();
    const readLogs = () => {
      reading = reading.then(async () => {
        const rows: LogRow[] = await reader.logs({
          experimentId,
          storedAfter: new Date(cursor.getTime() - (seen.size ? OVERLAP_MS : 0)),
          limit: 5000,
        });
        // The rows of the resumed millisecond the client had (up to its last one, in send order)
        // count as sent: later reads, which overlap, skip them too.
        if (resume) {
          const { createdAtMs, rowId } = resume;
          const sameMs = rows.filter((row) => row.created_at.getTime() === createdAtMs);
          const last = sameMs.findIndex((row) => row.id === rowId);
          for (const row of last < 0 ? sameMs : sameMs.slice(0, last + 1)) seen.set(row.id, createdAtMs);
          resume = undefined;
        }
        for (const row of rows) {
          if (seen.has(row.id) || row.created_at.getTime() < floor) continue;
          seen.set(row.id, row.created_at.getTime());
          if (row.created_at > cursor) cursor = row.created_at;
          sent++;
          send('log', row, `${row.created_at.getTime()}.${row.id}`);
        }
        for (const [id, at] of seen) if (at < cursor.getTime() - OVERLAP_MS) seen.delete(id);
      });
      return reading;
    };
    listener.on('notification', (message) => {
      if (message.payload === experimentId) void readLogs().catch(() => undefined);
    });
    await listener.query(`LISTEN ${CHANNEL}`);
    await readLogs();
    // A run's last records can land just after its row says it ended (its own spool replay at
    // shutdown): `end` waits for one more quiet tick after the run ended.
    let endedTicks = 0;
    let lastProgress: string | undefined;
    const tick = setInterval(() => {
      void (async () => {
        const run = await reader.resolveRun(experimentId);
        // Only when it changed: a stalled run is not re-sent every second.
        const progress = JSON.stringify(await reader.progress(experimentId));
        if (progress !== lastProgress) send('progress', JSON.parse(progress));
        lastProgress = progress;
        if (stillFollowed(run)) return; // live, or running and silent a while (see FOLLOW_SILENT_RUN_MS)
        const before = sent;
        await readLogs();
        if (sent > before) endedTicks = 0;
        if (++endedTicks < 2) return;
        send('end', { status: run.status });
        clearInterval(tick);
      })().catch(() => undefined);
    }, PROGRESS_EVERY_MS);
    tick.unref();
    const close = () => {
      closed = true;
      clearInterval(tick);
      streams.delete(res);
      void listener.end().catch(() => undefined);
    };
    req.on('close', close);
    res.on('close', close);
    if (res.writableEnded) close(); // lost before these listeners were there
  }

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 7070, host, () => resolve());
    });
  } catch (error) {
    // A busy port: nothing of ours may keep the process alive (the pool's connections did).
    await reader.close();
    throw error;
  }
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}/`,
    close: async () => {
      for (const res of streams) res.end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections?.();
      await reader.close();
    },
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

export type { Server };

/** Last-Event-ID of a log event: `<created_at ms>.<row id>` (a bare `<ms>` from an older server: the whole millisecond). */
function parseEventId(
  header: string | string[] | undefined,
): { createdAtMs: number; rowId?: string } | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const match = value === undefined ? null : /^(\d{1,15})(?:\.([0-9a-f-]{36}))?$/.exec(value);
  if (!match) return undefined;
  return { createdAtMs: Number(match[1]), rowId: match[2] };
}

const RUN_STATUSES = ['running', 'succeeded', 'failed'];

/** What is wrong with the API's filter parameters (status=, level=, limit=), or undefined. */
function badFilter(params: URLSearchParams): string | undefined {
  const status = params.get('status');
  if (status && !RUN_STATUSES.includes(status))
    return `status= expects one of ${RUN_STATUSES.join(', ')}, got "${status}"`;
  const level = params.get('level');
  if (level && levelNamed(level) === undefined)
    return `level= expects DEBUG, INFO, WARNING, ERROR or CRITICAL, got "${level}"`;
  const limit = params.get('limit');
  if (limit !== null && !(Number.isInteger(Number(limit)) && Number(limit) > 0))
    return `limit= expects a positive integer, got "${limit}"`;
  return undefined;
}
