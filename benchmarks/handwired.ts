// The anchor a pipeline author would otherwise write by hand: the reference pipelines' calls
// backed by the least code that stores their log records in the same table (its indexes and the
// GIN index included). Log lines are formatted at the call (util.format, JSON attributes) with a
// time-ordered id (uuidv7, as pipetel's) and the current stage, held as COPY text and written 100 at
// a time (the balanced profile's batch_size) over one pg.Client with pg-copy-streams, the usual way
// (pipetel's own single-write copyIn measured ~0.3 ms less per batch of 100); counters and
// histograms are summed per stage in a Map, progress is a number, a stage a timestamp pair. No
// spans (so no trace_id / span_id), no context, no metric export, no retries or spool, no care for
// NUL bytes: a floor, not a product.
// overhead-paired.ts runs it against the no-op shim (what wiring those records by hand costs) and
// against pipetel in the same passes (what pipetel costs beyond that).

import { format } from 'node:util';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { uuidv7 } from '../exporters/postgres/uuidv7.js';
import type { PipelineTelemetry } from './overhead.js';

const BATCH = 100;
const COPY_SQL =
  'COPY pipeline_logs (id, experiment_id, "timestamp", level, severity_number, logger_name, message, attributes, stage) FROM STDIN';

/**
 * COPY text escaping of one field (backslash, tab, newline, carriage return), and NUL, which no
 * text column can hold, replaced as pipetel's encoder does (one row with it would fail the batch).
 */
function copyText(text: string): string {
  return /[\\\t\n\r\u0000]/.test(text) ? text.replace(/[\\\t\n\r\u0000]/g, (c) => ESCAPES[c]!) : text;
}
const ESCAPES: Record<string, string> = {
  '\\': '\\\\',
  '\t': '\\t',
  '\n': '\\n',
  '\r': '\\r',
  '\u0000': '\uFFFD',
};

export interface HandWired {
  tel: PipelineTelemetry;
  /** Writes what is held and waits for every write started so far. */
  flush(): Promise<void>;
  close(): Promise<void>;
  /** Log rows written so far. */
  written(): number;
}

export async function handWired(url: string, experimentId: string): Promise<HandWired> {
  const client = new pg.Client({ connectionString: url, application_name: 'bench-handwired' });
  client.on('error', () => undefined);
  await client.connect();
  let lines: string[] = [];
  let writes: Promise<void> = Promise.resolve();
  let written = 0;
  const stages = new Map<string, number>();
  /** The stage the pipeline is in: its name, COPY-escaped, or \N. */
  let stage = '\\N';

  const write = () => {
    const batch = lines;
    lines = [];
    // One write at a time on the one connection, in order.
    writes = writes.then(
      () =>
        new Promise<void>((resolve, reject) => {
          const stream = client.query(copyFrom(COPY_SQL));
          stream.on('error', reject);
          stream.on('finish', () => {
            written += batch.length;
            resolve();
          });
          stream.end(batch.join(''));
        }),
    );
  };

  const logger = (name: string) => ({
    info(message: string, ...args: unknown[]) {
      const last = args[args.length - 1];
      const attributes = last !== null && typeof last === 'object' ? (args.pop() as object) : {};
      lines.push(
        `${uuidv7()}\t${experimentId}\t${new Date().toISOString()}\tINFO\t9\t${name}\t${copyText(format(message, ...args))}\t${copyText(JSON.stringify(attributes))}\t${stage}\n`,
      );
      if (lines.length >= BATCH) write();
    },
    debug(): void {}, // below the level: nothing
  });

  const tel: PipelineTelemetry = {
    async stage(name, fn) {
      const started = performance.now();
      const outer = stage;
      stage = copyText(name);
      try {
        return await fn();
      } finally {
        stage = outer;
        stages.set(name, performance.now() - started);
      }
    },
    getLogger: logger,
    progress: () => {
      let done = 0;
      return {
        advance(n = 1) {
          done += n;
        },
        done() {
          stages.set('progress', done);
        },
      };
    },
    getMeter: () => ({
      createCounter: () => {
        const byStage = new Map<string | undefined, number>();
        return {
          add(value, attributes) {
            const key = attributes?.stage;
            byStage.set(key, (byStage.get(key) ?? 0) + value);
          },
        };
      },
      createHistogram: () => {
        const byStage = new Map<string | undefined, { count: number; sum: number }>();
        return {
          record(value, attributes) {
            const key = attributes?.stage;
            const cell = byStage.get(key);
            if (cell) {
              cell.count++;
              cell.sum += value;
            } else byStage.set(key, { count: 1, sum: value });
          },
        };
      },
    }),
  };

  const flush = async () => {
    if (lines.length > 0) write();
    await writes;
  };
  return {
    tel,
    flush,
    async close() {
      try {
        await flush();
      } finally {
        await client.end();
      }
    },
    written: () => written,
  };
}
