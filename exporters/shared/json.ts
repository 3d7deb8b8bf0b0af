// The one cycle-safe JSON.stringify replacer, for the few places that serialize values the policy
// has not seen (pipetel's %j format, and the sinks' last line of defence). Kept by hand rather than
// taken from safe-stable-stringify: that library sorts keys and writes BigInt as a bare number,
// while these callers need JSON.stringify's own output for everything else (key order, toJSON).

/**
 * A replacer that writes BigInt as a string and a reference back to an enclosing object as
 * '[Circular]'; an object shared by two siblings is not a cycle and is written twice.
 */
export function cycleSafeReplacer(): (this: unknown, key: string, value: unknown) => unknown {
  const ancestors: unknown[] = [];
  return function (this: unknown, _key: string, value: unknown): unknown {
    if (typeof value === 'bigint') return value.toString();
    if (typeof value !== 'object' || value === null) return value;
    // `this` holds `value`: what was entered after it belongs to finished siblings.
    while (ancestors.length > 0 && ancestors[ancestors.length - 1] !== this) ancestors.pop();
    if (ancestors.includes(value)) return '[Circular]';
    ancestors.push(value);
    return value;
  };
}

/**
 * JSON text of any value: plain JSON.stringify first (almost every value), then with
 * cycleSafeReplacer (cycles, BigInt); `fallback` when even that throws (a throwing getter or
 * toJSON, nesting deeper than the stack). `onRetry` is told when the plain attempt failed.
 */
export function stringifySafely(value: unknown, fallback: string, onRetry?: () => void): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    onRetry?.();
  }
  try {
    return JSON.stringify(value, cycleSafeReplacer());
  } catch {
    return fallback;
  }
}
