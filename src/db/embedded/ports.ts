// The server's port: a free one at init, and another when something else took it meanwhile.

import { createServer } from 'node:net';
import { HOST, type Layout, type State, writeFileAtomic } from './layout.js';

export async function movePort(paths: Layout, state: State, log: (line: string) => void): Promise<void> {
  const previous = state.port;
  state.port = await freePort();
  await writeFileAtomic(paths.stateFile, `${JSON.stringify(state, null, 2)}\n`, 0o644);
  log(`port ${previous} is taken; embedded PostgreSQL moves to port ${state.port}`);
}

export function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: HOST, port: 0 }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePromise(port));
    });
  });
}

export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once('error', () => resolvePromise(false));
    server.listen({ host: HOST, port, exclusive: true }, () => server.close(() => resolvePromise(true)));
  });
}
