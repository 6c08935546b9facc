import { propertyOptions } from '@eventsync/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fnv1a, PersistentMap } from './persistent-map.js';

type Op = { readonly set: string; readonly value: number } | { readonly delete: string };

const keys = fc.constantFrom(...Array.from({ length: 40 }, (_, i) => `k${i}`), '', 'ünï', '__proto__');
const ops = fc.array(
  fc.oneof(fc.record({ set: keys, value: fc.integer({ min: 0, max: 3 }) }), fc.record({ delete: keys })),
  { maxLength: 120 },
);

const hashes: [string, (key: string) => number][] = [
  ['FNV-1a', fnv1a],
  ['a hash that collides a lot', (key) => key.length % 3],
  ['a hash that shares long prefixes', (key) => (fnv1a(key) & 0b11) << 30],
];

function apply(map: PersistentMap<number>, model: Map<string, number>, op: Op): PersistentMap<number> {
  if ('set' in op) {
    model.set(op.set, op.value);
    return map.set(op.set, op.value);
  }
  model.delete(op.delete);
  return map.delete(op.delete);
}

describe('PersistentMap', () => {
  it.each(hashes)('behaves like a Map and leaves older versions untouched (%s)', (_name, hash) => {
    fc.assert(
      fc.property(ops, ops, (first, second) => {
        const model = new Map<string, number>();
        let map = PersistentMap.empty<number>(hash);
        for (const op of first) map = apply(map, model, op);
        const snapshot = new Map(model);
        const old = map;
        for (const op of second) map = apply(map, model, op);
        for (const [version, expected] of [
          [old, snapshot],
          [map, model],
        ] as const) {
          expect(version.size).toBe(expected.size);
          expect(new Map(version.entries())).toEqual(expected);
          for (const key of ['k0', 'k1', 'k39', '', '__proto__', 'absent']) {
            expect(version.get(key)).toBe(expected.get(key));
            expect(version.has(key)).toBe(expected.has(key));
          }
        }
      }),
      propertyOptions(),
    );
  });

  it.each(hashes)('diffs two versions exactly (%s)', (_name, hash) => {
    fc.assert(
      fc.property(ops, ops, (first, second) => {
        let before = PersistentMap.empty<number>(hash);
        const beforeModel = new Map<string, number>();
        for (const op of first) before = apply(before, beforeModel, op);
        let after = before;
        const afterModel = new Map(beforeModel);
        for (const op of second) after = apply(after, afterModel, op);
        const seen: string[] = [];
        before.diff(after, (key, change) => seen.push(`${change.type} ${key} ${change.before} ${change.after}`));
        const expected: string[] = [];
        for (const [key, value] of afterModel) {
          if (!beforeModel.has(key)) expected.push(`added ${key} undefined ${value}`);
          else if (beforeModel.get(key) !== value) expected.push(`changed ${key} ${beforeModel.get(key)} ${value}`);
        }
        for (const [key, value] of beforeModel) {
          if (!afterModel.has(key)) expected.push(`removed ${key} ${value} undefined`);
        }
        expect(seen.sort()).toEqual(expected.sort());
      }),
      propertyOptions(),
    );
  });

  it('returns the same map for a set that changes nothing and a delete of an absent key', () => {
    const map = PersistentMap.empty<object>().set('a', { n: 1 });
    const value = map.get('a') as object;
    expect(map.set('a', value)).toBe(map);
    expect(map.delete('b')).toBe(map);
    expect(map.set('a', { n: 1 })).not.toBe(map);
  });

  it('diffs only what changed in a large map', () => {
    let map = PersistentMap.empty<number>();
    for (let i = 0; i < 10_000; i++) map = map.set(`key-${i}`, i);
    const next = map.set('key-5', -5).delete('key-7').set('new', 1);
    const seen: string[] = [];
    map.diff(next, (key, change) => seen.push(`${change.type} ${key}`));
    expect(seen.sort()).toEqual(['added new', 'changed key-5', 'removed key-7']);
  });
});
