// "Monitoring the monitors", turned on pipetel itself (the seed's MonitoringProfiler): an estimate
// of the CPU time pipetel spends in the process and of the bytes its buffers hold. The CPU figure
// is the call side — log calls built at once from a timed sample of them, staged ones as counts
// × their cost plus the building of their records, timed whole, the cheap calls as counts × per-call
// cost measured by benchmarks/hotpath.ts and stage.ts — plus the work pipetel times on the event
// loop (encoding rows) and its batch writes as counts × their measured cost (the write is spread
// over callbacks of the pg driver, too fine to time one by one); the share is that over the rest
// of the process's CPU time in the same window, comparable with the overhead benchmark's figure.

/** Per-call CPU cost in ns, as measured by `npm run bench` on the 2-core reference machine. */
export const CALL_COST_NS = {
  /** log.info with printf args and attributes, through the registered pipeline (hotpath). */
  logRecord: 650,
  /**
   * A staged log call (its record built later, timed apart): ~0.3 µs in a hot loop, 2–5 µs
   * inside a per-item loop whose own work evicts the caches (measured from outside the call,
   * clock included; timing it from inside added ~13 µs to the call).
   */
  stagedLogCall: 2_500,
  /** counter.add / histogram.record after register() (hotpath). */
  metricCall: 30,
  /**
   * tel.stage around a function, registered, span into pipetel's processor: 6.5–8.7 µs measured
   * (21 µs before RSS readings were shared; the stage benchmark's unregistered figure is 4.6 µs).
   */
  stage: 8_000,
  /** Any other span, start to end, into pipetel's processor (NOTES: 4.5–6.9 µs). */
  span: 5_000,
  /**
   * One batch written to PostgreSQL, beyond encoding (timed apart): pool hand-over, the COPY's
   * write, the server's answer parsed, the delivery bookkeeping. A drain loop measured 1.15 ms of
   * CPU for a one-record batch; most of it the socket write that wakes the server.
   */
  batchWrite: 1_000_000,
  /** Each row of a batch beyond the first, beyond its timed encoding (100 rows: 1.72 ms). */
  batchRow: 3_000,
} as const;

/** Bytes one queued record holds, measured with a heap snapshot diff (LogRecordData: 233 B). */
export const RECORD_BYTES = { log: 240, span: 1_200, metric: 400 } as const;

/** pipetel's logger calls: staged ones counted, those built at once sampled, all building timed. */
export interface LoggerCallTiming {
  /** Calls past the level check. */
  calls: number;
  /** Calls staged, their records built later (in buildMs). */
  stagedCalls: number;
  /** Calls whose record was built at the call, and the measured time of a sample of them. */
  builtCalls: number;
  timedCalls: number;
  timedMs: number;
  /** Time spent building staged calls into records, all of it. */
  buildMs: number;
}

/** What pipetel has done so far, as running totals; each source is read, never reset. */
export interface OwnWork {
  /** Records that came in through the OTel Logs API (not pipetel's loggers). */
  apiLogRecords(): number;
  /** pipetel's logger calls and their timing (LoggerCore.timing). */
  loggerCalls(): LoggerCallTiming;
  metricCalls(): number;
  stages(): number;
  spans(): number;
  /** Milliseconds of pipetel's own work timed on the event loop (row encoding). */
  timedWorkMs(): number;
  /** Batches written to the database so far, and the rows in them. */
  batchesWritten(): { batches: number; rows: number };
  /** Records held in memory now, per kind. */
  buffered(): { logs: number; spans: number; metrics: number };
}

export interface ProfileReport {
  /**
   * pipetel's estimated CPU time over the rest of the process's CPU time (or over the window's
   * wall time, when the process was mostly waiting), in %; at most 10,000 %.
   */
  cpuOverheadPercent: number;
  /** Bytes held by pipetel's buffers now, in MiB. */
  memoryOverheadMb: number;
  /** RSS now minus RSS at the window's start, in MiB (the seed's figure; includes the app's). */
  rssDeltaMb: number;
  /** pipetel's estimated CPU time in the window, ms. */
  ownCpuMs: number;
  /** The process's CPU time (user + system) in the window, ms. */
  processCpuMs: number;
  windowMs: number;
}

