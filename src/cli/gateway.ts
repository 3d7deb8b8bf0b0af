// `pipetel gateway [--host 127.0.0.1] [--port 4318] [--grpc-port 4317|none] [--token T] [--max-body-mb N]`: receives
// OTLP/HTTP (protobuf or JSON) from workers or a Collector into the configured (or embedded) database, until
// Ctrl-C. Off loopback it needs a token (--token or PIPETEL_GATEWAY_TOKEN), never printed.

import { parseArgs } from 'node:util';
import { loadConfig } from '../config/index.js';
import { ensureEmbeddedPostgres } from '../db/embedded.js';
import { startGateway } from '../gateway/server.js';
import { UsageError } from './reading.js';

export async function gateway(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '4318' },
      'grpc-port': { type: 'string', default: '4317' },
      token: { type: 'string' },
      'max-body-mb': { type: 'string', default: '16' },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new UsageError(`--port expects a port number (0–65535), got "${values.port}"`);
  }
  const grpcText = values['grpc-port']!;
  const grpcPort = grpcText === 'none' ? null : Number(grpcText);
  if (grpcPort !== null && (!Number.isInteger(grpcPort) || grpcPort < 0 || grpcPort > 65_535)) {
    throw new UsageError(`--grpc-port expects a port number (0–65535) or none, got "${grpcText}"`);
  }
  const maxBodyMb = Number(values['max-body-mb']);
  if (!(maxBodyMb > 0))
    throw new UsageError(`--max-body-mb expects a positive number, got "${values['max-body-mb']}"`);
  const config = loadConfig();
  const url = config.values.database.url ?? (await ensureEmbeddedPostgres({ home: config.home })).url;
  const token = values.token ?? process.env.PIPETEL_GATEWAY_TOKEN;
  const running = await startGateway({
    url,
    host: values.host,
    port,
    token,
    maxBodyBytes: maxBodyMb * 2 ** 20,
  });
  process.stdout.write(
    `pipetel gateway: OTLP/HTTP (protobuf, JSON) on ${running.url}/v1/{traces,logs,metrics} (Ctrl-C to stop)\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await running.close();
  return 0;
}
