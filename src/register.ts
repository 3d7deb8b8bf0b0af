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
import { instrumentationsFromEnvironment } from './internal/preloadInstrumentations.js';
import { register } from './registry.js';

const instrumentations = await instrumentationsFromEnvironment(process.env, stderrWarning);
await register(instrumentations.length > 0 ? { instrumentations } : {});
