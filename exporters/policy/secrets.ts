// Which attribute keys hold secrets: one rule for every signal and every sink (see
// TelemetryPolicy), configured by `redaction.keys`.

export const REDACTED = '[REDACTED]';

/**
 * Default of `redaction.keys`; exporters use it when no `redactKeys` is given. A keyword matches
 * whole words only, so plurals that hold secrets are listed too — but not `tokens`, which is the
 * LLM token count in `prompt_tokens` and `max_tokens`.
 */
export const DEFAULT_SECRET_KEYS: readonly string[] = [
  'password',
  'passwords',
  'passwd',
  'secret',
  'secrets',
  'token',
  'api_key',
  'api_keys',
  'apikey',
  'authorization',
  'auth',
  'credential',
  'credentials',
  'private_key',
  'cookie',
  'cookies',
  'session',
];

/**
 * Words that, right after a keyword, say the key describes the secret rather than holding it:
 * `token_count`, `session_length`, `auth_type`, `secret_name`, `private_key_path` hold no secret.
 */
const DESCRIPTOR_WORDS = new Set([
  'count',
  'length',
  'len',
  'size',
  'limit',
  'usage',
  'type',
  'kind',
  'name',
  'path',
  'file',
  'time',
  'timeout',
  'ttl',
  'duration',
  'expiry',
  'expires',
  'enabled',
]);

/** Verdicts cached per matcher before the cache starts over (keys can be data, e.g. ids). */
const VERDICT_CACHE_LIMIT = 10_000;

/**
 * The words of an attribute key, lowercase: split on every character that is neither a letter nor
 * a digit (`_ - . space / :` …), at camelCase boundaries (`apiKey` → api, key; `APIKey` → api,
 * key) and between letters and digits (`password2` → password, 2).
 */
export function keyWords(key: string): string[] {
  return key
    .replace(/(\p{Ll})(?=\p{Lu})/gu, '$1 ')
    .replace(/(\p{Lu})(?=\p{Lu}\p{Ll})/gu, '$1 ')
    .replace(/(\p{L})(?=\p{N})|(\p{N})(?=\p{L})/gu, '$1$2 ')
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((word) => word !== '');
}

/**
 * Decides which attribute keys hold secrets. The rule: split the key into words (see keyWords);
 * it is secret when a configured keyword, split the same way, occurs in it as a whole word or a
 * whole run of consecutive words — unless that occurrence is directly followed by a descriptor
 * word (DESCRIPTOR_WORDS: count, length, type, name, path, …).
 *
 *   secret:     password, DB_PASSWORD, db.password, authToken, access_token, Authorization,
 *               X-Api-Key, client_secret, client_secret_id, aws_secret_access_key, set-cookie
 *   not secret: prompt_tokens, max_tokens, tokenizer, author, authority, token_count,
 *               session_length, passwordless
 *
 * Matching is case-insensitive; each key's verdict is cached, so a repeated key costs one Map
 * lookup.
 */
export class SecretKeyMatcher {
  /** False when there is nothing to redact (an empty keyword list). */
  readonly enabled: boolean;
  private readonly keywords: string[][];
  private verdicts = new Map<string, boolean>();
  private older = new Map<string, boolean>();

  constructor(keywords: readonly string[]) {
    this.keywords = keywords
      .filter((keyword) => typeof keyword === 'string')
      .map(keyWords)
      .filter((words) => words.length > 0);
    this.enabled = this.keywords.length > 0;
  }

  isSecret(key: string): boolean {
    if (!this.enabled) return false;
    let verdict = this.verdicts.get(key);
    if (verdict === undefined) {
      verdict = this.older.get(key);
      if (verdict === undefined) verdict = this.decide(key);
      // Two generations: when the newer is full it becomes the older, so keys in use stay cached
      // while keys that are data (ids) age out.
      if (this.verdicts.size >= VERDICT_CACHE_LIMIT) {
        this.older = this.verdicts;
        this.verdicts = new Map();
      }
      this.verdicts.set(key, verdict);
    }
    return verdict;
  }

  private decide(key: string): boolean {
    // Every word of a matching keyword is a substring of the lowercased key: most keys are
    // settled by a few indexOf calls, without splitting them into words.
    const lower = key.toLowerCase();
    if (!this.keywords.some((keyword) => keyword.every((word) => lower.includes(word)))) return false;
    const words = keyWords(key);
    for (const keyword of this.keywords) {
      for (let at = 0; at + keyword.length <= words.length; at++) {
        if (!startsAt(words, keyword, at)) continue;
        const next = words[at + keyword.length];
        if (next === undefined || !DESCRIPTOR_WORDS.has(next)) return true;
      }
    }
    return false;
  }
}

function startsAt(words: string[], keyword: string[], at: number): boolean {
  for (let i = 0; i < keyword.length; i++) if (words[at + i] !== keyword[i]) return false;
  return true;
}
