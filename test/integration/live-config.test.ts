// tel.config.set() in a running process: the keys that reach a running pipeline take effect at
// once (the seed's `config.set('logging.database.batch_size', 500)`), the others are refused with
// an error naming them, and nothing changes when a set is refused.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../../src/config/ConfigError.js';
import { register } from '../../src/index.js';
import { LIVE_KEYS } from '../../src/telemetry.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

describe('tel.config.set() after register()', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => db?.drop());

  it('a new batch_size reaches the queue at once: records are written without waiting for flush_interval', async () => {
    const tel = await register({
      serviceName: 'live',
      experimentId: 'live-batch',
      databaseUrl: db.url,
      config: {
        logging: {
          console: { enabled: false },
          file: { enabled: false },
          database: { batch_size: 1000, flush_interval: 3600 },
        },
      },
    });
    try {
      tel.config.set('logging.database.batch_size', 5);
      const log = tel.getLogger('live');
      for (let i = 0; i < 5; i++) log.info(`line ${i}`);
      const deadline = Date.now() + 20_000;
      let n = 0;
      while (Date.now() < deadline) {
        [{ n }] = await db.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pipeline_logs WHERE experiment_id = 'live-batch' AND logger_name = 'live'",
        );
        if (n === 5) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(n, 5, 'the fifth record started a write (flush_interval is an hour)');
    } finally {
      await tel.shutdown();
    }
  });

  it('sampling changes at once; a key that cannot change while running is refused by name and nothing changes', async () => {
    const tel = await register({
      serviceName: 'live',
      experimentId: 'live-refuse',
      databaseUrl: db.url,
      config: { logging: { console: { enabled: false }, file: { enabled: false } } },
    });
    try {
      tel.config.set('logging.sampling.INFO', 0);
      const log = tel.getLogger('live');
      for (let i = 0; i < 20; i++) log.info(`sampled out ${i}`);
      log.warning('kept');

      assert.throws(
        () => tel.config.set('database.partitioning', 'daily'),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.match(
            error.message,
            /database\.partitioning: cannot change after register\(\): set it in the configuration file, the environment or register\(\{ config \}\); these change live: logging\.level, /,
          );
          return true;
        },
      );
      assert.equal(tel.config.get('database.partitioning'), 'none', 'a refused set changes nothing');
      // A whole-section set is refused for the part that cannot change, and applies nothing.
      assert.throws(
        () => tel.config.set('logging.database', { batch_size: 7, max_queue_size: 10 }),
        /logging\.database\.max_queue_size: cannot change/,
      );
      assert.equal(tel.config.get('logging.database.batch_size'), 100);
      for (const key of LIVE_KEYS) assert.doesNotThrow(() => tel.config.get(key), key);
    } finally {
      await tel.shutdown();
    }
    const rows = await db.query<{ message: string }>(
      "SELECT message FROM pipeline_logs WHERE experiment_id = 'live-refuse' AND logger_name = 'live'",
    );
    assert.deepEqual(
      rows.map((r) => r.message),
      ['kept'],
    );
  });
});
