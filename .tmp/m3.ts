import { perItemPipeline, uninstrumented } from '../benchmarks/overhead.js';
import { MeterProvider, PeriodicExportingMetricReader, InMemoryMetricExporter, AggregationTemporality } from '@opentelemetry/sdk-metrics';
const mode = process.argv[2];
const mp = new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE), exportIntervalMillis: 1e6 })] });
let t: any = uninstrumented;
if (mode === 'sdk') t = { ...uninstrumented, getMeter: (n: string) => mp.getMeter(n) };
if (mode === 'pipetel') { const { PipetelMeterProvider } = await import('../src/internal/PipetelMeterProvider.js'); const p = new PipetelMeterProvider(mp); t = { ...uninstrumented, getMeter: (n: string) => p.getMeter(n) }; }
if (mode === 'tiny') { let n = 0; let last: any; const c = { add(v: number, a: any) { n += v; if (process.argv[3]) last = a; } }; t = { ...uninstrumented, getMeter: () => ({ createCounter: () => c, createHistogram: () => ({ record(v: number) { n += v; } }) }) }; }
for (let r = 0; r < 4; r++) { const s = performance.now(); await perItemPipeline(t, 100000); console.log(mode, (performance.now() - s).toFixed(0), 'ms'); }
process.exit(0);
