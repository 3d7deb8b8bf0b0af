// Strings every sink can take: bounded, without NUL (PostgreSQL refuses it in text) and without
// lone UTF-16 surrogates (jsonb and strict JSON parsers refuse them).

type WellFormedString = string & { isWellFormed(): boolean; toWellFormed(): string };

/**
 * `value` cut to maxChars (UTF-16 units, never splitting a surrogate pair), ending in a marker
 * saying how much was cut; the marker counts towards maxChars, so a truncated string passes a
 * second truncation unchanged.
 */
export function truncate(value: string, maxChars: number): string {
  if (value.length <= maxChars) return value;
  // '…[truncated ' + digits + ' chars]': the count has at most as many digits as the length.
  let end = Math.max(0, maxChars - (MARKER_CHARS + String(value.length).length));
  const code = value.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return `${value.slice(0, end)}…[truncated ${value.length - end} chars]`;
}

const MARKER_CHARS = '…[truncated  chars]'.length;

/** True when `text` has no NUL and no lone surrogate. */
export function isCleanText(text: string): boolean {
  return text.indexOf('\0') === -1 && (text as WellFormedString).isWellFormed();
}

/** `text` cut to `maxChars` (see truncate), NUL → U+FFFD, lone surrogates → U+FFFD. */
export function cleanText(text: string, maxChars = Number.POSITIVE_INFINITY): string {
  let out = truncate(text, maxChars);
  if (out.indexOf('\0') !== -1) out = out.replaceAll('\0', '\uFFFD');
  return (out as WellFormedString).toWellFormed();
}
