// The bundled example pipeline behind `pipetel demo`: a small ETL + training job that exercises
// what pipetel records — nested stages, logs at every level (one error with its stack trace),
// progress per node, counters and histograms — with CPU work real enough to show in resources.

import type { Telemetry } from '../telemetry.js';

export interface ExamplePipelineOptions {
  items: number;
}

interface Row {
  id: number;
  value: number;
  label: string;
}

export async function runExamplePipeline(tel: Telemetry, options: ExamplePipelineOptions): Promise<void> {
  const log = tel.getLogger('demo.pipeline');
  const meter = tel.getMeter('demo.pipeline');
  const processed = meter.createCounter('demo.rows_processed', { description: 'rows through each stage' });
  const batchLatency = meter.createHistogram('demo.batch_duration', {
    unit: 'ms',
    description: 'time per batch',
  });
  log.info('starting example pipeline with %d items', options.items, { items: options.items });

  const rows = await tel.stage('extract', async () => {
    const extractLog = tel.getLogger('demo.extract');
    const progress = tel.progress('extract', { total: options.items });
    const out: Row[] = [];
    for (let i = 0; i < options.items; i++) {
      out.push({ id: i, value: pseudoRandom(i) * 100, label: i % 7 === 0 ? 'rare' : 'common' });
      progress.advance();
      if (i % 1000 === 999) await yieldToEventLoop();
    }
    processed.add(out.length, { stage: 'extract' });
    progress.done();
    extractLog.debug('generated rows with seed %s', () => 'pseudoRandom(i)');
    extractLog.info('extracted %d rows', out.length, { source: 'memory://demo' });
    return out;
  });

  const features = await tel.stage('transform', async () => {
    const cleaned = await tel.stage('clean', async () => {
      const progress = tel.progress('clean', { total: rows.length });
      const kept = rows.filter((row) => {
        progress.advance();
        return Number.isFinite(row.value);
      });
      const dropped = rows.length - kept.length;
      if (kept.length < rows.length) log.warning('dropped %d invalid rows', dropped);
      log.warning(
        '%d rows labelled rare; class imbalance may skew the model',
        kept.filter((r) => r.label === 'rare').length,
      );
      progress.done();
      processed.add(kept.length, { stage: 'clean' });
      return kept;
    });
    return tel.stage('featurize', async () => {
      const progress = tel.progress('featurize', { total: cleaned.length });
      const out: number[][] = [];
      for (let start = 0; start < cleaned.length; start += 500) {
        const began = performance.now();
        for (const row of cleaned.slice(start, start + 500)) {
          out.push(featurize(row));
          progress.advance();
        }
        batchLatency.record(performance.now() - began, { stage: 'featurize' });
        await yieldToEventLoop();
      }
      progress.done();
      processed.add(out.length, { stage: 'featurize' });
      log.info('built %d feature vectors of width %d', out.length, out[0]?.length ?? 0);
      return out;
    });
  });

  await tel.stage('train', async () => {
    const trainLog = tel.getLogger('demo.train').child({ model: 'linear', epochs: 3 });
    const epochs = 3;
    const progress = tel.progress('train', { total: epochs * features.length });
    let weights = new Array<number>(features[0]?.length ?? 0).fill(0);
    for (let epoch = 1; epoch <= epochs; epoch++) {
      const loss = await tel.stage(`epoch-${epoch}`, async () => {
        let total = 0;
        for (const x of features) {
          const y = x[0]! > 50 ? 1 : 0;
          const error = dot(weights, x) / 100 - y;
          weights = weights.map((w, i) => w - 0.0001 * error * x[i]!);
          total += error * error;
          progress.advance();
        }
        await yieldToEventLoop();
        return total / Math.max(1, features.length);
      });
      trainLog.info('epoch %d loss %f', epoch, loss, { epoch, loss });
    }
    progress.done();
  });

  // A stage that fails: its span is marked ERROR, the error is logged with its stack trace, and
  // the pipeline decides to carry on.
  try {
    await tel.stage('validate', async () => {
      const progress = tel.progress('validate', { total: 10 });
      progress.advance(3);
      const error = new Error('validation accuracy 0.41 is below the 0.5 threshold');
      progress.fail(error);
      throw error;
    });
  } catch (error) {
    log.critical('model rejected; keeping the previous model', { reason: (error as Error).message });
  }

  await tel.stage('load', async () => {
    const progress = tel.progress('load', { total: features.length });
    for (let i = 0; i < features.length; i += 250) {
      progress.advance(Math.min(250, features.length - i));
      await yieldToEventLoop();
    }
    progress.done();
    processed.add(features.length, { stage: 'load' });
    log.info('loaded %d rows into memory://warehouse', features.length);
  });
}

function featurize(row: Row): number[] {
  // Deliberately CPU-bound: a few transcendental functions per row.
  const v = row.value;
  let acc = 0;
  for (let k = 1; k <= 200; k++) acc += Math.sin(v * k) / k;
  return [v, Math.log1p(v), Math.sqrt(v), acc, row.label === 'rare' ? 1 : 0];
}

function dot(a: number[], b: number[]): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}

function pseudoRandom(i: number): number {
  const x = Math.sin(i * 12.9898) * 43758.5453;
  return x - Math.floor(x);
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
