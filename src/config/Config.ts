// The effective settings of one pipetel instance: built-in defaults, the profile preset, then each
// source layer (file, env, options) and finally config.set() overrides, validated as a whole.
// Layers are kept, so changing `profile` at runtime re-applies the preset under the other layers.

import { resolve } from 'node:path';
import { ConfigError, problem } from './ConfigError.js';
import { presets } from './presets.js';
import { defaultSettings, leaves, type ResolvedPath, resolvePath } from './schema.js';
import { closest } from './suggest.js';
import { clone, deepEqual, getIn, isPlainObject, mergeInto, nest, type PlainObject } from './tree.js';
import type { PartialSettings, PipetelSettings, ProfileName } from './types.js';
import { checkPartial, unknownKeyProblem } from './validate.js';

/** One source of settings, e.g. `{ source: 'file:/x/pipetel.yml', settings: {...} }`. */
export interface ConfigLayer {
  source: string;
  settings: PartialSettings;
}

export interface ConfigInit {
  /** Layers above defaults and profile, lowest first. Validated again here. */
  layers?: readonly ConfigLayer[];
  /** PIPETEL_HOME; resolved against the current directory. Default `./.pipetel`. */
  home?: string;
}

export type ConfigListener = (path: string, value: unknown) => void;

const SET_SOURCE = 'set';

export class Config {
  /** The full, validated effective settings. Read-only: change them through set(). */
  readonly values: PipetelSettings;
  /** PIPETEL_HOME as an absolute path: embedded database, spool and log files live under it. */
  readonly home: string;
  readonly #layers: ConfigLayer[];
  #overrides: PlainObject = {};
  readonly #listeners = new Set<ConfigListener>();
  /** Set by restrictToLiveKeys(): the only keys set() may change. */
  #liveKeys: string[] | undefined;

