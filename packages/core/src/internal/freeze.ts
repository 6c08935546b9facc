/**
 * A deep copy of a JSON value, frozen at every level: what a store keeps, so neither the caller that
 * gave it nor one that reads it back can change what is stored. (`__proto__` keys stay plain data:
 * `structuredClone` copies them as own properties.)
 */
export function frozenCopy<T>(value: T): T {
  return deepFreeze(structuredClone(value));
}

/** Freezes a JSON value in place, at every level (a subtree frozen already is left as it is). */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}
