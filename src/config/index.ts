// Public surface of the configuration module (SPEC §3): load, validate, read and change settings.

export { redactUrl } from '../../exporters/postgres/connectionSecrets.js';
export { Config, type ConfigInit, type ConfigLayer, type ConfigListener } from './Config.js';
export { ConfigError, type ConfigProblem } from './ConfigError.js';
export { type LoadConfigOptions, loadConfig } from './loader.js';
export { presets } from './presets.js';
export { defaultSettings, ineffectiveSettings, renderConfigTable } from './schema.js';
export type * from './types.js';
export { validateSettings } from './validate.js';
