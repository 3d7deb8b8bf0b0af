// Reading a YAML settings file. Syntax errors are reported as `file:line:column: YAML syntax
// error: <the parser's message>`, invalid values with the dotted key and the file and line they
// are on, so `pipetel config validate` points at the exact spot to fix.

import { readFileSync } from 'node:fs';
import { type Document, isMap, isScalar, LineCounter, type Node, parseDocument } from 'yaml';
import { type ConfigProblem, problem } from './ConfigError.js';
import type { PartialSettings } from './types.js';
import { checkPartial } from './validate.js';

export interface SettingsFile {
  settings: PartialSettings;
  problems: ConfigProblem[];
}

/** Reads, parses and validates one file. `key` names what pointed at it, for a missing file. */
export function readSettingsFile(path: string, key: string): SettingsFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : 'cannot read file';
    return {
      settings: {},
      problems: [
        problem({
          key,
          expected: 'a readable YAML file',
          got: path,
          text: `${reason}: ${path}${reason === 'cannot read file' ? ` (${(error as Error).message})` : ''}`,
        }),
      ],
    };
  }
  return parseSettings(text, path);
}

/** Parses YAML text (named `path` in messages) into validated settings. */
export function parseSettings(text: string, path: string): SettingsFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    return {
      settings: {},
      problems: doc.errors.map((error) => {
        const offset = error.pos[0];
        const { line, col } = lines.linePos(offset);
        const location = `${path}:${line}:${col}`;
        const reason = error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
        // Only a duplicate key is about a key; for any other syntax error the parser's position is
        // all that is known (the entry around it would name an unrelated or garbled key).
        const duplicate = error.code === 'DUPLICATE_KEY' ? keyAt(doc, offset) : undefined;
        return problem({
          key: duplicate ?? location,
          expected: 'valid YAML',
          got: reason,
          text: duplicate ? `YAML syntax error at ${location}: ${reason}` : `YAML syntax error: ${reason}`,
        });
      }),
    };
  }
  const locate = (keyPath: readonly string[]) => {
    const offset = offsetOf(doc, keyPath);
    return offset === undefined ? path : `${path}:${lines.linePos(offset).line}`;
  };
  const { settings, problems } = checkPartial(doc.toJS(), { source: path, locate });
  return { settings, problems };
}

function scalarKey(node: unknown): string | undefined {
  return isScalar(node) ? String(node.value) : undefined;
}

/** Offset of the deepest key of `keyPath` present in the document. */
function offsetOf(doc: Document, keyPath: readonly string[]): number | undefined {
  let node: unknown = doc.contents;
  let offset: number | undefined;
  for (const segment of keyPath) {
    if (!isMap(node)) break;
    const pair = node.items.find((item) => scalarKey(item.key) === segment);
    if (!pair) break;
    offset = (pair.key as Node).range?.[0] ?? offset;
    node = pair.value;
  }
  return offset;
}

/** Dotted key of the innermost mapping entry that starts at or before `offset`: the key near an error. */
function keyAt(doc: Document, offset: number): string | undefined {
  const path: string[] = [];
  let node: unknown = doc.contents;
  while (isMap(node)) {
    let found: { key: string; value: unknown } | undefined;
    for (const item of node.items) {
      const key = scalarKey(item.key);
      const start = (item.key as Node | null)?.range?.[0];
      if (key === undefined || start === undefined || start > offset) continue;
      found = { key, value: item.value };
    }
    if (!found) break;
    path.push(found.key);
    // Descend only while the error lies inside the entry's value, not past its end.
    const end = (found.value as Node | null)?.range?.[2];
    if (end === undefined || end < offset) break;
    node = found.value;
  }
  return path.length > 0 ? path.join('.') : undefined;
}
