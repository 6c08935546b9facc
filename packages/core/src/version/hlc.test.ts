import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CursorVersion } from './cursor-version.js';
import { HlcTimestamp, isHlcTimestampString, MAX_HLC_COUNTER, MAX_HLC_WALL_TIME } from './hlc-timestamp.js';
import { HybridLogicalClock } from './hybrid-logical-clock.js';
import { catchSyncError, propertyOptions as seededProperties } from '@eventsync/testkit';

const propertyOptions = seededProperties();

const T = Date.UTC(2026, 10, 24, 18, 40, 15, 123);

/** A wall clock the test moves by hand. */
function manualWall(start = T): { now: () => number; set: (value: number) => void } {
  let value = start;
  return { now: () => value, set: (next) => (value = next) };
}

const nodeArbitrary = fc.constantFrom('a', 'b', 'B', 'a-1', 'a.b', 'node:1', 'z_z', '0');
const timestampArbitrary = fc
  .record({
    wallTime: fc.oneof(fc.constantFrom(0, T, T + 1, MAX_HLC_WALL_TIME), fc.integer({ min: 0, max: MAX_HLC_WALL_TIME })),
    counter: fc.oneof(
      fc.constantFrom(0, 1, 15, 16, 255, MAX_HLC_COUNTER),
      fc.integer({ min: 0, max: MAX_HLC_COUNTER }),
    ),
    node: fc.oneof(nodeArbitrary, fc.stringMatching(/^[A-Za-z0-9_.:-]{1,20}$/)),
  })
  .map(({ wallTime, counter, node }) => new HlcTimestamp(wallTime, counter, node));

