// Who may talk to pipetel's own HTTP servers (the dashboard, the gateway): anyone on loopback by
// default; bound anywhere else, only requests that carry the token — compared in constant time.

import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * Refuses to serve a non-loopback address without a token; `how` says how to give one. The
 * command's own name is not repeated: the CLI prints it in front of the message.
 */
export function requireTokenOffLoopback(host: string, token: string | undefined, how: string): void {
  if (!LOOPBACK.has(host) && !token) {
    // A usage error for the CLI (exit 2, with the command's usage), like any other bad flag.
    throw Object.assign(
      new Error(`binding ${host} (not loopback) needs a token (${how}); every request then sends it`),
      { code: 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' },
    );
  }
}

/** The request's bearer token (or, when `queryToken` is given, its ?token=) equals `token`. */
export function carriesToken(req: IncomingMessage, token: string, queryToken?: string | null): boolean {
  return bearerMatches(req.headers.authorization ?? '', token, queryToken);
}

/** An `authorization` value (HTTP header or gRPC metadata) is `Bearer <token>`; else `fallback` is the token. */
export function bearerMatches(authorization: string, token: string, fallback?: string | null): boolean {
  const given = Buffer.from(authorization.startsWith('Bearer ') ? authorization.slice(7) : (fallback ?? ''));
  const wanted = Buffer.from(token);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}
