import { register } from '../src/index.js';
const tel = await register({ serviceName: 'p', databaseUrl: 'postgres://root@127.0.0.1:5432/postgres', config: { logging: { file: { enabled: false }, console: { enabled: false }, database: { max_queue_size: 5_000_000 } }, monitoring: { enable_resource_tracking: false } } });
const log = tel.getLogger('x');
const mode = process.argv[2] ?? 'flush';
for (let r = 0; r < 20; r++) {
  const t = process.hrtime.bigint();
  for (let i = 0; i < 100_000; i++) log.info('processed %d rows', i, { source: 's3://bucket/x', batch: 7 });
  const ns = Number(process.hrtime.bigint() - t) / 100_000;
  if (r % 5 === 4) console.log(mode, ns.toFixed(0), 'ns');
  if (mode === 'flush') await tel.forceFlush();
}
await tel.shutdown();
