// copyIn (exporters/postgres/copyIn.ts): a COPY … FROM STDIN whose Query, data and CopyDone leave
// in one write without waiting for the server, against a real PostgreSQL — rows arrive intact
// (multi-byte text too), a failing COPY rejects with the server's error wherever it fails (before
// copy-in mode, on a bad row), and the connection is usable for the next statement either way.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { copyIn, copyInMessage } from '../../exporters/postgres/copyIn.js';
import { closePool, createPool, withoutAnswerWatch } from '../../exporters/postgres/pool.js';
import { PostgresTableWriter } from '../../exporters/postgres/TableWriter.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startTcpProxy } from '../helpers/tcpProxy.js';

describe('copyIn: one write per COPY', () => {
  let db: TestDatabase;
  let client: pg.Client;

  before(async () => {
    db = await createTestDatabase();
    await db.query('CREATE TABLE copied (n int NOT NULL, s text)');
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
  });

  after(async () => {
    await client?.end();
    await db?.drop();
  });

  it('writes Query, CopyData and CopyDone as one socket write and stores every row', async () => {
    await client.query('TRUNCATE copied');
    const socket = (
      client as unknown as { connection: { stream: { write: (chunk: Uint8Array) => boolean } } }
    ).connection.stream;
    const writes: number[] = [];
    const write = socket.write;
    socket.write = function (this: unknown, chunk: Uint8Array) {
      writes.push(chunk.length);
      return write.call(this, chunk);
    };
    const lines = Array.from({ length: 250 }, (_, i) => `${i}\tzeile ${i} äöü €𝄞 ${'x'.repeat(i % 7)}\n`);
    try {
      await copyIn(client, 'COPY copied (n, s) FROM STDIN', lines);
    } finally {
      socket.write = write;
    }
    assert.equal(writes.length, 1, `socket writes: ${writes.join(', ')}`);
    const rows = await db.query<{ n: number; s: string }>('SELECT n, s FROM copied ORDER BY n');
    assert.equal(rows.length, 250);
    assert.equal(rows[249]!.s, `zeile 249 äöü €𝄞 ${'x'.repeat(249 % 7)}`);
  });

  it('a COPY the server refuses before copy-in mode rejects with its error; the connection goes on', async () => {
    await assert.rejects(
      copyIn(client, 'COPY no_such_table (n) FROM STDIN', ['1\n', '2\n']),
      (error: unknown) => {
        assert.equal((error as { code?: string }).code, '42P01'); // undefined_table
        return true;
      },
    );
    // The pipelined CopyData/CopyDone were dropped by the server, not read as statements.
    const [{ answer }] = (await client.query('SELECT 41 + 1 AS answer')).rows;
    assert.equal(answer, 42);
  });

  it('a bad row fails the whole COPY with its SQLSTATE and stores nothing; the next COPY succeeds', async () => {
    await client.query('TRUNCATE copied');
    await assert.rejects(
      copyIn(client, 'COPY copied (n, s) FROM STDIN', ['1\tok\n', 'x\tbad\n', '3\tok\n']),
      (error: unknown) => {
        assert.equal((error as { code?: string }).code, '22P02'); // invalid_text_representation
        return true;
      },
    );
    assert.equal((await db.query('SELECT count(*)::int AS n FROM copied'))[0]!.n, 0);
    await copyIn(client, 'COPY copied (n, s) FROM STDIN', ['4\tfine\n']);
    assert.deepEqual(await db.query('SELECT n, s FROM copied'), [{ n: 4, s: 'fine' }]);
  });

  it('inside a transaction, with an empty batch, and back to back on one connection', async () => {
    await client.query('TRUNCATE copied');
    await client.query('BEGIN');
    await copyIn(client, 'COPY copied (n, s) FROM STDIN', []);
    await Promise.all([
      copyIn(client, 'COPY copied (n, s) FROM STDIN', ['1\ta\n']),
      copyIn(client, 'COPY copied (n, s) FROM STDIN', ['2\tb\n']),
    ]);
    await client.query('ROLLBACK');
    assert.equal((await db.query('SELECT count(*)::int AS n FROM copied'))[0]!.n, 0);
    await copyIn(client, 'COPY copied (n, s) FROM STDIN', ['5\te\n']);
    assert.equal((await db.query('SELECT count(*)::int AS n FROM copied'))[0]!.n, 1);
  });

  it("with pg's query_timeout: a COPY that finishes clears the timer, one that runs past it rejects", async () => {
    await db.query('CREATE TABLE slow_copied (n int)');
    await db.query(
      'CREATE FUNCTION sleepy() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(0.6); RETURN NEW; END $$ LANGUAGE plpgsql',
    );
    await db.query(
      'CREATE TRIGGER sleepy BEFORE INSERT ON slow_copied FOR EACH ROW EXECUTE FUNCTION sleepy()',
    );
    const timed = new pg.Client({ connectionString: db.url, query_timeout: 300 });
    await timed.connect();
    timed.on('error', () => undefined);
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      await copyIn(timed, 'COPY copied (n, s) FROM STDIN', ['7\tt\n']);
      // pg's timer would have fired by now had the finished COPY not cleared it.
      await new Promise((resolve) => setTimeout(resolve, 450));
      assert.deepEqual(uncaught, []);
      assert.equal((await timed.query('SELECT 1 AS one')).rows[0].one, 1);
      await assert.rejects(copyIn(timed, 'COPY slow_copied (n) FROM STDIN', ['1\n']), /timeout/i);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(uncaught, []);
    } finally {
      process.off('uncaughtException', onUncaught);
      await timed.end().catch(() => undefined);
    }
  });

  it("the message is the protocol's: lengths in bytes, not UTF-16 units", () => {
    const message = copyInMessage('COPY t FROM STDIN', 'ä\n');
    assert.equal(message[0], 0x51); // Query
    const queryLength = message.readUInt32BE(1);
    assert.equal(queryLength, 4 + Buffer.byteLength('COPY t FROM STDIN') + 1);
    const data = 1 + queryLength;
    assert.equal(message[data], 0x64); // CopyData
    assert.equal(message.readUInt32BE(data + 1), 4 + Buffer.byteLength('ä\n'));
    const done = data + 1 + message.readUInt32BE(data + 1);
    assert.deepEqual([...message.subarray(done)], [0x63, 0, 0, 0, 4]); // CopyDone
    assert.equal(message.length, done + 5, 'sized exactly, no slack');
  });
});

