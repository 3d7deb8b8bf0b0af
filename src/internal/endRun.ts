// Flushing and ending a registered run, in order and within shutdown.timeout: background work
// stops, the queues write what they hold while the database answers (and spool it when it does
// not), the experiment row gets its final status, the spool is replayed if there is time, and the
// globals, instrumentations and pool are released. Nothing here waits past the deadline.

import { SeverityNumber } from '@opentelemetry/api-logs';
import type { LogRecordProcessor, SdkLogRecord } from '@opentelemetry/sdk-logs';
import { closePool } from '../../exporters/postgres/pool.js';
import { RUN_REASON_ATTRIBUTE, RUN_STATUS_ATTRIBUTE } from '../../exporters/shared/conventions.js';
import { encodeProgressLine, PROGRESS_SPOOL_TABLE } from '../db/spooledRows.js';
import { unbindGlobalLogging } from '../logging/global.js';
import type { Run, RunState } from './buildRun.js';
import { createLoggerProvider } from './otelSdk.js';

/** Writes everything recorded so far to the database and waits for it, at most timeoutMs. */
export async function flushRun(run: Run, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const remaining = () => Math.max(0, deadline - Date.now());
  run.loggers.flush(); // staged log calls become records in the queues flushed below
  await withTimeout(run.progressTracker?.flush(), remaining());
  await withTimeout(
    Promise.all([
      run.tracerProvider?.forceFlush(),
      run.meterProvider?.forceFlush(),
      run.hostMeterProvider?.forceFlush(),
    ]),
    remaining(),
  );
  await run.sinks.forceFlushExporters(remaining);
}

/**
 * Ends the run within timeoutMs: `failure()` (read when the experiment row is finished, so a
 * fail() during shutdown still counts) is its final status, none for succeeded. A member of
 * another process's run leaves the row alone (its lifecycle says so).
 */
export async function endRun(
  run: Run,
  state: RunState,
  timeoutMs: number,
  failure: () => string | null,
): Promise<void> {
  state.shuttingDown = true;
  state.shutdownDeadline = Date.now() + timeoutMs;
  const deadline = state.shutdownDeadline;
  const remaining = () => Math.max(0, deadline - Date.now());
  run.tuning.budget.stop();
  if (run.heartbeat) clearInterval(run.heartbeat);
  run.lifecycle?.stop();
  await run.maintenance?.stop();
  run.stopRuntimeMetrics?.();
  // A setup still connecting (a server that accepts and never answers) gets a small share; then
  // the database counts as down and nothing below waits for it: the queues spool what they hold.
  const setUp = await settlesWithin(run.ready, Math.min(remaining() / 10, 500));
  const answering = () => setUp && (run.lifecycle?.isSetUp ?? false) && run.sinks.answering();
  await withTimeout(run.synchronizer?.stop(), answering() ? remaining() / 5 : 0);
  // A failed run's progress still running failed with it: not a bar "running" with an ETA under
  // a run that has ended.
  const failedWith = failure();
  if (failedWith) run.progressTracker?.failRunning(failedWith);
  // Progress rows are a handful of small writes: a database that answers takes them at once.
  await withTimeout(run.progressTracker?.shutdown(), answering() ? Math.min(remaining() / 5, 1000) : 0);
  await announceEnd(run, failure(), Math.min(remaining() / 4, 2_000));
  // Spans and logs written first, while the database answers and within a share of the budget:
  // the meter's last collection then reads pipetel's own counters (records exported, write
  // latency) with the final batches in, so `pipetel stats` shows a short run's real counts.
  await withTimeout(
    Promise.all([run.tracerProvider?.forceFlush(), run.loggerProvider?.forceFlush()]),
    answering() ? remaining() / 4 : 0,
  );
  // Shutting a provider down hands its last spans / metric points / log records to our
  // processors and shuts those down; every queue is bounded by shutdownDeadline.
  await withTimeout(
    Promise.all([
      run.meterProvider?.shutdown(),
      run.hostMeterProvider?.shutdown(),
      run.tracerProvider?.shutdown(),
      run.loggerProvider?.shutdown(),
    ]),
    remaining(),
  );
  // OTLP requests a collector never answered end here, not at the exporter's own timeout; what
  // they carried is counted (a turn for their callbacks) before the summary below.
  if (run.sinks.otlp) {
    run.sinks.otlp.abort();
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
  }
  // Every queue has settled its records (stored, spooled or counted): the journal can go. One
  // still holding records (its shutdown ran out of time) keeps it, to be replayed later.
  if (run.journal) {
    const { logs, spans, metrics } = run.sinks.buffered();
    await withTimeout(run.journal.close({ keep: logs + spans + metrics > 0 }), Math.max(remaining(), 500));
  }
  // Before the spool ends: a final row the database cannot take (or is known not to answer)
  // goes to the spool, and is replayed with the rest.
  const reason = failure();
  await run.lifecycle?.finish(
    reason ? 'failed' : 'succeeded',
    reason,
    answering() ? Math.max(remaining(), 1000) : 0,
  );
  await withTimeout(run.spool?.end(), Math.max(remaining(), 500));
  // What this process spooled (a full queue, an outage that ended) is delivered now, before the
  // exit, within the shutdown budget; the rest stays spooled.
  if (answering() && remaining() > 500) {
    await withTimeout(run.synchronizer?.replayOwn(deadline - 250), remaining());
  }
  run.warning.flush(); // the newest suppressed warning, so its counts are the final ones
  run.sinks.printShutdownSummary();
  unbindGlobalLogging();
  run.disableInstrumentations?.();
  run.unregisterGlobals?.();
  // pg's end() waits for clients still connecting; closePool ends them at its deadline.
  if (run.pool) await closePool(run.pool, answering() ? Math.max(remaining(), 500) : 0);
}

