// From an attribute set to its series cell without hashing it: a trie walked key, value, key,
// value in the object's own enumeration order, two Map lookups per attribute on interned strings.
// Sets that differ only in key order get two cells that point at the same SDK series, which is
// harmless: the cell only caches what the SDK resolved with its canonical hash.

import type { Attributes } from '@opentelemetry/api';
import type { Accumulation, ActiveSeries } from './sdkMetricCells.js';

/** One attribute set's cached SDK accumulation, valid while `series` is the SDK's active map. */
export class SeriesCell {
  series: ActiveSeries | undefined = undefined;
  accumulation: Accumulation | undefined = undefined;
}

type AttributeValue = string | number | boolean;

class TrieNode {
  cell: SeriesCell | undefined = undefined;
  children: Map<string, Map<AttributeValue, TrieNode>> | undefined = undefined;
}

/** Bounds the trie of one instrument; past it, calls use the SDK path (which has its own limit). */
const MAX_NODES = 4096;

export class SeriesCache {
  private readonly root = new TrieNode();
  private nodes = 1;

  /**
   * The cell for these attributes, or undefined when the set is not cacheable: values other than
   * strings, numbers and booleans, objects that are not plain (inherited keys would enumerate),
   * or a full trie.
   */
  cellFor(attributes: Attributes | undefined): SeriesCell | undefined {
    let node: TrieNode | undefined = this.root;
    if (attributes !== undefined) {
      if (attributes === null || attributes.constructor !== Object) return undefined;
      for (const key in attributes) {
        const value = attributes[key];
        const type = typeof value;
        if (type !== 'string' && type !== 'number' && type !== 'boolean') return undefined;
        node = this.child(node, key, value as AttributeValue);
        if (node === undefined) return undefined;
      }
    }
    if (node.cell === undefined) node.cell = new SeriesCell();
    return node.cell;
  }

  private child(node: TrieNode, key: string, value: AttributeValue): TrieNode | undefined {
    const byValue = node.children?.get(key);
    const existing = byValue?.get(value);
    if (existing !== undefined) return existing;
    if (this.nodes >= MAX_NODES) return undefined;
    this.nodes++;
    const created = new TrieNode();
    node.children ??= new Map();
    if (byValue) byValue.set(value, created);
    else node.children.set(key, new Map([[value, created]]));
    return created;
  }
}
