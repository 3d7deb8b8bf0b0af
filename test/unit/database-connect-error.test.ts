// DatabaseConnectError: a connection that could not be opened is said with the host and port it
// tried, node-postgres' defaults filled in, and never with the password, even when the driver's
// message quotes it.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { addressOf, DatabaseConnectError } from '../../src/db/DatabaseConnectError.js';

describe('DatabaseConnectError', () => {
  test('names host:port, with the default port and a socket directory in ?host=', () => {
    assert.equal(addressOf('postgres://u:pw@db.internal:6543/tel'), 'db.internal:6543');
    assert.equal(addressOf('postgres://u:pw@db.internal/tel'), 'db.internal:5432');
    assert.equal(addressOf('postgresql://u@[::1]:5433/tel'), '[::1]:5433');
    assert.equal(addressOf('postgres://u:pw@/tel?host=/var/run/postgresql'), '/var/run/postgresql:5432');
  });

  test('its message carries the reason without the password, and keeps the driver code', () => {
    const cause = Object.assign(new Error('could not log in as u:Secret-Pw-1 at db'), { code: '28P01' });
    const error = new DatabaseConnectError('postgres://u:Secret-Pw-1@db:5432/tel', cause);
    assert.equal(error.message, 'cannot connect to PostgreSQL at db:5432 (could not log in as u:**** at db)');
    assert.equal(error.code, '28P01');
    assert.equal(error.cause, cause);
  });

  test('an unparsable URL is shown redacted, never whole', () => {
    const error = new DatabaseConnectError('postgres://u:Secret-Pw-2@db:notaport/tel', new Error('refused'));
    assert.ok(!error.message.includes('Secret-Pw-2'), error.message);
    // An unencoded `/` in the password moves its rest into the path: no piece of it is an address.
    assert.equal(addressOf('postgres://u:12/secret@h/db'), 'postgres://u:****@h/db');
  });
});
