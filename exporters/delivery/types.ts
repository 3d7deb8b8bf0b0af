// Contracts between the stages of the delivery path (queue → batcher → retry → sink → spool),
// shaped after the Collector's exporterhelper: each stage knows only the next one's interface.

/** Counters per signal, as reported by `Telemetry.stats()`. */
export interface DeliveryStats {
  /** Records waiting in memory right now. */
  queued: number;
  /** Records committed to the sink. */
  exported: number;
  /** Records refused at the door (queue full) or given up without a spool. Never silent. */
  dropped: number;
  /** Records written to the on-disk spool instead of the sink. */
  spooled: number;
  /** Records the sink rejected as malformed, or that could not be encoded. */
  failed: number;
}

export interface WriteOptions {
  /** Rows may already be in the table (a retry or a replay): deduplicate instead of failing. */
  idempotent: boolean;
}

/** Writes one batch of encoded rows, atomically; knows nothing of queues or retries. */
export interface BatchSink {
  /** Table name, used for spooling and diagnostics. */
  readonly table: string;
  /** Resolves with the number of rows newly stored (less than lines.length when deduplicated). */
  write(lines: string[], options: WriteOptions): Promise<number>;
}

/** Where batches go when the sink stays unreachable (the crash-safe spool, issue 4). */
export interface SpillTarget {
  append(table: string, lines: string[]): Promise<void>;
  /**
   * append(), synchronously and durably (fsynced, the segment sealed), for process 'exit', where
   * nothing asynchronous runs any more. Optional: a target without it loses what is left at exit.
   */
  appendAtExit?(table: string, lines: string[]): void;
}

/** How internal trouble is reported: never thrown into the user's pipeline. */
export type WarningSink = (message: string) => void;
