// The spool's line format: records round-trip, a damaged tail is cut back, a corrupt line in the
// middle is skipped and counted — and, as properties, whatever bytes follow valid records after a
// crash never cost one of those records.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import zlib from 'node:zlib';
import fc from 'fast-check';
import {
  crc32,
  encodeRecords,
  parseSegment,
  recoverSegment,
  type SpoolRecord,
  tableCrc32,
} from '../../exporters/delivery/spoolFormat.js';

const TABLES = ['pipeline_logs', 'pipeline_spans', 'pipeline_metrics'] as const;

/** A COPY text line as the encoders make it: anything but a raw newline, ending in one. */
const copyLine = fc
  .string({
    unit: fc.oneof(fc.constant('\t'), fc.constant('\\'), fc.string({ unit: 'binary', maxLength: 1 })),
  })
  .map((s) => `${s.replaceAll('\n', '\\n')}\n`);
const record: fc.Arbitrary<SpoolRecord> = fc.record({ table: fc.constantFrom(...TABLES), line: copyLine });

function encode(records: readonly SpoolRecord[]): Buffer {
  return Buffer.from(records.map((r) => encodeRecords(r.table, [r.line])).join(''), 'utf8');
}

/** What UTF-8 storage makes of a line: lone surrogates come back as U+FFFD, as in the database. */
function stored(records: readonly SpoolRecord[]): SpoolRecord[] {
  return records.map((r) => ({ table: r.table, line: Buffer.from(r.line, 'utf8').toString('utf8') }));
}

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('spool line format', () => {
  it('round-trips records of several tables, in order', () => {
    const records = [
      { table: 'pipeline_logs', line: 'id1\texp\t2024-01-01\tINFO\tmsg with \\t tab\n' },
      { table: 'pipeline_spans', line: 'x\t\\N\tünïcödé 🚀\n' },
      { table: 'pipeline_logs', line: '\n' },
    ];
    const data = encode(records);
    assert.match(data.toString('utf8').split('\n')[0]!, /^[0-9a-f]{8} pipeline_logs id1\t/);
    assert.deepEqual(parseSegment(data), {
      records,
      corrupt: 0,
      validLength: data.length,
      length: data.length,
    });
  });

  it('adds a missing newline and refuses a raw one inside a line', () => {
    const parsed = parseSegment(Buffer.from(encodeRecords('pipeline_logs', ['a\tb'])));
    assert.deepEqual(parsed.records, [{ table: 'pipeline_logs', line: 'a\tb\n' }]);
    assert.throws(() => encodeRecords('pipeline_logs', ['a\nb\n']), /raw newline/);
    assert.throws(() => encodeRecords('bad table', ['a\n']), /invalid table name/);
  });

  it('uses the same CRC-32 as zlib in the table-driven fallback', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.uint8Array(), (text, bytes) => {
        assert.equal(tableCrc32(text), crc32(text));
        assert.equal(tableCrc32(bytes), crc32(bytes));
        // Continued from the checksum of a prefix: the checksum of the whole.
        assert.equal(tableCrc32(text, tableCrc32('pipeline_logs ')), crc32(`pipeline_logs ${text}`));
        assert.equal(crc32(text, crc32('pipeline_logs ')), crc32(`pipeline_logs ${text}`));
      }),
    );
    assert.equal(tableCrc32('123456789'), 0xcbf43926); // the standard check value
    if (typeof (zlib as { crc32?: unknown }).crc32 === 'function') assert.equal(crc32('x'), zlib.crc32('x'));
  });

  it('cuts back a torn last line (no newline) and a last line failing its checksum', () => {
    const good = encode([
      { table: 'pipeline_logs', line: 'one\n' },
      { table: 'pipeline_logs', line: 'two\n' },
    ]);
    const torn = Buffer.concat([
      good,
      Buffer.from(encodeRecords('pipeline_logs', ['three\n'])).subarray(0, 15),
    ]);
    assert.deepEqual(
      { ...parseSegment(torn), records: parseSegment(torn).records.length },
      { records: 2, corrupt: 1, validLength: good.length, length: torn.length },
    );
    const flipped = Buffer.from(encodeRecords('pipeline_logs', ['three\n']));
    flipped[12] = flipped[12]! ^ 0x01;
    const bad = Buffer.concat([good, flipped]);
    const parsed = parseSegment(bad);
    assert.equal(parsed.records.length, 2);
    assert.equal(parsed.validLength, good.length);
  });

  it('skips and counts a corrupt line in the middle, keeping everything after it', () => {
    const lines = ['one\n', 'two\n', 'three\n', 'four\n'].map((l) => encodeRecords('pipeline_logs', [l]));
    lines[1] = lines[1]!.replace('two', 'tw0'); // checksum no longer matches
    lines[2] = `garbage without a checksum\n${lines[2]}`;
    const data = Buffer.from(lines.join(''));
    const parsed = parseSegment(data);
    assert.deepEqual(
      parsed.records.map((r) => r.line),
      ['one\n', 'three\n', 'four\n'],
    );
    assert.equal(parsed.corrupt, 2);
    assert.equal(parsed.validLength, data.length);
  });

  it('recoverSegment truncates the file to its last valid record', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pipetel-spool-format-'));
    dirs.push(dir);
    const path = join(dir, 'segment-000001.log');
    const good = encode([{ table: 'pipeline_logs', line: 'kept\n' }]);
    await writeFile(path, Buffer.concat([good, Buffer.from('0123abcd pipeline_logs tor')]));
    const parsed = await recoverSegment(path);
    assert.equal(parsed.records.length, 1);
    assert.equal(parsed.corrupt, 1);
    assert.deepEqual(await readFile(path), good);
    assert.equal((await recoverSegment(path)).corrupt, 0, 'a recovered file parses clean');
  });

  describe('properties', () => {
    it('any bytes appended after valid records are parsed as records or cut off; none before is lost', () => {
      // Tails mix random bytes, torn prefixes of real records and whole records.
      const tailPiece = fc.oneof(
        fc.uint8Array({ maxLength: 64 }),
        fc.tuple(record, fc.nat()).map(([r, n]) => {
          const bytes = Buffer.from(encodeRecords(r.table, [r.line]));
          return bytes.subarray(0, n % bytes.length);
        }),
        record.map((r) => Buffer.from(encodeRecords(r.table, [r.line]))),
        fc.constant(Buffer.from('\n')),
      );
      fc.assert(
        fc.property(
          fc.array(record, { maxLength: 20 }),
          fc.array(tailPiece, { maxLength: 8 }),
          (valid, tail) => {
            const head = encode(valid);
            const data = Buffer.concat([head, ...tail]);
            const parsed = parseSegment(data);
            assert.deepEqual(parsed.records.slice(0, valid.length), stored(valid));
            assert.ok(parsed.validLength >= head.length && parsed.validLength <= data.length);
            // Cutting back leaves a file that parses to the same records with nothing to cut.
            const cut = data.subarray(0, parsed.validLength);
            const again = parseSegment(cut);
            assert.deepEqual(again.records, parsed.records);
            assert.equal(again.validLength, cut.length);
            // And records appended after recovery are all found, after the earlier ones.
            const more = encode(valid.slice(0, 3));
            assert.deepEqual(parseSegment(Buffer.concat([cut, more])).records, [
              ...parsed.records,
              ...stored(valid.slice(0, 3)),
            ]);
          },
        ),
        { numRuns: 500 },
      );
    });

    it('a byte damaged anywhere costs at most the two records around it', () => {
      fc.assert(
        fc.property(
          fc.array(record, { minLength: 1, maxLength: 12 }),
          fc.nat(),
          fc.integer({ min: 1, max: 255 }),
          (records, at, xor) => {
            const data = encode(records);
            const position = at % data.length;
            data[position] = data[position]! ^ xor;
            const parsed = parseSegment(data);
            const expected = stored(records);
            const survivors = parsed.records.filter((r) => expected.some((e) => deepEqual(e, r)));
            assert.ok(survivors.length >= records.length - 2, `${survivors.length} of ${records.length}`);
            assert.ok(parsed.records.length <= records.length + 1);
          },
        ),
        { numRuns: 500 },
      );
    });
  });
});

function deepEqual(a: SpoolRecord, b: SpoolRecord): boolean {
  return a.table === b.table && a.line === b.line;
}
