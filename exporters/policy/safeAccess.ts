// Defensive reads and writes on values that came from user code: a getter or proxy that throws,
// a `__proto__` key from parsed JSON, an object whose toString throws. Shared by the logger's
// sanitizer, the exporters' row sanitizer and printf formatting.

/** Plain data object: prototype Object.prototype or null (not an array, Error, Date or class instance). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** A property, or '[Unreadable]' when its getter (or a proxy trap) throws. */
export function readProperty(source: object, key: string): unknown {
  try {
    return (source as Record<string, unknown>)[key];
  } catch {
    return '[Unreadable]';
  }
}

/** Assigns without letting a `__proto__` key replace the target's prototype. */
export function setKey(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

/** String(value), or '[Unprintable]' when that throws. */
export function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return '[Unprintable]';
  }
}
