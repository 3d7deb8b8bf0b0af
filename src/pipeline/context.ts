// The pieces of OTel context pipetel adds: the current stage name and the "monitoring disabled"
// flag. Both travel with the active context (AsyncLocalStorage), so they follow async work.

import { type Context, context, createContextKey } from '@opentelemetry/api';

const STAGE_KEY = createContextKey('pipetel.stage');
const DISABLED_KEY = createContextKey('pipetel.monitoring_disabled');
/**
 * Set once any code makes a monitoring-disabled context. Until then no context can carry the flag,
 * so hot paths (metric calls) skip the context lookup, which costs more than the rest of the call.
 * A process-wide fact, like the context manager it stands in front of.
 */
let disabledContextMade = false;

export function stageOf(ctx: Context = context.active()): string | undefined {
  return ctx.getValue(STAGE_KEY) as string | undefined;
}

export function withStage(ctx: Context, stage: string): Context {
  return ctx.setValue(STAGE_KEY, stage);
}

export function isMonitoringDisabled(ctx: Context = context.active()): boolean {
  return ctx.getValue(DISABLED_KEY) === true;
}

/** False until the first withMonitoringDisabledContext(): isMonitoringDisabled() is then false everywhere. */
export function monitoringMayBeDisabled(): boolean {
  return disabledContextMade;
}

export function withMonitoringDisabledContext(ctx: Context): Context {
  disabledContextMade = true;
  return ctx.setValue(DISABLED_KEY, true);
}
