// loadConfig(): gathers every source of settings — YAML file, environment, programmatic options —
// validates them all, and either returns a complete Config or throws one ConfigError listing every
// problem. Nothing else in pipetel reads settings files or environment variables.

import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { Config, type ConfigLayer } from './Config.js';
import { ConfigError, type ConfigProblem, problem } from './ConfigError.js';
import { readEnvironment } from './env.js';
import { readSettingsFile } from './file.js';
import { defaultSettings } from './schema.js';
import { closest } from './suggest.js';
import { mergeInto, type PlainObject } from './tree.js';
import type { PartialSettings } from './types.js';
import { checkPartial } from './validate.js';

export interface LoadConfigOptions {
  /** YAML file to read; it must exist. Default: PIPETEL_CONFIG, else ./pipetel.yml, else ./config.yml. */
  configFile?: string;
  /** Settings in the YAML's shape; above the file and the environment. */
  config?: PartialSettings;
  /** Environment to read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Directory relative paths are resolved against (default process.cwd()). */
  cwd?: string;
  /** Shortcut for config.service_name (above `config`). */
  serviceName?: string;
  /** Shortcut for config.experiment_id (above `config`). */
  experimentId?: string;
  /** Shortcut for config.database.url (above `config`). */
  databaseUrl?: string;
  /**
   * Sources above all of these, lowest first, each named by its `source` in messages and in
   * Config.sources: the command line's flags (`{ source: 'flag --profile', settings: … }`).
   */
  layers?: readonly ConfigLayer[];
}

/** Looked for in this order when no file is named (SPEC §3), each also spelled `.yaml`. */
const IMPLICIT_FILES = ['pipetel.yml', 'pipetel.yaml', 'config.yml', 'config.yaml'];
/** Names an application may use for its own settings: read only when they hold pipetel's. */
const SHARED_NAMES = new Set(['config.yml', 'config.yaml']);
const warnedFiles = new Set<string>();
/** Environment variables already warned about (once per process, as for files). */
const warnedVariables = new Set<string>();

/** The effective configuration. Throws ConfigError (listing every problem) instead of starting half-configured. */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const cwd = resolve(options.cwd ?? process.cwd());
  const problems: ConfigProblem[] = [];
  const layers: ConfigLayer[] = [];

  const file = findConfigFile(options, env, cwd);
  if (file) {
    const read = readSettingsFile(file.path, file.key);
    problems.push(...read.problems);
    if (read.problems.length > 0 && SHARED_NAMES.has(file.key))
      problems.push(
        problem({
          key: file.key,
          expected: "pipetel's settings",
          got: file.path,
          text: `read as pipetel's settings because every key at its top level is pipetel's or close to one, and there is no pipetel.yml; if it is your application's, name pipetel's file pipetel.yml or set PIPETEL_CONFIG`,
        }),
      );
    layers.push({ source: `file:${file.path}`, settings: read.settings });
  }

  const fromEnv = readEnvironment(env);
  problems.push(...fromEnv.problems);
  for (const warning of fromEnv.warnings) {
    if (warnedVariables.has(warning)) continue;
    warnedVariables.add(warning);
    process.stderr.write(`pipetel: ${warning}\n`);
  }
  if (fromEnv.used.length > 0) layers.push({ source: 'env', settings: fromEnv.settings });

  const programmatic = readOptions(options);
  problems.push(...programmatic.problems);
  if (programmatic.settings) layers.push({ source: 'options', settings: programmatic.settings });

  for (const layer of options.layers ?? []) {
    const checked = checkPartial(layer.settings, { source: layer.source });
    problems.push(...checked.problems);
    layers.push({ source: layer.source, settings: checked.settings });
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return new Config({ layers, home: resolve(cwd, env.PIPETEL_HOME || '.pipetel') });
}

/** The file to read and what named it; undefined when no file is configured and none exists. */
function findConfigFile(
  options: LoadConfigOptions,
  env: NodeJS.ProcessEnv,
  cwd: string,
): { path: string; key: string } | undefined {
  if (options.configFile) return { path: resolve(cwd, options.configFile), key: 'configFile' };
  if (env.PIPETEL_CONFIG) return { path: resolve(cwd, env.PIPETEL_CONFIG), key: 'PIPETEL_CONFIG' };
  for (const name of IMPLICIT_FILES) {
    const path = resolve(cwd, name);
    if (!existsSync(path)) continue;
    const foreign = SHARED_NAMES.has(name) ? foreignKeys(path) : [];
    if (foreign.length > 0) {
      // An application's own config.yml (`app:`, or `database: { host: … }` next to it) must not
      // stop pipetel starting.
      if (!warnedFiles.has(path)) {
        warnedFiles.add(path);
        process.stderr.write(
          `pipetel: ${path} is not read: ${foreign.join(', ')} at its top level ${foreign.length === 1 ? 'is' : 'are'} not pipetel's, ` +
            `so it looks like an application's file; name pipetel's file pipetel.yml or set PIPETEL_CONFIG\n`,
        );
      }
      continue;
    }
    // Both spellings of one name: the other is not read, and that must not go unnoticed.
    const twin = name.endsWith('.yml') ? resolve(cwd, name.replace(/\.yml$/, '.yaml')) : undefined;
    if (twin && existsSync(twin) && !warnedFiles.has(twin)) {
      warnedFiles.add(twin);
      process.stderr.write(`pipetel: ${twin} is not read: ${path} is, and only one settings file is\n`);
    }
    return { path, key: name };
  }
  return undefined;
}

/**
 * The top-level keys of a YAML file that are neither pipetel's (`logging`, `database`, …) nor a
 * near miss of one (`loging`: a typo to report, not a reason to skip the file); none means the
 * file is pipetel's. A file that cannot be read or parsed counts as pipetel's, so its problem is
 * reported as usual; a scalar or a list is not a settings file.
 */
function foreignKeys(path: string): string[] {
  try {
    const value: unknown = parse(readFileSync(path, 'utf8'));
    if (value === null) return [];
    if (typeof value !== 'object' || Array.isArray(value)) return ['(not a mapping)'];
    const known = Object.keys(defaultSettings());
    return Object.keys(value).filter((key) => !known.includes(key) && closest(key, known) === undefined);
  } catch {
    return [];
  }
}

function readOptions(options: LoadConfigOptions): { settings?: PartialSettings; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const settings: PlainObject = {};
  let given = false;
  const add = (input: unknown, source: string) => {
    given = true;
    const checked = checkPartial(input, { source });
    problems.push(...checked.problems);
    mergeInto(settings, checked.settings as PlainObject);
  };
  if (options.config !== undefined) add(options.config, 'options.config');
  if (options.serviceName !== undefined) add({ service_name: options.serviceName }, 'option serviceName');
  if (options.experimentId !== undefined) add({ experiment_id: options.experimentId }, 'option experimentId');
  if (options.databaseUrl !== undefined)
    add({ database: { url: options.databaseUrl } }, 'option databaseUrl');
  return given ? { settings: settings as PartialSettings, problems } : { problems };
}
