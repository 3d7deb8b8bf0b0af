// How a registered process ends: SIGTERM/SIGINT, beforeExit and uncaught exceptions flush what
// pipetel holds before the process ends, then let it end the way it would have without pipetel.
// Handlers are only added where they do not change that behaviour: one the application installs
// (before or after register()) takes precedence, and then pipetel only flushes.

/** What the hooks drive: the Telemetry of this process. */
export interface ProcessHookTarget {
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
  /** Ends open stages and progress as interrupted by `signal` (before shutdown stores them). */
  interrupt(signal: NodeJS.Signals): void;
  /** Marks the run failed with `error`. */
  fail(error: unknown): void;
  /** The process dies of `error` (uncaught): open stages and progress end with it, the run fails. */
  crash(error: Error): void;
}

/** Installs the hooks; returns their removal (shutdown calls it). */
export function attachProcessHooks(target: ProcessHookTarget): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    if (process.listenerCount(signal) > 0) {
      void target.forceFlush();
      return;
    }
    target.interrupt(signal);
    void target.shutdown().finally(() => {
      // Re-raise so the default action (exit with 128+n) happens, as without pipetel; `once`
      // means a second Ctrl-C during the flush already gets it.
      process.kill(process.pid, signal);
    });
  };
  const onBeforeExit = () => {
    void target.shutdown();
  };
  const onUncaught = (error: Error) => {
    if (process.listenerCount('uncaughtException') > 0) {
      void target.forceFlush();
      return;
    }
    process.stderr.write(`${error.stack ?? String(error)}\n`);
    target.crash(error instanceof Error ? error : new Error(String(error)));
    void target.shutdown().finally(() => process.exit(1));
  };
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];
  const ownSignals = signals.filter((s) => process.listenerCount(s) === 0);
  for (const s of ownSignals) process.once(s, onSignal);
  process.once('beforeExit', onBeforeExit);
  const ownUncaught = process.listenerCount('uncaughtException') === 0;
  if (ownUncaught) process.once('uncaughtException', onUncaught);
  return () => {
    for (const s of ownSignals) process.removeListener(s, onSignal);
    process.removeListener('beforeExit', onBeforeExit);
    if (ownUncaught) process.removeListener('uncaughtException', onUncaught);
  };
}
