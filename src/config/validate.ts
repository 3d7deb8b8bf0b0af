// Checks a partial settings object (a YAML file, register({ config }), one env variable) against
// the schema and normalizes it ('info' → 'INFO'). Collects every problem instead of stopping at
// the first, and names the closest valid key for anything unknown.

import { type ConfigProblem, problem } from './ConfigError.js';
import { type GroupSpec, showValue } from './fields.js';
import { dottedKeys, resolvePath, settingsSchema } from './schema.js';
import { closest, editDistance, tolerance } from './suggest.js';
import { isPlainObject, type PlainObject } from './tree.js';
import type { PartialSettings } from './types.js';

export const ROOT_KEY = '(root)';

export interface ValidationContext {
  /** Where the input came from, appended to each message: `env PIPETEL__X`, `options.config`. */
  source?: string;
  /** A more precise location for a path (a file's line), used instead of `source`. */
  locate?: (path: readonly string[]) => string | undefined;
}

export interface Validated {
  settings: PartialSettings;
  problems: ConfigProblem[];
}

/** Validates and normalizes a partial settings object; `settings` holds the valid part. */
export function checkPartial(input: unknown, context: ValidationContext = {}): Validated {
  const problems: ConfigProblem[] = [];
  if (input === undefined || input === null) return { settings: {}, problems };
  if (!isPlainObject(input)) {
    problems.push(
      problem({
        key: ROOT_KEY,
        expected: 'an object of settings (a YAML mapping)',
        got: showValue(input),
        where: context.source,
      }),
    );
    return { settings: {}, problems };
  }
  const settings: PlainObject = {};
  checkGroup(settingsSchema, input, [], settings, problems, context);
  return { settings: settings as PartialSettings, problems };
}

/** Every problem with a partial settings object (empty when it is valid). */
export function validateSettings(input: unknown, source?: string): ConfigProblem[] {
  return checkPartial(input, { source }).problems;
}

function where(path: readonly string[], context: ValidationContext): string | undefined {
  return context.locate?.(path) ?? context.source;
}

function checkGroup(
  node: GroupSpec,
  input: PlainObject,
  path: readonly string[],
  out: PlainObject,
  problems: ConfigProblem[],
  context: ValidationContext,
): void {
  for (const [name, value] of Object.entries(input)) {
    if (value === undefined) continue;
    const childPath = [...path, name];
    const key = childPath.join('.');
    const child = Object.hasOwn(node.fields, name) ? node.fields[name] : undefined;
    if (child === undefined) {
      problems.push(
        dottedNameProblem(key, name, where(childPath, context)) ??
          unknownKeyProblem(key, where(childPath, context)),
      );
      continue;
    }
    if (child.kind === 'group') {
      // An empty YAML section (`logging:` with nothing under it) is null: nothing to set.
      if (value === null) continue;
      if (!isPlainObject(value)) {
        const expected = `a section (an object with keys such as ${Object.keys(child.fields).slice(0, 3).join(', ')})`;
        problems.push(problem({ key, expected, got: showValue(value), where: where(childPath, context) }));
        continue;
      }
      const section: PlainObject = {};
      checkGroup(child, value, childPath, section, problems, context);
      out[name] = section;
      continue;
    }
    const checked = child.check(value);
    if (checked.ok) {
      out[name] = checked.value;
      continue;
    }
    for (const issue of checked.issues) {
      const issuePath = issue.at === undefined ? childPath : [...childPath, issue.at];
      problems.push(
        problem({
          key: issuePath.join('.'),
          expected: issue.expected,
          got: issue.got,
          suggestion: issue.suggestion,
          where: where(issuePath, context),
          text: issue.text,
        }),
      );
    }
  }
}

/**
 * `{ 'logging.level': 'DEBUG' }`: a dotted name used as one key of an object, where a valid dotted
 * key was meant. The fix is to nest it, not the nearest other key ("did you mean …?").
 */
function dottedNameProblem(key: string, name: string, where: string | undefined): ConfigProblem | undefined {
  if (!name.includes('.') || !dottedKeys.some((k) => k === key || k.startsWith(`${key}.`))) return undefined;
  const segments = key.split('.');
  const nested = segments.reduceRight((inner, segment) => `{ ${segment}: ${inner} }`, '…');
  return problem({
    key,
    expected: 'nested keys',
    got: JSON.stringify(name),
    where,
    text: `a dotted name is not a key inside an object: nest it, ${nested}`,
  });
}

export function unknownKeyProblem(key: string, where?: string): ConfigProblem {
  return problem({
    key,
    expected: 'a known setting',
    got: JSON.stringify(key),
    suggestion: suggestKey(key),
    where,
    text: 'unknown key',
  });
}

/**
 * The valid key closest to a mistyped one. Both the whole dotted key and its last segment are
 * compared (so `batch_sise` and a misplaced `logging.batch_size` both find their key); among
 * equally close keys, the one sharing more leading sections wins, then schema order.
 */
export function suggestKey(key: string): string | undefined {
  const segments = key.split('.');
  const last = segments[segments.length - 1]!;
  const entry = suggestEntry(segments);
  if (entry !== undefined) return entry;
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  let bestShared = -1;
  for (const candidate of dottedKeys) {
    if (candidate === key) continue;
    const candidateSegments = candidate.split('.');
    const distance = keyDistance(key, last, candidate, candidateSegments[candidateSegments.length - 1]!);
    if (distance === Number.POSITIVE_INFINITY) continue;
    const shared = sharedSections(segments, candidateSegments);
    if (distance < bestDistance || (distance === bestDistance && shared > bestShared)) {
      best = candidate;
      bestDistance = distance;
      bestShared = shared;
    }
  }
  return best;
}

/** For a mistyped entry of a map (`logging.sampling.DEBUGG`), the map's closest allowed entry. */
function suggestEntry(segments: readonly string[]): string | undefined {
  if (segments.length < 2) return undefined;
  const parent = resolvePath(segments.slice(0, -1), { ignoreCase: true });
  if (!('kind' in parent) || parent.kind !== 'field' || !parent.node.entry?.allowedKeys) return undefined;
  const entry = closest(segments[segments.length - 1]!, parent.node.entry.allowedKeys);
  return entry === undefined ? undefined : [...parent.path, entry].join('.');
}

/**
 * How far a mistyped key is from a candidate: the edit distance of the whole key or of the last
 * segment, whichever is a plausible typo; a last segment that is part of the candidate's
 * (`pool_size` in `connection_pool_size`) counts as a weak match. Infinity when unrelated.
 */
function keyDistance(key: string, last: string, candidate: string, candidateLast: string): number {
  const limit = tolerance(last);
  const full = editDistance(key, candidate);
  const tail = editDistance(last, candidateLast);
  let distance = Math.min(
    full <= limit ? full : Number.POSITIVE_INFINITY,
    tail <= limit ? tail : Number.POSITIVE_INFINITY,
  );
  const lowerLast = last.toLowerCase();
  if (
    lowerLast.length >= 4 &&
    candidateLast.length >= 4 &&
    (candidateLast.includes(lowerLast) || lowerLast.includes(candidateLast))
  ) {
    distance = Math.min(distance, limit + 1);
  }
  return distance;
}

function sharedSections(a: readonly string[], b: readonly string[]): number {
  let shared = 0;
  while (shared < a.length - 1 && shared < b.length - 1 && a[shared] === b[shared]) shared++;
  return shared;
}
