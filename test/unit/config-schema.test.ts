// The schema as the single source: every key documented and defaulted, the docs table generated
// from it, typo suggestions, and URL redaction that never leaks a password.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { safeErrorMessage } from '../../exporters/postgres/connectionSecrets.js';
import { defaultSettings, redactUrl, renderConfigTable } from '../../src/config/index.js';
import { leaves } from '../../src/config/schema.js';
import { getIn } from '../../src/config/tree.js';
import { suggestKey } from '../../src/config/validate.js';

describe('schema', () => {
  test('every setting has a one-line doc and a default matching defaultSettings()', () => {
    const defaults = defaultSettings();
    for (const { key, path, field } of leaves) {
      assert.ok(field.doc.length > 10 && !field.doc.includes('\n'), key);
      assert.deepEqual(getIn(defaults, path), field.default, key);
    }
  });

  test('defaultSettings() returns a fresh copy each time', () => {
    const first = defaultSettings();
    first.redaction.keys.length = 0;
    assert.ok(defaultSettings().redaction.keys.length > 0);
  });

  test('the markdown table has a row per setting: key | default | meaning', () => {
    const table = renderConfigTable().trimEnd().split('\n');
    assert.equal(table[0], '| key | default | meaning |');
    assert.equal(table.length, leaves.length + 2);
    assert.ok(
      table.includes(
        '| `logging.database.batch_size` | `100` | Records queued before a batch is written (spans and metric points batch the same way). Type: integer 1–100000. Env: `OTEL_BLRP_MAX_EXPORT_BATCH_SIZE`. |',
      ),
    );
    const url = table.find((row) => row.startsWith('| `database.url` |'));
    assert.match(url ?? '', /`PIPETEL_DATABASE_URL`, `DATABASE_URL`/);
    for (const row of table.slice(2)) assert.equal(row.split(/(?<!\\)\|/).length, 5, row);
  });
});

describe('suggestions for unknown keys', () => {
  const cases: Array<[string, string | undefined]> = [
    ['logging.database.batch_sise', 'logging.database.batch_size'],
    ['logging.batch_size', 'logging.database.batch_size'],
    ['batch_size', 'logging.database.batch_size'],
    ['spool.batchsize', 'spool.batch_size'],
    ['logging.Level', 'logging.level'],
    ['monitoring.metric_interval', 'monitoring.metrics_interval'],
    ['monitoring.database.pool_size', 'monitoring.database.connection_pool_size'],
    ['database.uri', 'database.url'],
    ['completely_unrelated_thing', undefined],
  ];
  for (const [key, expected] of cases) {
    test(`${key} → ${expected ?? 'no suggestion'}`, () => {
      assert.equal(suggestKey(key), expected);
    });
  }
});

describe('redactUrl', () => {
  const cases: Array<[string, string]> = [
    ['postgres://user:secret@host/db', 'postgres://user:****@host/db'],
    [
      'postgresql://user:secret@host:5432/db?sslmode=require',
      'postgresql://user:****@host:5432/db?sslmode=require',
    ],
    ['postgres://user@host/db', 'postgres://user@host/db'],
    ['postgres://host/db', 'postgres://host/db'],
    ['postgres://host/db?user=u&password=secret&x=1', 'postgres://host/db?user=u&password=****&x=1'],
    ['host=db user=u password=secret dbname=x', 'host=db user=u password=**** dbname=x'],
    // No well-formed scheme: still hidden (a new user's typo was quoted whole in the error).
    ['postgresql//root:s3cretpw@127.0.0.1:5432/test', 'postgresql//root:****@127.0.0.1:5432/test'],
    ['root:s3cretpw@127.0.0.1/test', 'root:****@127.0.0.1/test'],
    ['postgres:/root:s3cretpw@h/db', 'postgres:****@h/db'],
  ];
  for (const [url, expected] of cases) {
    test(url, () => assert.equal(redactUrl(url), expected));
  }

  test('malformed URLs still never show the password', () => {
    for (const url of [
      'postgres://user:p@ss@host/db',
      'postgres://user:pa/ss@host/db',
      'postgres://user:pa?ss@host/db',
      'postgres://user:pa#ss@host/db?application_name=a@b',
      'postgres://user:p@ss@host/db?application_name=a@b',
    ]) {
      const redacted = redactUrl(url);
      assert.ok(!/p@ss|pa\/ss|pa\?ss|pa#ss/.test(redacted), `${url} → ${redacted}`);
      assert.ok(redacted.includes('****'), redacted);
    }
  });

  test('a driver error quoting the password, as written or URL-encoded, loses it', () => {
    const message = safeErrorMessage(
      new Error('auth failed for p@ss (p%40ss)'),
      'postgres://u:p%40ss@host/db',
    );
    assert.equal(message, 'auth failed for **** (****)');
  });
});
