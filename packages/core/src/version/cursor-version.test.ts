import { catchSyncError } from '@eventsync/testkit';
import { describe, expect, it } from 'vitest';
import { CursorVersion, cursorVersionCodec } from './cursor-version.js';
import { HlcTimestamp } from './hlc-timestamp.js';
import { VectorClock } from './vector-clock.js';

describe('CursorVersion', () => {
  it.each(['0', '1', '42', '1000000', String(Number.MAX_SAFE_INTEGER)])('parses %s and prints it back', (text) => {
    const cursor = CursorVersion.parse(text);
    expect(cursor.toString()).toBe(text);
    expect(cursor.value).toBe(Number(text));
    expect(CursorVersion.parse(cursor.toString()).equals(cursor)).toBe(true);
  });

  it.each([
    ['the empty string', ''],
    ['a negative number', '-1'],
    ['a fraction', '1.5'],
    ['a leading zero', '01'],
    ['a leading space', ' 1'],
    ['a trailing space', '1 '],
    ['an exponent', '1e3'],
    ['a plus sign', '+1'],
    ['hexadecimal', '0x10'],
    ['a number just past MAX_SAFE_INTEGER', '9007199254740992'],
    ['a number far past MAX_SAFE_INTEGER', '99999999999999999999999'],
  ])('refuses %s', (_name, text) => {
    const error = catchSyncError(() => CursorVersion.parse(text), 'invalid_input');
    expect(error.details.field).toBe('version');
  });

  it.each([
    ['a number', 1],
    ['null', null],
    ['undefined', undefined],
    ['an object', { value: 1 }],
    ['a bigint', 1n],
  ])('refuses %s instead of a string', (_name, value) => {
    catchSyncError(() => CursorVersion.parse(value as unknown as string), 'invalid_input');
  });

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.MAX_SAFE_INTEGER + 1])(
    'refuses to construct from %s',
    (value) => {
      catchSyncError(() => new CursorVersion(value), 'invalid_input');
    },
  );

  it('compares by sequence number', () => {
    const [one, two] = [CursorVersion.of(1), CursorVersion.of(2)];
    expect(one.compare(two)).toBe(-1);
    expect(two.compare(one)).toBe(1);
    expect(one.compare(CursorVersion.parse('1'))).toBe(0);
    expect(CursorVersion.parse('10').compare(CursorVersion.parse('9'))).toBe(1);
  });

  it('moves on by one with next', () => {
    expect(CursorVersion.ZERO.next().toString()).toBe('1');
    expect(CursorVersion.of(41).next().value).toBe(42);
    expect(CursorVersion.of(41).next().compare(CursorVersion.of(41))).toBe(1);
  });

  it('refuses to move past MAX_SAFE_INTEGER', () => {
    catchSyncError(() => CursorVersion.of(Number.MAX_SAFE_INTEGER).next(), 'invalid_input');
  });

  it('is zero only at 0', () => {
    expect(CursorVersion.ZERO.isZero()).toBe(true);
    expect(CursorVersion.parse('0').isZero()).toBe(true);
    expect(CursorVersion.of(1).isZero()).toBe(false);
    expect(cursorVersionCodec.zero.isZero()).toBe(true);
  });

  it('serialises to its string form in JSON', () => {
    expect(JSON.stringify({ cursor: CursorVersion.of(7) })).toBe('{"cursor":"7"}');
  });

  it('parses through its codec', () => {
    expect(cursorVersionCodec.parse('5').value).toBe(5);
    catchSyncError(() => cursorVersionCodec.parse('05'), 'invalid_input');
  });

  it.each([
    ['a vector clock', VectorClock.zero()],
    ['an HLC timestamp', HlcTimestamp.ZERO],
  ])('refuses to compare with %s', (_name, other) => {
    catchSyncError(() => CursorVersion.ZERO.compare(other), 'invalid_input');
    expect(CursorVersion.ZERO.equals(other)).toBe(false);
  });
});
