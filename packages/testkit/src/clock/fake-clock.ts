import { SyncError, type SignalOptions } from '@eventsync/core';
import { raceAbort, throwIfAborted } from './abort.js';

/** The handle of a {@link FakeClock} timer, as a browser's `setTimeout` returns. */
export type FakeTimerHandle = number;

/** Options of {@link FakeClock}. */
export interface FakeClockOptions {
  /**
   * Where the wall clock starts, in milliseconds since the epoch (or a `Date`).
   *
   * @defaultValue `Date.UTC(2026, 0, 1)`: 2026-01-01T00:00:00Z
   */
  readonly now?: number | Date;
  /**
   * The most timers one {@link FakeClock.runAll} or {@link FakeClock.advance} fires before it gives up
   * with `SyncError('limit_exceeded')`: the guard against intervals and timers that reschedule forever.
   *
   * @defaultValue 10000
   */
  readonly maxTimers?: number;
}

/** The defaults of {@link FakeClockOptions}. */
export const DEFAULT_FAKE_CLOCK_OPTIONS: {
  /** 2026-01-01T00:00:00Z, in milliseconds since the epoch; see {@link FakeClockOptions.now}. */
  readonly now: number;
  /** 10000 timers per `runAll` or `advance`; see {@link FakeClockOptions.maxTimers}. */
  readonly maxTimers: number;
} = {
  now: Date.UTC(2026, 0, 1),
  maxTimers: 10_000,
};

interface Timer {
  readonly handle: FakeTimerHandle;
  /** When it fires, on the clock's monotonic time line. */
  due: number;
  /** The order timers due at the same time fire in: the order they were (re)scheduled. */
  sequence: number;
  readonly callback: () => void;
  /** The period of an interval; `undefined` for a timeout. */
  readonly interval: number | undefined;
}

// Captured at load, so a test that fakes the globals (vi.useFakeTimers) cannot stall the clock.
const realSetImmediate = (globalThis as { setImmediate?: (callback: () => void) => unknown }).setImmediate;
const realSetTimeout = globalThis.setTimeout.bind(globalThis);

/**
 * Lets every pending promise reaction run: a macrotask turn comes only after the microtask queue has
 * drained, however long the promise chains queued on it are.
 */
function settle(): Promise<void> {
  return new Promise((resolve) => {
    if (realSetImmediate) realSetImmediate(resolve);
    else realSetTimeout(resolve, 0);
  });
}

/**
 * A clock that moves only when the test says so: a wall clock (`now`) and timers
 * (`setTimeout`, `setInterval`…) with the shapes of the globals, to inject into what is tested
 * (`{ now: clock.now, setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout }`). It patches
 * no global. Its methods are bound, so they can be passed around alone.
 *
 * Timers run on a monotonic time line, as real timers do: {@link FakeClock.set} moves the wall clock
 * (to test clock skew) without firing or delaying any timer; {@link FakeClock.advance} moves both.
 *
 * @example
 * ```ts
 * const clock = new FakeClock();
 * const retry = vi.fn();
 * clock.setTimeout(retry, 1000);
 * await clock.advance(999); // not yet
 * await clock.advance(1); // retry called, and every promise chain it started has run
 * ```
 */
export class FakeClock {
  readonly #timers = new Map<FakeTimerHandle, Timer>();
  readonly #maxTimers: number;
  /** Milliseconds the clock has advanced: the monotonic time line of the timers. */
  #elapsed = 0;
  /** The wall clock minus `#elapsed`. */
  #wallOffset: number;
  #nextHandle = 1;
  #nextSequence = 0;
  #running = false;

  /** @throws SyncError `invalid_input` for a start time or `maxTimers` that is not a finite number. */
  constructor(options: FakeClockOptions = {}) {
    this.#wallOffset = toMillis(options.now ?? DEFAULT_FAKE_CLOCK_OPTIONS.now, 'now');
    const maxTimers = options.maxTimers ?? DEFAULT_FAKE_CLOCK_OPTIONS.maxTimers;
    if (!Number.isSafeInteger(maxTimers) || maxTimers < 1) {
      throw new SyncError('invalid_input', `maxTimers must be a positive integer, got ${String(maxTimers)}`, {
        details: { field: 'maxTimers' },
      });
    }
    this.#maxTimers = maxTimers;
  }

  /** The wall clock, in milliseconds since the epoch, like `Date.now()`. */
  readonly now = (): number => this.#wallOffset + this.#elapsed;

  /** Like the global `setTimeout`: calls `callback(...args)` once, `ms` from now (0 when absent or negative). */
  readonly setTimeout = <A extends unknown[]>(
    callback: (...args: A) => void,
    ms?: number,
    ...args: A
  ): FakeTimerHandle => this.#schedule(checkCallback(callback), args, ms, false);

  /** Like the global `clearTimeout`; unknown or spent handles are ignored. */
  readonly clearTimeout = (handle: unknown): void => {
    if (typeof handle === 'number') this.#timers.delete(handle);
  };

  /** Like the global `setInterval`: calls `callback(...args)` every `ms` (at least 1) until cleared. */
  readonly setInterval = <A extends unknown[]>(
    callback: (...args: A) => void,
    ms?: number,
    ...args: A
  ): FakeTimerHandle => this.#schedule(checkCallback(callback), args, ms, true);

