// The one place that hides database passwords: in connection strings shown to people (redactUrl:
// `pipetel config print`, CLI messages) and in any text that might quote one (scrubPasswords:
// warnings and driver errors). redactUrl works on text, not on a parsed URL: a malformed URL (an
// unencoded `@` or `?` in the password) must be hidden too, and over-hiding beats leaking.

const HIDDEN = '****';

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;
const SECRET_PARAMS = /\b(password|passwd|pwd|sslpassword)=("[^"]*"|'[^']*'|[^&\s]*)/gi;

/** `postgres://user:secret@host/db` → `postgres://user:****@host/db`; also `?password=` and `password=` pairs. */
export function redactUrl(url: string): string {
  let result = url;
  // Without a well-formed scheme (`postgresql//u:p@h`, `u:p@h`) the userinfo starts after the
  // first `//`, else at the start: a malformed URL quoted in an error must not show its password.
  const scheme = SCHEME.exec(url);
  const slashes = url.indexOf('//');
  const start = scheme ? scheme[0].length : slashes >= 0 ? slashes + 2 : 0;
  const rest = url.slice(start);
  const at = userinfoEnd(rest);
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const colon = userinfo.indexOf(':');
    if (colon >= 0) result = `${url.slice(0, start)}${userinfo.slice(0, colon)}:${HIDDEN}${rest.slice(at)}`;
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

/**
 * Every form a password of these connection strings (and an explicit pool password) may take in a
 * message: as written, URL-encoded and decoded; longest first, so one containing another is
 * replaced whole.
 */
export function passwordsOf(
  connectionStrings: ReadonlyArray<string | undefined>,
  poolPassword?: unknown,
): string[] {
  const found = new Set<string>();
  const add = (password: unknown) => {
    if (typeof password !== 'string' || password === '') return;
    found.add(password);
    for (const convert of [encodeURIComponent, decodeURIComponent]) {
      try {
        found.add(convert(password));
      } catch {
        // not encodable / not percent-encoded
      }
    }
  };
  for (const url of connectionStrings) {
    if (!url) continue;
    try {
      const parsed = new URL(url);
      add(parsed.password);
      add(parsed.searchParams.get('password'));
    } catch {
      // not a URL (e.g. a libpq key=value string): nothing to find by parsing
    }
  }
  add(poolPassword);
  return [...found].sort((a, b) => b.length - a.length);
}

/** `text` with every one of `passwords` replaced by '****'. */
export function scrubPasswords(text: string, passwords: readonly string[]): string {
  let safe = text;
  for (const password of passwords) safe = safe.split(password).join(HIDDEN);
  return safe;
}

/** An error's message with the connection string's password taken out (the driver's messages may quote it). */
export function safeErrorMessage(error: unknown, connectionString?: string): string {
  const message = error instanceof Error ? error.message : String(error);
  return connectionString ? scrubPasswords(message, passwordsOf([connectionString])) : message;
}

/**
 * The warning for a connection whose role, password or database the server refused
 * (RetryPolicy.isConfigurationError): the setting to fix, its URL with the password hidden, the
 * server's reason and SQLSTATE, and what happens to the records `meanwhile`.
 */
export function refusedConnectionMessage(url: string | undefined, error: unknown, meanwhile: string): string {
  const state = (error as { code?: unknown } | null)?.code;
  return (
    `database.url${url ? ` (${redactUrl(url)})` : ''} was refused by the server: ${safeErrorMessage(error, url)}` +
    `${typeof state === 'string' ? ` (SQLSTATE ${state})` : ''}. A configuration error, not retried: check the` +
    ` user, password and database name; meanwhile ${meanwhile}`
  );
}
