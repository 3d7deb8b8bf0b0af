// From an attribute set to its series cell without hashing it: a trie walked key, value, key,
// value in the object's own enumeration order. Each node remembers the last step taken from it,
// so a loop that records the same attribute values call after call compares two interned strings
// per attribute and touches no Map; other steps cost two Map lookups. Sets that differ only in key
// order get two cells that point at the same SDK series, which is harmless: the cell only caches
// what the SDK resolved with its canonical hash.

import type { Attributes } from '@opentelemetry/api';
import type { Accumulation } from './sdkMetricCells.js';

/**
 * One attribute set's cached SDK accumulation, valid while `generation` is its instrument's current
 * one (a number, not the SDK's map itself: a cell left unused must not keep a whole old map alive).
 */
export class SeriesCell {
  generation = -1;
  accumulation: Accumulation | undefined = undefined;
}

type AttributeValue = string | number | boolean;

class TrieNode {
  cell: SeriesCell | undefined = undefined;
  children: Map<string, Map<AttributeValue, TrieNode>> | undefined = undefined;
  /** The last step taken from this node: the common case in a loop is the same step again. */
  lastKey: string | undefined = undefined;
  lastValue: AttributeValue | undefined = undefined;
  lastChild: TrieNode | undefined = undefined;
}

/** Object.prototype.hasOwnProperty: inside for-in, V8 reduces this exact call to a map check. */
const hasOwn = Object.prototype.hasOwnProperty;

/** Bounds the trie of one instrument; past it, calls use the SDK path (which has its own limit). */
const MAX_NODES = 4096;

export class SeriesCache {
  private readonly root = new TrieNode();
  private nodes = 1;

  /**
   * The cell for these attributes, or undefined when the set is not cacheable: values other than
   * strings, numbers and booleans, objects not made by Object (classes, null prototype, an own
   * `constructor` key), inherited enumerable keys, or a full trie.
   */
  cellFor(attributes: Attributes | undefined): SeriesCell | undefined {
    let node: TrieNode | undefined = this.root;
    if (attributes !== undefined) {
      if (attributes === null || attributes.constructor !== Object) return undefined;
      for (const key in attributes) {
        // for-in also walks inherited enumerable keys, which the SDK's hash (own keys) ignores: an
        // enumerable key on Object.prototype sends every call through the SDK instead.
        if (!hasOwn.call(attributes, key)) return undefined;
        const value = attributes[key];
        node =
          node.lastKey === key && node.lastValue === value ? node.lastChild! : this.step(node, key, value);
        if (node === undefined) return undefined;
      }
    }
    return node.cell ?? this.newCell(node);
  }

  /** A step the node did not take last time: look it up (or grow the trie) and remember it. */
  private step(node: TrieNode, key: string, value: unknown): TrieNode | undefined {
    const type = typeof value;
    if (type !== 'string' && type !== 'number' && type !== 'boolean') return undefined;
    const child = this.child(node, key, value as AttributeValue);
    if (child === undefined) return undefined;
    node.lastKey = key;
    node.lastValue = value as AttributeValue;
    node.lastChild = child;
    return child;
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

  private newCell(node: TrieNode): SeriesCell {
    node.cell = new SeriesCell();
    return node.cell;
  }
}
