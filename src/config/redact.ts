// Hiding secrets in connection strings, so a database password never reaches a log line, an error
// message or `pipetel config print`. Works on text, not on a parsed URL: a malformed URL (an
// unencoded `@` or `?` in the password) must be hidden too, and over-hiding beats leaking.

import { HIDDEN } from './fields.js';

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;
const SECRET_PARAMS = /\b(password|passwd|pwd|sslpassword)=("[^"]*"|'[^']*'|[^&\s]*)/gi;

/** `postgres://user:secret@host/db` → `postgres://user:****@host/db`; also `?password=` and `password=` pairs. */
export function redactUrl(url: string): string {
  let result = url;
  const scheme = SCHEME.exec(url);
  if (scheme) {
    const rest = url.slice(scheme[0].length);
    const at = userinfoEnd(rest);
    if (at >= 0) {
      const userinfo = rest.slice(0, at);
      const colon = userinfo.indexOf(':');
      if (colon >= 0) result = `${scheme[0]}${userinfo.slice(0, colon)}:${HIDDEN}${rest.slice(at)}`;
    }
  }
  return result.replace(SECRET_PARAMS, (_, name: string) => `${name}=${HIDDEN}`);
}

/**
 * Index of the `@` ending the userinfo: the last `@` before the query string when there is one
 * there, else the last `@` anywhere (the password itself may contain `?`, `/` or `#`).
 */
function userinfoEnd(rest: string): number {
  const queryStart = rest.search(/[?#]/);
  const beforeQuery = queryStart >= 0 ? rest.slice(0, queryStart) : rest;
  const at = beforeQuery.lastIndexOf('@');
  return at >= 0 ? at : rest.lastIndexOf('@');
}
