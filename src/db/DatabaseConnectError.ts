// A connection to PostgreSQL that could not be opened (refused, unknown host, bad password, no such
// database), said with the host and port it tried and never the password: the driver's own
// message ("connect ECONNREFUSED") says neither which server nor, when it quotes one, hides it.

import type pg from 'pg';
import { targetServer } from '../../exporters/delivery/spoolTarget.js';
import { redactUrl, safeErrorMessage } from '../../exporters/postgres/connectionSecrets.js';

export class DatabaseConnectError extends Error {
  override readonly name = 'DatabaseConnectError';
  /** `host:port` tried: no user, no password. */
  readonly address: string;
  /** The driver's code (`ECONNREFUSED`, SQLSTATE `28P01`): what retry policies classify by. */
  readonly code: string | undefined;

  constructor(url: string, cause: unknown) {
    const address = addressOf(url);
    const code = (cause as { code?: unknown } | null)?.code;
    const reason = safeErrorMessage(cause, url) || (typeof code === 'string' ? code : 'failed');
    super(`cannot connect to PostgreSQL at ${address} (${reason})`, { cause });
    this.address = address;
    this.code = typeof code === 'string' ? code : undefined;
  }
}

/** Opens `client`'s connection to `url`; a failure is a DatabaseConnectError. */
export async function connect(client: pg.Client, url: string): Promise<void> {
  try {
    await client.connect();
  } catch (error) {
    throw new DatabaseConnectError(url, error);
  }
}

/** `host:port` of a postgres:// URL (node-postgres' defaults filled in); the redacted URL if it does not parse. */
export function addressOf(url: string): string {
  return targetServer(url) ?? redactUrl(url);
}
