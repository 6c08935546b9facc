import { SyncError } from '../errors/sync-error.js';
import { describeValue } from '../internal/describe.js';
import type { Version, VersionCodec } from './version.js';

const CURSOR_VERSION = Symbol.for('@eventsync/core/CursorVersion');

const CANONICAL = /^(0|[1-9][0-9]*)$/;

/**
 * The server's sequence number: the default version space of eventsync and a total order.
 *
 * The server gives every accepted event of a tenant the next number, without gaps, so a client that
 * has applied everything up to cursor `n` has exactly the events `1..n`. Its string form is the decimal
 * number (`"0"` is the zero version).
 *
 * @example
 * ```ts
 * const cursor = CursorVersion.parse('42');
 * cursor.next().toString(); // '43'
 * ```
 */
export class CursorVersion implements Version {
  /**
   * Recognises instances made by any copy of `@eventsync/core` (an app may end up with two), so
   * `instanceof` holds across copies.
   */
  static [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[CURSOR_VERSION] === true;
  }

  /** @internal The brand behind `instanceof`. */
  readonly [CURSOR_VERSION] = true;

  /** The cursor before the first event. */
  static readonly ZERO = new CursorVersion(0);

  /** The sequence number: a non-negative safe integer. */
  readonly value: number;

  /** @throws SyncError `invalid_input` when `value` is not a non-negative safe integer. */
  constructor(value: number) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new SyncError(
        'invalid_input',
        `A cursor version must be a non-negative safe integer, got ${String(value)}`,
        {
          details: { field: 'version' },
        },
      );
    }
    this.value = value;
  }

  /** Makes a cursor from a number. */
  static of(value: number): CursorVersion {
    return value === 0 ? CursorVersion.ZERO : new CursorVersion(value);
  }

  /**
   * Parses the canonical decimal form.
   *
   * @throws SyncError `invalid_input` for anything but a canonical non-negative integer: `''`, `'-1'`,
   *   `'1.5'`, `'01'`, `' 1'` and numbers past `Number.MAX_SAFE_INTEGER` are all refused.
   */
  static parse(value: string): CursorVersion {
    if (typeof value !== 'string' || !CANONICAL.test(value)) {
      throw new SyncError(
        'invalid_input',
        `Not a cursor version: ${describeValue(value)} (expected a decimal like "42")`,
        {
          details: { field: 'version' },
        },
      );
    }
    const parsed = Number(value);
    if (!Number.isSafeInteger(parsed)) {
      throw new SyncError('invalid_input', `Cursor version ${value} is past the largest safe integer`, {
        details: { field: 'version' },
      });
    }
    return CursorVersion.of(parsed);
  }

  /** The cursor right after this one. */
  next(): CursorVersion {
    return new CursorVersion(this.value + 1);
  }

  compare(other: Version): -1 | 0 | 1 {
    if (!(other instanceof CursorVersion)) {
      throw new SyncError('invalid_input', `Cannot compare a cursor version with ${describeValue(other)}`);
    }
    return this.value < other.value ? -1 : this.value > other.value ? 1 : 0;
  }

  /** Whether both are the same cursor. */
  equals(other: Version): boolean {
    return other instanceof CursorVersion && other.value === this.value;
  }

  isZero(): boolean {
    return this.value === 0;
  }

  toString(): string {
    return String(this.value);
  }

  /** The canonical decimal string, as `toString()` gives it: how a cursor travels in JSON. */
  toJSON(): string {
    return this.toString();
  }
}

/** The codec of the cursor version space, for stores that take a {@link VersionCodec}. */
export const cursorVersionCodec: VersionCodec<CursorVersion> = {
  zero: CursorVersion.ZERO,
  parse: (value) => CursorVersion.parse(value),
};
