/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The dashboard in a real browser (Debian's chromium driven by playwright-core): a demo run's page
// shows its stages on the timeline, progress bars, a searched log line, its error with traceback;
// a hostile log line is shown as text and runs nothing; a live run's lines appear as they are
// stored. Screenshots are kept under test-artifacts/. Skipped, saying so, where chromium is absent.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { type Browser, chromium, type Page } from 'playwright-core';
import { type RunningUi, startUi } from '../../src/ui/server.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { tempDir } from '../helpers/tempDir.js';

const run = promisify(execFile);
const bin = resolve(import.meta.dirname, '../../bin/pipetel.js');
const writer = resolve(import.meta.dirname, '../fixtures/log-writer.ts');
const artifacts = resolve(import.meta.dirname, '../../test-artifacts');
const executablePath = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const skip = executablePath
  ? false
  : 'chromium is not installed (Debian: apt-get install chromium; .ci/run does it)';
if (skip) process.stdout.write(`# SKIP ui-browser.test.ts: ${skip}\n`);

describe('pipetel ui in a browser', { skip }, () => {
  let db: TestDatabase;
  let env: NodeJS.ProcessEnv;
  let ui: RunningUi;
  let browser: Browser;
  let page: Page;
  before(async () => {
    db = await createTestDatabase();
    env = { ...process.env, PIPETEL_DATABASE_URL: db.url, PIPETEL_HOME: tempDir('pipetel-ui-browser-') };
    await run(process.execPath, [bin, 'demo', '--items', '2000', '--experiment-id', 'ui-demo'], {
      env,
      timeout: 120_000,
    });
    await run(process.execPath, [bin, 'demo', '--items', '6000', '--experiment-id', 'ui-demo-big'], {
      env,
      timeout: 120_000,
    });
    await run(
      process.execPath,
      ['--import', 'tsx', writer, 'ui-hostile', '1', '0', '<img src=x onerror="window.__pwned=1">'],
      {
        env,
        timeout: 60_000,
      },
    );
    ui = await startUi({ url: db.url, port: 0 });
    browser = await chromium.launch({
      executablePath,
      args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    mkdirSync(artifacts, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await ui?.close();
    await db?.drop();
  });

  it('the runs list links to a run page with the stage timeline, progress, logs and errors', async () => {
    await page.goto(ui.url);
    await page.getByRole('link', { name: 'ui-demo', exact: true }).click();
    await page.waitForSelector('#timeline .gantt-row');
    const stages = await page.locator('#timeline .stage-name').allTextContents();
    for (const name of ['extract', 'transform', 'train', 'epoch-1', 'validate', 'load'])
      assert.ok(
        stages.some((s) => s.trim() === name),
        `${name} on the timeline: ${stages.join('|')}`,
      );
    assert.equal(
      await page.locator('#timeline .gantt-row[data-stage="validate"] .gantt-bar.error').count(),
      1,
    );
    assert.match(
      (await page.locator('#progress [data-node="validate"] .meta').textContent()) ?? '',
      /3 \/ 10 .*failed/,
    );
    assert.match(
      (await page.locator('#errors pre').first().textContent()) ?? '',
      /validation accuracy 0\.41/,
    );
    // Resource charts from the host metrics the demo samples every second (uPlot, served by the package).
    await page.waitForSelector('#charts .chart[data-metric="process.memory.usage"] canvas');
    await page.screenshot({ path: resolve(artifacts, 'ui-run.png'), fullPage: true });
  });

  it('two runs picked in the list compare stage by stage', async () => {
    await page.goto(ui.url);
    await page.waitForSelector('#runs input[data-run="ui-demo-big"]');
    await page.check('#runs input[data-run="ui-demo"]');
    await page.check('#runs input[data-run="ui-demo-big"]');
    await page.click('#compare');
    await page.waitForSelector('#compare-table tr[data-stage="validate"]');
    const cells = await page.locator('#compare-table tr[data-stage="extract"] td').allTextContents();
    assert.equal(cells[0]?.trim(), 'extract');
    assert.ok(cells[1] !== '-' && cells[2] !== '-', `both durations: ${cells.join(' | ')}`);
    assert.match(cells[3] ?? '', /^[+-]\d+ %$/);
    await page.screenshot({ path: resolve(artifacts, 'ui-compare.png') });
    await page.goto(`${ui.url}#/run/ui-demo`);
    await page.waitForSelector('#timeline .gantt-row');
  });

  it('searching the logs shows the matching line', async () => {
    await page.fill('#log-search', 'imbalance');
    await page.press('#log-search', 'Enter');
    await page.waitForFunction(() => document.querySelectorAll('#logs .log').length === 1);
    assert.match((await page.locator('#logs .log .msg').first().textContent()) ?? '', /class imbalance/);
  });

  it('a hostile log line is text on the page and runs nothing', async () => {
    await page.goto(`${ui.url}#/run/ui-hostile`);
    await page.waitForFunction(() =>
      [...document.querySelectorAll('#logs .msg')].some((m) => m.textContent?.startsWith('<img')),
    );
    assert.equal(
      await page.locator('#logs .log .msg').first().textContent(),
      '<img src=x onerror="window.__pwned=1"> 0',
    );
    assert.equal(await page.locator('#logs img').count(), 0);
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
  });

  it("a live run's lines appear as they are stored", async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', writer, 'ui-browser-live', '12', '400', 'live'],
      { env },
    );
    const exited = new Promise((done) => child.on('exit', done));
    const deadline = Date.now() + 30_000;
    while (
      (await db.query("SELECT 1 FROM pipeline_experiments WHERE experiment_id = 'ui-browser-live'"))
        .length === 0
    ) {
      if (Date.now() > deadline) throw new Error('the live run never started');
      await new Promise((r) => setTimeout(r, 50));
    }
    await page.goto(`${ui.url}#/run/ui-browser-live`);
    // A hash navigation keeps the document: wait for this run's page, not the previous one's.
    await page.waitForFunction(
      () => document.querySelector('#app section h2')?.textContent === 'ui-browser-live',
    );
    // The progress bar moves while the run is live (server-sent progress events).
    const width = () =>
      page.evaluate(() =>
        Number.parseFloat(
          (document.querySelector('#progress [data-node="lines"] .progress-fill') as HTMLElement | null)
            ?.style.width ?? '0',
        ),
      );
    await page.waitForFunction(
      () => document.querySelector('#progress [data-node="lines"]') !== null,
      undefined,
      {
        timeout: 30_000,
      },
    );
    const first = await width();
    await page.waitForFunction(
      (before) =>
        Number.parseFloat(
          (document.querySelector('#progress [data-node="lines"] .progress-fill') as HTMLElement | null)
            ?.style.width ?? '0',
        ) > before,
      first,
      { timeout: 30_000 },
    );
    assert.ok((await width()) > first, 'the bar grew');
    await page.waitForFunction(
      () => [...document.querySelectorAll('#logs .msg')].some((m) => m.textContent === 'live 10'),
      undefined,
      { timeout: 30_000 },
    );
    assert.equal(child.exitCode, null, 'seen while the run was still live');
    await page.screenshot({ path: resolve(artifacts, 'ui-live.png') });
    await exited;
    await page.waitForFunction(
      () => document.getElementById('run-status')?.textContent === 'succeeded',
      undefined,
      {
        timeout: 30_000,
      },
    );
  });
});
