import { SyncError } from '../errors/sync-error.js';
import { HlcTimestamp, MAX_HLC_COUNTER } from './hlc-timestamp.js';

/** Options of {@link HybridLogicalClock}. */
export interface HybridLogicalClockOptions {
  /** The node id stamped into every timestamp: the client id. Required. */
  readonly node: string;
  /**
   * The wall clock, in milliseconds since the epoch.
   *
   * @defaultValue `Date.now`
   */
  readonly now?: () => number;
  /**
   * The last timestamp this node issued before a restart, so the clock stays monotonic across restarts
   * even when the wall clock went backwards meanwhile.
   *
   * @defaultValue none: the clock starts from the wall clock
   */
  readonly last?: HlcTimestamp;
  /**
   * How far ahead of the local wall clock a received timestamp may be, in milliseconds. A remote clock
   * further ahead is refused with `SyncError('invalid_input')` rather than dragging this clock along.
   *
   * @defaultValue `Infinity` (no bound)
   */
  readonly maxDriftMs?: number;
}

/**
 * A hybrid logical clock (Kulkarni et al.): timestamps close to wall time that never go backwards and
 * that order causally related events, whatever the wall clocks of the nodes say.
 *
 * Call {@link HybridLogicalClock.now} to stamp a local event (the send rule) and
 * {@link HybridLogicalClock.receive} with each remote timestamp you learn of (the receive rule).
 *
 * @example
 * ```ts
 * const clock = new HybridLogicalClock({ node: 'alice' });
 * const t1 = clock.now();
 * const t2 = clock.receive(remoteEvent.timestamp); // t2 is after t1 and after the remote timestamp
 * ```
 */
export class HybridLogicalClock {
  /** The node id stamped into every timestamp of this clock: the client id. */
  readonly node: string;
  readonly #now: () => number;
  readonly #maxDriftMs: number;
  #last: HlcTimestamp;

  /** @throws SyncError `invalid_input` for a bad node id or `maxDriftMs`. */
  constructor(options: HybridLogicalClockOptions) {
    const { node, now = Date.now, last, maxDriftMs = Number.POSITIVE_INFINITY } = options;
    if (!(maxDriftMs > 0)) {
      throw new SyncError('invalid_input', `maxDriftMs must be positive, got ${String(maxDriftMs)}`, {
        details: { field: 'maxDriftMs' },
      });
    }
    // Validates the node id with the timestamp's own rules.
    this.#last = new HlcTimestamp(last?.wallTime ?? 0, last?.counter ?? 0, node);
    this.node = node;
    this.#now = now;
    this.#maxDriftMs = maxDriftMs;
  }

  /** The last timestamp this clock issued (or the zero timestamp). */
  get last(): HlcTimestamp {
    return this.#last;
  }

  /** A timestamp for a local event: after every timestamp this clock issued or received. */
  now(): HlcTimestamp {
    const physical = this.#physical();
    const last = this.#last;
    this.#last =
      physical > last.wallTime ? new HlcTimestamp(physical, 0, this.node) : this.#tick(last.wallTime, last.counter + 1);
    return this.#last;
  }

  /**
   * Takes in a remote timestamp: the clock moves past it, and the returned timestamp is after both it
   * and everything this clock issued before.
   *
   * @throws SyncError `invalid_input` when the remote is further ahead than `maxDriftMs`.
   */
  receive(remote: HlcTimestamp | string): HlcTimestamp {
    const other = typeof remote === 'string' ? HlcTimestamp.parse(remote) : remote;
    const physical = this.#physical();
    if (other.wallTime - physical > this.#maxDriftMs) {
      throw new SyncError(
        'invalid_input',
        `Remote timestamp ${other.toString()} is ${other.wallTime - physical} ms ahead of this clock (max ${this.#maxDriftMs})`,
        {
          details: {
            field: 'timestamp',
            limit: 'maxDriftMs',
            max: this.#maxDriftMs,
            actual: other.wallTime - physical,
          },
        },
      );
    }
    const last = this.#last;
    const wall = Math.max(last.wallTime, other.wallTime, physical);
    let counter: number;
    if (wall === last.wallTime && wall === other.wallTime) counter = Math.max(last.counter, other.counter) + 1;
    else if (wall === last.wallTime) counter = last.counter + 1;
    else if (wall === other.wallTime) counter = other.counter + 1;
    else counter = 0;
    this.#last = this.#tick(wall, counter);
    return this.#last;
  }

  #physical(): number {
    const value = Math.floor(this.#now());
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new SyncError('internal', `The wall clock returned ${String(value)}, not a time in milliseconds`);
    }
    return value;
  }

  // A counter past its range moves the wall time on by a millisecond instead of wrapping around.
  #tick(wall: number, counter: number): HlcTimestamp {
    return counter > MAX_HLC_COUNTER
      ? new HlcTimestamp(wall + 1, 0, this.node)
      : new HlcTimestamp(wall, counter, this.node);
  }
}
