// The database layer: one place that opens PostgreSQL connections. Pools always carry an error
// listener (an idle connection dropped by a server restart must not crash the host process) and
// the statement timeout that bounds one batch write, and stop dialing a server that refused their
// role, password or database.

import { Socket } from 'node:net';
import { context } from '@opentelemetry/api';
import { callWithTimeout, suppressTracing } from '@opentelemetry/core';
import pg from 'pg';
import { isConfigurationError } from '../delivery/RetryPolicy.js';
import type { PgPool } from './pgTypes.js';

/**
 * pipetel's connections never trace themselves. With an application's pg instrumentation enabled,
 * every batch write would otherwise become a span (inside whatever stage queued the records), whose
 * export is another batch write, and so on. Each query runs with tracing suppressed, as the SDK's
 * own export paths do, so the instrumentation's spans for it are non-recording.
 */
class UntracedClient extends pg.Client {
  // biome-ignore lint/suspicious/noExplicitAny: pg's query() is a set of overloads passed through unchanged
  override query(...args: any[]): any {
    const query = super.query as (...args: unknown[]) => unknown;
    return context.with(suppressTracing(context.active()), () => query.apply(this, args));
  }
}

/** The server's refusal of a pool's connection configuration, once it has been seen. */
interface Refusal {
  error?: Error;
}

/**
 * A client of a pool that stops dialing once the server refused the pool's role, password or
 * database (isConfigurationError): every later connection fails at once with that same error.
 * The connection string does not change for the pool's life, so asking again would only repeat
 * the refusal — a failed login in the server's log per heartbeat, progress write and replay pass,
 * and, where the server checks passwords against LDAP or PAM, a locked account.
 *
 * With `answerTimeoutMs`, a client whose queries get no answer for that long (a server or network
 * gone silent: the server's statement_timeout cannot fire, and the operating system gives up on
 * the socket only after some 15 minutes) has its connection destroyed with an ETIMEDOUT error,
 * which fails every query it holds — the callers retry, spool or report as for any lost
 * connection, and the pool dials a fresh one.
 */
function refusingClient(refusal: Refusal, answerTimeoutMs?: number): typeof UntracedClient {
  return class RefusingClient extends UntracedClient {
    /** Queries sent and not yet settled, and the watchdog armed while there are any. */
    private unanswered = 0;
    private watchdog: NodeJS.Timeout | undefined = undefined;

    // biome-ignore lint/suspicious/noExplicitAny: pg's connect() is a pair of overloads (promise, callback), passed through
    override connect(...args: any[]): any {
      const callback = args[0] as ((error: Error | undefined) => void) | undefined;
      if (!callback) {
        return new Promise<this>((resolve, reject) =>
          this.connect((error: Error | undefined) => (error ? reject(error) : resolve(this))),
        );
      }
      const refused = refusal.error;
      if (refused) {
        this.connection.stream.destroy(); // made by the constructor, never connected
        process.nextTick(() => callback(refused));
        return;
      }
      super.connect((error: Error | undefined) => {
        if (error && isConfigurationError(error)) refusal.error ??= error;
        callback(error);
      });
    }

    // biome-ignore lint/suspicious/noExplicitAny: pg's query() is a set of overloads passed through unchanged
    override query(...args: any[]): any {
      if (!answerTimeoutMs) return super.query(...args);
      const settled = this.watch();
      const first = args[0];
      if (first !== null && typeof first === 'object' && typeof first.submit === 'function') {
        // A submittable (a COPY of ours, a cursor): pg reports its end through these two.
        for (const hook of ['handleReadyForQuery', 'handleError'] as const) {
          const original = first[hook];
          if (typeof original !== 'function') continue;
          first[hook] = function (this: unknown, ...hookArgs: unknown[]) {
            settled();
            return original.apply(this, hookArgs);
          };
        }
        return super.query(...args);
      }
      const last = args.length - 1;
      if (typeof args[last] === 'function') {
        const callback = args[last];
        args[last] = (...result: unknown[]) => {
          settled();
          return callback(...result);
        };
        return super.query(...args);
      }
      if (first !== null && typeof first === 'object' && typeof first.callback === 'function') {
        const callback = first.callback;
        first.callback = (...result: unknown[]) => {
          settled();
          return callback(...result);
        };
        return super.query(...args);
      }
      const result = super.query(...args);
      if (result && typeof result.then === 'function') result.then(settled, settled);
      else settled();
      return result;
    }

    /** One more query awaits its answer; the function returned says it has one (once). */
    private watch(): () => void {
      this.unanswered++;
      this.armWatchdog();
      let done = false;
      return () => {
        if (done) return;
        done = true;
        this.unanswered--;
        // The next query in line starts its own wait now.
        if (this.unanswered > 0) this.armWatchdog();
        else this.disarmWatchdog();
      };
    }

    private armWatchdog(): void {
      this.disarmWatchdog();
      this.watchdog = setTimeout(() => {
        this.watchdog = undefined;
        const error = Object.assign(
          new Error(`no answer from the database within ${answerTimeoutMs} ms; connection dropped`),
          { code: 'ETIMEDOUT', [UNANSWERED]: true },
        );
        this.connection.stream.destroy(error);
      }, answerTimeoutMs);
      // It guards a socket that keeps the process alive by itself while a query waits.
      this.watchdog.unref();
    }

    private disarmWatchdog(): void {
      if (this.watchdog !== undefined) clearTimeout(this.watchdog);
      this.watchdog = undefined;
    }
  };
}

