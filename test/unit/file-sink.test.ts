// The `logging.file` sink against a real temporary directory: the JSON line of a record, rotation
// by size with backup_count kept and gzip, no line split or lost across rotations, the bounded
// buffer, write failures retried, leftovers of a crash finished, and the synchronous flush at exit.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import type { SpanContext } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchLogRecordProcessor,
  LoggerProvider,
  type ReadableLogRecord,
  type SdkLogRecord,
} from '@opentelemetry/sdk-logs';
import { FileLogRecordExporter, FileLogRecordProcessor } from '../../exporters/file/index.js';
import { JsonLineEncoder } from '../../exporters/file/jsonLine.js';

const root = mkdtempSync(join(tmpdir(), 'pipetel-file-sink-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
function freshDir(): string {
  const dir = join(root, `case-${++dirs}`);
  mkdirSync(dir);
  return dir;
}

const resource = resourceFromAttributes({ 'service.name': 'file-test', 'pipetel.experiment_id': 'exp-file' });
const scope = { name: 'etl.load' };

function record(overrides: Partial<ReadableLogRecord> = {}): ReadableLogRecord {
  return {
    hrTime: [1_700_000_000, 123_456_789],
    hrTimeObserved: [1_700_000_000, 123_456_789],
    severityNumber: 9,
    severityText: 'INFO',
    body: 'hello',
    resource,
    instrumentationScope: scope,
    attributes: {},
    droppedAttributesCount: 0,
    spanContext: undefined,
    eventName: undefined,
    ...overrides,
  } as ReadableLogRecord;
}

/** A numbered record whose line is about 200 bytes, with a multi-byte character now and then. */
function numbered(seq: number): ReadableLogRecord {
  const now = Date.now();
  return record({
    hrTime: [Math.floor(now / 1000), (now % 1000) * 1e6],
    body: `processed chunk ${seq}${seq % 97 === 0 ? ' — ünïcödé ✓' : ''}`,
    attributes: { seq, rows: seq * 10, 'pipetel.stage': 'transform', source: 's3://bucket/path/part' },
  });
}

function emit(processor: FileLogRecordProcessor, rec: ReadableLogRecord): void {
  processor.onEmit(rec as unknown as SdkLogRecord);
}

/** Emits count numbered records in bursts, yielding between them like a pipeline doing work. */
async function emitNumbered(processor: FileLogRecordProcessor, count: number, burst = 2000): Promise<void> {
  for (let seq = 0; seq < count; seq++) {
    emit(processor, numbered(seq));
    if (seq % burst === burst - 1) await new Promise((r) => setImmediate(r));
  }
}

interface LogFile {
  name: string;
  gzip: boolean;
  bytes: number;
  text: string;
}

/** The sink's files, oldest first: `.N` … `.1`, then the live file; anything else is listed apart. */
function readLogFiles(dir: string, base = 'pipetel.log'): { files: LogFile[]; others: string[] } {
  const backups: Array<{ index: number; name: string }> = [];
  const others: string[] = [];
  for (const name of readdirSync(dir)) {
    const match = new RegExp(`^${base.replace('.', '\\.')}\\.(\\d+)(\\.gz)?$`).exec(name);
    if (match) backups.push({ index: Number(match[1]), name });
    else if (name !== base) others.push(name);
  }
  backups.sort((a, b) => b.index - a.index);
  const names = [...backups.map((b) => b.name), ...(existsSync(join(dir, base)) ? [base] : [])];
  const files = names.map((name) => {
    const raw = readFileSync(join(dir, name));
    const gzip = raw[0] === 0x1f && raw[1] === 0x8b;
    const content = gzip ? gunzipSync(raw) : raw;
    return { name, gzip, bytes: content.length, text: content.toString('utf8') };
  });
  return { files, others };
}

function parseLines(text: string): Array<Record<string, unknown>> {
  if (text === '') return [];
  assert.ok(text.endsWith('\n'), 'a file ends with a whole line');
  return text
    .slice(0, -1)
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

function seqs(files: LogFile[]): number[] {
  return files.flatMap((f) => parseLines(f.text).map((line) => (line.attributes as { seq: number }).seq));
}

describe('JSON line of a record', () => {
  const encoder = new JsonLineEncoder();

  it('has the pipeline_logs fields, stage and traceback lifted out of the attributes', () => {
    const spanContext: SpanContext = {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: 1,
    };
    const line = encoder.encode(
      record({
        severityNumber: 17,
        severityText: 'ERROR',
        body: 'load failed',
        spanContext,
        attributes: {
          'pipetel.stage': 'load',
          'exception.stacktrace': 'Error: boom\n    at load (etl.ts:1:1)',
          'exception.type': 'Error',
          rows: 42,
        },
      }),
    );
    assert.ok(line.endsWith('}\n'));
    assert.equal(line.indexOf('\n'), line.length - 1, 'no raw newline inside the line');
    assert.deepEqual(JSON.parse(line), {
      timestamp: '2023-11-14T22:13:20.123456Z',
      level: 'ERROR',
      severity_number: 17,
      logger: 'etl.load',
      message: 'load failed',
      experiment_id: 'exp-file',
      stage: 'load',
      trace_id: '0af7651916cd43dd8448eb211c80319c',
      span_id: 'b7ad6b7169203331',
      traceback: 'Error: boom\n    at load (etl.ts:1:1)',
      attributes: { 'exception.type': 'Error', rows: 42 },
    });
  });

  it('leaves out what a record does not have, and maps severities onto the five levels', () => {
    const parsed = JSON.parse(
      new JsonLineEncoder().encode(
        record({ severityNumber: undefined, severityText: 'WARN', resource: resourceFromAttributes({}) }),
      ),
    );
    assert.deepEqual(Object.keys(parsed), ['timestamp', 'level', 'logger', 'message']);
    assert.equal(parsed.level, 'WARNING');
    const levels = [1, 5, 9, 13, 17, 21].map(
      (severityNumber) => JSON.parse(encoder.encode(record({ severityNumber }))).level,
    );
    assert.deepEqual(levels, ['DEBUG', 'DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL']);
  });

  it('takes the experiment id from the option over the resource', () => {
    const parsed = JSON.parse(new JsonLineEncoder('exp-option').encode(record()));
    assert.equal(parsed.experiment_id, 'exp-option');
  });

  it('never throws: BigInt, cycles, throwing getters, structured bodies, control characters', () => {
    const cyclic: Record<string, unknown> = { name: 'node' };
    cyclic.self = cyclic;
    const shared = { x: 1 };
    const hostile = {
      get boom(): never {
        throw new Error('getter exploded');
      },
    };
    const lines = [
      encoder.encode(
        record({ attributes: { big: (10n ** 20n) as never, cyclic, pair: [shared, shared] } as never }),
      ),
      encoder.encode(record({ attributes: { hostile } as never })),
      encoder.encode(record({ body: { rows: 3, nested: ['a'] } })),
      encoder.encode(record({ body: 'line one\nline two\r\u0000\u2028 \ud800 end' })),
    ];
    for (const line of lines) assert.equal(line.indexOf('\n'), line.length - 1);
    const [sanitized, unserializable, structured, control] = lines.map((line) => JSON.parse(line));
    assert.deepEqual(sanitized.attributes, {
      big: '100000000000000000000',
      cyclic: { name: 'node', self: '[Circular]' },
      pair: [{ x: 1 }, { x: 1 }],
    });
    assert.equal(typeof unserializable.attributes['pipetel.error'], 'string');
    assert.equal(structured.message, '{"rows":3,"nested":["a"]}');
    assert.equal(control.message, 'line one\nline two\r\u0000\u2028 \ud800 end');
  });
});

describe('FileLogRecordProcessor', () => {
  it('writes one JSON line per record into a file whose directories it creates', async () => {
    const dir = freshDir();
    const path = join(dir, 'nested', 'deeper', 'pipetel.log');
    const processor = new FileLogRecordProcessor({ path, maxSizeMb: 10, backupCount: 2, compress: true });
    for (let seq = 0; seq < 100; seq++) emit(processor, numbered(seq));
    await processor.forceFlush();
    const lines = parseLines(readFileSync(path, 'utf8'));
    assert.equal(lines.length, 100);
    assert.equal(lines[5]!.message, 'processed chunk 5');
    assert.equal(lines[5]!.stage, 'transform');
    assert.equal(lines[5]!.experiment_id, 'exp-file');
    assert.match(lines[5]!.timestamp as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.deepEqual(processor.exporter.stats(), {
      queued: 0,
      exported: 100,
      dropped: 0,
      spooled: 0,
      failed: 0,
    });
    await processor.shutdown();
  });

  it('writes in chunks: a few lines wait for the flush interval, not one write per record', async () => {
    const dir = freshDir();
    const path = join(dir, 'pipetel.log');
    const processor = new FileLogRecordProcessor({
      path,
      maxSizeMb: 10,
      backupCount: 2,
      compress: false,
      flushIntervalMs: 60_000,
    });
    for (let seq = 0; seq < 10; seq++) emit(processor, numbered(seq));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(existsSync(path) ? readFileSync(path, 'utf8') : '', '');
    assert.equal(processor.exporter.stats().queued, 10);
    await processor.forceFlush();
    assert.equal(parseLines(readFileSync(path, 'utf8')).length, 10);
    await processor.shutdown();
  });

  it('loses no line across 50k records and ~180 rotations when backup_count keeps every file', async () => {
    const dir = freshDir();
    const maxSizeMb = 0.05;
    const processor = new FileLogRecordProcessor({
      path: join(dir, 'pipetel.log'),
      maxSizeMb,
      backupCount: 1000,
      compress: true,
      // What is asserted is every line once, not the deadline: ~180 gzips on a loaded 2-core CI
      // machine once took past the default 10 s and left the last files pending (replayed at the
      // next start, but this test stops here).
      shutdownTimeoutMs: 60_000,
    });
    await emitNumbered(processor, 50_000);
    await processor.shutdown();
    const { files, others } = readLogFiles(dir);
    assert.deepEqual(others, [], 'nothing left half-rotated after shutdown');
    assert.ok(files.length > 100, `rotated often enough (${files.length} files)`);
    assert.deepEqual(
      seqs(files),
      Array.from({ length: 50_000 }, (_, i) => i),
      'every line exactly once, in order',
    );
    for (const file of files.slice(0, -1)) {
      assert.ok(file.gzip, `${file.name} is gzip`);
      assert.ok(file.bytes <= maxSizeMb * 1024 * 1024, `${file.name} holds ${file.bytes} bytes`);
      assert.ok(file.bytes > maxSizeMb * 1024 * 1024 - 1000, `${file.name} was rotated only when full`);
    }
    assert.deepEqual(processor.exporter.stats(), {
      queued: 0,
      exported: 50_000,
      dropped: 0,
      spooled: 0,
      failed: 0,
    });
  });

  it('keeps backup_count rotated files, plain when compression is off, with the newest lines', async () => {
    const dir = freshDir();
    const processor = new FileLogRecordProcessor({
      path: join(dir, 'pipetel.log'),
      maxSizeMb: 0.05,
      backupCount: 3,
      compress: false,
    });
    await emitNumbered(processor, 50_000);
    await processor.shutdown();
    const { files, others } = readLogFiles(dir);
    assert.deepEqual(others, []);
    assert.deepEqual(
      files.map((f) => f.name),
      ['pipetel.log.3', 'pipetel.log.2', 'pipetel.log.1', 'pipetel.log'],
    );
    for (const file of files) assert.equal(file.gzip, false);
    const kept = seqs(files);
    assert.ok(kept.length < 50_000 && kept.length > 500);
    const newest = Array.from({ length: kept.length }, (_, i) => 50_000 - kept.length + i);
    assert.deepEqual(kept, newest, 'the newest lines, contiguous, up to the last one');
  });

  it('with backup_count 0 deletes a file when it is rotated', async () => {
    const dir = freshDir();
    const processor = new FileLogRecordProcessor({
      path: join(dir, 'pipetel.log'),
      maxSizeMb: 0.05,
      backupCount: 0,
      compress: true,
    });
    await emitNumbered(processor, 5000);
    await processor.shutdown();
    const { files, others } = readLogFiles(dir);
    assert.deepEqual(others, []);
    assert.deepEqual(
      files.map((f) => f.name),
      ['pipetel.log'],
    );
    assert.equal(seqs(files).at(-1), 4999);
  });

  it('appends to an existing file, and rotates one already past max_size before writing', async () => {
    const dir = freshDir();
    const path = join(dir, 'pipetel.log');
    writeFileSync(path, '{"old":1}\n');
    const small = new FileLogRecordProcessor({ path, maxSizeMb: 1, backupCount: 2, compress: true });
    emit(small, numbered(1));
    await small.shutdown();
    assert.equal(readFileSync(path, 'utf8').split('\n').length, 3);

    writeFileSync(path, `${'{"old":2}\n'.repeat(20_000)}`);
    const full = new FileLogRecordProcessor({ path, maxSizeMb: 0.1, backupCount: 2, compress: true });
    emit(full, numbered(2));
    await full.shutdown();
    const { files } = readLogFiles(dir);
    assert.deepEqual(
      files.map((f) => f.name),
      ['pipetel.log.1.gz', 'pipetel.log'],
    );
    assert.equal(parseLines(files[0]!.text).length, 20_000);
    assert.deepEqual(seqs([files[1]!]), [2]);
  });

  it("finishes a rotation left by an earlier process with this one's pid (the pid came back)", async () => {
    const dir = freshDir();
    // Made in 2023 by a process with our pid: not us (we started later), so it is finished.
    writeFileSync(
      join(dir, `pipetel.log.1700000000000-${process.pid}-1.pending`),
      '{"attributes":{"seq":0}}\n',
    );
    const processor = new FileLogRecordProcessor({
      path: join(dir, 'pipetel.log'),
      maxSizeMb: 1,
      backupCount: 5,
      compress: false,
    });
    emit(processor, numbered(1));
    await processor.shutdown();
    const { files, others } = readLogFiles(dir);
    assert.deepEqual(others, []);
    assert.deepEqual(seqs(files), [0, 1]);
  });

  it('finishes the rotations a dead process left half done, oldest first', async () => {
    const dir = freshDir();
    const deadPid = await exitedPid();
    writeFileSync(join(dir, `pipetel.log.1700000000000-${deadPid}-1.pending`), '{"attributes":{"seq":0}}\n');
    writeFileSync(join(dir, `pipetel.log.1700000000000-${deadPid}-1.pending.gz`), 'half a gzip');
    writeFileSync(join(dir, `pipetel.log.1700000000001-${deadPid}-2.pending`), '{"attributes":{"seq":1}}\n');
    // Another process that is alive: its rotation in progress is left alone. (Its name's time is
    // after that process started: a pending file older than the process with its pid was left by
    // an earlier process that had the same pid.)
    const alive = `pipetel.log.${Date.now()}-${process.pid}-1.pending`;
    writeFileSync(join(dir, alive), '{"attributes":{"seq":99}}\n');
    const processor = new FileLogRecordProcessor({
      path: join(dir, 'pipetel.log'),
      maxSizeMb: 1,
      backupCount: 5,
      compress: true,
    });
    emit(processor, numbered(2));
    await processor.shutdown();
    const { files, others } = readLogFiles(dir);
    assert.deepEqual(others, [alive]);
    assert.deepEqual(
      files.map((f) => [f.name, f.gzip]),
      [
        ['pipetel.log.2.gz', true],
        ['pipetel.log.1.gz', true],
        ['pipetel.log', false],
      ],
    );
    assert.deepEqual(seqs(files), [0, 1, 2]);
  });

  it('loses no line when two sinks share one path and both rotate it (two pipelines, one PIPETEL_HOME)', async () => {
    const dir = freshDir();
    const options = { path: join(dir, 'pipetel.log'), maxSizeMb: 0.05, backupCount: 1000, compress: true };
    const first = new FileLogRecordProcessor(options);
    const second = new FileLogRecordProcessor(options);
    for (let seq = 0; seq < 20_000; seq++) {
      emit(first, numbered(seq));
      emit(second, numbered(20_000 + seq));
      if (seq % 1000 === 999) await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all([first.forceFlush(), second.forceFlush()]);
    await first.shutdown();
    await second.shutdown();
    const { files, others } = readLogFiles(dir);
    assert.deepEqual(others, []);
    assert.ok(files.length > 50, `rotated often (${files.length} files)`);
    const kept = seqs(files);
    assert.equal(kept.length, 40_000, 'no line lost or doubled');
    assert.equal(new Set(kept).size, 40_000);
  });

  it('drops and counts beyond the buffer bound, with one rate-limited warning', async () => {
    const dir = freshDir();
    const warnings: string[] = [];
    const processor = new FileLogRecordProcessor({
      path: join(dir, 'pipetel.log'),
      maxSizeMb: 10,
      backupCount: 1,
      compress: false,
      maxQueueSize: 100,
      warn: (message) => warnings.push(message),
    });
    // One synchronous burst: the disk gets no chance in between, so the bound is what holds.
    for (let seq = 0; seq < 1000; seq++) emit(processor, numbered(seq));
    assert.deepEqual(processor.exporter.stats(), {
      queued: 100,
      exported: 0,
      dropped: 900,
      spooled: 0,
      failed: 0,
    });
    await processor.shutdown();
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /dropping new log lines/);
    assert.deepEqual(
      seqs(readLogFiles(dir).files),
      Array.from({ length: 100 }, (_, i) => i),
    );
    assert.equal(processor.exporter.stats().exported, 100);
  });

  it('keeps the lines through a failing write and writes them once the path works again', async () => {
    const dir = freshDir();
    const blocker = join(dir, 'logs');
    writeFileSync(blocker, 'a file where the log directory should be');
    const warnings: string[] = [];
    const processor = new FileLogRecordProcessor({
      path: join(blocker, 'pipetel.log'),
      maxSizeMb: 10,
      backupCount: 1,
      compress: false,
      flushIntervalMs: 20,
      warn: (message) => warnings.push(message),
    });
    for (let seq = 0; seq < 50; seq++) emit(processor, numbered(seq));
    await processor.exporter.forceFlush(200);
    assert.equal(processor.exporter.stats().queued, 50);
    assert.ok(warnings.some((w) => /cannot (open|write)/.test(w)));
    rmSync(blocker);
    await processor.exporter.forceFlush(5000);
    assert.deepEqual(
      seqs(readLogFiles(blocker).files),
      Array.from({ length: 50 }, (_, i) => i),
    );
    await processor.shutdown();
    assert.deepEqual(processor.exporter.stats(), {
      queued: 0,
      exported: 50,
      dropped: 0,
      spooled: 0,
      failed: 0,
    });
  });

  it('an unwritable path: shutdown gives up at the first failed write, counts the lines dropped and warns', async () => {
    const dir = freshDir();
    const blocker = join(dir, 'logs');
    writeFileSync(blocker, 'a file where the log directory should be');
    const warnings: string[] = [];
    const processor = new FileLogRecordProcessor({
      path: join(blocker, 'pipetel.log'),
      maxSizeMb: 10,
      backupCount: 1,
      compress: false,
      shutdownTimeoutMs: 10_000,
      warn: (message) => warnings.push(message),
    });
    for (let seq = 0; seq < 50; seq++) emit(processor, numbered(seq));
    const started = Date.now();
    await processor.shutdown();
    const tookMs = Date.now() - started;
    // It used to wait for the timer's retries until the whole 10 s timeout, then report 0 dropped.
    assert.ok(tookMs < 5000, `shutdown took ${tookMs} ms`);
    assert.deepEqual(processor.exporter.stats(), {
      queued: 0,
      exported: 0,
      dropped: 50,
      spooled: 0,
      failed: 0,
    });
    assert.ok(
      warnings.some((w) => /50 log lines dropped at shutdown/.test(w)),
      warnings.join('\n'),
    );
  });

  it('counts records emitted after shutdown as dropped', async () => {
    const processor = new FileLogRecordProcessor({
      path: join(freshDir(), 'pipetel.log'),
      maxSizeMb: 1,
      backupCount: 1,
      compress: false,
      warn: () => undefined,
    });
    await processor.shutdown();
    emit(processor, numbered(1));
    assert.equal(processor.exporter.stats().dropped, 1);
  });

  it('reopens the path when the file is moved away underneath it (logrotate, rm)', async (t) => {
    // Only Date is mocked: the sink checks the path's identity once a second by Date.now(), and
    // its writes and timers stay real.
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    const dir = freshDir();
    const path = join(dir, 'pipetel.log');
    const processor = new FileLogRecordProcessor({ path, maxSizeMb: 10, backupCount: 1, compress: false });
    emit(processor, numbered(0));
    await processor.forceFlush();
    rmSync(path);
    t.mock.timers.tick(1100);
    emit(processor, numbered(1));
    await processor.shutdown();
    assert.deepEqual(seqs(readLogFiles(dir).files), [1]);
  });

  it('a flush right after a flush writes its lines then, not at the next interval', async (t) => {
    // The interval never fires here: only the flush can write the second line. It used to join the
    // first flush's write while that wound down, and wait for the timer (or, at shutdown, drop it).
    t.mock.timers.enable({ apis: ['setInterval'] });
    const dir = freshDir();
    const processor = new FileLogRecordProcessor({
      path: join(dir, 'pipetel.log'),
      maxSizeMb: 10,
      backupCount: 1,
      compress: false,
    });
    emit(processor, numbered(0));
    await processor.forceFlush();
    emit(processor, numbered(1));
    await processor.exporter.forceFlush(2000); // gives up after 2 s (real) if the line is left waiting
    assert.equal(processor.exporter.stats().exported, 2);
    emit(processor, numbered(2));
    await processor.exporter.shutdown(2000);
    assert.deepEqual(seqs(readLogFiles(dir).files), [0, 1, 2]);
    assert.equal(processor.exporter.stats().dropped, 0);
  });
});

describe('FileLogRecordExporter', () => {
  it('plugs into the SDK LoggerProvider, as a processor and under a BatchLogRecordProcessor', async () => {
    const dir = freshDir();
    const exporter = new FileLogRecordExporter({
      path: join(dir, 'batched.log'),
      maxSizeMb: 1,
      backupCount: 1,
      compress: false,
    });
    const provider = new LoggerProvider({
      resource,
      processors: [
        new FileLogRecordProcessor({
          path: join(dir, 'direct.log'),
          maxSizeMb: 1,
          backupCount: 1,
          compress: false,
        }),
        new BatchLogRecordProcessor({ exporter, scheduledDelayMillis: 20 }),
      ],
    });
    const logger = provider.getLogger('sdk.app');
    for (let seq = 0; seq < 20; seq++)
      logger.emit({
        severityNumber: 13,
        body: `sdk ${seq}`,
        attributes: { seq, 'pipetel.stage': 'extract' },
      });
    await provider.shutdown();
    for (const name of ['direct.log', 'batched.log']) {
      const lines = parseLines(readFileSync(join(dir, name), 'utf8'));
      assert.equal(lines.length, 20, name);
      assert.equal(lines[3]!.level, 'WARNING');
      assert.equal(lines[3]!.logger, 'sdk.app');
      assert.equal(lines[3]!.stage, 'extract');
      assert.equal(lines[3]!.experiment_id, 'exp-file');
      assert.deepEqual(lines[3]!.attributes, { seq: 3 });
    }
  });
});

describe('exit without shutdown()', () => {
  const app = resolve(import.meta.dirname, '../fixtures/apps/file-sink-exit.ts');

  // 20k lines fill the buffer far past the 64 KiB that starts a write, but process.exit() comes
  // first; 200 lines stay below it, so no write is even scheduled before the loop runs dry.
  const cases = [
    { mode: 'exit', count: 20_000, ending: 'process.exit()' },
    { mode: 'natural', count: 200, ending: 'running out of work' },
  ];
  for (const { mode, count, ending } of cases) {
    it(`keeps every line when the script ends by ${ending}`, async () => {
      const path = join(freshDir(), 'logs', 'pipetel.log');
      await runApp(app, [path, String(count), mode]);
      const lines = parseLines(readFileSync(path, 'utf8'));
      assert.deepEqual(
        lines.map((line) => (line.attributes as { seq: number }).seq),
        Array.from({ length: count }, (_, i) => i),
      );
    });
  }

  it('keeps every line when process.exit() lands amid writes and rotations; the next open tidies up', async () => {
    const dir = freshDir();
    const path = join(dir, 'pipetel.log');
    await runApp(app, [path, '20000', 'rotating']);
    const before = readLogFiles(dir);
    // Rotations the dead process left half done hold lines too.
    const pendingLines = before.others
      .filter((name) => name.endsWith('.pending') || !before.others.includes(name.replace(/\.gz$/, '')))
      .flatMap((name) => {
        const raw = readFileSync(join(dir, name));
        return parseLines((name.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8'));
      });
    assert.equal(seqs(before.files).length + pendingLines.length, 20_000);

    const next = new FileLogRecordProcessor({ path, maxSizeMb: 0.02, backupCount: 1000, compress: true });
    await next.shutdown();
    const after = readLogFiles(dir);
    assert.deepEqual(after.others, []);
    assert.deepEqual(
      seqs(after.files),
      Array.from({ length: 20_000 }, (_, i) => i),
    );
  });
});

function runApp(app: string, args: string[]): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', app, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolvePromise() : reject(new Error(`exit ${code}: ${stderr}`)),
    );
  });
}

/** The pid of a process that has exited (for leftovers "of a dead process"). */
function exitedPid(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', () => resolvePromise(child.pid!));
  });
}
