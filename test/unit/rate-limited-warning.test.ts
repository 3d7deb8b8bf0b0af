// A rate-limited warning whose running count stays current: the newest suppressed message is
// printed when the interval ends, and at flush() (shutdown), instead of the first one standing for
// the whole burst ("1 dropped so far", never updated).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  KeyedWarnings,
  RateLimitedWarning,
  TextKeyedWarnings,
} from '../../exporters/delivery/RateLimitedWarning.js';

describe('RateLimitedWarning', () => {
  it('prints the newest suppressed message when the interval ends, with how many it stands for', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: Date.parse('2026-01-01') });
    const printed: string[] = [];
    const warning = new RateLimitedWarning((m) => printed.push(m), 50);
    for (let n = 1; n <= 5; n++) warning.warn(`${n} dropped so far`);
    assert.deepEqual(printed, ['1 dropped so far']);
    t.mock.timers.tick(49);
    assert.deepEqual(printed, ['1 dropped so far'], 'not before the interval ends');
    t.mock.timers.tick(1);
    assert.deepEqual(printed, ['1 dropped so far', '5 dropped so far (3 similar warnings suppressed)']);
    warning.flush();
    assert.equal(printed.length, 2, 'nothing new to print');
    warning.warn('6 dropped so far');
    assert.equal(printed.length, 2, 'still within the interval of the last print');
    t.mock.timers.tick(50);
    assert.deepEqual(printed.at(-1), '6 dropped so far');
  });

  it('flush() prints every kind’s newest suppressed message at once, e.g. at shutdown', () => {
    const printed: string[] = [];
    const warnings = new KeyedWarnings((m) => printed.push(m), 60_000);
    for (let n = 1; n <= 3; n++) warnings.warn('drop', `${n} dropped so far`);
    warnings.warn('retry', 'retrying');
    warnings.flush();
    assert.deepEqual(printed, [
      '1 dropped so far',
      'retrying',
      '3 dropped so far (1 similar warnings suppressed)',
    ]);
  });

  it('TextKeyedWarnings limits each kind of text apart: one kind never hides another', () => {
    const printed: string[] = [];
    const warnings = new TextKeyedWarnings((m) => printed.push(m), 60_000);
    warnings.warn('maintenance failed: cannot connect (database "x" does not exist)');
    warnings.warn('maintenance failed: cannot connect (database "x" does not exist)');
    warnings.warn('database.url (postgres://u:****@h/x) was refused by the server: a configuration error');
    warnings.warn(
      'logs: queue full (max_queue_size=10000), spooling new records to disk (200 spooled so far)',
    );
    warnings.warn(
      'logs: queue full (max_queue_size=10000), spooling new records to disk (400 spooled so far)',
    );
    assert.deepEqual(printed, [
      'maintenance failed: cannot connect (database "x" does not exist)',
      'database.url (postgres://u:****@h/x) was refused by the server: a configuration error',
      'logs: queue full (max_queue_size=10000), spooling new records to disk (200 spooled so far)',
    ]);
    warnings.flush();
    assert.deepEqual(printed.slice(3), [
      'maintenance failed: cannot connect (database "x" does not exist)',
      'logs: queue full (max_queue_size=10000), spooling new records to disk (400 spooled so far)',
    ]);
  });

  it('TextKeyedWarnings: many spool directories are one kind per database; many kinds never end in a shared limit', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: Date.parse('2026-01-01') });
    const printed: string[] = [];
    const warnings = new TextKeyedWarnings((m) => printed.push(m), 10_000);
    const foreign = (dir: number, db: string) =>
      `spool: /home/a-rather-long-home-directory-name/of/the/pipeline/.pipetel/spool/${dir}-1796-${dir.toString(16).padStart(8, 'a')} holds records for ${db}, not 127.0.0.1:5432/x; left in place`;
    for (let dir = 0; dir < 90; dir++) warnings.warn(foreign(1000 + dir, 'db-prod-old:5432/telemetry'));
    warnings.warn(foreign(2000, 'db-prod-old:5432/other'));
    warnings.warn(foreign(2001, 'db-staging:5432/telemetry'));
    warnings.warn(
      'logs: pipeline_logs unreachable (connect ECONNREFUSED); spooling records to disk until it answers',
    );
    assert.deepEqual(printed.length, 4, printed.join('\n'));
    // Before: every directory was a kind of its own; after 64 the rest shared one limit.
    for (let k = 0; k < 100; k++)
      warnings.warn(`kind ${'abcdefghij'[k % 10]}${'klmnopqrst'[Math.floor(k / 10)]} failed`);
    warnings.warn('database.url (postgres://u:****@h/x) was refused by the server');
    assert.equal(printed.at(-1), 'database.url (postgres://u:****@h/x) was refused by the server');
  });
});