  /** Like the global `clearInterval`; timeouts and intervals share handles, as in browsers. */
  readonly clearInterval = (handle: unknown): void => {
    this.clearTimeout(handle);
  };

  /** How many timers are scheduled (an interval counts until it is cleared). */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /**
   * Moves the clock `ms` forward, firing the timers that come due, in time order (same time: in the
   * order they were scheduled), each at its own time. Before and after each timer it lets pending
   * promise reactions run, so promise chains started by a timer go on, and timers they schedule
   * within the span fire too.
   *
   * A callback that throws makes `advance` reject with its error; the clock stays at that timer's time.
   *
   * @throws SyncError `limit_exceeded` past `maxTimers` timers; `invalid_input` for a negative or
   *   non-finite `ms`, or when another `advance`/`runAll` is still running.
   */
  readonly advance = async (ms: number): Promise<void> => {
    if (!Number.isFinite(ms) || ms < 0) {
      throw new SyncError('invalid_input', `advance takes a non-negative number of milliseconds, got ${String(ms)}`, {
        details: { field: 'ms' },
      });
    }
    await this.#run(this.#elapsed + ms, 'advance');
  };

  /**
   * Fires every timer, including those scheduled meanwhile, moving the clock to each one's time, until
   * none is left.
   *
   * @throws SyncError `limit_exceeded` past `maxTimers` timers, which is what an interval that was
   *   never cleared leads to.
   */
  readonly runAll = async (): Promise<void> => {
    await this.#run(Number.POSITIVE_INFINITY, 'runAll');
  };

  /**
   * Sets the wall clock to `time` (backwards or forwards) without firing or moving any timer: what a
   * user changing the system time, or an NTP step, does to `Date.now()`.
   *
   * @throws SyncError `invalid_input` for a time that is not a finite number.
   */
  readonly set = (time: number | Date): void => {
    this.#wallOffset = toMillis(time, 'time') - this.#elapsed;
  };

  /**
   * A promise that resolves `ms` from now on this clock. Aborting `signal` clears the timer and rejects
   * with the signal's reason.
   */
  readonly sleep = async (ms: number, options: SignalOptions = {}): Promise<void> => {
    throwIfAborted(options.signal);
    let handle: FakeTimerHandle | undefined;
    const slept = new Promise<void>((resolve) => {
      handle = this.setTimeout(resolve, ms);
    });
    await raceAbort(slept, [options.signal], () => this.clearTimeout(handle));
  };

  #schedule<A extends unknown[]>(
    callback: (...args: A) => void,
    args: A,
    ms: number | undefined,
    repeat: boolean,
  ): FakeTimerHandle {
    const delay = Number.isFinite(ms) && (ms as number) > 0 ? Math.floor(ms as number) : 0;
    const handle = this.#nextHandle++;
    this.#timers.set(handle, {
      handle,
      due: this.#elapsed + (repeat ? Math.max(1, delay) : delay),
      sequence: this.#nextSequence++,
      callback: () => callback(...args),
      interval: repeat ? Math.max(1, delay) : undefined,
    });
    return handle;
  }

  async #run(until: number, caller: string): Promise<void> {
    if (this.#running) {
      throw new SyncError(
        'invalid_input',
        `${caller} was called while another advance or runAll was running; await it first`,
      );
    }
    this.#running = true;
    try {
      let fired = 0;
      await settle();
      for (let timer = this.#next(until); timer; timer = this.#next(until)) {
        if (fired === this.#maxTimers) {
          throw new SyncError(
            'limit_exceeded',
            `${caller} fired ${fired} timers and more are due; an interval or a timer that reschedules itself never stops ` +
              '(clear it, advance by a finite span, or raise maxTimers)',
            { details: { limit: 'maxTimers', max: this.#maxTimers, actual: fired + 1 } },
          );
        }
        fired++;
        this.#elapsed = Math.max(this.#elapsed, timer.due);
        if (timer.interval === undefined) this.#timers.delete(timer.handle);
        else {
          timer.due += timer.interval;
          timer.sequence = this.#nextSequence++;
        }
        timer.callback();
        await settle();
      }
      if (Number.isFinite(until)) this.#elapsed = Math.max(this.#elapsed, until);
    } finally {
      this.#running = false;
    }
  }

  /** The timer to fire next, if one is due by `until`. */
  #next(until: number): Timer | undefined {
    let next: Timer | undefined;
    for (const timer of this.#timers.values()) {
      if (timer.due > until) continue;
      if (!next || timer.due < next.due || (timer.due === next.due && timer.sequence < next.sequence)) next = timer;
    }
    return next;
  }
}

function checkCallback<F>(callback: F): F {
  if (typeof callback !== 'function') {
    throw new SyncError('invalid_input', 'A timer callback must be a function', { details: { field: 'callback' } });
  }
  return callback;
}

function toMillis(time: number | Date, field: string): number {
  const millis = time instanceof Date ? time.getTime() : time;
  if (typeof millis !== 'number' || !Number.isFinite(millis)) {
    throw new SyncError('invalid_input', `${field} must be a finite number of milliseconds or a valid Date`, {
      details: { field },
    });
  }
  return millis;
}
