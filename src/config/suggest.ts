// "Did you mean …?": the closest valid name to a mistyped one, by edit distance, so a typo in a
// YAML file or an environment variable points straight at the key that was meant.

/** Levenshtein distance, case-insensitive (a wrong case is a one-character typo at most). */
export function editDistance(a: string, b: string): number {
  const left = a.toLowerCase();
  const right = b.toLowerCase();
  let previous = Array.from({ length: right.length + 1 }, (_, i) => i);
  for (let i = 1; i <= left.length; i++) {
    const current = [i];
    for (let j = 1; j <= right.length; j++) {
      const substitution = previous[j - 1]! + (left[i - 1] === right[j - 1] ? 0 : 1);
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution);
    }
    previous = current;
  }
  return previous[right.length]!;
}

/** Distances above this are not typos any more: a third of the name, at least 2. */
export function tolerance(name: string): number {
  return Math.max(2, Math.floor(name.length / 3));
}

/** The closest of `candidates` to `name`, or undefined when none is close enough. Ties keep list order. */
export function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const distance = editDistance(name, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= tolerance(name) ? best : undefined;
}