  constructor(init: ConfigInit = {}) {
    const problems = [];
    this.#layers = [];
    for (const layer of init.layers ?? []) {
      const checked = checkPartial(layer.settings, { source: layer.source });
      problems.push(...checked.problems);
      this.#layers.push({ source: layer.source, settings: checked.settings });
    }
    if (problems.length > 0) throw new ConfigError(problems);
    this.home = resolve(init.home ?? '.pipetel');
    this.values = compose(this.#layers);
  }

  /** Where the effective settings came from, lowest first: `['defaults', 'profile:balanced', 'env']`. */
  get sources(): string[] {
    const layers = this.#allLayers();
    const profile = profileOf(layers);
    return ['defaults', ...(profile ? [`profile:${profile}`] : []), ...layers.map((layer) => layer.source)];
  }

  /** The value at a dotted path (a copy for sections, maps and lists). Unknown path → ConfigError. */
  get(path: string): unknown {
    return clone(getIn(this.values, this.#resolve(path, 'config.get')));
  }

  /**
   * Sets a dotted path (a setting, a whole section as an object, or one map entry such as
   * `logging.sampling.DEBUG`). Validated first: on error nothing changes. Listeners hear about
   * every setting whose effective value changed (several when `profile` changes).
   */
  set(path: string, value: unknown): void {
    const target = this.#resolve(path, 'config.set');
    if (value === undefined) {
      throw new ConfigError([
        problem({ key: path, expected: 'a value', got: 'undefined', where: 'config.set' }),
      ]);
    }
    const checked = checkPartial(nest(target, value), { source: 'config.set' });
    if (checked.problems.length > 0) throw new ConfigError(checked.problems);
    const overrides = mergeInto(clone(this.#overrides), checked.settings as PlainObject);
    const next = compose([...this.#layers, { source: SET_SOURCE, settings: overrides }]);
    const frozen = this.#liveKeys && changedKeys(this.values, next).filter((key) => !this.#isLive(key));
    if (frozen?.length) {
      const live = this.#liveKeys!.join(', ');
      throw new ConfigError(
        frozen.map((key) =>
          problem({
            key,
            expected: 'a key that changes while running',
            got: key,
            text: `cannot change after register(): set it in the configuration file, the environment or register({ config }); these change live: ${live}`,
            where: 'config.set',
          }),
        ),
      );
    }
    this.#overrides = overrides;
    this.#notify(applyChanges(this.values, next));
  }

  /**
   * From now on set() changes only these keys (a listed section covers the keys under it) and
   * refuses the rest, naming them: what register() does, since only these reach a running pipeline.
   */
  restrictToLiveKeys(keys: readonly string[]): void {
    this.#liveKeys = [...keys];
  }

  #isLive(key: string): boolean {
    return this.#liveKeys!.some((live) => key === live || key.startsWith(`${live}.`));
  }

  /** Calls `listener(dottedPath, newValue)` after each change made by set(); returns an unsubscribe. */
  onChange(listener: ConfigListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** A deep copy of the effective settings. */
  toJSON(): PipetelSettings {
    return clone(this.values);
  }

  /** A deep copy with secrets hidden: database password, OTLP endpoint password and header values. */
  redacted(): PipetelSettings {
    const copy = clone(this.values);
    for (const { path, field } of leaves) {
      if (!field.redact) continue;
      const parent = getIn(copy, path.slice(0, -1)) as PlainObject;
      const name = path[path.length - 1]!;
      if (parent[name] !== null && parent[name] !== undefined) parent[name] = field.redact(parent[name]);
    }
    return copy;
  }

  #allLayers(): ConfigLayer[] {
    return Object.keys(this.#overrides).length > 0
      ? [...this.#layers, { source: SET_SOURCE, settings: this.#overrides }]
      : this.#layers;
  }

  /**
   * Dotted path → canonical segments (map entries normalized, e.g. `sampling.debug` → `DEBUG`).
   * `where` names the call in the message (`config.set`), as for every other problem it reports.
   */
  #resolve(path: string, where: string): string[] {
    const segments = path.split('.');
    const resolved: ResolvedPath | { unknownAt: number } = resolvePath(segments);
    if ('unknownAt' in resolved) {
      // An entry a map field does not take (`logging.sampling.VERBOSE`): say which it takes.
      const parent = resolvePath(segments.slice(0, -1));
      const entry = !('unknownAt' in parent) && parent.kind === 'field' ? parent.node.entry : undefined;
      if (entry?.expectedKey)
        throw new ConfigError([
          problem({
            key: path,
            expected: entry.expectedKey,
            got: JSON.stringify(segments.at(-1)),
            suggestion: entry.allowedKeys ? closest(segments.at(-1)!, entry.allowedKeys) : undefined,
            where,
          }),
        ]);
      throw new ConfigError([unknownKeyProblem(path, where)]);
    }
    return resolved.kind === 'entry' ? [...resolved.path, resolved.entryKey] : resolved.path;
  }

  #notify(changes: Array<[string, unknown]>): void {
    const errors: unknown[] = [];
    for (const [path, value] of changes) {
      for (const listener of [...this.#listeners]) {
        try {
          listener(path, clone(value));
        } catch (error) {
          errors.push(error);
        }
      }
    }
    // Every listener hears every change; a failing one is reported after, not in place of, the rest.
    if (errors.length > 0) throw errors[0];
  }
}

/** The profile named by the highest layer that names one (presets never name one themselves). */
function profileOf(layers: readonly ConfigLayer[]): ProfileName | null {
  let profile: ProfileName | null = null;
  for (const layer of layers) if (layer.settings.profile !== undefined) profile = layer.settings.profile;
  return profile;
}

function compose(layers: readonly ConfigLayer[]): PipetelSettings {
  const result = defaultSettings() as unknown as PlainObject;
  const profile = profileOf(layers);
  if (profile) mergeInto(result, presets[profile] as PlainObject);
  for (const layer of layers) mergeInto(result, layer.settings as PlainObject);
  const settings = result as unknown as PipetelSettings;
  // An endpoint (here or from OTEL_EXPORTER_OTLP_ENDPOINT) turns OTLP on: the effective value says
  // so, so that `config print` and config.get() show what register() will do.
  if (settings.otlp.endpoint !== null) settings.otlp.enabled = true;
  return settings;
}

/** Copies changed settings from `next` into `values` in place (references stay valid); lists them. */
/** The dotted keys whose values differ between two settings objects. */
function changedKeys(values: PipetelSettings, next: PipetelSettings): string[] {
  return leaves
    .filter(({ path }) => !deepEqual(getIn(values, path), getIn(next, path)))
    .map(({ key }) => key);
}

function applyChanges(values: PipetelSettings, next: PipetelSettings): Array<[string, unknown]> {
  const changes: Array<[string, unknown]> = [];
  for (const { path, key } of leaves) {
    const before = getIn(values, path);
    const after = getIn(next, path);
    if (deepEqual(before, after)) continue;
    const parent = getIn(values, path.slice(0, -1));
    if (isPlainObject(parent)) parent[path[path.length - 1]!] = clone(after);
    changes.push([key, after]);
  }
  return changes;
}
