// register(): the one entry point that builds pipetel from config and installs it as the OTel
// globals. The registered instance is the module's one deliberate piece of global state.

import { isDeepStrictEqual } from 'node:util';
import { problem } from './config/ConfigError.js';
import type { PartialSettings } from './config/index.js';
import { ConfigError, loadConfig } from './config/index.js';
import { closest } from './config/suggest.js';
import type { Instrumentation } from './internal/otelSdk.js';
import type { Logger } from './logging/index.js';
import { resolveDatabaseUrl, Telemetry } from './telemetry.js';

export interface RegisterOptions {
  serviceName?: string;
  experimentId?: string;
  /** YAML file; default PIPETEL_CONFIG, then ./pipetel.yml, then ./config.yml (each also .yaml). */
  configFile?: string;
  /** A partial config, same keys as the YAML. */
  config?: PartialSettings;
  databaseUrl?: string;
  /** Extra resource/experiment attributes. */
  attributes?: Record<string, string | number | boolean>;
  /**
   * Official OpenTelemetry instrumentations to enable (e.g. `new HttpInstrumentation()` from
   * `@opentelemetry/instrumentation-http`), as the NodeSDK's option of the same name: they record
   * into pipetel's providers, so their spans reach pipeline_spans and every other sink.
   */
  instrumentations?: Instrumentation[];
}

/** Every option register() takes: any other is a mistake (a typo), never silently ignored. */
const OPTION_NAMES: readonly (keyof RegisterOptions)[] = [
  'serviceName',
  'experimentId',
  'configFile',
  'config',
  'databaseUrl',
  'attributes',
  'instrumentations',
];

/** The option `name` most likely meant, case aside (`experimentID`, `servicename`). */
function closestOption(name: string): string | undefined {
  const lower = OPTION_NAMES.map((option) => option.toLowerCase());
  const hit = closest(name.toLowerCase(), lower);
  return hit === undefined ? undefined : OPTION_NAMES[lower.indexOf(hit)];
}

/** A ConfigError naming each option register() does not know, with the closest known one. */
function unknownOptions(options: RegisterOptions): ConfigError | undefined {
  if (options === null || typeof options !== 'object') {
    return new ConfigError([
      problem({
        key: 'options',
        expected: 'an object of options',
        got: String(options),
        where: 'register()',
      }),
    ]);
  }
  const unknown = Object.keys(options).filter((name) => !(OPTION_NAMES as readonly string[]).includes(name));
  if (unknown.length === 0) return undefined;
  return new ConfigError(
    unknown.map((name) =>
      problem({
        key: name,
        expected: `one of ${OPTION_NAMES.join(', ')}`,
        got: JSON.stringify(name),
        suggestion: closestOption(name),
        where: 'register() options',
        text: 'unknown option',
      }),
    ),
  );
}

/** How long register() waits for migrations and the experiment row before carrying on in the background (less when the server does not answer: Telemetry.waitForSetup). */
const SETUP_WAIT_MS = 5_000;

let current: { options: RegisterOptions; telemetry: Promise<Telemetry>; preloaded: boolean } | undefined;

/**
 * Wires the OTel SDK (traces, logs, metrics) to pipetel's exporters and returns the Telemetry.
 * Calling it again returns the same instance; with different options it throws.
 */
export function register(options: RegisterOptions = {}): Promise<Telemetry> {
  return registerAs(options, false);
}

/**
 * register() for the preload (`node --import pipetel/register`), which a later register() with
 * options names in its error.
 * @internal
 */
export function registerFromPreload(options: RegisterOptions): Promise<Telemetry> {
  return registerAs(options, true);
}

function registerAs(options: RegisterOptions, preloaded: boolean): Promise<Telemetry> {
  const mistaken = unknownOptions(options);
  if (mistaken) return Promise.reject(mistaken);
  if (current) {
    if (Object.keys(options).length > 0 && !isDeepStrictEqual(options, current.options)) {
      const before = current.options as Record<string, unknown>;
      const given = options as Record<string, unknown>;
      const differing = [...new Set([...Object.keys(before), ...Object.keys(given)])].filter(
        (key) => !isDeepStrictEqual(before[key], given[key]),
      );
      const by = current.preloaded ? ' by the preload (node --import pipetel/register)' : '';
      const fix = current.preloaded
        ? 'with the preload, set them in the environment or the config file (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, PIPETEL_…) and call register() without options'
        : 'call shutdown() first';
      return Promise.reject(
        new Error(
          `pipetel: register() was already called${by} with different options (${differing.join(', ')}); ${fix}`,
        ),
      );
    }
    return current.telemetry;
  }
  const entry = { options, telemetry: create(options), preloaded };
  current = entry;
  entry.telemetry.then(
    (telemetry) => {
      // After shutdown a new register() builds a new instance.
      telemetry.onShutdown(() => {
        if (current === entry) current = undefined;
      });
    },
    () => {
      if (current === entry) current = undefined;
    },
  );
  return entry.telemetry;
}

/** The registered instance, if any (used by the top-level getLogger). */
export function registered(): Promise<Telemetry> | undefined {
  return current?.telemetry;
}

async function create(options: RegisterOptions): Promise<Telemetry> {
  const config = loadConfig({
    configFile: options.configFile,
    config: options.config,
    serviceName: options.serviceName,
    experimentId: options.experimentId,
    databaseUrl: options.databaseUrl,
  });
  const databaseUrl = config.values.disabled ? undefined : await resolveDatabaseUrl(config);
  const telemetry = new Telemetry(
    config,
    databaseUrl,
    options.attributes ?? {},
    options.instrumentations ?? [],
  );
  await telemetry.waitForSetup(SETUP_WAIT_MS);
  return telemetry;
}

export type { Logger };
