import { propertyOptions } from '@eventsync/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonEquals } from './json-equals.js';

describe('jsonEquals', () => {
  it.each([
    [1, 1, true],
    [1, 2, false],
    ['a', 'a', true],
    [null, null, true],
    [null, {}, false],
    [Number.NaN, Number.NaN, true],
    [0, -0, false],
    [[1, [2]], [1, [2]], true],
    [[1, 2], [2, 1], false],
    [[1], { 0: 1 }, false],
    [{ a: 1, b: { c: [1] } }, { b: { c: [1] }, a: 1 }, true],
    [{ a: 1 }, { a: 1, b: 2 }, false],
    [{ a: undefined }, { b: undefined }, false],
    [Object.assign(Object.create(null) as object, { a: 1 }), { a: 1 }, true],
    [new Date(0), new Date(0), false],
  ])('compares %j and %j: %s', (a, b, expected) => {
    expect(jsonEquals(a, b)).toBe(expected);
    expect(jsonEquals(b, a)).toBe(expected);
  });

  it('holds for a value and its deep copy, and agrees with canonical JSON text', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
        expect(jsonEquals(a, structuredClone(a))).toBe(true);
        if (jsonEquals(a, b)) expect(JSON.stringify(sortKeys(a))).toBe(JSON.stringify(sortKeys(b)));
      }),
      propertyOptions(),
    );
  });
});

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([key, item]) => [key, sortKeys(item)]),
    );
  }
  return value;
}
