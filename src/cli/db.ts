// `pipetel db start | stop | status | url`: the embedded PostgreSQL under $PIPETEL_HOME (SPEC §6, §7).
// `url` is the one place the password is printed: it exists to hand the connection string to psql.

import { resolve } from 'node:path';
import { targetAddress } from '../../exporters/delivery/spoolTarget.js';
import { redactUrl } from '../../exporters/postgres/connectionSecrets.js';
import { loadConfig } from '../config/index.js';
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

/** PIPETEL_HOME as the configuration reads it (an empty value is the default, `./.pipetel`). */
function pipetelHome(): string {
  return resolve(process.env.PIPETEL_HOME || '.pipetel');
}

/**
 * When database.url is configured, pipetel uses that server and not the embedded one: said after
 * a status or url of the embedded server, which would otherwise read as the database in use.
 */
function configuredElsewhere(): string {
  let configured: string | null;
  try {
    configured = loadConfig().values.database.url;
  } catch {
    return ''; // a configuration problem is another command's to report
  }
  if (!configured) return '';
  return `note: database.url is set (${targetAddress(configured) ?? redactUrl(configured)}): pipetel uses that server, not the embedded one\n`;
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
  process.stderr.write(configuredElsewhere());
  return EXIT_NOT_RUNNING;
}

function url(): number {
  const connection = embeddedUrl(options());
  if (!connection) {
    process.stderr.write(
      `pipetel db url: no embedded PostgreSQL under ${pipetelHome()}; run: pipetel db start\n${configuredElsewhere()}`,
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