describe('HlcTimestamp', () => {
  it('prints ISO wall time, eight hex digits of counter and the node', () => {
    expect(new HlcTimestamp(T, 10, 'client-1').toString()).toBe('2026-11-24T18:40:15.123Z-0000000a-client-1');
    expect(new HlcTimestamp(0, 0, 'n').toString()).toBe('1970-01-01T00:00:00.000Z-00000000-n');
    expect(new HlcTimestamp(MAX_HLC_WALL_TIME, MAX_HLC_COUNTER, 'n').toString()).toBe(
      '9999-12-31T23:59:59.999Z-ffffffff-n',
    );
  });

  it('parses its string form back into the same parts', () => {
    const parsed = HlcTimestamp.parse('2026-11-24T18:40:15.123Z-0000000a-client-1');
    expect(parsed.wallTime).toBe(T);
    expect(parsed.counter).toBe(10);
    expect(parsed.node).toBe('client-1');
    expect(parsed.equals(new HlcTimestamp(T, 10, 'client-1'))).toBe(true);
  });

  it('parses a leap day', () => {
    expect(HlcTimestamp.parse('2028-02-29T00:00:00.000Z-00000000-n').wallTime).toBe(Date.UTC(2028, 1, 29));
  });

  it('orders by wall time, then counter, then node', () => {
    const base = new HlcTimestamp(T, 5, 'm');
    expect(base.compare(new HlcTimestamp(T + 1, 0, 'a'))).toBe(-1);
    expect(base.compare(new HlcTimestamp(T - 1, 9, 'z'))).toBe(1);
    expect(base.compare(new HlcTimestamp(T, 6, 'a'))).toBe(-1);
    expect(base.compare(new HlcTimestamp(T, 4, 'z'))).toBe(1);
    expect(base.compare(new HlcTimestamp(T, 5, 'n'))).toBe(-1);
    expect(base.compare(new HlcTimestamp(T, 5, 'l'))).toBe(1);
    expect(base.compare(new HlcTimestamp(T, 5, 'm'))).toBe(0);
  });

  it('is zero at wall time 0 and counter 0', () => {
    expect(HlcTimestamp.ZERO.isZero()).toBe(true);
    expect(new HlcTimestamp(0, 1, 'n').isZero()).toBe(false);
    expect(new HlcTimestamp(1, 0, 'n').isZero()).toBe(false);
  });

  it('serialises to its string form in JSON', () => {
    expect(JSON.stringify({ t: new HlcTimestamp(0, 0, 'n') })).toBe('{"t":"1970-01-01T00:00:00.000Z-00000000-n"}');
  });

  it('refuses to compare with another kind of version', () => {
    catchSyncError(() => HlcTimestamp.ZERO.compare(CursorVersion.ZERO), 'invalid_input');
    expect(HlcTimestamp.ZERO.equals(CursorVersion.ZERO)).toBe(false);
  });

  it.each([
    ['an impossible date', '2026-02-30T00:00:00.000Z-00000000-n'],
    ['February 29 of a common year', '2027-02-29T00:00:00.000Z-00000000-n'],
    ['month 13', '2026-13-01T00:00:00.000Z-00000000-n'],
    ['hour 24', '2026-11-24T24:00:00.000Z-00000000-n'],
    ['minute 60', '2026-11-24T18:60:00.000Z-00000000-n'],
    ['a time before 1970', '1969-12-31T23:59:59.999Z-00000000-n'],
    ['milliseconds of two digits', '2026-11-24T18:40:15.12Z-00000000-n'],
    ['no milliseconds', '2026-11-24T18:40:15Z-00000000-n'],
    ['a two-digit month', '2026-1-24T18:40:15.123Z-00000000-n'],
    ['an extended year', '+002026-11-24T18:40:15.123Z-00000000-n'],
    ['a time-zone offset', '2026-11-24T18:40:15.123+01:00-00000000-n'],
    ['a lower-case t', '2026-11-24t18:40:15.123Z-00000000-n'],
    ['a counter of seven digits', '2026-11-24T18:40:15.123Z-0000000-n'],
    ['a counter of nine digits', '2026-11-24T18:40:15.123Z-000000000-n'],
    ['an upper-case hex counter', '2026-11-24T18:40:15.123Z-0000000A-n'],
    ['a non-hex counter', '2026-11-24T18:40:15.123Z-0000000g-n'],
    ['no node', '2026-11-24T18:40:15.123Z-00000000'],
    ['an empty node', '2026-11-24T18:40:15.123Z-00000000-'],
    ['a node with a space', '2026-11-24T18:40:15.123Z-00000000-a b'],
    ['a node with a slash', '2026-11-24T18:40:15.123Z-00000000-a/b'],
    ['a node past 128 characters', `2026-11-24T18:40:15.123Z-00000000-${'n'.repeat(129)}`],
    ['a leading space', ' 2026-11-24T18:40:15.123Z-00000000-n'],
    ['the empty string', ''],
  ])('refuses %s', (_name, text) => {
    const error = catchSyncError(() => HlcTimestamp.parse(text), 'invalid_input');
    expect(error.details.field).toBe('timestamp');
  });

  it.each([
    ['a number', T],
    ['null', null],
    ['a Date', new Date(T)],
    ['a bigint', 1n],
  ])('refuses %s instead of a string', (_name, value) => {
    catchSyncError(() => HlcTimestamp.parse(value as unknown as string), 'invalid_input');
  });

  it.each([
    ['a negative wall time', -1, 0, 'n'],
    ['a wall time past year 9999', MAX_HLC_WALL_TIME + 1, 0, 'n'],
    ['a fractional wall time', 1.5, 0, 'n'],
    ['a negative counter', 0, -1, 'n'],
    ['a counter past 32 bits', 0, MAX_HLC_COUNTER + 1, 'n'],
    ['an empty node', 0, 0, ''],
    ['a node with a space', 0, 0, 'a b'],
  ])('refuses to construct with %s', (_name, wallTime, counter, node) => {
    catchSyncError(() => new HlcTimestamp(wallTime, counter, node), 'invalid_input');
  });

  describe('properties', () => {
    it('isHlcTimestampString says yes exactly for the strings parse takes', () => {
      const parses = (value: string): boolean => {
        try {
          HlcTimestamp.parse(value);
          return true;
        } catch {
          return false;
        }
      };
      // Real timestamps, then each with one character changed (dates that do not exist, bad digits,
      // bad separators, bad nodes), and strings of the same alphabet.
      const mutated = fc
        .tuple(
          timestampArbitrary,
          fc.nat(),
          fc.constantFrom('0', '1', '2', '3', '9', 'a', 'f', 'g', 'Z', '-', ':', '.', 'T', ' '),
        )
        .map(([t, at, char]) => {
          const text = t.toString();
          const i = at % text.length;
          return text.slice(0, i) + char + text.slice(i + 1);
        });
      const strings = fc.oneof(
        timestampArbitrary.map((t) => t.toString()),
        mutated,
        fc.constantFrom(
          '2026-02-29T00:00:00.000Z-00000000-a',
          '2024-02-29T00:00:00.000Z-00000000-a',
          '0099-12-31T23:59:59.999Z-00000000-a',
          '1969-12-31T23:59:59.999Z-00000000-a',
          '9999-12-31T23:59:59.999Z-ffffffff-a',
          '2026-11-24T24:00:00.000Z-00000000-a',
          `2026-11-24T00:00:00.000Z-00000000-${'n'.repeat(129)}`,
        ),
        fc.stringMatching(/^[0-9TZ:.a-f-]{0,40}$/),
      );
      fc.assert(
        fc.property(strings, (value) => isHlcTimestampString(value) === parses(value)),
        propertyOptions,
      );
    });

    it('parses its string form back to an equal timestamp', () => {
      fc.assert(
        fc.property(timestampArbitrary, (t) => {
          const parsed = HlcTimestamp.parse(t.toString());
          return parsed.compare(t) === 0 && parsed.node === t.node && parsed.toString() === t.toString();
        }),
        propertyOptions,
      );
    });

    it('sorts as strings in the same order as by compare', () => {
      fc.assert(
        fc.property(fc.array(timestampArbitrary, { maxLength: 30 }), (timestamps) => {
          const byCompare = [...timestamps].sort((a, b) => a.compare(b)).map(String);
          const byString = timestamps.map(String).sort();
          expect(byString).toEqual(byCompare);
        }),
        propertyOptions,
      );
    });

    it('compares like its string forms', () => {
      fc.assert(
        fc.property(timestampArbitrary, timestampArbitrary, (a, b) => {
          const [x, y] = [a.toString(), b.toString()];
          return a.compare(b) === (x < y ? -1 : x > y ? 1 : 0);
        }),
        propertyOptions,
      );
    });
  });
});

