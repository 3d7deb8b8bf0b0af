// Assertions several test files share.

import assert from 'node:assert/strict';
import { MAX_STRING_CHARS } from '../../exporters/policy/limits.js';

/** `value` is `length` × `char` cut to MAX_STRING_CHARS, the marker included, saying how much was cut. */
export function assertTruncated(value: unknown, char: string, length: number): void {
  assert.equal(typeof value, 'string');
  const text = value as string;
  assert.ok(text.length <= MAX_STRING_CHARS, `${text.length} chars`);
  const match = /^(.*)…\[truncated (\d+) chars\]$/s.exec(text);
  assert.ok(match, 'ends in the marker');
  assert.equal(match[1], char.repeat(match[1]!.length));
  assert.equal(match[1]!.length + Number(match[2]), length, 'kept + cut = the original length');
}
