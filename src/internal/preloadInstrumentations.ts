// PIPETEL_INSTRUMENTATIONS for the preload (`node --import pipetel/register`), which cannot take
// code: official instrumentation packages named by the environment, each package's exported
// *Instrumentation class constructed with its defaults.

import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import type { Instrumentation } from './otelSdk.js';

/** The instrumentations PIPETEL_INSTRUMENTATIONS names, resolved from the application's directory. */
export async function instrumentationsFromEnvironment(
  env: NodeJS.ProcessEnv,
  warn: (message: string) => void,
  from = `${process.cwd()}/`,
): Promise<Instrumentation[]> {
  const names = (env.PIPETEL_INSTRUMENTATIONS ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  const found: Instrumentation[] = [];
  const resolve = createRequire(pathToFileURL(from)).resolve;
  for (const name of names) {
    try {
      const module = (await import(pathToFileURL(resolve(name)).href)) as Record<string, unknown>;
      const classes = Object.entries(module).filter(
        ([key, value]) =>
          key.endsWith('Instrumentation') && key !== 'Instrumentation' && typeof value === 'function',
      );
      if (classes.length === 0) throw new Error('it exports no *Instrumentation class');
      for (const [, Class] of classes) found.push(new (Class as new () => Instrumentation)());
    } catch (error) {
      warn(
        `PIPETEL_INSTRUMENTATIONS: cannot load ${name} (${error instanceof Error ? error.message.split('\n')[0] : String(error)}); install it beside the app`,
      );
    }
  }
  return found;
}
