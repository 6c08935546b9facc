import { SyncError } from '../errors/sync-error.js';
import { describeValue } from '../internal/describe.js';
import type { Version } from './version.js';

const HLC_TIMESTAMP = Symbol.for('@eventsync/core/HlcTimestamp');

/** The largest wall time a timestamp can carry: the last millisecond of year 9999, so ISO strings keep one width. */
export const MAX_HLC_WALL_TIME = 253_402_300_799_999;
/** The largest logical counter; past it the clock moves its wall time on by a millisecond. */
export const MAX_HLC_COUNTER = 0xffff_ffff;

const NODE_ID = /^[A-Za-z0-9_.:-]{1,128}$/;
const FORM = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)-([0-9a-f]{8})-([A-Za-z0-9_.:-]{1,128})$/;

/**
 * A hybrid-logical-clock timestamp: wall time in milliseconds, a logical counter, and the node that
 * made it. Timestamps are totally ordered (wall time, then counter, then node), so last-write-wins
 * picks the same winner on every replica even when their wall clocks disagree.
 *
 * The string form sorts in the same order as `compare`:
 * `2026-11-24T18:40:15.123Z-0000000a-client-1` (ISO wall time, 8 hex digits of counter, node).
 *
 * @example
 * ```ts
 * const t = HlcTimestamp.parse('2026-11-24T18:40:15.123Z-00000000-alice');
 * t.wallTime; // 1795545615123
 * ```
 */
export class HlcTimestamp implements Version {
  /**
   * Recognises instances made by any copy of `@eventsync/core` (an app may end up with two), so
   * `instanceof` holds across copies.
   */
  static [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[HLC_TIMESTAMP] === true;
  }

  /** @internal The brand behind `instanceof`. */
  readonly [HLC_TIMESTAMP] = true;

  /** The zero timestamp: before anything any clock can make. */
  static readonly ZERO = new HlcTimestamp(0, 0, '0');

  /** Milliseconds since the Unix epoch. */
  readonly wallTime: number;
  /** Orders timestamps within one millisecond of wall time. */
  readonly counter: number;
  /** The node (client id) whose clock made this timestamp. */
  readonly node: string;

  /** @throws SyncError `invalid_input` when a part is out of range. */
  constructor(wallTime: number, counter: number, node: string) {
    if (!Number.isSafeInteger(wallTime) || wallTime < 0 || wallTime > MAX_HLC_WALL_TIME) {
      throw invalid(`wall time must be an integer from 0 to ${MAX_HLC_WALL_TIME}, got ${String(wallTime)}`);
    }
    if (!Number.isSafeInteger(counter) || counter < 0 || counter > MAX_HLC_COUNTER) {
      throw invalid(`counter must be an integer from 0 to ${MAX_HLC_COUNTER}, got ${String(counter)}`);
    }
    if (typeof node !== 'string' || !NODE_ID.test(node)) {
      throw invalid(`node must be 1 to 128 characters of A-Z a-z 0-9 _ . : -, got ${describeValue(node)}`);
    }
    this.wallTime = wallTime;
    this.counter = counter;
    this.node = node;
  }

  /**
   * Parses the canonical string form.
   *
   * @throws SyncError `invalid_input` for any other string, including impossible dates.
   */
  static parse(value: string): HlcTimestamp {
    const match = typeof value === 'string' ? FORM.exec(value) : null;
    if (!match) {
      throw invalid(`expected a form like "2026-11-24T18:40:15.123Z-00000000-node", got ${describeValue(value)}`);
    }
    const iso = match[1] as string;
    const wallTime = isoMillis(iso);
    if (wallTime === undefined) throw invalid(`${JSON.stringify(iso)} is not a real UTC time`);
    return new HlcTimestamp(wallTime, Number.parseInt(match[2] as string, 16), match[3] as string);
  }

  compare(other: Version): -1 | 0 | 1 {
    if (!(other instanceof HlcTimestamp)) {
      throw new SyncError('invalid_input', `Cannot compare an HLC timestamp with ${describeValue(other)}`);
    }
    if (this.wallTime !== other.wallTime) return this.wallTime < other.wallTime ? -1 : 1;
    if (this.counter !== other.counter) return this.counter < other.counter ? -1 : 1;
    if (this.node !== other.node) return this.node < other.node ? -1 : 1;
    return 0;
  }

  /** Whether both timestamps are the same. */
  equals(other: Version): boolean {
    return other instanceof HlcTimestamp && this.compare(other) === 0;
  }

  isZero(): boolean {
    return this.wallTime === 0 && this.counter === 0;
  }

  toString(): string {
    return `${new Date(this.wallTime).toISOString()}-${this.counter.toString(16).padStart(8, '0')}-${this.node}`;
  }

  /** The string form, as `toString()` gives it: how a timestamp travels in JSON. */
  toJSON(): string {
    return this.toString();
  }
}

/**
 * Whether `HlcTimestamp.parse(value)` would succeed, without making the timestamp: for validators
 * that only need to know (every event a server takes, every one a client pulls). Internal to the
 * package.
 */
export function isHlcTimestampString(value: string): boolean {
  if (!FORM.test(value)) return false;
  // FORM fixed the date's positions: isoMillis reads them in place in the whole string.
  const wallTime = isoMillis(value);
  return wallTime !== undefined && wallTime >= 0 && wallTime <= MAX_HLC_WALL_TIME;
}

// `YYYY-MM-DDTHH:MM:SS.mmmZ` (already matched by FORM) to milliseconds, or undefined for a date
// that does not exist (2026-02-30, hour 24…). Done with numbers: no Date objects on this hot path.
function isoMillis(iso: string): number | undefined {
  // Digits read in place: no substrings (every event a client pulls or a server takes comes here).
  const year = digits(iso, 0, 4);
  const month = digits(iso, 5, 7);
  const day = digits(iso, 8, 10);
  const hour = digits(iso, 11, 13);
  const minute = digits(iso, 14, 16);
  const second = digits(iso, 17, 19);
  const millis = digits(iso, 20, 23);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = month === 2 ? (leap ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  if (day > days) return undefined;
  const time = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  // Date.UTC maps years 0-99 to 1900-1999; those are before the epoch and refused anyway.
  return year < 100
    ? new Date(Date.UTC(2000, month - 1, day, hour, minute, second, millis)).setUTCFullYear(year)
    : time;
}

/** The decimal number of the ASCII digits `text[start..end)` (FORM has matched them as digits). */
function digits(text: string, start: number, end: number): number {
  let value = 0;
  for (let i = start; i < end; i++) value = value * 10 + (text.charCodeAt(i) - 48);
  return value;
}

function invalid(why: string): SyncError {
  return new SyncError('invalid_input', `Not an HLC timestamp: ${why}`, { details: { field: 'timestamp' } });
}
