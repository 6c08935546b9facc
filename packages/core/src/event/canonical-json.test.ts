import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, sameEventContent } from './canonical-json.js';
import type { Event } from './event.js';
import { propertyOptions as seededProperties } from '@eventsync/testkit';

const propertyOptions = seededProperties();

/** The same value with the keys of every object written in reverse order. */
function reverseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeys);
  if (value === null || typeof value !== 'object') return value;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value).reverse()) {
    Object.defineProperty(copy, key, {
      value: reverseKeys((value as Record<string, unknown>)[key]),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return copy;
}

/** Deep equality of JSON values, blind to key order: written out here so the test does not use the code it checks. */
function sameJson(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, i) => sameJson(item, b[i]));
  }
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return a === b;
  const [left, right] = [a as Record<string, unknown>, b as Record<string, unknown>];
  const keys = Object.keys(left);
  return (
    keys.length === Object.keys(right).length &&
    keys.every((key) => Object.prototype.hasOwnProperty.call(right, key) && sameJson(left[key], right[key]))
  );
}

function event(overrides: Partial<Event> = {}, metadata: Partial<Event['metadata']> = {}): Event {
  return {
    id: '01JDQ7Z8X9ABCDEFGHJKMNPQRS',
    type: 'todo.added',
    aggregateId: 'todo-1',
    data: { title: 'Milk', tags: ['a', 'b'], meta: { x: 1, y: 2 } },
    ...overrides,
    metadata: { timestamp: '2026-11-24T18:40:15.123Z-00000000-phone-1', clientId: 'phone-1', ...metadata },
  };
}

describe('canonicalJson', () => {
  it('sorts object keys at every depth', () => {
    expect(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[{"y":2,"z":1}]},"b":1}',
    );
  });

  it('gives the same string whatever order keys were written in', () => {
    expect(canonicalJson({ a: 1, b: { c: 2, d: 3 } })).toBe(canonicalJson({ b: { d: 3, c: 2 }, a: 1 }));
  });

  it('keeps the order of array items', () => {
    expect(canonicalJson([2, 1])).not.toBe(canonicalJson([1, 2]));
  });

  it('writes primitives as JSON does', () => {
    expect(canonicalJson('x')).toBe('"x"');
    expect(canonicalJson(1.5)).toBe('1.5');
    expect(canonicalJson(null)).toBe('null');
    expect(canonicalJson(true)).toBe('true');
  });

  it('keeps a __proto__ key as data', () => {
    const value = JSON.parse('{"b":1,"__proto__":{"x":1}}') as unknown;
    expect(canonicalJson(value)).toBe('{"__proto__":{"x":1},"b":1}');
  });

  it('does not depend on key order, for any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => canonicalJson(reverseKeys(value)) === canonicalJson(value)),
      propertyOptions,
    );
  });

  it('round-trips any JSON value through JSON.parse', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => canonicalJson(JSON.parse(canonicalJson(value))) === canonicalJson(value)),
      propertyOptions,
    );
  });

  it('gives equal strings exactly for equal values', () => {
    const normal = (value: unknown): unknown => JSON.parse(JSON.stringify(value));
    const pair = fc.oneof(
      fc.tuple(fc.jsonValue(), fc.jsonValue()),
      fc.jsonValue().map((value) => [value, reverseKeys(value)] as const),
    );
    fc.assert(
      fc.property(pair, ([a, b]) => (canonicalJson(a) === canonicalJson(b)) === sameJson(normal(a), normal(b))),
      propertyOptions,
    );
  });
});

describe('sameEventContent', () => {
  it('holds for an event and itself', () => {
    expect(sameEventContent(event(), event())).toBe(true);
  });

  it('holds whatever order the keys were written in', () => {
    const reordered = reverseKeys(event()) as Event;
    expect(Object.keys(reordered)[0]).toBe('metadata');
    expect(sameEventContent(event(), reordered)).toBe(true);
  });

  it('ignores baseVersion, which a rebase moves', () => {
    expect(sameEventContent(event({}, { baseVersion: '1' }), event({}, { baseVersion: '7' }))).toBe(true);
    expect(sameEventContent(event(), event({}, { baseVersion: '7' }))).toBe(true);
  });

  it('ignores tenant, which the server assigns', () => {
    expect(sameEventContent(event(), event({}, { tenant: 'acme' }))).toBe(true);
    expect(sameEventContent(event({}, { tenant: 'other' }), event({}, { tenant: 'acme' }))).toBe(true);
  });

  it.each<[string, Event]>([
    ['another id', event({ id: '01JDQ7Z8X9ABCDEFGHJKMNPQRT' })],
    ['another type', event({ type: 'todo.removed' })],
    ['another aggregate', event({ aggregateId: 'todo-2' })],
    ['other data', event({ data: { title: 'Bread', tags: ['a', 'b'], meta: { x: 1, y: 2 } } })],
    ['data items in another order', event({ data: { title: 'Milk', tags: ['b', 'a'], meta: { x: 1, y: 2 } } })],
    ['a nested data change', event({ data: { title: 'Milk', tags: ['a', 'b'], meta: { x: 1, y: 3 } } })],
    ['another client', event({}, { clientId: 'laptop' })],
    ['another timestamp', event({}, { timestamp: '2026-11-24T18:40:15.124Z-00000000-phone-1' })],
    ['another schemaVersion', event({}, { schemaVersion: 2 })],
    ['other application metadata', event({}, { device: 'ios' })],
  ])('does not hold for %s', (_name, other) => {
    expect(sameEventContent(event(), other)).toBe(false);
    expect(sameEventContent(other, event())).toBe(false);
  });
});
