// What the package ships (dist/, built by npm test): declarations without internal members, so a
// user's editor offers only the public surface.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';

const dist = resolve(import.meta.dirname, '../../dist');

function declarations(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return declarations(path);
    return entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

describe('shipped declarations', () => {
  it('hold no @internal member (tsconfig stripInternal)', () => {
    const files = declarations(join(dist, 'src')).concat(declarations(join(dist, 'exporters')));
    assert.ok(files.length > 20, `declarations found (${files.length})`);
    const progress = readFileSync(join(dist, 'src/pipeline/Progress.d.ts'), 'utf8');
    assert.match(progress, /export declare class Progress/);
    assert.doesNotMatch(progress, /\bdirty\b/, 'Progress.dirty is internal');
    const leaking = files.filter((f) => readFileSync(f, 'utf8').includes('@internal'));
    assert.deepEqual(leaking, []);
  });
});
