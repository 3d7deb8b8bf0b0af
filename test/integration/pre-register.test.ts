// A logger used at import time, before register(): its records reach pipeline_logs with the run's
// experiment id and the registered resource once register() runs (each once).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { getLogger, register } from '../../src/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const log = getLogger('etl.startup'); // as a module would, at import time

describe('getLogger() before register()', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => db?.drop());

  it('records made before register() are stored once it runs', async () => {
    log.info('config loaded from %s', 'pipetel.yml', { rows: 3 });
    log.warning('slow disk');
    log.debug('below the configured level');
    const tel = await register({
      serviceName: 'early-logs',
      experimentId: 'exp-early',
      databaseUrl: db.url,
      config: { logging: { console: { enabled: false } }, monitoring: { enable_resource_tracking: false } },
    });
    log.info('after register');
    await tel.shutdown();
    const rows = await db.query(
      "SELECT logger_name, level, message, attributes FROM pipeline_logs WHERE experiment_id = 'exp-early' ORDER BY timestamp",
    );
    assert.deepEqual(
      rows.map((r) => [r.logger_name, r.level, r.message]),
      [
        ['etl.startup', 'INFO', 'config loaded from pipetel.yml'],
        ['etl.startup', 'WARNING', 'slow disk'],
        ['etl.startup', 'INFO', 'after register'],
      ],
    );
    assert.equal(rows[0].attributes.rows, 3);
  });
});
