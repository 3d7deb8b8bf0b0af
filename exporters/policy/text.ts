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
  const marker = MARKER_CHARS + String(value.length).length;
  // Too little room for the marker (a field's character budget running out): an ellipsis alone.
  if (maxChars < marker) return maxChars <= 0 ? '' : `${value.slice(0, cutAt(value, maxChars - 1))}…`;
  const end = cutAt(value, maxChars - marker);
  return `${value.slice(0, end)}…[truncated ${value.length - end} chars]`;
}

const MARKER_CHARS = '…[truncated  chars]'.length;

/** `end`, or one less when that would split a surrogate pair. */
function cutAt(value: string, end: number): number {
  const code = value.charCodeAt(end - 1);
  return code >= 0xd800 && code <= 0xdbff ? end - 1 : end;
}

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
