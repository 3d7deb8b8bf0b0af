import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerFactory } from '../src/logging/index.js';
const kept: unknown[] = [];
let mode = process.argv[2];
const sink = { emit(r: unknown) { if (mode === 'retain') kept.push(r); } };
const log = new LoggerFactory({ level: 'INFO', sink, resource: resourceFromAttributes({}) }).getLogger('x');
for (let r = 0; r < 12; r++) {
  global.gc?.();
  const before = process.memoryUsage().heapUsed;
  const t = process.hrtime.bigint();
  for (let i = 0; i < 100_000; i++) log.info('processed %d rows', i, { source: 's3://bucket/x', batch: 7 });
  const ns = Number(process.hrtime.bigint() - t) / 100_000;
  global.gc?.();
  const per = (process.memoryUsage().heapUsed - before) / 100_000;
  if (r > 8) console.log(mode, ns.toFixed(0), 'ns', per.toFixed(0), 'B/record retained');
  kept.length = 0;
}