export interface PoolSettings {
  connectionString: string;
  /** monitoring.database.connection_pool_size */
  maxConnections?: number;
  /** monitoring.database.connection_timeout, in milliseconds */
  connectionTimeoutMs?: number;
  /** monitoring.database.batch_timeout, in milliseconds */
  statementTimeoutMs?: number;
  /**
   * How long a connection's queries may go without an answer before it is destroyed (see
   * refusingClient). Default: statementTimeoutMs plus a second, so that a live server's own
   * cancellation comes first; without a statement timeout, no bound.
   */
  answerTimeoutMs?: number;
  applicationName?: string;
  onError?: (error: Error) => void;
}

/**
 * The pool a user passed to share: typed PgPool in the public options (so that the declarations
 * need no @types/pg), it is the pg.Pool that type describes.
 */
export function sharedPool(pool: PgPool): pg.Pool {
  return pool as pg.Pool;
}

/** Marks the error of a connection dropped for want of an answer (see refusingClient). */
const UNANSWERED = Symbol('pipetel.unanswered');

/** Beyond the statement timeout, before a query without an answer ends its connection. */
export const ANSWER_GRACE_MS = 1000;

/** The sockets each pool opened, so closePool() can end the ones pg's end() would wait for. */
const socketsOf = new WeakMap<pg.Pool, Set<Socket>>();

export function createPool(settings: PoolSettings): pg.Pool {
  const sockets = new Set<Socket>();
  const pool = new pg.Pool({
    Client: refusingClient(
      {},
      settings.answerTimeoutMs ??
        (settings.statementTimeoutMs ? settings.statementTimeoutMs + ANSWER_GRACE_MS : undefined),
    ),
    // pg's own default (a plain net.Socket; TLS wraps it), tracked: see closePool().
    stream: () => {
      const socket = new Socket();
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      return socket;
    },
    connectionString: settings.connectionString,
    max: settings.maxConnections ?? 10,
    connectionTimeoutMillis: settings.connectionTimeoutMs ?? 30_000,
    statement_timeout: settings.statementTimeoutMs,
    // Longer than flush_interval's default (5 s) so connections outlive the gaps between batches.
    idleTimeoutMillis: 60_000,
    allowExitOnIdle: true,
    application_name: settings.applicationName ?? 'pipetel',
  });
  const report = settings.onError;
  // A connection the watchdog dropped failed the queries it held: their callers say what happened.
  const onError = (error: Error) => {
    if (report && !(error as { [UNANSWERED]?: boolean })[UNANSWERED]) report(error);
  };
  pool.on('error', onError);
  // A checked-out client that loses its server between two queries emits 'error' on itself, not
  // on the pool: without a listener that is an uncaught exception in the user's process.
  pool.on('connect', (client) => client.on('error', onError));
  socketsOf.set(pool, sockets);
  return pool;
}

/**
 * Ends the pool within timeoutMs. pg's end() waits for clients still connecting — to a server that
 * accepts and never answers, that is until connection_timeout — so at the deadline the sockets
 * left are destroyed: no connection of pipetel outlives its shutdown.
 */
export async function closePool(pool: pg.Pool, timeoutMs: number): Promise<void> {
  const ended = pool.end().catch(() => undefined);
  await callWithTimeout(ended, Math.max(0, timeoutMs)).catch(() => undefined);
  const sockets = socketsOf.get(pool);
  if (!sockets || sockets.size === 0) return;
  for (const socket of sockets) socket.destroy();
  await callWithTimeout(ended, 250).catch(() => undefined);
}
