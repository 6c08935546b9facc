import { SyncError } from '../errors/sync-error.js';
import { MAX_TIMER_MS } from '../internal/timer.js';
import type { SubscribeOptions, SubscriptionState } from './transport.js';

/**
 * The life of one live subscription of a transport, as `Transport.subscribe` asks it: nothing
 * runs before `subscribe` has returned, aborting the caller's `options.signal` closes it, closing is
 * idempotent, each state is told once per change and `'closed'` is the last, and a throwing
 * `onStateChange` never breaks delivery. What the subscription does in between (connect, deliver,
 * reconnect with backoff) stays the transport's own.
 *
 * @example
 * ```ts
 * class SocketSubscription implements TransportSubscription {
 *   readonly #life: SubscriptionLifecycle;
 *
 *   constructor(options: SubscribeOptions, onClosed: () => void) {
 *     this.#life = new SubscriptionLifecycle(options, () => onClosed());
 *     this.#life.start(() => this.#run());
 *   }
 *
 *   close(): void {
 *     this.#life.close();
 *   }
 *
 *   async #run(): Promise<void> {
 *     for (let attempt = 1; !this.#life.closed; attempt++) {
 *       this.#life.setState('connecting');
 *       try {
 *         await this.#follow(this.#life.signal); // says 'live' once the server confirmed the cursor
 *       } catch (error) {
 *         if (!isSyncError(error) || !error.retryable) return this.#life.close(error as SyncError);
 *         this.#life.setState('connecting', error);
 *       }
 *       await this.#life.sleep(backoffDelay(attempt, retry, Math.random));
 *     }
 *   }
 * }
 * ```
 */
export class SubscriptionLifecycle {
  readonly #onStateChange: SubscribeOptions['onStateChange'];
  readonly #callerSignal: AbortSignal | undefined;
  readonly #onClose: (error?: SyncError) => void;
  readonly #closing = new AbortController();
  #state: SubscriptionState | undefined;

  /**
   * @param options - The caller's `subscribe` options: its `onStateChange` and `signal` are used.
   * @param onClose - Runs once, when the subscription closes, before `'closed'` is told: release the
   *   stream, unsubscribe, forget the subscription in the transport. `error` is the one `'closed'` is
   *   told with (none for a close by the caller).
   */
  constructor(options: SubscribeOptions, onClose: (error?: SyncError) => void) {
    this.#onStateChange = options.onStateChange;
    this.#callerSignal = options.signal;
    this.#onClose = onClose;
  }

  /** Fires when the subscription closes, with `SyncError('closed')`: hand it to what the subscription waits on. */
  get signal(): AbortSignal {
    return this.#closing.signal;
  }

  /** Whether the subscription was closed (by the caller, its signal, or {@link SubscriptionLifecycle.close}). */
  get closed(): boolean {
    return this.#closing.signal.aborted;
  }

  /** The state last told, or `undefined` before the first. */
  get state(): SubscriptionState | undefined {
    return this.#state;
  }

  /**
   * Starts the subscription: from now on the caller's signal closes it, and `run` is called in a
   * microtask, after `subscribe` has returned. Call it once, as `subscribe`'s last step. A caller's
   * signal that has fired already closes the subscription at once, and `run` is not called.
   *
   * @param run - Connects and delivers; a promise it returns is not awaited (catch inside it).
   */
  start(run: () => void | Promise<void>): void {
    if (this.#callerSignal?.aborted) {
      this.close();
      return;
    }
    this.#callerSignal?.addEventListener('abort', this.#abort, { once: true });
    queueMicrotask(() => void run());
  }

  /**
   * Tells `onStateChange` of a new state, once per change (telling the state it is in does nothing),
   * and nothing after `'closed'`. An error thrown by the listener is ignored.
   *
   * @param state - `'connecting'` or `'live'`; `'closed'` is told by {@link SubscriptionLifecycle.close}.
   * @param error - What caused the change, e.g. the failure that turns a live subscription `'connecting'`.
   */
  setState(state: SubscriptionState, error?: SyncError): void {
    if (this.#state === state || this.#state === 'closed') return;
    this.#state = state;
    try {
      this.#onStateChange?.(state, error);
    } catch {
      // A throwing listener must not break delivery.
    }
  }

  /**
   * Closes the subscription: aborts {@link SubscriptionLifecycle.signal}, stops following the
   * caller's signal, runs `onClose`, then tells `'closed'` with `error`, even when `onClose` throws
   * (its error is then rethrown). Idempotent.
   *
   * @param error - Why it stopped for good (refused by the server, the handler threw); none when closed by the caller.
   */
  close(error?: SyncError): void {
    if (this.closed) return;
    this.#closing.abort(new SyncError('closed', 'The live subscription was closed'));
    this.#callerSignal?.removeEventListener('abort', this.#abort);
    try {
      this.#onClose(error);
    } finally {
      this.setState('closed', error);
    }
  }

  /**
   * Waits `ms` milliseconds (the backoff before reconnecting), or less when the subscription closes
   * meanwhile. Never rejects. A wait longer than a timer can take (2^31 - 1 ms, about 24.8 days, such
   * as a far `Retry-After`) is waited out in steps, and `Infinity` waits until the subscription closes.
   *
   * @param ms - How long to wait.
   */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.#closing.signal;
      if (signal.aborted) {
        resolve();
        return;
      }
      let left = ms;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      // Node fires a timer past MAX_TIMER_MS after 1 ms: arm at most that much, and re-arm for the rest.
      const arm = (): void => {
        const step = Math.min(left, MAX_TIMER_MS);
        left -= step;
        timer = setTimeout(left > 0 ? arm : done, step);
      };
      arm();
      signal.addEventListener('abort', done, { once: true });
    });
  }

  readonly #abort = (): void => this.close();
}
