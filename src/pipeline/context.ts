// The pieces of OTel context pipetel adds: the current stage name and the "monitoring disabled"
// flag. Both travel with the active context (AsyncLocalStorage), so they follow async work.

import { type Context, type ContextManager, context, createContextKey } from '@opentelemetry/api';

const STAGE_KEY = createContextKey('pipetel.stage');
const DISABLED_KEY = createContextKey('pipetel.monitoring_disabled');
/**
 * Set once any code makes a monitoring-disabled context. Until then no context can carry the flag,
 * so hot paths (metric calls) skip the context lookup, which costs more than the rest of the call.
 * A process-wide fact, like the context manager it stands in front of.
 */
let disabledContextMade = false;

/**
 * The context manager register() installed, while it is the global one. context.active() finds the
 * manager through the OTel API's global registry on every call (a symbol lookup on globalThis and
 * a version check): measured inside a per-item loop, whose own work evicts the caches between
 * calls, that cost 1.7–3.5 µs a call against 0.1 µs for asking the manager directly.
 */
let registeredManager: ContextManager | undefined;

/** Set by register() after its manager became the global one; cleared before it is disabled. */
export function useContextManager(manager: ContextManager | undefined): void {
  registeredManager = manager;
}

/** Called by that manager's disable() (context.disable() calls it): the global lookup again. */
export function forgetContextManager(manager: ContextManager): void {
  if (registeredManager === manager) registeredManager = undefined;
}

/** The active context: context.active(), without the global lookup once register() has run. */
export function activeContext(): Context {
  return registeredManager === undefined ? context.active() : registeredManager.active();
}

export function stageOf(ctx: Context = activeContext()): string | undefined {
  return ctx.getValue(STAGE_KEY) as string | undefined;
}

export function withStage(ctx: Context, stage: string): Context {
  return ctx.setValue(STAGE_KEY, stage);
}

export function isMonitoringDisabled(ctx: Context = activeContext()): boolean {
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
