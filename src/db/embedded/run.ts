// The server's tools (initdb, pg_ctl, postgres) as child processes, as the server account under root.

import { spawn } from 'node:child_process';
import { basename } from 'node:path';
import type { RunAs } from './account.js';

export interface RunOptions {
  runAs: RunAs | null;
  cwd: string;
  input?: string;
}

/**
 * A clean environment: PG* variables (PGDATA, PGPORT, ...) must not reach the server tools, and
 * LC_ALL=C keeps their messages parseable.
 */
export function run(
  command: string,
  args: string[],
  options: RunOptions,
): Promise<{ code: number; output: string }> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' };
  if (process.env.TZ) env.TZ = process.env.TZ;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      ...(options.runAs ? { uid: options.runAs.uid, gid: options.runAs.gid } : {}),
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.once('error', (error) => reject(new Error(`cannot run ${basename(command)}: ${error.message}`)));
    child.once('close', (code, signal) => resolvePromise({ code: code ?? (signal ? 128 : 1), output }));
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

export async function runChecked(command: string, args: string[], options: RunOptions): Promise<void> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    throw new Error(`${basename(command)} failed (exit ${result.code}): ${result.output.trim()}`);
  }
}
