import { perItemPipeline, uninstrumented } from '../benchmarks/overhead.js';
import { register } from '../src/index.js';
const tel = await register({ serviceName: 'abl', databaseUrl: 'postgres://root@127.0.0.1:5432/postgres', config: { profile: 'balanced', logging: { console: { enabled: false }, file: { enabled: false } } } });
let sdkCalls = 0; let made: any[] = [];
const t: any = { ...uninstrumented, getMeter: (n: string) => { const m = tel.getMeter(n); return { createCounter: (x: string) => { const c: any = m.createCounter(x); made.push(c); const o = c.sdk.add.bind(c.sdk); c.sdk.add = (...a: any[]) => { sdkCalls++; o(...a); }; return process.argv[2] === 'nocounter' ? { add() {} } : c; }, createHistogram: (x: string) => { const h: any = m.createHistogram(x); const o = h.sdk.record.bind(h.sdk); h.sdk.record = (...a: any[]) => { sdkCalls++; o(...a); }; return process.argv[2] === 'nohist' ? { record() {} } : h; } }; } };
for (let r = 0; r < 4; r++) { const s = performance.now(); await perItemPipeline(t, 100000); console.log(process.argv[2], (performance.now() - s).toFixed(0), 'ms sdkCalls', sdkCalls); }
await tel.shutdown();
