// Client-generated row ids: UUIDv7 (RFC 9562), time-ordered so btree inserts stay append-mostly,
// and strictly increasing within this process (RFC 9562 §6.2, method 1: a 12-bit counter in
// rand_a, started at a random value below 2^11 each millisecond; a clock that steps back or a
// counter that runs out borrows the next millisecond). Rows that share a timestamp therefore read
// back in the order they were written — `pipetel logs` orders by (timestamp, id), and OTel JS log
// times are often whole milliseconds. Random bits come from a pooled buffer refilled 4 KiB at a
// time, not one syscall per id.
//
// Every row of every table takes one, so the id is written as ASCII hex into one scratch buffer
// (the time digits only when the millisecond changes) and read out as one flat string: ~135 ns
// here, against ~850 ns for the same id built by string concatenation (a rope that the COPY
// encoder then had to flatten).

import { randomFillSync } from 'node:crypto';

const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let offset = POOL_SIZE;
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
/** xxxxxxxx-xxxx-7xxx-vxxx-xxxxxxxxxxxx; the dashes are never overwritten. */
const id = Buffer.alloc(36, '-', 'latin1');

let lastMs = -1;
let counter = 0;
/** The millisecond whose digits `id` holds in its first 13 characters. */
let writtenMs = -1;

function writeByte(at: number, byte: number): void {
  id[at] = HEX_DIGITS[byte >> 4]!;
  id[at + 1] = HEX_DIGITS[byte & 0xf]!;
}

function writeTime(ms: number): void {
  // 48 bits of milliseconds, 12 hex digits at 0–7 and 9–12 (above 2^32: no bit operators).
  let t = ms;
  for (let at = 12; at >= 0; at--) {
    if (at === 8) continue;
    id[at] = HEX_DIGITS[t % 16]!;
    t = Math.floor(t / 16);
  }
  writtenMs = ms;
}

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
  if (writtenMs !== lastMs) writeTime(lastMs);
  writeByte(14, 0x70 | (counter >> 8));
  writeByte(16, counter & 0xff);
  writeByte(19, 0x80 | (pool[r + 2]! & 0x3f));
  writeByte(21, pool[r + 3]!);
  for (let i = 0; i < 6; i++) writeByte(24 + 2 * i, pool[r + 4 + i]!);
  return id.toString('latin1', 0, 36);
}
