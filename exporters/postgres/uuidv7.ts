// Client-generated row ids: UUIDv7 (RFC 9562), time-ordered so btree inserts stay append-mostly.
// Random bits come from a pooled buffer refilled 4 KiB at a time, not one syscall per id.

import { randomFillSync } from 'node:crypto';

const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let offset = POOL_SIZE;
const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function uuidv7(nowMs: number = Date.now()): string {
  if (offset + 10 > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const r = offset;
  offset += 10;
  const time = nowMs.toString(16).padStart(12, '0').slice(-12);
  const version = HEX[0x70 | (pool[r]! & 0x0f)]! + HEX[pool[r + 1]!]!;
  const variant = HEX[0x80 | (pool[r + 2]! & 0x3f)]! + HEX[pool[r + 3]!]!;
  let tail = '';
  for (let i = r + 4; i < r + 10; i++) tail += HEX[pool[i]!]!;
  return `${time.slice(0, 8)}-${time.slice(8)}-${version}-${variant}-${tail}`;
}