describe('statements a silent server never answers', () => {
  let db: TestDatabase;

  before(async () => {
    db = await createTestDatabase();
    await db.query('CREATE TABLE copied (n int NOT NULL, s text)');
  });

  after(async () => {
    await db?.drop();
  });

  const isUnanswered = (error: unknown) => {
    assert.equal((error as { code?: string }).code, 'ETIMEDOUT');
    assert.match((error as Error).message, /no answer from the database within \d+ ms/);
    return true;
  };

  it("a table writer on the user's own pool gives a write up after answerTimeoutMs, its connection destroyed", async () => {
    const proxy = await startTcpProxy(db.url);
    const pool = new pg.Pool({ connectionString: proxy.url, max: 2 });
    pool.on('error', () => undefined);
    const writer = new PostgresTableWriter(
      pool,
      { name: 'copied', columns: ['n', 's'] },
      { answerTimeoutMs: 300 },
    );
    try {
      assert.equal(await writer.write(['1\tbefore\n'], { idempotent: false }), 1);
      proxy.silence();
      const started = Date.now();
      await assert.rejects(writer.write(['2\tduring\n'], { idempotent: false }), isUnanswered);
      const tookMs = Date.now() - started;
      assert.ok(tookMs < 5000, `gave up after ${tookMs} ms`);
      // The silenced connection left the pool rather than wait there for the next batch.
      assert.equal(pool.totalCount, 0);
      proxy.resume();
      assert.equal(await writer.write(['3\tafter\n'], { idempotent: true }), 1);
    } finally {
      await pool.end();
      await proxy.close();
    }
    const rows = await db.query<{ n: number }>('SELECT n FROM copied ORDER BY n');
    assert.deepEqual(
      rows.map((r) => r.n),
      [1, 3],
    );
  });

  it('an answer read late because the application kept the event loop busy is no silence', async () => {
    const pool = createPool({ connectionString: db.url, statementTimeoutMs: 300 }); // watchdog at 1.3 s
    const userPool = new pg.Pool({ connectionString: db.url, max: 1 });
    const writer = new PostgresTableWriter(
      userPool,
      { name: 'copied', columns: ['n', 's'] },
      { answerTimeoutMs: 300 },
    );
    const busy = (ms: number) => {
      const until = Date.now() + ms;
      while (Date.now() < until);
    };
    const client = await pool.connect();
    try {
      await writer.write(['6\tconnected\n'], { idempotent: false }); // its connection made, idle
      const query = client.query('SELECT 7 AS seven');
      const write = writer.write(['7\tbusy\n'], { idempotent: false });
      await new Promise((resolve) => setImmediate(resolve)); // the write is on the socket
      busy(1800); // the answers arrive meanwhile, unread; the timers are overdue when it ends
      assert.equal((await query).rows[0].seven, 7);
      assert.equal(await write, 1);
    } finally {
      client.release();
      await closePool(pool, 1000);
      await userPool.end();
    }
  });

  it('a migration of several statements runs as long as they need: the server says nothing until the last', async () => {
    const pool = createPool({ connectionString: db.url, statementTimeoutMs: 400 }); // watchdog at 1.4 s
    const client = await pool.connect();
    try {
      const sql = Array.from({ length: 6 }, () => 'SELECT pg_sleep(0.3);').join(' ');
      // As migrate() runs each migration; the same query watched is taken for silence.
      const started = Date.now();
      await withoutAnswerWatch(client, () => client.query(sql));
      assert.ok(Date.now() - started >= 1400, 'the whole query took longer than the bound');
      await assert.rejects(client.query(sql), isUnanswered);
    } finally {
      client.release(true);
      await closePool(pool, 1000);
    }
  });

  it('a query pg refuses before sending leaves no watchdog behind to end the idle connection', async () => {
    const pool = createPool({ connectionString: db.url, statementTimeoutMs: 100 }); // watchdog at 1.1 s
    try {
      const client = await pool.connect();
      assert.throws(() => client.query(null as unknown as string));
      await client.query('SELECT 1');
      client.release();
      await new Promise((resolve) => setTimeout(resolve, 1600));
      assert.equal(pool.idleCount, 1, 'the idle connection is still there');
      const again = await pool.connect();
      try {
        assert.equal(again, client, 'and is handed out again');
      } finally {
        again.release();
      }
    } finally {
      await closePool(pool, 1000);
    }
  });

  it('queries queued behind one that waits do not move its deadline; the dropped connection is reported by its callers only', async (t) => {
    const proxy = await startTcpProxy(db.url);
    const reported: string[] = [];
    const pool = createPool({
      connectionString: proxy.url,
      statementTimeoutMs: 200, // watchdog at 1.2 s
      onError: (error) => reported.push(error.message),
    });
    try {
      const client = await pool.connect();
      proxy.silence();
      const started = Date.now();
      const waiting = client.query('SELECT 1');
      const queued: Array<Promise<unknown>> = [];
      const more = setInterval(() => queued.push(client.query('SELECT 2').catch(() => undefined)), 200);
      await assert.rejects(waiting, isUnanswered);
      clearInterval(more);
      const tookMs = Date.now() - started;
      t.diagnostic(`the first query failed after ${tookMs} ms, ${queued.length} queued meanwhile`);
      assert.ok(tookMs < 3000, `the first query failed after ${tookMs} ms`);
      await Promise.all(queued);
      await new Promise((resolve) => setTimeout(resolve, 200)); // pg's "terminated" error follows
      client.release();
      assert.deepEqual(reported, []);
    } finally {
      await closePool(pool, 1000);
      await proxy.close();
    }
  });

  it("pipetel's own pool ends a connection whose query gets no answer, whatever ran it", async () => {
    const proxy = await startTcpProxy(db.url);
    const pool = createPool({
      connectionString: proxy.url,
      statementTimeoutMs: 200,
      connectionTimeoutMs: 500,
    });
    try {
      assert.equal((await pool.query('SELECT 1 AS one')).rows[0].one, 1);
      proxy.silence();
      const started = Date.now();
      // pool.query (callback form inside pg-pool) and a checked-out client's promise form.
      await assert.rejects(pool.query('SELECT 2'), isUnanswered);
      const client = await pool.connect().catch(() => undefined);
      assert.equal(client, undefined, 'a new connection to the silent server does not complete either');
      assert.ok(Date.now() - started < 60_000);
      proxy.resume();
      const fresh = await pool.connect();
      try {
        assert.equal((await fresh.query('SELECT 3 AS three')).rows[0].three, 3);
      } finally {
        fresh.release();
      }
    } finally {
      await closePool(pool, 1000);
      await proxy.close();
    }
  });
});
