// Preload entry: `node --import pipetel/register app.js` registers pipetel from config file and
// environment before the application runs, with no code change. The app can still reach the
// instance with `await register()` (same instance) to use stages and progress.
//
// PIPETEL_INSTRUMENTATIONS names official instrumentation packages to enable, comma-separated
// (`@opentelemetry/instrumentation-http,@opentelemetry/instrumentation-pg`): each package's
// exported *Instrumentation class is constructed with its defaults, as a preload cannot take code.

/// <reference types="node" preserve="true" />
// (Node types in these declarations: a TypeScript whose `types` default is empty still finds them.)

import { stderrWarning } from '../exporters/delivery/RateLimitedWarning.js';
import { ConfigError } from './config/ConfigError.js';
import { instrumentationsFromEnvironment } from './internal/preloadInstrumentations.js';
import { registerFromPreload } from './registry.js';

const instrumentations = await instrumentationsFromEnvironment(process.env, stderrWarning);
try {
  await registerFromPreload(instrumentations.length > 0 ? { instrumentations } : {});
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  // Invalid settings stop the application before it starts (nothing half-configured), as the CLI
  // does: one line per problem and exit 2, not a stack trace of pipetel's internals.
  for (const problem of error.problems) process.stderr.write(`pipetel: ${problem.message}\n`);
  process.exit(2);
}
