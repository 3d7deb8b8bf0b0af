// Row ids: UUIDv7 that sort in the order they were made, so rows sharing a timestamp read back in
// write order (pipetel logs orders by timestamp, then id).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { uuidv7 } from '../../exporters/postgres/uuidv7.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const timeOf = (id: string) => Number.parseInt(id.replace(/-/g, '').slice(0, 12), 16);

describe('uuidv7', () => {
  it('is a version 7, variant 10 UUID carrying the millisecond', () => {
    const id = uuidv7(Date.parse('2026-11-30T12:00:00Z'));
    assert.match(id, UUID_V7);
    assert.equal(timeOf(id), Date.parse('2026-11-30T12:00:00Z'));
  });

  it('strictly increases within one millisecond, past the counter (borrowing the next one)', () => {
    const now = Date.parse('2026-11-30T12:00:01Z');
    const ids = Array.from({ length: 10_000 }, () => uuidv7(now));
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1]! < ids[i]!, `id ${i} sorts after id ${i - 1}`);
    assert.ok(ids.every((id) => UUID_V7.test(id)));
    assert.equal(timeOf(ids[0]!), now);
    assert.ok(timeOf(ids.at(-1)!) > now, '10,000 ids in one millisecond run past the 12-bit counter');
  });

  it('keeps increasing when the clock steps back', () => {
    const a = uuidv7(Date.parse('2026-11-30T12:00:05Z'));
    const b = uuidv7(Date.parse('2026-11-30T12:00:04Z'));
    assert.ok(a < b);
    const c = uuidv7(Date.parse('2026-11-30T12:00:06Z'));
    assert.ok(b < c);
    assert.equal(timeOf(c), Date.parse('2026-11-30T12:00:06Z'), 'a later clock is taken as it is');
  });

  it('carries each new millisecond, whatever the digits before it', () => {
    let ms = Date.parse('2026-11-30T13:00:00Z');
    for (let i = 0; i < 2000; i++) {
      ms += 1 + Math.floor(Math.random() * 2 ** (i % 40)); // small steps and large ones
      const id = uuidv7(ms);
      assert.match(id, UUID_V7);
      assert.equal(timeOf(id), ms, `id for ${ms}`);
      assert.equal(timeOf(uuidv7(ms)), ms, 'a second id in the same millisecond');
    }
  });
});
