// Generated documentation stays in sync with its source, checked on every `npm run check`: the
// README's configuration table is what src/config/schema.ts renders (regenerate it with
// `node --import tsx scripts/config-table.ts`), and docs/benchmarks.md is what the result files in
// benchmarks/results render (`node --import tsx benchmarks/run.ts --docs`). Exits 1 naming what
// drifted.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { renderBenchmarksDoc } from '../benchmarks/run.js';
import { renderConfigTable } from '../src/config/schema.js';

const readme = readFileSync(resolve(import.meta.dirname, '..', 'README.md'), 'utf8').split('\n');
const expected = renderConfigTable().trim().split('\n');
const start = readme.indexOf(expected[0]);
const actual = start < 0 ? [] : readme.slice(start, start + expected.length);
const drift = expected.findIndex((line, i) => actual[i] !== line);
const tableEnds = start >= 0 && !(readme[start + expected.length] ?? '').startsWith('|');
if (start < 0 || drift >= 0 || !tableEnds) {
  const where =
    start < 0
      ? 'its header is missing'
      : drift >= 0
        ? `row ${drift + 1} differs: ${expected[drift]}`
        : 'it has extra rows';
  process.stderr.write(
    `docs check failed: the README configuration table is out of date (${where}); regenerate it with node --import tsx scripts/config-table.ts\n`,
  );
  process.exit(1);
}

const benchmarksDoc = readFileSync(resolve(import.meta.dirname, '..', 'docs', 'benchmarks.md'), 'utf8');
if (benchmarksDoc !== renderBenchmarksDoc()) {
  process.stderr.write(
    'docs check failed: docs/benchmarks.md does not match benchmarks/results/*.json; regenerate it with node --import tsx benchmarks/run.ts --docs\n',
  );
  process.exit(1);
}
