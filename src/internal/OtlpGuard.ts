// Around each official OTLP exporter: counts what reached the collector and what did not, warns
// about failures (per kind, with a running count), and keeps a collector that is down from
// holding the process. The official exporters retry a refused connection for up to 10 s per batch
// on ref'd timers (8 s of a silent shutdown, issue 8); here a plain TCP connect tells first whether
// anything listens, and while nothing does, batches fail at once (counted as dropped) and the
// connect is tried again every few seconds.

import { connect } from 'node:net';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { KeyedWarnings, stderrWarning } from '../../exporters/delivery/RateLimitedWarning.js';
import type { WarningSink } from '../../exporters/delivery/types.js';

const RECORDS = { spans: 'spans', logs: 'log records', metrics: 'metric points' } as const;

/** How long a "down" verdict stands before the collector is tried again. */
const RECHECK_MS = 5000;
/** A TCP connect that takes longer than this counts as unreachable. */
const CONNECT_TIMEOUT_MS = 1000;

export interface OtlpCounts {
  /** Records (spans, log records, metric data points) the collector accepted. */
  exported: number;
  /** Records not delivered: the collector unreachable or refusing them. */
  dropped: number;
}

/** Whether the collector accepts connections, shared by the three signals' exporters. */
export class CollectorLink {
  private state: 'unknown' | 'up' | 'down' = 'unknown';
  private checkedAt = 0;
  private checking: Promise<boolean> | undefined;
  private readonly host: string;
  private readonly port: number;

  constructor(endpoint: string) {
    const url = new URL(endpoint);
    this.host = url.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
  }

  get down(): boolean {
    return this.state === 'down';
  }

  /** Up, or a fresh connect says something listens; a recent "down" is trusted without trying. */
  reachable(): Promise<boolean> {
    if (this.state === 'up') return Promise.resolve(true);
    if (this.state === 'down' && Date.now() - this.checkedAt < RECHECK_MS) return Promise.resolve(false);
    this.checking ??= canConnect(this.host, this.port).then((ok) => {
      this.state = ok ? 'up' : 'down';
      this.checkedAt = Date.now();
      this.checking = undefined;
      return ok;
    });
    return this.checking;
  }

  markDown(): void {
    this.state = 'down';
    this.checkedAt = Date.now();
  }

  markUp(): void {
    this.state = 'up';
  }
}

interface InnerExporter<Batch> {
  export(batch: Batch, resultCallback: (result: ExportResult) => void): void;
  shutdown(): Promise<void>;
  forceFlush?(): Promise<void>;
}

/** One signal's exporter behind the link: the SDK processor or reader calls this instead. */
export class GuardedOtlpExporter<Batch> {
  readonly counts: OtlpCounts = { exported: 0, dropped: 0 };

  constructor(
    private readonly inner: InnerExporter<Batch>,
    private readonly signal: 'spans' | 'logs' | 'metrics',
    private readonly size: (batch: Batch) => number,
    private readonly link: CollectorLink,
    private readonly warnings: KeyedWarnings,
  ) {}

  export(batch: Batch, resultCallback: (result: ExportResult) => void): void {
    const records = this.size(batch);
    void this.link.reachable().then((reachable) => {
      if (!reachable) {
        this.fail(records, 'collector unreachable');
        resultCallback({
          code: ExportResultCode.FAILED,
          error: new Error('pipetel: OTLP collector unreachable'),
        });
        return;
      }
      this.inner.export(batch, (result) => {
        if (result.code === ExportResultCode.SUCCESS) {
          this.counts.exported += records;
          this.link.markUp();
        } else {
          if (isNetworkError(result.error)) this.link.markDown();
          this.fail(records, result.error?.message ?? 'export failed');
        }
        resultCallback(result);
      });
    });
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }

  shutdown(): Promise<void> {
    this.warnings.flush();
    return this.inner.shutdown();
  }

  private fail(records: number, reason: string): void {
    this.counts.dropped += records;
    this.warnings.warn(
      this.signal,
      `otlp: ${this.signal} not exported (${reason}); ${this.counts.dropped} ${RECORDS[this.signal]} dropped so far`,
    );
  }
}

/** The warnings of the three OTLP exporters, rate-limited per signal. */
export function otlpWarnings(warn: WarningSink = stderrWarning): KeyedWarnings {
  return new KeyedWarnings(warn);
}

function isNetworkError(error: Error | undefined): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && /^E[A-Z_]+$/.test(code)) return true;
  return /ECONNREFUSED|ECONNRESET|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|socket hang up|timeout/i.test(
    error?.message ?? '',
  );
}

/** A TCP connect to the collector, bounded by CONNECT_TIMEOUT_MS; the socket is closed at once. */
function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), CONNECT_TIMEOUT_MS);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