interface Reading {
  at: number;
  ownMs: number;
  cpuUs: NodeJS.CpuUsage;
  rss: number;
}

/** A sequence of back-to-back windows: each next() reports since the previous one. */
export interface CostWindow {
  next(): ProfileReport;
}

export class SelfCost {
  private readonly origin: Reading;
  private readonly profileWindow: CostWindow;

  constructor(private readonly work: OwnWork) {
    this.origin = this.read();
    this.profileWindow = this.window();
  }

  /** An independent sequence of windows, starting now (profile(), the self-metric, the budget). */
  window(): CostWindow {
    let start = this.read();
    return {
      next: () => {
        const end = this.read();
        const result = report(start, end, this.bufferBytes());
        start = end;
        return result;
      },
    };
  }

  /** Since pipetel started, without starting a new window (tel.stats()). */
  sinceStart(): ProfileReport {
    return report(this.origin, this.read(), this.bufferBytes());
  }

  /** pipetel's estimated CPU time since it started, ms. */
  ownCpuMs(): number {
    const w = this.work;
    const logger = w.loggerCalls();
    // Logger calls built at once: their sampled time scaled to all of them (cold call sites cost
    // tens of times the hot-loop figure, so a constant would be far off); staged calls: the
    // constant for the call, plus the building, timed whole; OTel Logs API records: the constant.
    const loggerMs =
      logger.buildMs +
      (logger.stagedCalls * CALL_COST_NS.stagedLogCall) / 1e6 +
      (logger.timedCalls > 0
        ? (logger.timedMs * logger.builtCalls) / logger.timedCalls
        : (logger.builtCalls * CALL_COST_NS.logRecord) / 1e6);
    const written = w.batchesWritten();
    const callNs =
      w.apiLogRecords() * CALL_COST_NS.logRecord +
      w.metricCalls() * CALL_COST_NS.metricCall +
      w.stages() * CALL_COST_NS.stage +
      Math.max(0, w.spans() - w.stages()) * CALL_COST_NS.span +
      written.batches * CALL_COST_NS.batchWrite +
      Math.max(0, written.rows - written.batches) * CALL_COST_NS.batchRow;
    return loggerMs + callNs / 1e6 + w.timedWorkMs();
  }

  bufferBytes(): number {
    const b = this.work.buffered();
    return b.logs * RECORD_BYTES.log + b.spans * RECORD_BYTES.span + b.metrics * RECORD_BYTES.metric;
  }

  /** The window since the previous profile() (or since start); a new window starts now. */
  profile(): ProfileReport {
    return this.profileWindow.next();
  }

  private read(): Reading {
    return {
      at: performance.now(),
      ownMs: this.ownCpuMs(),
      cpuUs: process.cpuUsage(),
      rss: process.memoryUsage.rss(),
    };
  }
}

function report(start: Reading, end: Reading, bufferBytes: number): ProfileReport {
  const processCpuMs = (end.cpuUs.user - start.cpuUs.user + end.cpuUs.system - start.cpuUs.system) / 1000;
  // Scaling a sample can dip by a hair when a cheap call is timed: never below zero.
  const ownCpuMs = Math.max(0, Math.min(end.ownMs - start.ownMs, processCpuMs));
  const windowMs = end.at - start.at;
  // The rest of the process: its CPU time, or the window's wall time when that is longer (a
  // pipeline waiting on I/O is not "overheaded" by pipetel using a sliver of an otherwise idle
  // core). For a CPU-bound single-threaded pipeline the two are the same.
  const total = Math.max(processCpuMs, windowMs);
  // When the estimate covers (nearly) the whole window the share is huge, not zero: the rest is
  // floored at 1 % of the window, so the share reads at most 10,000 %.
  const rest = Math.max(total - ownCpuMs, total * 0.01);
  return {
    cpuOverheadPercent: rest > 0 ? (ownCpuMs / rest) * 100 : 0,
    memoryOverheadMb: bufferBytes / 2 ** 20,
    rssDeltaMb: (end.rss - start.rss) / 2 ** 20,
    ownCpuMs,
    processCpuMs,
    windowMs,
  };
}
