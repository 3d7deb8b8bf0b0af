// `pipetel db start | stop | status | url`: the embedded PostgreSQL under $PIPETEL_HOME (SPEC §6, §7).
// `url` is the one place the password is printed: it exists to hand the connection string to psql.

import { resolve } from 'node:path';
import {
  type EmbeddedOptions,
  embeddedStatus,
  embeddedUrl,
  ensureEmbeddedPostgres,
  stopEmbeddedPostgres,
} from '../db/embedded/index.js';

/** Exit code of `status` when the server is not running (0 when it is). */
const EXIT_NOT_RUNNING = 3;

const USAGE = `usage: pipetel db <start | stop | status | url>

  start   initialize (first time) and start the embedded PostgreSQL; it keeps running
  stop    stop it
  status  exit 0 when running, 3 when not
  url     print its connection string
`;

// TODO(config): PIPETEL_HOME belongs to the config module being written in parallel; until it lands
// this is the only place the CLI reads it.
function pipetelHome(): string {
  return resolve(process.env.PIPETEL_HOME ?? '.pipetel');
}

function options(): EmbeddedOptions {
  return { home: pipetelHome(), log: (line) => process.stderr.write(`${line}\n`) };
}

async function start(): Promise<number> {
  const server = await ensureEmbeddedPostgres(options());
  process.stdout.write(`embedded PostgreSQL running on 127.0.0.1:${server.port} (data: ${server.dataDir})\n`);
  return 0;
}

async function stop(): Promise<number> {
  const wasRunning = await stopEmbeddedPostgres(options());
  process.stdout.write(
    wasRunning ? 'embedded PostgreSQL stopped\n' : 'embedded PostgreSQL was not running\n',
  );
  return 0;
}

async function status(): Promise<number> {
  const current = await embeddedStatus(options());
  if (current.running) {
    process.stdout.write(
      `embedded PostgreSQL running on 127.0.0.1:${current.port} (pid ${current.pid}, data: ${current.dataDir})\n`,
    );
    return 0;
  }
  const state = current.initialized ? 'not running' : 'not initialized';
  process.stdout.write(
    `embedded PostgreSQL ${state} (data: ${current.dataDir}); start it with: pipetel db start\n`,
  );
  return EXIT_NOT_RUNNING;
}

function url(): number {
  const connection = embeddedUrl(options());
  if (!connection) {
    process.stderr.write(
      `pipetel db url: no embedded PostgreSQL under ${pipetelHome()}; run: pipetel db start\n`,
    );
    return 1;
  }
  process.stdout.write(`${connection}\n`);
  return 0;
}

export const db = async (args: string[]): Promise<number> => {
  const [sub, ...rest] = args;
  if (rest.length > 0) {
    process.stderr.write(`pipetel db ${sub}: unexpected arguments: ${rest.join(' ')}\n`);
    return 2;
  }
  switch (sub) {
    case 'start':
      return start();
    case 'stop':
      return stop();
    case 'status':
      return status();
    case 'url':
      return url();
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(USAGE);
      return 0;
    default:
      process.stderr.write(sub ? `pipetel db: unknown subcommand '${sub}'\n\n${USAGE}` : USAGE);
      return 2;
  }
};
