// What every sink shares: one policy for secrets and limits, applied at the front door.

/// <reference types="node" preserve="true" />
// (Node types in these declarations: a TypeScript whose `types` default is empty still finds them.)

export { PolicyLogRecordProcessor, PolicyMetricExporter, PolicySpanProcessor } from './frontDoor.js';
export * from './limits.js';
export { newSanitizeCounters, type SanitizeCounters, Sanitizer } from './Sanitizer.js';
export { DEFAULT_SECRET_KEYS, keyWords, REDACTED, SecretKeyMatcher } from './secrets.js';
export { TelemetryPolicy, type TelemetryPolicyOptions } from './TelemetryPolicy.js';
