// The seed's five log levels and their OpenTelemetry severity numbers, plus the lenient parsing a
// call site needs (`warn`, `fatal`, lower case). Severity numbers are what the hot path compares.

import { levelForSeverity } from '../../exporters/shared/conventions.js';
import type { LevelName } from '../config/types.js';

export type { LevelName };

/** OTel severity number of each level (DEBUG=5 … CRITICAL=21, the first number of each OTel range). */
export const LEVELS = { DEBUG: 5, INFO: 9, WARNING: 13, ERROR: 17, CRITICAL: 21 } as const;

export const LEVEL_NAMES: readonly LevelName[] = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'];

/** Highest OTel severity number (FATAL4); sized tables are indexed by severity. */
export const MAX_SEVERITY = 24;

const ALIASES: Record<string, LevelName> = {
  DEBUG: 'DEBUG',
  TRACE: 'DEBUG',
  INFO: 'INFO',
  WARNING: 'WARNING',
  WARN: 'WARNING',
  ERROR: 'ERROR',
  CRITICAL: 'CRITICAL',
  FATAL: 'CRITICAL',
};

/** The level a name stands for, case-insensitive, accepting `warn`/`fatal`/`trace`; undefined if none. */
export function parseLevel(name: unknown): LevelName | undefined {
  if (typeof name !== 'string') return undefined;
  return Object.hasOwn(ALIASES, name) ? ALIASES[name] : ALIASES[name.toUpperCase()];
}

/** Severity number of a level name; throws a RangeError naming the bad value (configuration mistakes). */
export function severityOf(name: LevelName | string): number {
  const level = parseLevel(name);
  if (level === undefined) {
    throw new RangeError(
      `unknown log level ${JSON.stringify(name)}; expected one of ${LEVEL_NAMES.join(', ')}`,
    );
  }
  return LEVELS[level];
}

/** The seed's level name of an OTel severity number (1–8 DEBUG, 9–12 INFO, …, 21–24 CRITICAL): the sinks' rule. */
export function levelNameOf(severity: number): LevelName {
  return levelForSeverity(severity) as LevelName;
}