/**
 * process 'exit' came before shutdown() finished (process.exit() from anywhere, an application's
 * own handler that exits, a shutdown() nobody awaited): no event loop any more, so what the
 * PostgreSQL queues hold and the run's final row — `failed` with the exit code when it is not 0,
 * or with the reason fail() gave — go to the spool synchronously, for the next run or `pipetel
 * sync` to replay (which also fails the run's progress still running). The log file has its own
 * exit path; OTLP, open spans and the metrics not yet collected are lost.
 */
export function spillAtExit(run: Run, code: number, failure: string | null): void {
  run.loggers.flush(); // staged calls become records in the queues
  const { spooled, lost } = run.sinks.spillAtExit();
  const reason = failure ?? (code === 0 ? null : `the process exited with code ${code} before shutdown()`);
  // The progress bars as they stand (their rows are written on a timer, perhaps never yet).
  const bars = run.progressTracker?.rowsAtExit(reason) ?? [];
  if (bars.length > 0 && run.spool) {
    try {
      run.spool.appendAtExit(PROGRESS_SPOOL_TABLE, bars.map(encodeProgressLine));
    } catch (error) {
      process.stderr.write(`pipetel: progress could not be spooled at exit: ${(error as Error).message}\n`);
    }
  }
  run.lifecycle?.finishAtExit(reason ? 'failed' : 'succeeded', reason);
  const said = [
    spooled > 0 && `${spooled} records spooled, replayed by the next run or \`pipetel sync\``,
    lost > 0 && `${lost} records lost (no spool to write them to)`,
    // Sending needs the event loop: a worker behind a gateway loses what it had not sent yet.
    run.sinks.otlp &&
      'what was not yet sent over OTLP is lost, and a gateway is not told how the run ended (await tel.shutdown() before exiting)',
  ].filter(Boolean);
  if (said.length > 0)
    process.stderr.write(`pipetel: the process exited before shutdown() finished: ${said.join('; ')}\n`);
}

/**
 * A process that sends its logs over OTLP says how its run ended in one last log record, to OTLP
 * only: OTLP has no end of run, and `pipetel gateway` reads this record to end (or fail) the run it
 * stores. The OTLP queue is flushed first, within `timeoutMs`, so a burst of lines just before the
 * end cannot crowd the record out of it (a full queue drops the newest). The record goes out with
 * the queue's shutdown below.
 */
async function announceEnd(run: Run, reason: string | null, timeoutMs: number): Promise<void> {
  const otlp = run.sinks.otlp;
  if (!otlp || !run.loggerProvider) return;
  await withTimeout(run.loggerProvider.forceFlush(), timeoutMs);
  // Its own provider in front of the OTLP processor: the record reaches no other sink, through the
  // same policy as every record (the reason is an error message of the application's). Never shut
  // down (that would end the processor the run's provider shuts down).
  const throughPolicy: LogRecordProcessor = {
    onEmit: (record, ctx) => otlp.logProcessor.onEmit(run.policy.logRecord(record) as SdkLogRecord, ctx),
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
  createLoggerProvider(run.resource, [throughPolicy])
    .getLogger('pipetel')
    .emit({
      severityNumber: reason ? SeverityNumber.ERROR : SeverityNumber.INFO,
      severityText: reason ? 'ERROR' : 'INFO',
      body: reason ? `run failed: ${reason}` : 'run succeeded',
      attributes: {
        [RUN_STATUS_ATTRIBUTE]: reason ? 'failed' : 'succeeded',
        ...(reason && { [RUN_REASON_ATTRIBUTE]: reason }),
      },
    });
}

/** Whether the promise settled within ms (it is not waited for after that). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  await withTimeout(
    promise.finally(() => {
      settled = true;
    }),
    ms,
  );
  return settled;
}

async function withTimeout(promise: Promise<unknown> | undefined, ms: number): Promise<void> {
  if (!promise) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise.catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}
