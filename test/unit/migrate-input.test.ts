// migrate() called with nothing to connect to (an unset DATABASE_URL, from JavaScript) says what
// it needs and where to get it, instead of a TypeError from deep inside.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { migrate } from '../../exporters/postgres/migrate.js';

describe('migrate() input', () => {
  for (const [what, value] of [
    ['undefined (DATABASE_URL unset)', undefined],
    ['an empty string', ''],
  ] as const) {
    it(`refuses ${what} with a message naming what it needs`, async () => {
      await assert.rejects(
        migrate(value as unknown as string),
        (error: Error) =>
          error instanceof TypeError &&
          /needs a PostgreSQL connection string, a pg\.Pool or a connected pg\.Client/.test(error.message) &&
          /npx pipetel db url/.test(error.message),
      );
    });
  }
});