describe('HybridLogicalClock', () => {
  it('stamps the wall time with counter 0 while the wall clock moves on', () => {
    const wall = manualWall();
    const clock = new HybridLogicalClock({ node: 'alice', now: wall.now });
    expect(clock.last.isZero()).toBe(true);
    expect(clock.now().toString()).toBe('2026-11-24T18:40:15.123Z-00000000-alice');
    wall.set(T + 5);
    const t = clock.now();
    expect([t.wallTime, t.counter, t.node]).toEqual([T + 5, 0, 'alice']);
    expect(clock.last.equals(t)).toBe(true);
  });

  it('counts up while the wall clock stands still', () => {
    const clock = new HybridLogicalClock({ node: 'alice', now: () => T });
    const stamps = [clock.now(), clock.now(), clock.now()];
    expect(stamps.map((t) => [t.wallTime, t.counter])).toEqual([
      [T, 0],
      [T, 1],
      [T, 2],
    ]);
  });

  it('never goes back when the wall clock does', () => {
    const wall = manualWall();
    const clock = new HybridLogicalClock({ node: 'alice', now: wall.now });
    const first = clock.now();
    wall.set(T - 60_000);
    const second = clock.now();
    const third = clock.now();
    expect(second.compare(first)).toBe(1);
    expect(third.compare(second)).toBe(1);
    expect([second.wallTime, second.counter, third.counter]).toEqual([T, 1, 2]);
    wall.set(T + 1);
    expect([clock.now().wallTime, clock.last.counter]).toEqual([T + 1, 0]);
  });

  it('floors a fractional wall clock to whole milliseconds', () => {
    const clock = new HybridLogicalClock({ node: 'alice', now: () => T + 0.9 });
    expect(clock.now().wallTime).toBe(T);
  });

  it('moves wall time on by 1 ms instead of overflowing the counter', () => {
    const last = new HlcTimestamp(T, MAX_HLC_COUNTER, 'alice');
    const clock = new HybridLogicalClock({ node: 'alice', now: () => T, last });
    const next = clock.now();
    expect([next.wallTime, next.counter]).toEqual([T + 1, 0]);
    expect(next.compare(last)).toBe(1);
    expect([clock.now().wallTime, clock.last.counter]).toEqual([T + 1, 1]);
  });

  it('moves wall time on by 1 ms when a received counter would overflow', () => {
    const clock = new HybridLogicalClock({ node: 'alice', now: () => T });
    const remote = new HlcTimestamp(T, MAX_HLC_COUNTER, 'bob');
    const next = clock.receive(remote);
    expect([next.wallTime, next.counter, next.node]).toEqual([T + 1, 0, 'alice']);
    expect(next.compare(remote)).toBe(1);
  });

  it('resumes after a restart from the last timestamp it issued', () => {
    const before = new HybridLogicalClock({ node: 'alice', now: () => T + 10_000 });
    before.now();
    const issued = before.now();
    // After the restart the wall clock is 10 s behind.
    const after = new HybridLogicalClock({ node: 'alice', now: () => T, last: issued });
    expect(after.last.equals(issued)).toBe(true);
    const next = after.now();
    expect(next.compare(issued)).toBe(1);
    expect([next.wallTime, next.counter]).toEqual([T + 10_000, 2]);
  });

  it('starts from the wall clock without a last timestamp', () => {
    const clock = new HybridLogicalClock({ node: 'alice', now: () => T });
    expect([clock.now().wallTime, clock.last.counter]).toEqual([T, 0]);
  });

  describe('receive', () => {
    it('moves past a remote timestamp ahead of it', () => {
      const clock = new HybridLogicalClock({ node: 'alice', now: () => T });
      const local = clock.now();
      const remote = new HlcTimestamp(T + 500, 7, 'bob');
      const next = clock.receive(remote);
      expect([next.wallTime, next.counter, next.node]).toEqual([T + 500, 8, 'alice']);
      expect(next.compare(remote)).toBe(1);
      expect(next.compare(local)).toBe(1);
      // Later local events stay after the remote one, though the wall clock is still behind it.
      expect(clock.now().compare(remote)).toBe(1);
    });

    it('moves past its own last timestamp when the remote is behind', () => {
      const clock = new HybridLogicalClock({ node: 'alice', now: () => T });
      clock.now();
      const local = clock.now();
      const next = clock.receive(new HlcTimestamp(T - 500, 99, 'bob'));
      expect([next.wallTime, next.counter]).toEqual([T, local.counter + 1]);
    });

    it('takes the larger counter plus one when both share the wall time', () => {
      const clock = new HybridLogicalClock({ node: 'alice', now: () => T - 1 });
      clock.receive(new HlcTimestamp(T, 3, 'carol'));
      const next = clock.receive(new HlcTimestamp(T, 9, 'bob'));
      expect([next.wallTime, next.counter]).toEqual([T, 10]);
      const again = clock.receive(new HlcTimestamp(T, 2, 'bob'));
      expect([again.wallTime, again.counter]).toEqual([T, 11]);
    });

    it('takes the wall clock with counter 0 when it is ahead of both', () => {
      const wall = manualWall(T);
      const clock = new HybridLogicalClock({ node: 'alice', now: wall.now });
      clock.now();
      wall.set(T + 1000);
      const next = clock.receive(new HlcTimestamp(T + 10, 4, 'bob'));
      expect([next.wallTime, next.counter]).toEqual([T + 1000, 0]);
    });

    it('is after a remote timestamp with the same wall time and counter from a greater node', () => {
      const clock = new HybridLogicalClock({ node: 'a', now: () => T });
      clock.now();
      const remote = new HlcTimestamp(T, 0, 'zzz');
      expect(clock.receive(remote).compare(remote)).toBe(1);
    });

    it('takes a timestamp in string form', () => {
      const clock = new HybridLogicalClock({ node: 'alice', now: () => T });
      const next = clock.receive('2026-11-24T18:40:16.000Z-00000001-bob');
      expect(next.toString()).toBe('2026-11-24T18:40:16.000Z-00000002-alice');
    });

    it('refuses a malformed timestamp string and stays where it was', () => {
      const clock = new HybridLogicalClock({ node: 'alice', now: () => T });
      const last = clock.now();
      catchSyncError(() => clock.receive('yesterday'), 'invalid_input');
      expect(clock.last.equals(last)).toBe(true);
    });

    it('refuses a remote further ahead than maxDriftMs and stays where it was', () => {
      const clock = new HybridLogicalClock({ node: 'alice', now: () => T, maxDriftMs: 1000 });
      const last = clock.now();
      const error = catchSyncError(() => clock.receive(new HlcTimestamp(T + 1001, 0, 'bob')), 'invalid_input');
      expect(error.details).toMatchObject({ field: 'timestamp', limit: 'maxDriftMs', max: 1000, actual: 1001 });
      expect(clock.last.equals(last)).toBe(true);
      expect(clock.now().wallTime).toBe(T);
    });

    it('takes a remote exactly maxDriftMs ahead', () => {
      const clock = new HybridLogicalClock({ node: 'alice', now: () => T, maxDriftMs: 1000 });
      expect(clock.receive(new HlcTimestamp(T + 1000, 0, 'bob')).wallTime).toBe(T + 1000);
    });

    it('takes a remote far ahead when there is no maxDriftMs', () => {
      const clock = new HybridLogicalClock({ node: 'alice', now: () => T });
      expect(clock.receive(new HlcTimestamp(T + 86_400_000, 0, 'bob')).wallTime).toBe(T + 86_400_000);
    });
  });

  it.each([0, -1, Number.NaN])('refuses maxDriftMs %s', (maxDriftMs) => {
    const error = catchSyncError(() => new HybridLogicalClock({ node: 'alice', maxDriftMs }), 'invalid_input');
    expect(error.details.field).toBe('maxDriftMs');
  });

  it.each(['', 'a b', 'n'.repeat(129)])('refuses the node id %j', (node) => {
    catchSyncError(() => new HybridLogicalClock({ node }), 'invalid_input');
  });

  it.each([Number.NaN, -1, Number.POSITIVE_INFINITY])('fails with internal when the wall clock returns %s', (value) => {
    const clock = new HybridLogicalClock({ node: 'alice', now: () => value });
    catchSyncError(() => clock.now(), 'internal');
  });

  it('runs on Date.now by default', () => {
    const before = Date.now();
    const t = new HybridLogicalClock({ node: 'alice' }).now();
    expect(t.wallTime).toBeGreaterThanOrEqual(before);
    expect(t.wallTime).toBeLessThanOrEqual(Date.now());
  });

  describe('properties', () => {
    type Step =
      | { readonly kind: 'now'; readonly clock: 0 | 1; readonly wall: number }
      | { readonly kind: 'send'; readonly from: 0 | 1; readonly wall: number };
    const wallArbitrary = fc.oneof(fc.integer({ min: -20, max: 20 }), fc.integer({ min: -100_000, max: 100_000 }));
    const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
      fc.record({
        kind: fc.constant('now' as const),
        clock: fc.constantFrom(0 as const, 1 as const),
        wall: wallArbitrary,
      }),
      fc.record({
        kind: fc.constant('send' as const),
        from: fc.constantFrom(0 as const, 1 as const),
        wall: wallArbitrary,
      }),
    );

    it('issues strictly increasing timestamps and orders causally related ones', () => {
      fc.assert(
        fc.property(fc.array(stepArbitrary, { minLength: 1, maxLength: 60 }), (steps) => {
          const walls = [T, T];
          const clocks = [0, 1].map(
            (i) => new HybridLogicalClock({ node: i === 0 ? 'a' : 'b', now: () => walls[i] as number }),
          ) as [HybridLogicalClock, HybridLogicalClock];
          const previous: (HlcTimestamp | undefined)[] = [undefined, undefined];
          const received: [HlcTimestamp[], HlcTimestamp[]] = [[], []];
          const issue = (i: 0 | 1, t: HlcTimestamp): void => {
            const before = previous[i];
            if (before) expect(t.compare(before), `${t.toString()} after ${before.toString()}`).toBe(1);
            for (const remote of received[i]) {
              expect(t.compare(remote), `${t.toString()} after received ${remote.toString()}`).toBe(1);
            }
            expect(t.node).toBe(clocks[i].node);
            previous[i] = t;
          };
          for (const step of steps) {
            if (step.kind === 'now') {
              walls[step.clock] = T + step.wall;
              issue(step.clock, clocks[step.clock].now());
            } else {
              const to = step.from === 0 ? 1 : 0;
              walls[step.from] = T + step.wall;
              const sent = clocks[step.from].now();
              issue(step.from, sent);
              // The receiver learns of a timestamp issued on the other side: in string form, as it travels.
              received[to].push(sent);
              issue(to, clocks[to].receive(sent.toString()));
            }
          }
        }),
        propertyOptions,
      );
    });
  });
});
