// The spool's on-disk record format and its recovery. One record per line:
// `<crc32 hex8> <table> <copy-line>\n`, the checksum covering `<table> <copy-line>` as UTF-8. A COPY
// text line never holds a raw newline, so a line is a record; parsing skips corrupt lines in the
// middle and cuts back a torn tail, never losing a valid record that precedes the damage.

import { open } from 'node:fs/promises';
import zlib from 'node:zlib';

export interface SpoolRecord {
  table: string;
  /** The COPY text line, ending in '\n', exactly as the encoder produced it. */
  line: string;
}

export interface ParsedSegment {
  records: SpoolRecord[];
  /** Lines (or a torn fragment) that were skipped or cut back because they failed the checksum. */
  corrupt: number;
  /** Bytes up to the end of the last valid record: where a damaged tail is cut back to. */
  validLength: number;
  /** Total bytes parsed. */
  length: number;
}

const NEWLINE = 0x0a;
const SPACE = 0x20;
const CHECKSUM_CHARS = 8;
const TABLE_NAME = /^[a-z_][a-z0-9_]*$/;

/**
 * IEEE CRC-32 (the zlib one), continuing from `seed` (the CRC of what precedes `data`); node:zlib
 * has it natively since 20.15, older 20.x use the table.
 */
export const crc32: (data: string | Uint8Array, seed?: number) => number =
  typeof (zlib as { crc32?: unknown }).crc32 === 'function'
    ? (data, seed = 0) =>
        (zlib as unknown as { crc32(d: string | Uint8Array, s: number): number }).crc32(data, seed)
    : tableCrc32;

let crcTable: Uint32Array | undefined;

/** Table-driven CRC-32 (polynomial 0xEDB88320), the fallback for Node versions without zlib.crc32. */
export function tableCrc32(data: string | Uint8Array, seed = 0): number {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  crcTable ??= Uint32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let crc = (seed ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) crc = crcTable[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * The spool lines for one batch of COPY lines of one table, concatenated for a single write. The
 * checksum of `<table> ` is computed once and continued over each line (the journal of
 * spool.mode: always encodes every record, so this is on its path).
 */
export function encodeRecords(table: string, lines: readonly string[]): string {
  if (!TABLE_NAME.test(table)) throw new Error(`spool: invalid table name ${JSON.stringify(table)}`);
  const prefix = `${table} `;
  const seed = crc32(prefix);
  let out = '';
  for (const line of lines) {
    const body = line.endsWith('\n') ? line.slice(0, -1) : line;
    // A raw newline would split the record: the encoders escape them, so this is a programming error.
    if (body.includes('\n')) throw new Error(`spool: a ${table} COPY line holds a raw newline`);
    out += `${crc32(body, seed).toString(16).padStart(CHECKSUM_CHARS, '0')} ${prefix}${body}\n`;
  }
  return out;
}

/**
 * Every valid record of a segment, in order. A line that fails the format or the checksum is
 * skipped and counted; `validLength` ends at the last valid record, so whatever follows it — a
 * torn write, garbage, a line without its newline — is the part to cut back.
 */
export function parseSegment(data: Uint8Array): ParsedSegment {
  const records: SpoolRecord[] = [];
  let corrupt = 0;
  let pendingCorrupt = 0; // invalid lines since the last valid one: corrupt, and cut back if at the end
  let validLength = 0;
  let start = 0;
  while (start < data.length) {
    const newline = data.indexOf(NEWLINE, start);
    if (newline === -1) {
      pendingCorrupt++; // a torn last line: no newline ever made it to disk
      break;
    }
    const record = parseLine(data, start, newline);
    if (record) {
      records.push(record);
      corrupt += pendingCorrupt;
      pendingCorrupt = 0;
      validLength = newline + 1;
    } else {
      pendingCorrupt++;
    }
    start = newline + 1;
  }
  return { records, corrupt: corrupt + pendingCorrupt, validLength, length: data.length };
}

function parseLine(data: Uint8Array, start: number, end: number): SpoolRecord | undefined {
  if (end - start < CHECKSUM_CHARS + 4 || data[start + CHECKSUM_CHARS] !== SPACE) return undefined;
  const expected = parseHex(data, start, start + CHECKSUM_CHARS);
  if (expected === undefined) return undefined;
  const body = data.subarray(start + CHECKSUM_CHARS + 1, end);
  if (crc32(body) !== expected) return undefined;
  const space = body.indexOf(SPACE);
  if (space <= 0) return undefined;
  const table = Buffer.from(body.buffer, body.byteOffset, space).toString('latin1');
  if (!TABLE_NAME.test(table)) return undefined;
  const line = Buffer.from(body.buffer, body.byteOffset + space + 1, body.length - space - 1).toString(
    'utf8',
  );
  return { table, line: `${line}\n` };
}

/** Lower-case hex only, as encodeRecords writes it: anything else is corruption. */
function parseHex(data: Uint8Array, start: number, end: number): number | undefined {
  let value = 0;
  for (let i = start; i < end; i++) {
    const c = data[i]!;
    let digit: number;
    if (c >= 0x30 && c <= 0x39) digit = c - 0x30;
    else if (c >= 0x61 && c <= 0x66) digit = c - 0x61 + 10;
    else return undefined;
    value = value * 16 + digit;
  }
  return value;
}

/**
 * Reads a segment and cuts a damaged tail back to the last valid record, so the file ends on a
 * record boundary again (anything appended later starts a line of its own).
 */
export async function recoverSegment(path: string): Promise<ParsedSegment> {
  const handle = await open(path, 'r+');
  try {
    const data = await handle.readFile();
    const parsed = parseSegment(data);
    if (parsed.validLength < data.length) {
      await handle.truncate(parsed.validLength);
      await handle.datasync();
    }
    return parsed;
  } finally {
    await handle.close();
  }
}
