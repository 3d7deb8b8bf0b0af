// The environment layer. Named variables (PIPETEL_DATABASE_URL, OTEL_SERVICE_NAME, …) are declared
// on their fields in schema.ts; every key is also settable as PIPETEL__SECTION__KEY (double
// underscore = dot, any case), its text parsed by the key's type. Empty variables count as unset.

import type { ConfigProblem } from './ConfigError.js';
import { leaves, resolvePath } from './schema.js';
import { mergeInto, nest, type PlainObject } from './tree.js';
import type { PartialSettings } from './types.js';
import { checkPartial, unknownKeyProblem } from './validate.js';

const GENERIC_PREFIX = /^pipetel__/i;

export interface EnvironmentSettings {
  settings: PartialSettings;
  problems: ConfigProblem[];
  /** Names of the variables that contributed. */
  used: string[];
  /** Variables that look meant for pipetel but are not read (see singleUnderscoreKeys). */
  warnings: string[];
}

export function readEnvironment(env: NodeJS.ProcessEnv): EnvironmentSettings {
  const settings: PlainObject = {};
  const problems: ConfigProblem[] = [];
  const used: string[] = [];
  const apply = (name: string, path: readonly string[], value: unknown, source = `env ${name}`) => {
    const checked = checkPartial(nest(path, value), { source });
    problems.push(...checked.problems);
    mergeInto(settings, checked.settings as PlainObject);
    used.push(name);
  };

  // Named variables first; for a field with several, the first one set wins.
  for (const { path, field } of leaves) {
    for (const alias of field.env) {
      const text = env[alias.name];
      if (text === undefined || text === '') continue;
      if (alias.applies && !alias.applies(text)) continue;
      const source = alias.unit ? `env ${alias.name}=${text.trim()}, ${alias.unit}` : undefined;
      apply(alias.name, path, (alias.parse ?? field.fromEnv)(text), source);
      break;
    }
  }

  // The generic form is the most specific, so it wins over a named variable for the same key.
  for (const name of Object.keys(env).sort()) {
    const text = env[name];
    if (!GENERIC_PREFIX.test(name) || text === undefined || text === '') continue;
    const segments = name.replace(GENERIC_PREFIX, '').toLowerCase().split('__');
    const resolved = resolvePath(segments, { ignoreCase: true });
    if ('unknownAt' in resolved) {
      problems.push(unknownKeyProblem(segments.join('.'), `env ${name}`));
      continue;
    }
    if (resolved.kind === 'entry') {
      apply(name, [...resolved.path, resolved.entryKey], resolved.node.entry!.fromEnv(text));
    } else if (resolved.kind === 'field') {
      apply(name, resolved.path, resolved.node.fromEnv(text));
    } else {
      apply(name, resolved.path, parseJson(text));
    }
  }
  return { settings: settings as PartialSettings, problems, used, warnings: singleUnderscoreKeys(env) };
}

/**
 * `PIPETEL_LOGGING_LEVEL` reads like a setting but is not one: the generic form separates the
 * parts of a key with two underscores. Ignored without a word, it would leave the user believing
 * the level was set — but it is a warning, not an error: such a name may well be someone else's
 * (Kubernetes makes `PIPETEL_GATEWAY_PORT=tcp://…` for a Service named pipetel-gateway).
 */
function singleUnderscoreKeys(env: NodeJS.ProcessEnv): string[] {
  const named = new Set(leaves.flatMap(({ field }) => field.env.map((alias) => alias.name)));
  const found: string[] = [];
  for (const { path, field } of leaves) {
    const name = `PIPETEL_${path.join('_').toUpperCase()}`;
    const text = env[name];
    if (named.has(name) || text === undefined || text === '') continue;
    // A Kubernetes service link (<SERVICE>_PORT=tcp://10.0.0.1:4318) is never a pipetel value.
    if (/^(tcp|udp|sctp):\/\//i.test(text)) continue;
    const generic = `PIPETEL__${path.join('__').toUpperCase()}`;
    const alias = field.env.find((a) => a.name.startsWith('PIPETEL_'))?.name;
    found.push(
      `${name} is not read (${path.join('.')} is set by ${generic}${alias ? ` or ${alias}` : ''}: two underscores between the parts of a key)`,
    );
  }
  return found;
}

/** A whole section as JSON (`PIPETEL__LOGGING__DATABASE={"batch_size":500}`); the raw text when not JSON. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
