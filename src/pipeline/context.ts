// The pieces of OTel context pipetel adds: the current stage name and the "monitoring disabled"
// flag. Both travel with the active context (AsyncLocalStorage), so they follow async work.

import { type Context, context, createContextKey } from '@opentelemetry/api';

const STAGE_KEY = createContextKey('pipetel.stage');
const DISABLED_KEY = createContextKey('pipetel.monitoring_disabled');

export function stageOf(ctx: Context = context.active()): string | undefined {
  return ctx.getValue(STAGE_KEY) as string | undefined;
}

export function withStage(ctx: Context, stage: string): Context {
  return ctx.setValue(STAGE_KEY, stage);
}

export function isMonitoringDisabled(ctx: Context = context.active()): boolean {
  return ctx.getValue(DISABLED_KEY) === true;
}

export function withMonitoringDisabledContext(ctx: Context): Context {
  return ctx.setValue(DISABLED_KEY, true);
}
