import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SyncError } from '../errors/sync-error.js';
import { CursorVersion } from './cursor-version.js';
import { VectorClock } from './vector-clock.js';
import { catchSyncError, propertyOptions as seededProperties } from '@eventsync/testkit';

const propertyOptions = seededProperties();

// Few nodes and small counters, so that before, after, equal and concurrent all come up often.
const clockArbitrary = fc
  .record({ a: fc.nat(3), b: fc.nat(3), c: fc.nat(3), 'node-d': fc.nat(2) }, { requiredKeys: [] })
  .map((counters) => VectorClock.from(counters));

/** a ≤ b in happened-before-or-equal. */
function beforeOrEqual(a: VectorClock, b: VectorClock): boolean {
  const relation = a.relation(b);
  return relation === 'before' || relation === 'equal';
}

describe('VectorClock', () => {
  it('starts at zero with the empty string form', () => {
    const zero = VectorClock.zero();
    expect(zero.isZero()).toBe(true);
    expect(zero.toString()).toBe('{}');
    expect(zero.nodes()).toEqual([]);
    expect(zero.get('anyone')).toBe(0);
  });

  it('counts increments per node and leaves the original unchanged', () => {
    const zero = VectorClock.zero();
    const clock = zero.increment('bob').increment('alice').increment('bob');
    expect(clock.get('alice')).toBe(1);
    expect(clock.get('bob')).toBe(2);
    expect(clock.isZero()).toBe(false);
    expect(zero.isZero()).toBe(true);
    expect(clock.toObject()).toEqual({ alice: 1, bob: 2 });
  });

  it('lists nodes sorted in its string form', () => {
    const clock = VectorClock.zero().increment('zed').increment('amy').increment('mo').increment('amy');
    expect(clock.toString()).toBe('{amy=2,mo=1,zed=1}');
    expect(clock.nodes()).toEqual(['amy', 'mo', 'zed']);
  });

  it('drops zero counters when built from an object', () => {
    expect(VectorClock.from({ a: 0, b: 2 }).toString()).toBe('{b=2}');
  });

  it('merges to the entry-wise maximum', () => {
    const merged = VectorClock.from({ a: 3, b: 1 }).merge(VectorClock.from({ b: 4, c: 2 }));
    expect(merged.toObject()).toEqual({ a: 3, b: 4, c: 2 });
    expect(merged.toString()).toBe('{a=3,b=4,c=2}');
  });

  it('tells before, after, equal and concurrent apart', () => {
    const base = VectorClock.from({ a: 1 });
    const later = base.increment('b');
    const other = base.increment('c');
    expect(base.relation(later)).toBe('before');
    expect(later.relation(base)).toBe('after');
    expect(later.relation(VectorClock.parse('{a=1,b=1}'))).toBe('equal');
    expect(later.relation(other)).toBe('concurrent');
    expect(base.happenedBefore(later)).toBe(true);
    expect(later.happenedBefore(base)).toBe(false);
    expect(base.happenedBefore(base)).toBe(false);
    expect(later.concurrentWith(other)).toBe(true);
    expect(other.concurrentWith(later)).toBe(true);
    expect(later.concurrentWith(base)).toBe(false);
    expect(later.equals(VectorClock.from({ b: 1, a: 1 }))).toBe(true);
    expect(later.equals(other)).toBe(false);
  });

  it('puts the zero clock before every other clock', () => {
    expect(VectorClock.zero().happenedBefore(VectorClock.from({ x: 1 }))).toBe(true);
    expect(VectorClock.zero().compare(VectorClock.from({ x: 1 }))).toBe(-1);
  });

  it('orders concurrent clocks by their sum, then by string form', () => {
    const small = VectorClock.from({ a: 1 });
    const big = VectorClock.from({ b: 2 });
    expect(small.compare(big)).toBe(-1);
    expect(big.compare(small)).toBe(1);
    const left = VectorClock.from({ a: 2 });
    const right = VectorClock.from({ b: 2 });
    expect(left.compare(right)).toBe(-1);
    expect(right.compare(left)).toBe(1);
  });

  it('refuses to compare with another kind of version', () => {
    catchSyncError(() => VectorClock.zero().compare(CursorVersion.ZERO), 'invalid_input');
    expect(VectorClock.zero().equals(CursorVersion.ZERO)).toBe(false);
  });

  it('parses its own string form', () => {
    const clock = VectorClock.parse('{a=2,b.c=1,node:9_x-1=12}');
    expect(clock.toObject()).toEqual({ a: 2, 'b.c': 1, 'node:9_x-1': 12 });
    expect(clock.toString()).toBe('{a=2,b.c=1,node:9_x-1=12}');
    expect(VectorClock.parse('{}').isZero()).toBe(true);
  });

  it('serialises to its string form in JSON', () => {
    expect(JSON.stringify([VectorClock.from({ a: 1 })])).toBe('["{a=1}"]');
  });

  it.each([
    ['unsorted nodes', '{b=1,a=1}'],
    ['duplicate nodes', '{a=1,a=2}'],
    ['a zero counter', '{a=0}'],
    ['a counter with a leading zero', '{a=01}'],
    ['a negative counter', '{a=-1}'],
    ['a fractional counter', '{a=1.5}'],
    ['a counter past MAX_SAFE_INTEGER', '{a=9007199254740993}'],
    ['a missing counter', '{a=}'],
    ['a missing node', '{=1}'],
    ['a node with a space', '{a b=1}'],
    ['a node with a slash', '{a/b=1}'],
    ['a node past 128 characters', `{${'n'.repeat(129)}=1}`],
    ['a trailing comma', '{a=1,}'],
    ['an empty entry', '{,}'],
    ['spaces around entries', '{ a=1 }'],
    ['no opening brace', 'a=1}'],
    ['no closing brace', '{a=1'],
    ['no braces', 'a=1'],
    ['the empty string', ''],
    ['JSON', '{"a":1}'],
  ])('refuses %s when parsing', (_name, text) => {
    const error = catchSyncError(() => VectorClock.parse(text), 'invalid_input');
    expect(error.details.field).toBe('version');
  });

  it.each([
    ['a number', 1],
    ['null', null],
    ['a bigint', 1n],
  ])('refuses %s instead of a string when parsing', (_name, value) => {
    catchSyncError(() => VectorClock.parse(value as unknown as string), 'invalid_input');
  });

  it.each([
    ['the empty node id', ''],
    ['a node id with a space', 'a b'],
    ['a node id with "="', 'a=b'],
    ['a node id with ","', 'a,b'],
    ['a node id past 128 characters', 'n'.repeat(129)],
  ])('refuses %s', (_name, node) => {
    catchSyncError(() => VectorClock.zero().increment(node), 'invalid_input');
    catchSyncError(() => VectorClock.from({ [node]: 1 }), 'invalid_input');
  });

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])(
    'refuses the counter %s when built from an object',
    (counter) => {
      catchSyncError(() => VectorClock.from({ a: counter }), 'invalid_input');
    },
  );

  it.each([0, -1, 1.5, Number.NaN])('refuses maxNodes %s', (maxNodes) => {
    const error = catchSyncError(() => VectorClock.zero({ maxNodes }), 'invalid_input');
    expect(error.details.field).toBe('maxNodes');
  });

  describe('the maxNodes bound', () => {
    const expectLimit = (error: SyncError, max: number, actual: number): void => {
      expect(error.code).toBe('limit_exceeded');
      expect(error.details).toMatchObject({ limit: 'maxNodes', max, actual });
      expect(error.message).toContain(String(max));
    };

    it('holds up to maxNodes nodes', () => {
      const clock = VectorClock.zero({ maxNodes: 2 }).increment('a').increment('b').increment('a');
      expect(clock.toObject()).toEqual({ a: 2, b: 1 });
    });

    it('refuses an increment that adds a node past the bound', () => {
      const clock = VectorClock.zero({ maxNodes: 2 }).increment('a').increment('b');
      expectLimit(
        catchSyncError(() => clock.increment('c')),
        2,
        3,
      );
    });

    it('keeps the bound through increment and merge', () => {
      const clock = VectorClock.from({ a: 1 }, { maxNodes: 1 }).increment('a');
      expectLimit(
        catchSyncError(() => clock.increment('b')),
        1,
        2,
      );
      expectLimit(
        catchSyncError(() => clock.merge(VectorClock.from({ b: 1 }))),
        1,
        2,
      );
    });

    it('refuses a merge whose union of nodes passes the bound', () => {
      const left = VectorClock.from({ a: 1, b: 1 }, { maxNodes: 3 });
      const right = VectorClock.from({ c: 1, d: 1 }, { maxNodes: 3 });
      expectLimit(
        catchSyncError(() => left.merge(right)),
        3,
        4,
      );
      expect(left.merge(VectorClock.from({ a: 5, c: 1 })).toString()).toBe('{a=5,b=1,c=1}');
    });

    it('refuses to build a clock past the bound', () => {
      expectLimit(
        catchSyncError(() => VectorClock.from({ a: 1, b: 1, c: 1 }, { maxNodes: 2 })),
        2,
        3,
      );
    });

    it('does not count zero counters against the bound', () => {
      expect(VectorClock.from({ a: 1, b: 0, c: 0 }, { maxNodes: 1 }).toString()).toBe('{a=1}');
    });

    it('refuses to parse a clock past the bound', () => {
      expectLimit(
        catchSyncError(() => VectorClock.parse('{a=1,b=1,c=1}', { maxNodes: 2 })),
        2,
        3,
      );
    });

    it('defaults to 64 nodes', () => {
      const counters = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`n${i}`, 1]));
      const full = VectorClock.from(counters);
      expect(full.nodes()).toHaveLength(64);
      expectLimit(
        catchSyncError(() => full.increment('one-more')),
        64,
        65,
      );
    });
  });

  describe('properties', () => {
    it('merges commutatively', () => {
      fc.assert(
        fc.property(clockArbitrary, clockArbitrary, (a, b) => a.merge(b).equals(b.merge(a))),
        propertyOptions,
      );
    });

    it('merges associatively', () => {
      fc.assert(
        fc.property(clockArbitrary, clockArbitrary, clockArbitrary, (a, b, c) =>
          a
            .merge(b)
            .merge(c)
            .equals(a.merge(b.merge(c))),
        ),
        propertyOptions,
      );
    });

    it('merges idempotently', () => {
      fc.assert(
        fc.property(
          clockArbitrary,
          clockArbitrary,
          (a, b) => a.merge(a).equals(a) && a.merge(b).merge(b).equals(a.merge(b)),
        ),
        propertyOptions,
      );
    });

    it('merges to an upper bound of both clocks', () => {
      fc.assert(
        fc.property(clockArbitrary, clockArbitrary, (a, b) => {
          const merged = a.merge(b);
          return beforeOrEqual(a, merged) && beforeOrEqual(b, merged);
        }),
        propertyOptions,
      );
    });

    it('merges to the least upper bound', () => {
      fc.assert(
        fc.property(clockArbitrary, clockArbitrary, clockArbitrary, (a, b, c) => {
          fc.pre(beforeOrEqual(a, c) && beforeOrEqual(b, c));
          return beforeOrEqual(a.merge(b), c);
        }),
        { ...propertyOptions, numRuns: propertyOptions.numRuns * 2 },
      );
    });

    it('gives relations that mirror each other', () => {
      const mirror = { before: 'after', after: 'before', equal: 'equal', concurrent: 'concurrent' } as const;
      fc.assert(
        fc.property(clockArbitrary, clockArbitrary, (a, b) => b.relation(a) === mirror[a.relation(b)]),
        propertyOptions,
      );
    });

    it('happens before its own increment', () => {
      fc.assert(
        fc.property(clockArbitrary, fc.constantFrom('a', 'b', 'c', 'node-d', 'e'), (a, node) => {
          const next = a.increment(node);
          return a.happenedBefore(next) && !next.happenedBefore(a) && next.get(node) === a.get(node) + 1;
        }),
        propertyOptions,
      );
    });

    it('compares consistently with happened-before', () => {
      fc.assert(
        fc.property(clockArbitrary, clockArbitrary, (a, b) => {
          const relation = a.relation(b);
          const compare = a.compare(b);
          if (relation === 'before') return compare === -1;
          if (relation === 'after') return compare === 1;
          if (relation === 'equal') return compare === 0;
          return compare !== 0;
        }),
        propertyOptions,
      );
    });

    it('compares antisymmetrically', () => {
      fc.assert(
        fc.property(clockArbitrary, clockArbitrary, (a, b) => {
          const forth = a.compare(b);
          const back = b.compare(a);
          return forth === -back && (forth === 0) === a.equals(b);
        }),
        propertyOptions,
      );
    });

    it('compares transitively', () => {
      fc.assert(
        fc.property(clockArbitrary, clockArbitrary, clockArbitrary, (a, b, c) => {
          const [x, y, z] = [a, b, c].sort((p, q) => p.compare(q)) as [VectorClock, VectorClock, VectorClock];
          return x.compare(y) <= 0 && y.compare(z) <= 0 && x.compare(z) <= 0;
        }),
        propertyOptions,
      );
      fc.assert(
        fc.property(clockArbitrary, clockArbitrary, clockArbitrary, (a, b, c) => {
          fc.pre(a.compare(b) <= 0 && b.compare(c) <= 0);
          return a.compare(c) <= 0;
        }),
        propertyOptions,
      );
    });

    it('parses its string form back to an equal clock', () => {
      fc.assert(
        fc.property(clockArbitrary, (clock) => {
          const parsed = VectorClock.parse(clock.toString());
          return parsed.equals(clock) && parsed.toString() === clock.toString();
        }),
        propertyOptions,
      );
    });

    it('parses the string form of clocks with any valid node ids and large counters', () => {
      const nodeArbitrary = fc.stringMatching(/^[A-Za-z0-9_.:-]{1,12}$/);
      const countersArbitrary = fc.dictionary(nodeArbitrary, fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), {
        maxKeys: 8,
      });
      fc.assert(
        fc.property(countersArbitrary, (counters) => {
          const clock = VectorClock.from(counters);
          return (
            VectorClock.parse(clock.toString()).equals(clock) &&
            VectorClock.parse(clock.toString()).toString() === clock.toString()
          );
        }),
        propertyOptions,
      );
    });
  });
});
