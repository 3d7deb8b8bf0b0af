// Which database a spool directory was written for, so its records are replayed into that
// database and no other: a run that could not reach `postgresql://…@db-a/x` must not end up in
// whatever database the next process (or `pipetel sync`) happens to use. The writer records the
// address from its connection string and, once it has reached the server, the server's identity
// (pg_control_system().system_identifier and the database name), which still matches when the
// address changed (an embedded server restarted on another port).

import type pg from 'pg';

export interface SpoolTarget {
  /** host:port/database from the connection string (no user or password). */
  address?: string;
  /** `<system_identifier>/<database>` of the server, when it was reached. */
  identity?: string;
}

/** host:port/database of a connection string; undefined when it cannot be parsed. */
export function targetAddress(connectionString: string | undefined): string | undefined {
  const url = parseTarget(connectionString);
  if (!url) return undefined;
  const database = decodeURIComponent(url.pathname.replace(/^\//, '')) || url.username || 'postgres';
  return `${serverOf(url)}/${database}`;
}

/**
 * host:port of a connection string as node-postgres reads it (`?host=` — a socket directory — and
 * `?port=` over the authority, defaults filled in); undefined when it cannot be parsed.
 */
export function targetServer(connectionString: string | undefined): string | undefined {
  const url = parseTarget(connectionString);
  return url && serverOf(url);
}

function serverOf(url: URL): string {
  const host = (url.searchParams.get('host') || url.hostname).toLowerCase() || 'localhost';
  const port = url.searchParams.get('port') || url.port || '5432';
  return `${host}:${port}`;
}

function parseTarget(connectionString: string | undefined): URL | undefined {
  if (!connectionString) return undefined;
  // An empty host with credentials (`postgres://u:p@/db?host=/socket`) is valid to node-postgres,
  // not to WHATWG URL: parsed with a stand-in host, which `?host=` or the default then replaces.
  const url = parseUrl(connectionString) ?? parseUrl(connectionString.replace('@/', '@localhost/'));
  // An unencoded `/` in a password moves the rest of it into the path (`u:12/secret@h/db`):
  // such a URL has no address to show, only its identity to match.
  if (!url || url.pathname.includes('@')) return undefined;
  return url;
}

function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined; // a libpq key=value string: matched by identity only
  }
}

/**
 * The identity of the server and database `client` is connected to (undefined if unreadable).
 * @internal
 */
export async function targetIdentity(
  client: pg.Pool | pg.PoolClient | pg.Client,
): Promise<string | undefined> {
  try {
    const { rows } = await client.query<{ id: string }>(
      "SELECT (SELECT system_identifier FROM pg_control_system())::text || '/' || current_database() AS id",
    );
    return rows[0]?.id;
  } catch {
    return undefined;
  }
}

/**
 * Whether records written for `written` belong in the database `current` describes. A directory
 * that records no target (written before targets were recorded) belongs anywhere.
 */
export function sameTarget(written: SpoolTarget | undefined, current: SpoolTarget): boolean {
  if (!written || (written.identity === undefined && written.address === undefined)) return true;
  if (written.identity !== undefined && current.identity !== undefined)
    return written.identity === current.identity;
  if (written.address !== undefined && current.address !== undefined)
    return written.address === current.address;
  return true; // nothing comparable on one side: as before targets were recorded
}

/** A target for messages: the address, else the identity. */
export function describeTarget(target: SpoolTarget | undefined): string {
  return target?.address ?? target?.identity ?? 'an unknown database';
}
