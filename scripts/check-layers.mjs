#!/usr/bin/env node
// The layers of the code base, checked on every `npm run check`: `exporters/` stands alone for
// users who bring their own OpenTelemetry SDK, so nothing in it imports from `src/` (pipetel's
// register(), config, CLI); and a sink does not reach into another sink — the PostgreSQL and file
// sinks share only `exporters/{delivery,policy,shared}`. Exits 1 naming every offending import.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const SINKS = ['postgres', 'file'];

function* tsFiles(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* tsFiles(path);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) yield path;
  }
}

const problems = [];
for (const file of tsFiles(join(root, 'exporters'))) {
  const text = readFileSync(file, 'utf8');
  const from = relative(root, file).split(sep);
  for (const match of text.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)) {
    const target = relative(root, resolve(dirname(file), match[1])).split(sep);
    const where = `${relative(root, file)}: imports ${match[1]}`;
    if (target[0] !== 'exporters') problems.push(`${where} (exporters/ must not import from ${target[0]}/)`);
    else if (SINKS.includes(from[1]) && SINKS.includes(target[1]) && target[1] !== from[1])
      problems.push(
        `${where} (the ${from[1]} sink must not import the ${target[1]} sink; share through exporters/shared)`,
      );
  }
}
if (problems.length > 0) {
  process.stderr.write(`layer check failed:\n${problems.map((p) => `  ${p}`).join('\n')}\n`);
  process.exit(1);
}
