// The spool writer on its own: layout (a directory per writer, owner.lock, numbered segments),
// appends that never interleave, rolling and sealing, closing, and an unwritable home that fails
// the append (counted as a drop by the delivery queue) instead of crashing anything.

import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DeliveryQueue } from '../../exporters/delivery/DeliveryQueue.js';
import { Spool, SpoolFiles, spoolDirectory } from '../../exporters/delivery/Spool.js';
import { parseSegment } from '../../exporters/delivery/spoolFormat.js';
import { targetAddress } from '../../exporters/delivery/spoolTarget.js';

const homes: string[] = [];
after(async () => {
  for (const home of homes) await rm(home, { recursive: true, force: true });
});

async function newRoot(): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), 'pipetel-spool-'));
  homes.push(home);
  return spoolDirectory(home);
}

async function segmentsOf(directory: string): Promise<string[]> {
  return (await readdir(directory)).filter((name) => SpoolFiles.segment.test(name)).sort();
}

async function recordsIn(directory: string): Promise<string[]> {
  const lines: string[] = [];
  for (const name of await segmentsOf(directory)) {
    const parsed = parseSegment(await readFile(join(directory, name)));
    assert.equal(parsed.corrupt, 0, `${name} has corrupt lines`);
    lines.push(...parsed.records.map((r) => r.line));
  }
  return lines;
}

