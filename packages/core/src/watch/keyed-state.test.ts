import { describe, expect, it } from 'vitest';
import { KeyedState } from './keyed-state.js';

describe('KeyedState', () => {
  it('sets, reads, updates and deletes entries by kind and key without changing older states', () => {
    const empty = KeyedState.empty<number>();
    const one = empty.set('todos', 't1', 1);
    const two = one.set('todos', 't2', 2).set('tags', 't1', 10);
    const changed = two.update('todos', 't1', (value) => (value ?? 0) + 100).delete('todos', 't2');
    expect(empty.size).toBe(0);
    expect(one.toJSON()).toEqual({ todos: { t1: 1 } });
    expect(two.toJSON()).toEqual({ todos: { t1: 1, t2: 2 }, tags: { t1: 10 } });
    expect(changed.toJSON()).toEqual({ todos: { t1: 101 }, tags: { t1: 10 } });
    expect([two.size, two.count('todos'), two.count('tags'), two.count('none')]).toEqual([3, 2, 1, 0]);
    expect([two.get('tags', 't1'), two.has('tags', 't2'), two.get('none', 'x')]).toEqual([10, false, undefined]);
    expect([...two.kinds()].sort()).toEqual(['tags', 'todos']);
    expect([...two.entries('todos')].map((entry) => entry.key).sort()).toEqual(['t1', 't2']);
    expect(changed.update('tags', 't1', () => undefined).toJSON()).toEqual({ todos: { t1: 101 } });
    expect(changed.delete('todos', 't1').delete('tags', 't1').size).toBe(0);
  });

  it('returns the same state for changes that change nothing', () => {
    const value = { title: 'x' };
    const state = KeyedState.empty<object>().set('todos', 't1', value);
    expect(state.set('todos', 't1', value)).toBe(state);
    expect(state.delete('todos', 'absent')).toBe(state);
    expect(state.delete('absent', 't1')).toBe(state);
  });

  it('keeps __proto__ kinds and keys as plain data', () => {
    const state = KeyedState.empty<number>().set('__proto__', '__proto__', 1);
    expect(state.get('__proto__', '__proto__')).toBe(1);
    expect(Object.getPrototypeOf(state.toJSON())).toBe(Object.prototype);
    expect(JSON.stringify(state)).toBe('{"__proto__":{"__proto__":1}}');
  });

  it('diffs two states entry by entry, across kinds that appear and disappear', () => {
    const before = KeyedState.empty<number>().set('a', 'x', 1).set('a', 'y', 2).set('gone', 'z', 3);
    const after = before.set('a', 'x', 10).delete('gone', 'z').set('new', 'w', 4);
    const seen: string[] = [];
    before.diff(after, (kind, key, from, to) => seen.push(`${kind}/${key} ${from?.value} -> ${to?.value}`));
    expect(seen.sort()).toEqual(['a/x 1 -> 10', 'gone/z 3 -> undefined', 'new/w undefined -> 4']);
  });
});
