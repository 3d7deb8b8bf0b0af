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
 * With `answerTimeoutMs`, a client whose queries hear nothing from the server for that long (a
 * server or network gone silent: the server's statement_timeout cannot fire, and the operating
 * system gives up on the socket only after some 15 minutes) has its connection destroyed with an
 * ETIMEDOUT error, which fails every query it holds — the callers retry, spool or report as for
 * any lost connection, and the pool dials a fresh one. Any message from the server counts as an
 * answer, so each statement of a multi-statement query (a migration) and each row of a long
 * result restart the wait; and before giving up the watchdog lets the event loop read what waits
 * on the socket, so a loop kept busy by the application is not taken for a silent server.
 */
function refusingClient(refusal: Refusal, answerTimeoutMs?: number): typeof UntracedClient {
  return class RefusingClient extends UntracedClient {
    /** Queries sent and not yet settled; the watchdog is armed while there are any. */
    private unanswered = 0;
    private watchdog: NodeJS.Timeout | undefined = undefined;
    /** Since when the oldest query waits without hearing from the server (ms since epoch). */
    private quietSince = 0;
    private listening = false;

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
      if (!answerTimeoutMs || (this as unknown as Record<symbol, number>)[UNWATCHED])
        return super.query(...args);
      this.listen();
      const settled = this.watch();
      try {
        return this.sendWatched(args, settled);
      } catch (error) {
        settled(); // refused by pg before anything was sent
        throw error;
      }
    }

    // biome-ignore lint/suspicious/noExplicitAny: as query()
    private sendWatched(args: any[], settled: () => void): any {
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

    /** Every message from the server is an answer: the wait starts again. */
    private listen(): void {
      if (this.listening) return;
      this.listening = true;
      this.connection.on('message', () => {
        if (this.unanswered > 0) this.quietSince = Date.now();
      });
    }

    /** One more query awaits its answer; the function returned says it has one (once). */
    private watch(): () => void {
      // Queries queued behind one that waits do not restart its wait.
      if (this.unanswered++ === 0) this.armWatchdog(answerTimeoutMs!);
      let done = false;
      return () => {
        if (done) return;
        done = true;
        this.unanswered--;
        // The next query in line starts its own wait now.
        if (this.unanswered > 0) this.armWatchdog(answerTimeoutMs!);
        else this.disarmWatchdog();
      };
    }

    private armWatchdog(ms: number): void {
      this.disarmWatchdog();
      this.quietSince = Date.now();
      this.schedule(ms);
    }

    private schedule(ms: number): void {
      this.watchdog = setTimeout(() => this.expired(), ms);
      // It guards a socket that keeps the process alive by itself while a query waits.
      this.watchdog.unref();
    }

    private expired(): void {
      this.watchdog = undefined;
      if (this.unanswered === 0) return;
      const quietMs = Date.now() - this.quietSince;
      if (quietMs < answerTimeoutMs!) {
        this.schedule(answerTimeoutMs! - quietMs);
        return;
      }
      // Timers run before the loop reads its sockets: after a long synchronous stretch of the
      // application the answer may be waiting unread. Read first, then judge.
      const quietSince = this.quietSince;
      setImmediate(() => {
        if (this.unanswered === 0 || this.watchdog !== undefined) return;
        if (this.quietSince !== quietSince) {
          this.schedule(answerTimeoutMs!);
          return;
        }
        (this as unknown as Record<symbol, boolean>)[UNANSWERED] = true;
        const error = Object.assign(
          new Error(`no answer from the database within ${answerTimeoutMs} ms; connection dropped`),
          { code: 'ETIMEDOUT', [UNANSWERED]: true },
        );
        destroyConnection(this, error);
      });
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

/** Marks a client whose queries are not watched for now (see withoutAnswerWatch). */
const UNWATCHED = Symbol('pipetel.unwatched');

/**
 * Runs `fn` with `client`'s queries exempt from its pool's watchdog: for a query of several
 * statements, which may together take longer than the bound while the server sends nothing.
 */
export async function withoutAnswerWatch<R>(client: object, fn: () => Promise<R>): Promise<R> {
  const flags = client as Record<symbol, number>;
  flags[UNWATCHED] = (flags[UNWATCHED] ?? 0) + 1;
  try {
    return await fn();
  } finally {
    flags[UNWATCHED]!--;
  }
}

function isUnanswered(value: unknown): boolean {
  return (
    typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[UNANSWERED] === true
  );
}

const refusals = new WeakMap<pg.Pool, Refusal>();

/**
 * Lets a pool of createPool's dial again after the server refused it: for a caller that knows the
 * refusal may pass (a database that did not exist, created since — checked on a connection of its
 * own), never for a refused password, which asking again cannot fix.
 */
export function forgetRefusal(pool: pg.Pool): void {
  const refusal = refusals.get(pool);
  if (refusal) refusal.error = undefined;
}

/** Whether `pool` is one of createPool's, whose connections watch for answers themselves. */
export function watchesAnswers(pool: unknown): boolean {
  return watchedPools.has(pool as pg.Pool);
}
const watchedPools = new WeakSet<pg.Pool>();

/** Beyond the statement timeout, before a query without an answer ends its connection. */
const ANSWER_GRACE_MS = 1000;

/**
 * How long a query may go unanswered for a given statement timeout: a second more, so that a live
 * server's own cancellation comes first.
 */
export function answerTimeoutFor(statementTimeoutMs: number): number {
  return statementTimeoutMs + ANSWER_GRACE_MS;
}

/**
 * Ends a client's connection at once, without the goodbye (end()) that a silent server never
 * acknowledges; pg then fails whatever the client holds, with `error` when given.
 */
export function destroyConnection(client: object, error?: Error): void {
  (
    client as { connection?: { stream?: { destroy?: (error?: Error) => void } } }
  ).connection?.stream?.destroy?.(error);
}

/** The sockets each pool opened, so closePool() can end the ones pg's end() would wait for. */
const socketsOf = new WeakMap<pg.Pool, Set<Socket>>();

export function createPool(settings: PoolSettings): pg.Pool {
  const refusal: Refusal = {};
  const answerTimeoutMs =
    settings.answerTimeoutMs ??
    (settings.statementTimeoutMs ? answerTimeoutFor(settings.statementTimeoutMs) : undefined);
  const sockets = new Set<Socket>();
  const pool = new pg.Pool({
    Client: refusingClient(refusal, answerTimeoutMs),
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
  // A connection the watchdog dropped failed the queries it held: their callers say what happened
  // (pg's own "Connection terminated unexpectedly" that follows is no news either).
  const onError = (error: Error, client?: unknown) => {
    if (!report || isUnanswered(error) || isUnanswered(client)) return;
    report(error);
  };
  pool.on('error', (error, client) => onError(error, client));
  // A checked-out client that loses its server between two queries emits 'error' on itself, not
  // on the pool: without a listener that is an uncaught exception in the user's process.
  pool.on('connect', (client) => client.on('error', (error) => onError(error, client)));
  socketsOf.set(pool, sockets);
  refusals.set(pool, refusal);
  if (answerTimeoutMs) watchedPools.add(pool);
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
