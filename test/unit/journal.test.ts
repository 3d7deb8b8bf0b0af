// The journal of spool.mode: always — records reach its file within flushMs, in the spool's format,
// in segments that stay `.open` while the writer lives; settled segments are deleted, a clean close
// deletes the journal, a close that keeps it leaves every unsettled record replayable.

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Journal } from '../../exporters/delivery/Journal.js';
import { parseSegment } from '../../exporters/delivery/spoolFormat.js';

const roots: string[] = [];
after(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

function root(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pipetel-journal-'));
  roots.push(dir);
  return dir;
}

/** The journal's writer directory and its segment files, with the records they hold. */
function onDisk(spoolRoot: string): { files: string[]; lines: string[] } {
  const dirs = readdirSync(spoolRoot);
  if (dirs.length === 0) return { files: [], lines: [] };
  assert.equal(dirs.length, 1, 'one writer directory');
  const dir = join(spoolRoot, dirs[0]!);
  const files = readdirSync(dir)
    .filter((f) => f.startsWith('segment-'))
    .sort();
  const lines = files.flatMap((f) => parseSegment(readFileSync(join(dir, f))).records.map((r) => r.line));
  return { files, lines };
}

const line = (i: number) => `${i}\trow ${i}\n`;

describe('Journal', () => {
  it('writes appended records within flushMs, as .open segments in the spool format', async () => {
    const dir = root();
    const journal = new Journal({ dir, flushMs: 20 });
    journal.append('pipeline_logs', [line(0), line(1)], 2);
    journal.append('pipeline_spans', [line(7)], 1);
    assert.deepEqual(onDisk(dir).lines, [], 'not before the flush');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const { files, lines } = onDisk(dir);
    assert.deepEqual(files, ['segment-000001.open']);
    assert.deepEqual(lines, [line(0), line(1), line(7)]);
    await journal.close();
  });

  it('deletes a segment once every table it holds has settled past it, never the one being written', async () => {
    const dir = root();
    const journal = new Journal({ dir, flushMs: 5, segmentMaxBytes: 1 }); // every flush a new segment
    for (let batch = 0; batch < 4; batch++) {
      journal.append('pipeline_logs', [line(2 * batch), line(2 * batch + 1)], 2 * batch + 2);
      await journal.flush();
    }
    journal.append('pipeline_spans', [line(100)], 1);
    await journal.flush();
    assert.equal(onDisk(dir).files.length, 5);
    journal.release('pipeline_logs', 3); // the first segment (logs 0–1) has settled, the second not
    await journal.flush();
    assert.deepEqual(onDisk(dir).lines, [2, 3, 4, 5, 6, 7, 100].map(line));
    journal.release('pipeline_logs', 8);
    await journal.flush();
    assert.deepEqual(onDisk(dir).lines, [line(100)], 'only the segment being written is left');
    await journal.close();
    assert.deepEqual(readdirSync(dir), [], 'a clean close deletes the journal');
  });

  it('close({ keep: true }) writes what is buffered and leaves it to be replayed', async () => {
    const dir = root();
    const journal = new Journal({ dir, flushMs: 60_000 });
    journal.append('pipeline_logs', [line(1), line(2)], 2);
    await journal.close({ keep: true });
    assert.deepEqual(onDisk(dir).lines, [line(1), line(2)]);
    journal.append('pipeline_logs', [line(3)], 3);
    await journal.flush();
    assert.deepEqual(onDisk(dir).lines, [line(1), line(2)], 'nothing is journaled after close');
  });

  it('its directory deleted while in use: the open segment is written again to a new one, and journaling goes on', async () => {
    const home = root();
    const dir = join(home, 'spool');
    const warnings: string[] = [];
    const journal = new Journal({ dir, flushMs: 10, segmentMaxBytes: 200, warn: (m) => warnings.push(m) });
    journal.append('pipeline_logs', [line(1)], 2);
    await journal.flush();
    rmSync(home, { recursive: true, force: true });
    journal.append('pipeline_logs', [line(2)], 3);
    await journal.flush();
    for (let i = 3; i < 20; i++) journal.append('pipeline_logs', [line(i)], i + 1); // rolls segments over
    await journal.flush();
    // Before: written into the deleted file without a word, then every flush failed (ENOENT) once
    // a segment rolled over, and close({ keep: true }) left nothing to replay.
    await journal.close({ keep: true });
    assert.deepEqual(
      onDisk(dir).lines,
      Array.from({ length: 19 }, (_, i) => line(i + 1)),
    );
    assert.ok(
      warnings.some((w) => /segment-000001\.open was deleted while in use .* written again to /.test(w)),
    );
  });
});
