// Client-generated row ids: UUIDv7 (RFC 9562), time-ordered so btree inserts stay append-mostly,
// and strictly increasing within this process (RFC 9562 §6.2, method 1: a 12-bit counter in
// rand_a, started at a random value below 2^11 each millisecond; a clock that steps back or a
// counter that runs out borrows the next millisecond). Rows that share a timestamp therefore read
// back in the order they were written — `pipetel logs` orders by (timestamp, id), and OTel JS log
// times are often whole milliseconds. Random bits come from a pooled buffer refilled 4 KiB at a
// time, not one syscall per id.

import { randomFillSync } from 'node:crypto';

const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let offset = POOL_SIZE;
const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

let lastMs = -1;
let counter = 0;

export function uuidv7(nowMs: number = Date.now()): string {
  if (offset + 10 > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const r = offset;
  offset += 10;
  if (nowMs > lastMs) {
    lastMs = nowMs;
    counter = ((pool[r]! & 0x07) << 8) | pool[r + 1]!; // below 2^11: room to count up
  } else if (++counter > 0xfff) {
    lastMs += 1;
    counter = 0;
  }
  const time = lastMs.toString(16).padStart(12, '0').slice(-12);
  const version = HEX[0x70 | (counter >> 8)]! + HEX[counter & 0xff]!;
  const variant = HEX[0x80 | (pool[r + 2]! & 0x3f)]! + HEX[pool[r + 3]!]!;
  let tail = '';
  for (let i = r + 4; i < r + 10; i++) tail += HEX[pool[i]!]!;
  return `${time.slice(0, 8)}-${time.slice(8)}-${version}-${variant}-${tail}`;
}
