import { perItemPipeline, uninstrumented } from '../benchmarks/overhead.js';
import { register } from '../src/index.js';
const mode = process.argv[2]!;
const items = 100_000;
let t: any = uninstrumented;
let tel: any;
if (mode !== 'plain') {
  tel = await register({ serviceName: 'abl', databaseUrl: 'postgres://root@127.0.0.1:5432/postgres', config: { profile: 'balanced', logging: { console: { enabled: false }, file: { enabled: false } } } });
  t = {
    stage: mode.includes('S') ? tel.stage.bind(tel) : uninstrumented.stage,
    getLogger: mode.includes('L') ? tel.getLogger.bind(tel) : uninstrumented.getLogger,
    progress: mode.includes('P') ? tel.progress.bind(tel) : uninstrumented.progress,
    getMeter: mode.includes('M') ? tel.getMeter.bind(tel) : uninstrumented.getMeter,
  };
}
await perItemPipeline(t, items); // warm
const runs: number[] = [];
for (let r = 0; r < 5; r++) { const s = performance.now(); await perItemPipeline(t, items); runs.push(performance.now() - s); }
runs.sort((a, b) => a - b);
console.log(mode.padEnd(8), runs[2]!.toFixed(0), 'ms');
await tel?.shutdown();
