import { register } from '../src/index.js';
const tel = await register({ serviceName: 'abl', databaseUrl: 'postgres://root@127.0.0.1:5432/postgres', config: { profile: 'balanced', logging: { console: { enabled: false }, file: { enabled: false } } } });
const meter = tel.getMeter('x');
const c = meter.createCounter('c');
const direct = (c as any).direct;
console.log('direct?', !!direct, direct && Object.keys(direct));
let sdkCalls = 0;
const sdk = (c as any).sdk; const orig = sdk.add.bind(sdk); sdk.add = (...a: any[]) => { sdkCalls++; orig(...a); };
for (const name of ['a', 'b', 'c']) {
  await tel.stage(name, async () => {
    const s = performance.now();
    for (let i = 0; i < 300000; i++) c.add(1, { stage: name });
    console.log(name, ((performance.now() - s) / 300000 * 1e6).toFixed(0), 'ns/call', 'sdk calls', sdkCalls);
  });
}
await tel.shutdown();