describe('Spool', () => {
  it('writes into a directory of its own, named after the process, with an owner.lock', async () => {
    const root = await newRoot();
    const spool = new Spool({ dir: root, fsyncIntervalMs: 0 });
    await spool.append('pipeline_logs', ['a\t1\n', 'b\t2\n']);
    const [name, ...others] = await readdir(root);
    assert.equal(others.length, 0);
    assert.match(name!, new RegExp(`^${process.pid}-\\d+-[0-9a-f]{8}$`));
    const directory = join(root, name!);
    assert.equal(spool.stats().directory, directory);
    const owner = JSON.parse(await readFile(join(directory, SpoolFiles.owner), 'utf8'));
    assert.equal(owner.pid, process.pid);
    assert.equal(owner.host, hostname());
    assert.deepEqual(await segmentsOf(directory), ['segment-000001.open']);
    assert.deepEqual(await recordsIn(directory), ['a\t1\n', 'b\t2\n']);
    await spool.close();
  });

  it('its directory deleted while in use (PIPETEL_HOME removed): what the open segment held is written again, later appends go on', async () => {
    const root = await newRoot();
    const warnings: string[] = [];
    const spool = new Spool({ dir: root, fsyncIntervalMs: 60_000, warn: (m) => warnings.push(m) });
    await spool.append('pipeline_logs', ['a\t1\n', 'b\t2\n']);
    const first = spool.stats().directory!;
    await rm(join(root, '..'), { recursive: true, force: true }); // the whole home
    await spool.append('pipeline_logs', ['c\t3\n']); // into the deleted file, still open
    // Before: sealing failed (ENOENT), the three records were gone though counted as spooled, and
    // every later append failed on the old directory.
    await spool.seal();
    await spool.append('pipeline_logs', ['d\t4\n']);
    await spool.close();
    const [name, ...others] = await readdir(root);
    assert.equal(others.length, 0);
    const directory = join(root, name!);
    assert.notEqual(directory, first);
    assert.deepEqual(await recordsIn(directory), ['a\t1\n', 'b\t2\n', 'c\t3\n', 'd\t4\n']);
    assert.ok(
      warnings.some((w) => /segment-000001\.open was deleted while in use .* written again to /.test(w)),
      warnings.join('\n'),
    );
  });

  it('a rescue that fails (the home cannot be made again yet) keeps the records and succeeds later', async () => {
    const root = await newRoot();
    const home = join(root, '..');
    const warnings: string[] = [];
    const spool = new Spool({ dir: root, fsyncIntervalMs: 60_000, warn: (m) => warnings.push(m) });
    await spool.append('pipeline_logs', ['a\t1\n', 'b\t2\n']);
    await rm(home, { recursive: true, force: true });
    await writeFile(home, 'not a directory'); // stands in for a full disk or a permission
    await spool.append('pipeline_logs', ['c\t3\n']);
    await assert.rejects(spool.seal(), /ENOTDIR/);
    await rm(home);
    await spool.append('pipeline_logs', ['d\t4\n']);
    await spool.close();
    const [name] = await readdir(root);
    assert.deepEqual(await recordsIn(join(root, name!)), ['a\t1\n', 'b\t2\n', 'c\t3\n', 'd\t4\n']);
    assert.ok(warnings.some((w) => /writing what it held again failed: ENOTDIR.*retrying/.test(w)));
  });

  it('a directory deleted between segments is made again for the next one', async () => {
    const root = await newRoot();
    const spool = new Spool({ dir: root, fsyncIntervalMs: 0, warn: () => undefined });
    await spool.append('pipeline_logs', ['a\t1\n']);
    await spool.seal();
    await rm(root, { recursive: true, force: true });
    await spool.append('pipeline_logs', ['b\t2\n']);
    await spool.close();
    const [name] = await readdir(root);
    assert.deepEqual(await recordsIn(join(root, name!)), ['b\t2\n']);
  });

  it('never interleaves concurrent appends', async () => {
    const root = await newRoot();
    const spool = new Spool({ dir: root, fsyncIntervalMs: 5 });
    const batches = Array.from({ length: 50 }, (_, b) =>
      Array.from({ length: 40 }, (_, i) => `${b}\t${i}\t${'x'.repeat((b * 7 + i) % 300)}\n`),
    );
    await Promise.all(batches.map((lines) => spool.append('pipeline_logs', lines)));
    await spool.close();
    const lines = await recordsIn(spool.stats().directory ?? join(root, (await readdir(root))[0]!));
    assert.equal(lines.length, 50 * 40);
    for (let b = 0; b < 50; b++) {
      const start = lines.indexOf(batches[b]![0]!);
      assert.deepEqual(lines.slice(start, start + 40), batches[b], `batch ${b} is contiguous`);
    }
  });

  it('rolls to a new segment past segmentMaxBytes and seals the full one', async () => {
    const root = await newRoot();
    const spool = new Spool({ dir: root, fsyncIntervalMs: 0, segmentMaxBytes: 1000 });
    for (let i = 0; i < 30; i++) await spool.append('pipeline_logs', [`${i}\t${'y'.repeat(100)}\n`]);
    const directory = spool.stats().directory!;
    const segments = await segmentsOf(directory);
    assert.ok(segments.length >= 3, segments.join());
    assert.ok(segments.slice(0, -1).every((s) => s.endsWith('.log')));
    assert.equal(
      (await recordsIn(directory)).map((l) => Number(l.split('\t')[0])).join(),
      Array.from({ length: 30 }, (_, i) => i).join(),
    );
    await spool.close();
  });

  it('seal() makes the open segment replayable; the next append starts another', async () => {
    const root = await newRoot();
    const spool = new Spool({ dir: root });
    await spool.append('pipeline_spans', ['s1\n']);
    await spool.seal();
    const directory = spool.stats().directory!;
    assert.deepEqual(await segmentsOf(directory), ['segment-000001.log']);
    await spool.seal(); // nothing open: no-op
    await spool.append('pipeline_spans', ['s2\n']);
    assert.deepEqual(await segmentsOf(directory), ['segment-000001.log', 'segment-000002.open']);
    await spool.close();
    assert.deepEqual(await segmentsOf(directory), ['segment-000001.log', 'segment-000002.log']);
    assert.ok((await readdir(directory)).includes(SpoolFiles.closed));
  });

  it('after close(), appends go to a new directory', async () => {
    const root = await newRoot();
    const spool = new Spool({ dir: root });
    await spool.append('pipeline_logs', ['1\n']);
    await spool.close();
    await spool.append('pipeline_logs', ['2\n']);
    await spool.close();
    assert.equal((await readdir(root)).length, 2);
    assert.equal(spool.stats().records, 2);
  });

  it('after end(), appends are refused and no new directory appears (nothing written after shutdown)', async () => {
    const root = await newRoot();
    const spool = new Spool({ dir: root });
    await spool.append('pipeline_logs', ['1\n']);
    await spool.end();
    await assert.rejects(spool.append('pipeline_logs', ['2\n']), /spool closed/);
    assert.equal((await readdir(root)).length, 1);
    assert.equal(spool.stats().records, 1);
  });

  it('two writers sharing a home never share a file', async () => {
    const root = await newRoot();
    const a = new Spool({ dir: root });
    const b = new Spool({ dir: root });
    await Promise.all([a.append('pipeline_logs', ['a\n']), b.append('pipeline_logs', ['b\n'])]);
    const [dirA, dirB] = [a.stats().directory!, b.stats().directory!];
    assert.notEqual(dirA, dirB);
    await Promise.all([a.close(), b.close()]);
    assert.deepEqual(await recordsIn(dirA), ['a\n']);
    assert.deepEqual(await recordsIn(dirB), ['b\n']);
  });

  it('rejects appends when its directory cannot be created; the delivery queue counts the drop', async () => {
    // Root ignores chmod, so an unwritable spool is a path below a regular file.
    const spool = new Spool({ dir: '/etc/hostname/pipetel/spool' });
    await assert.rejects(spool.append('pipeline_logs', ['x\n']), /ENOTDIR|EEXIST|EACCES/);
    const warnings: string[] = [];
    const queue = new DeliveryQueue<number>({
      name: 'logs',
      sink: {
        table: 'pipeline_logs',
        write: async () => {
          throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
        },
      },
      encode: (n) => `${n}\n`,
      batchSize: 10,
      maxBatchSize: 10,
      flushIntervalMs: 60_000,
      maxQueueSize: 100,
      concurrency: 1,
      retry: { initialDelayMs: 1, maxDelayMs: 2, multiplier: 2, maxElapsedMs: 10 },
      spill: spool,
      warn: (message) => warnings.push(message),
    });
    for (let i = 0; i < 25; i++) queue.enqueue(i);
    await queue.shutdown(5000);
    assert.deepEqual(queue.stats(), { queued: 0, exported: 0, dropped: 25, spooled: 0, failed: 0 });
    assert.ok(warnings.some((w) => /spool unavailable/.test(w)));
    // The drop names what lost the records, the spool, not only the database that sent them there.
    assert.ok(
      warnings.some((w) =>
        /dropped 10 records: the spool failed \(.*\) after the database did \(connect ECONNREFUSED/.test(w),
      ),
      warnings.join('\n'),
    );
    await spool.close();
  });
});

describe('targetAddress', () => {
  it('is host:port/database, and never shows part of a password', () => {
    assert.equal(targetAddress('postgres://u:pw@db.example:6543/telemetry'), 'db.example:6543/telemetry');
    assert.equal(targetAddress('postgresql://u@db/x?sslmode=require'), 'db:5432/x');
    // An unencoded `/` in a password moves the rest of it into the path: no address then.
    assert.equal(targetAddress('postgres://root:/s3cr3tPW@127.0.0.1:5432/postgres'), undefined);
    assert.equal(targetAddress('postgres://u:12/secret@h/db'), undefined);
  });
});
