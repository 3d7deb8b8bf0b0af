// The benchmark's hand-wired anchor must store the rows it stands for, or the comparison with
// pipetel measures less work on one side: every record, escaped, in order, with its stage.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { handWired } from '../../benchmarks/handwired.js';
import { migrate } from '../../exporters/postgres/migrate.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

describe('benchmark: hand-wired anchor', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
    await migrate(db.url);
  });
  after(async () => {
    await db?.drop();
  });

  it('stores every log record with its text, attributes and stage, NUL and COPY escapes included', async () => {
    const experimentId = randomUUID();
    const anchor = await handWired(db.url, experimentId);
    try {
      const log = anchor.tel.getLogger('bench.anchor');
      await anchor.tel.stage('load', async () => {
        for (let i = 0; i < 150; i++) log.info('item %d done', i, { item: i });
        log.info('tab\there\nnew line \\ back\u0000slash', { stage_note: 'x\ty' });
      });
      log.info('outside');
      await anchor.flush();
      assert.equal(anchor.written(), 152);
    } finally {
      await anchor.close();
    }
    const rows = await db.query(
      `SELECT message, attributes, stage, level, logger_name FROM pipeline_logs
        WHERE experiment_id = $1 ORDER BY id`,
      [experimentId],
    );
    assert.equal(rows.length, 152);
    assert.deepEqual(rows[7], {
      message: 'item 7 done',
      attributes: { item: 7 },
      stage: 'load',
      level: 'INFO',
      logger_name: 'bench.anchor',
    });
    assert.equal(rows[150]!.message, 'tab\there\nnew line \\ back\uFFFDslash');
    assert.deepEqual(rows[150]!.attributes, { stage_note: 'x\ty' });
    assert.equal(rows[151]!.stage, null);
  });
});
