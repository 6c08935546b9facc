/**
 * Structural equality of JSON values: primitives by `Object.is` (so `NaN` equals itself and `0` does
 * not equal `-0`), arrays item by item, plain objects key by key whatever their key order. Anything
 * else (a `Map`, a `Date`, a class instance) equals only itself. The default `equals` of watches.
 *
 * @example
 * ```ts
 * jsonEquals({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] }); // true
 * jsonEquals({ a: 1, b: 2 }, { b: 2, a: 1 }); // true
 * jsonEquals({ a: undefined }, {}); // false: the keys differ
 * ```
 */
export function jsonEquals(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEquals(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b) || !isPlainObject(a) || !isPlainObject(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const key of keys) {
    if (!Object.hasOwn(b, key) || !jsonEquals(a[key], b[key])) return false;
  }
  return true;
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}
