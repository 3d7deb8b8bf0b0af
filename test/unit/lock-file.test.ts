// The lock-file helper shared by the embedded server's lock, the file sink's renumbering lock and
// a spool's owner.lock: atomic creation, a live holder waited for, a dead one (or a later process
// with its pid) taken over, and the formats the code before the helper wrote still understood.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import {
  createLockFile,
  isHolderAlive,
  type LockOptions,
  parseLockHolder,
  readLockFile,
  withLockFile,
} from '../../exporters/shared/lockFile.js';
import { advanceUntilSettled, useMockClock } from '../helpers/mockClock.js';

let dir: string;
let live: ChildProcess;
let deadPid: number;
const hasProc = existsSync('/proc/self/stat');

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pipetel-lock-'));
  live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
  deadPid = spawnSync(process.execPath, ['-e', '']).pid!;
});

after(async () => {
  live.kill();
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
const lockPath = () => join(dir, `lock-${++n}`);
const jsonLock: LockOptions = { format: 'json', pollMs: 10, waitMs: 300, unreadableMs: 10_000 };
const pidLock: LockOptions = {
  format: 'pid',
  pollMs: 10,
  waitMs: 300,
  maxAgeMs: 30_000,
  unreadableMs: 30_000,
};

/**
 * Whether withLockFile got the lock (ran its body) within the options' waitMs. Given a test on
 * the mock clock (useMockClock), the wait passes in mock time while the files are real.
 */
async function acquires(path: string, options: LockOptions, t?: TestContext): Promise<boolean> {
  const attempt = (async () => {
    try {
      return await withLockFile(path, options, async () => {
        const holder = (await readLockFile(path))?.holder;
        assert.equal(holder?.pid, process.pid, 'the lock names its new holder');
        return true;
      });
    } catch (error) {
      assert.match(String(error), /timed out after 0 s waiting for .* \(held by .*\)/);
      return false;
    }
  })();
  if (t) await advanceUntilSettled(t, attempt, 60_000);
  return attempt;
}

/** Mock setTimeout and Date from now: lock ages compare Date.now() with the files' real mtimes. */
const mockClockFromNow = (t: TestContext) => useMockClock(t, Date.now());

describe('lock files', () => {
  it('are created atomically, once, in either format', async () => {
    const path = lockPath();
    assert.equal(await createLockFile(path), true);
    assert.equal(await createLockFile(path), false);
    const json = JSON.parse(await readFile(path, 'utf8'));
    assert.equal(json.pid, process.pid);
    assert.equal(json.host, hostname());
    assert.ok(Math.abs(Date.parse(json.createdAt) - Date.now()) < 5000);

    const pidPath = lockPath();
    assert.equal(await createLockFile(pidPath, { format: 'pid', mode: 0o666 }), true);
    assert.equal(await readFile(pidPath, 'utf8'), `${process.pid}\n`);

    const ownerPath = lockPath();
    await createLockFile(ownerPath, { timeField: 'startedAt', fields: { journal: true } });
    const owner = JSON.parse(await readFile(ownerPath, 'utf8'));
    assert.deepEqual(Object.keys(owner), ['pid', 'host', 'startedAt', 'journal']);
  });

  it('a stale holder (dead pid) is taken over, and the lock is gone after the body', async () => {
    const path = lockPath();
    await writeFile(
      path,
      JSON.stringify({ pid: deadPid, host: hostname(), createdAt: new Date().toISOString() }),
    );
    assert.equal(await acquires(path, jsonLock), true);
    assert.equal(existsSync(path), false);
    assert.equal(existsSync(`${path}.break`), false);

    const pidPath = lockPath();
    await writeFile(pidPath, `${deadPid}\n`);
    assert.equal(await acquires(pidPath, pidLock), true);
  });

  it('a live holder is respected, in either format, and on another host', async (t) => {
    mockClockFromNow(t);
    const path = lockPath();
    await writeFile(
      path,
      JSON.stringify({ pid: live.pid, host: hostname(), createdAt: new Date().toISOString() }),
    );
    assert.equal(await acquires(path, jsonLock, t), false);
    assert.equal(JSON.parse(await readFile(path, 'utf8')).pid, live.pid, 'left in place');

    const pidPath = lockPath();
    await writeFile(pidPath, `${live.pid}\n`);
    assert.equal(await acquires(pidPath, pidLock, t), false);

    const elsewhere = lockPath();
    await writeFile(elsewhere, JSON.stringify({ pid: deadPid, host: `not-${hostname()}`, createdAt: 'x' }));
    assert.equal(await acquires(elsewhere, jsonLock, t), false);
  });

  it('this process holding it counts as alive (two users in one process wait for each other)', async (t) => {
    mockClockFromNow(t);
    const path = lockPath();
    let inner: boolean | undefined;
    await withLockFile(path, jsonLock, async () => {
      inner = await acquires(path, jsonLock, t);
    });
    assert.equal(inner, false);
  });

  it('a later process with the holder pid is not the holder (pid reuse)', { skip: !hasProc }, async () => {
    const path = lockPath();
    const anHourAgo = new Date(Date.now() - 3600_000).toISOString();
    await writeFile(path, JSON.stringify({ pid: live.pid, host: hostname(), createdAt: anHourAgo }));
    assert.equal(await acquires(path, jsonLock), true);

    const pidPath = lockPath(); // the pid format's time is the file's mtime
    await writeFile(pidPath, `${live.pid}\n`);
    const then = new Date(Date.now() - 3600_000);
    await utimes(pidPath, then, then);
    assert.equal(await acquires(pidPath, { ...pidLock, maxAgeMs: undefined }), true);
  });

  it('a lock naming no one yet (being written) waits, then is stale; a too-old one is stale whoever holds it', async (t) => {
    mockClockFromNow(t);
    const path = lockPath();
    await writeFile(path, '');
    assert.equal(await acquires(path, jsonLock, t), false);
    const old = new Date(Date.now() - 11_000);
    await utimes(path, old, old);
    assert.equal(await acquires(path, jsonLock), true);

    const pidPath = lockPath();
    await writeFile(pidPath, `${live.pid}\n`);
    const older = new Date(Date.now() - 31_000);
    await utimes(pidPath, older, older);
    assert.equal(await acquires(pidPath, pidLock), true);
  });

  it('reads the locks written before the helper, and writes what those readers understood', async () => {
    const mtime = 1_700_000_000_000;
    // The embedded server's lock: JSON without a newline.
    const embedded = JSON.stringify({ pid: 4242, host: 'h', createdAt: '2024-01-02T03:04:05.000Z' });
    assert.deepEqual(parseLockHolder(embedded, mtime), {
      pid: 4242,
      host: 'h',
      takenMs: Date.parse('2024-01-02T03:04:05.000Z'),
    });
    // The file sink's lock: the pid and a newline.
    assert.deepEqual(parseLockHolder('4242\n', mtime), { pid: 4242, host: undefined, takenMs: mtime });
    assert.equal(parseLockHolder('42', mtime), undefined, 'a pid still being written names no one');
    // A spool's owner.lock: JSON with startedAt, the target, and a newline.
    const owner = `${JSON.stringify({ pid: 4242, host: 'h', startedAt: '2024-01-02T03:04:05.000Z', target: {} })}\n`;
    assert.equal(parseLockHolder(owner, mtime)?.takenMs, Date.parse('2024-01-02T03:04:05.000Z'));
    assert.equal(parseLockHolder('{"pid":', mtime), undefined);

    // The readers before the helper: the embedded lock JSON.parse'd {pid, host}, the file sink's
    // Number.parseInt'd the pid, the synchronizer read owner.lock's host.
    const jsonPath = lockPath();
    await createLockFile(jsonPath);
    const parsed = JSON.parse(await readFile(jsonPath, 'utf8'));
    assert.equal(typeof parsed.pid, 'number');
    assert.equal(parsed.host, hostname());
    const pidPath = lockPath();
    await createLockFile(pidPath, { format: 'pid' });
    assert.equal(Number.parseInt(await readFile(pidPath, 'utf8'), 10), process.pid);
  });

  it('a holder is alive exactly while its process runs', () => {
    const now = Date.now();
    assert.equal(isHolderAlive({ pid: process.pid, host: undefined, takenMs: now }), true);
    assert.equal(isHolderAlive({ pid: live.pid!, host: hostname(), takenMs: now }), true);
    assert.equal(isHolderAlive({ pid: deadPid, host: hostname(), takenMs: now }), false);
    assert.equal(isHolderAlive({ pid: deadPid, host: `not-${hostname()}`, takenMs: now }), true);
  });
});
