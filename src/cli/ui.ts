// `pipetel ui [--host 127.0.0.1] [--port 7070] [--token T]`: serves the dashboard for the
// configured (or embedded) database until Ctrl-C. Bound to anything but loopback it needs a token
// (--token or PIPETEL_UI_TOKEN), which it never prints.

import { parseArgs } from 'node:util';
import { loadConfig } from '../config/index.js';
import { startUi } from '../ui/server.js';
import { connecting, existingDatabaseUrl, UsageError } from './reading.js';

export async function ui(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '7070' },
      token: { type: 'string' },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new UsageError(`--port expects a port number (0–65535), got "${values.port}"`);
  }
  const config = loadConfig();
  const url = await existingDatabaseUrl(config, 'pipetel ui');
  if (!url) return 1;
  const token = values.token ?? process.env.PIPETEL_UI_TOKEN;
  const running = await connecting(config, () => startUi({ url, host: values.host, port, token }));
  // The token is not printed: the user has it, and a terminal log should not.
  process.stdout.write(
    `pipetel ui: ${running.url}${token ? ' (open it with ?token=<your token>)' : ''} (Ctrl-C to stop)\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await running.close();
  return 0;
}
