// `pipetel gateway [--host 127.0.0.1] [--port 4318] [--grpc-port 4317|none] [--token T] [--max-body-mb N]`: receives
// OTLP/HTTP (protobuf or JSON) and OTLP/gRPC from workers or a Collector into the configured (or embedded)
// database, until Ctrl-C. Flags win over the gateway.* keys. Off loopback it needs a token (--token,
// gateway.token or PIPETEL_GATEWAY_TOKEN), never printed. The schema is migrated at start
// (database.auto_migrate); with spool.enabled what the database cannot take waits in the spool.

import { parseArgs } from 'node:util';
import { migrate } from '../../exporters/postgres/migrate.js';
import { loadConfig } from '../config/index.js';
import { ensureEmbeddedPostgres } from '../db/embedded/index.js';
import { setUpPartitioning, syncStoreSettings } from '../db/storeMaintenance.js';
import { startGateway } from '../gateway/server.js';
import { UsageError } from './reading.js';

export async function gateway(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      'grpc-port': { type: 'string' },
      token: { type: 'string' },
      'max-body-mb': { type: 'string' },
    },
  });
  // Flags win over the gateway.* configuration (file, PIPETEL_GATEWAY_TOKEN, PIPETEL__GATEWAY__…).
  const config = loadConfig();
  const settings = config.values.gateway;
  const port = values.port === undefined ? settings.port : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new UsageError(`--port expects a port number (0–65535), got "${values.port}"`);
  }
  const grpcText = values['grpc-port'];
  const grpcPort =
    grpcText === undefined ? settings.grpc_port : grpcText === 'none' ? null : Number(grpcText);
  if (grpcPort !== null && (!Number.isInteger(grpcPort) || grpcPort < 0 || grpcPort > 65_535)) {
    throw new UsageError(`--grpc-port expects a port number (0–65535) or none, got "${grpcText}"`);
  }
  const maxBodyMb =
    values['max-body-mb'] === undefined ? settings.max_body_mb : Number(values['max-body-mb']);
  if (!(maxBodyMb > 0))
    throw new UsageError(`--max-body-mb expects a positive number, got "${values['max-body-mb']}"`);
  const url = config.values.database.url ?? (await ensureEmbeddedPostgres({ home: config.home })).url;
  const running = await startGateway({
    url,
    host: values.host ?? settings.host,
    port,
    grpcPort,
    token: values.token ?? settings.token ?? undefined,
    maxBodyBytes: maxBodyMb * 2 ** 20,
    // As register() does: the schema (database.auto_migrate), retention settings and partitions.
    setUp: async (pool) => {
      if (config.values.database.auto_migrate) await migrate(pool);
      await syncStoreSettings(pool, config.values);
      const note = await setUpPartitioning(pool, config.values.database.partitioning);
      if (note) process.stderr.write(`pipetel gateway: ${note}\n`);
    },
    autoMigrate: config.values.database.auto_migrate,
    // spool.*: what the database cannot take waits on disk under PIPETEL_HOME and is replayed.
    home: config.values.spool.enabled ? config.home : undefined,
    syncIntervalMs: config.values.spool.sync_interval * 1000,
  });
  process.stdout.write(
    `pipetel gateway: OTLP/HTTP (protobuf, JSON) on ${running.url}/v1/{traces,logs,metrics}` +
      `${running.grpcAddress ? `, OTLP/gRPC on ${running.grpcAddress}` : ''} (Ctrl-C to stop)\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await running.close();
  return 0;
}
