// The Grafana dashboard under dashboards/: its run variable and every panel's SQL, with Grafana's
// macros expanded as Grafana does, run against a real pipetel database holding a demo run.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { tempDir } from '../helpers/tempDir.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');

interface Dashboard {
  templating: { list: Array<{ name: string; query: string }> };
  panels: Array<{ title: string; targets: Array<{ rawSql: string }> }>;
}

/** $__timeFilter(col) and $run, as Grafana expands them. */
function expand(sql: string, runId: string): string {
  return sql
    .replace(/\$__timeFilter\(([^)]+)\)/g, "$1 BETWEEN now() - interval '7 days' AND now()")
    .replaceAll('$run', runId);
}

describe('dashboards/pipetel-runs.json', () => {
  let db: TestDatabase;
  const dashboard = JSON.parse(
    readFileSync(resolve(root, 'dashboards/pipetel-runs.json'), 'utf8'),
  ) as Dashboard;
  before(async () => {
    db = await createTestDatabase();
    await run(
      process.execPath,
      [resolve(root, 'bin/pipetel.js'), 'demo', '--items', '2000', '--experiment-id', 'grafana-demo'],
      {
        env: { ...process.env, PIPETEL_DATABASE_URL: db.url, PIPETEL_HOME: tempDir('pipetel-grafana-') },
        timeout: 120_000,
      },
    );
  });
  after(async () => db?.drop());

  it('the run variable lists the demo run', async () => {
    const variable = dashboard.templating.list.find((v) => v.name === 'run')!;
    const rows = await db.query<{ experiment_id: string }>(variable.query);
    assert.ok(rows.some((r) => r.experiment_id === 'grafana-demo'));
  });

  it('every panel query runs, and the run panels show the demo run', async () => {
    const counts: Record<string, number> = {};
    for (const panel of dashboard.panels) {
      for (const target of panel.targets) {
        counts[panel.title] = (await db.query(expand(target.rawSql, 'grafana-demo'))).length;
      }
    }
    for (const title of [
      'Runs',
      'Stage durations ($run)',
      'Stage CPU and peak RSS ($run)',
      'Errors ($run)',
      'Process memory ($run)',
      'Progress ($run)',
    ])
      assert.ok((counts[title] ?? 0) > 0, `${title}: ${JSON.stringify(counts)}`);
  });
});
