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
});
