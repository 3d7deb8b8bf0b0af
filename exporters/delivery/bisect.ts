// Finding the rows a database refuses. COPY is all or nothing: one malformed row fails the whole
// batch, and the error does not say reliably which row it was. Splitting the batch in halves and
// writing each again finds every bad row in at most 1 + 2·k·⌈log2 n⌉ writes for k bad rows in n,
// while the good rows still go in, in batches as large as the bad ones allow.

export interface BisectOptions<Row> {
  /**
   * Writes one batch. Resolves when the batch is dealt with (written, or whatever the caller does
   * with failures it handles itself, such as retrying or spooling); rejects to report an error.
   */
  write: (rows: Row[]) => Promise<void>;
  /**
   * Whether an error from `write` blames the batch's content, so that splitting can find the row.
   * Any other error (the connection lost, the server down) stops the search and is rethrown: the
   * halves not yet written are not attempted. For PostgreSQL: `isDataError` (SQLSTATE class 22 or
   * 23, not a unique violation).
   */
  isRowError: (error: unknown) => boolean;
  /** A row that was refused on its own, with the error its one-row write gave. Called once per bad row. */
  onRejected: (row: Row, error: unknown) => void;
}

/**
 * Writes `rows`; when the write fails with a row error, writes the first half (the smaller one,
 * `length >> 1` rows) and then the second, recursively, until each bad row stands alone. A single
 * row is never split further: its failure is reported to `onRejected` and not retried. Halves are
 * written one after the other, never concurrently, so the order of rows is kept.
 */
export async function writeBisecting<Row>(rows: Row[], options: BisectOptions<Row>): Promise<void> {
  if (rows.length === 0) return;
  try {
    await options.write(rows);
  } catch (error) {
    if (!options.isRowError(error)) throw error;
    if (rows.length === 1) {
      options.onRejected(rows[0]!, error);
      return;
    }
    const middle = rows.length >> 1;
    await writeBisecting(rows.slice(0, middle), options);
    await writeBisecting(rows.slice(middle), options);
  }
}
