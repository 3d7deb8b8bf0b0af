// COPY … FROM STDIN as one write. pg-copy-streams, the usual way, sends the Query, waits for the
// server's CopyInResponse, then writes the CopyData header, the data and CopyDone as three more
// writes: four system calls and a round trip per batch. A batch is what pipetel's sink costs a
// pipeline most (each write to a local server wakes it, ~0.1–0.5 ms on a small VM), so the whole
// exchange — Query, CopyData, CopyDone — goes out in one write, without waiting.
//
// The protocol allows it: a backend reads messages in order and enters copy-in mode on the Query;
// if the COPY fails (before copy-in mode or during it), it answers ErrorResponse and ReadyForQuery
// and ignores any CopyData, CopyDone or CopyFail that follows (PostgreSQL's protocol docs, "COPY
// Operations"; postgres.c accepts and drops them outside copy mode). pg's Client drives this
// object like any submittable query (pg-copy-streams uses the same hooks).

import type pg from 'pg';

const QUERY = 0x51; // 'Q'
const COPY_DATA = 0x64; // 'd'
const COPY_DONE = 0x63; // 'c'

/** The part of pg's Connection a submittable writes to. */
interface Connection {
  stream: { write(chunk: Uint8Array): boolean };
}

/** The three protocol messages of a COPY … FROM STDIN with its data, in one buffer. */
export function copyInMessage(sql: string, data: string): Buffer {
  // Sized exactly: a bound of 3 bytes per UTF-16 unit would hold 3× a large batch in memory.
  const sqlBytes = Buffer.byteLength(sql, 'utf8');
  const dataBytes = Buffer.byteLength(data, 'utf8');
  const buffer = Buffer.allocUnsafe(5 + sqlBytes + 1 + 5 + dataBytes + 5);
  let at = 0;
  buffer[at] = QUERY;
  buffer.writeUInt32BE(4 + sqlBytes + 1, at + 1);
  at += 5 + buffer.write(sql, at + 5, 'utf8');
  buffer[at++] = 0;
  buffer[at] = COPY_DATA;
  buffer.writeUInt32BE(4 + dataBytes, at + 1);
  at += 5 + buffer.write(data, at + 5, 'utf8');
  buffer[at] = COPY_DONE;
  buffer.writeUInt32BE(4, at + 1);
  return buffer;
}

/** pg's Client calls these as the server answers; the outcome is settled once. */
class PipelinedCopyIn {
  private settled = false;

  constructor(
    /** The statement, as pg's own queries carry it (instrumentations read it). */
    readonly text: string,
    private readonly message: Buffer,
    private readonly settle: (error: Error | undefined) => void,
  ) {}

  submit(connection: Connection): void {
    connection.stream.write(this.message);
  }

  /** The data is on its way already. */
  handleCopyInResponse(): void {}

  handleCommandComplete(): void {}

  /** The server has committed the rows. */
  handleReadyForQuery(): void {
    this.finish(undefined);
  }

  /** An ErrorResponse (pg makes no further calls for this query) or a broken connection. */
  handleError(error: Error): void {
    this.finish(error);
  }

  /**
   * With query_timeout, pg replaces this with a wrapper whose call clears its timer (finish() calls
   * it, as pg-copy-streams does); when the timer fires, pg calls the original unbound — so no
   * `this` here — and then handleError() itself.
   */
  callback(): void {}

  private finish(error: Error | undefined): void {
    if (this.settled) return;
    this.settled = true;
    this.callback();
    this.settle(error);
  }
}

/** Sends `lines` (COPY text rows, each ending in \n) through `sql`; resolves once committed. */
export function copyIn(
  client: pg.PoolClient | pg.Client,
  sql: string,
  lines: readonly string[],
): Promise<void> {
  const message = copyInMessage(sql, lines.join(''));
  return new Promise((resolve, reject) => {
    const submittable = new PipelinedCopyIn(sql, message, (error) => (error ? reject(error) : resolve()));
    // pg accepts any object with submit(); its types know only its own Submittable shape.
    client.query(submittable as unknown as pg.Submittable);
  });
}
