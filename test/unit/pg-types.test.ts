// pipetel's public options name node-postgres objects by structural types of its own
// (exporters/postgres/pgTypes.ts), so that its declarations need no @types/pg. The real pg objects
// must fit them — tsc checks the assignments below in `npm run check` — and a pool given to share
// is used as the very pg.Pool it is.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import pg from 'pg';
import type { PgClient, PgPool, PgPoolClient } from '../../exporters/postgres/pgTypes.js';
import { sharedPool } from '../../exporters/postgres/pool.js';

it('pg.Pool, pg.Client and pg.PoolClient are a PgPool, a PgClient and a PgPoolClient', async () => {
  const pool = new pg.Pool({ connectionString: 'postgresql://127.0.0.1:9/none' });
  const client = new pg.Client({ connectionString: 'postgresql://127.0.0.1:9/none' });
  const asPool: PgPool = pool;
  const asClient: PgClient = client;
  const checkedOut = (poolClient: pg.PoolClient): PgPoolClient => poolClient;
  assert.equal(sharedPool(asPool), pool);
  assert.equal(typeof asClient.query, 'function');
  assert.equal(typeof checkedOut, 'function');
  await pool.end();
});
