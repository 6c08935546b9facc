import { SyncError } from '../errors/sync-error.js';
import { abortReason } from '../internal/abort.js';
import { MAX_TIMER_MS } from '../internal/timer.js';

/** Options of {@link CallScope}. */
export interface CallScopeOptions {
  /**
   * The signals that cancel the call, each with its own reason: typically the caller's
   * `options.signal`, and a signal the transport aborts with `SyncError('closed')` on close.
   * `undefined` entries are skipped, so `[options.signal, closing.signal]` needs no check.
   *
   * @defaultValue `[]`
   */
  readonly signals?: readonly (AbortSignal | undefined)[];
  /**
   * How long the call may take, in milliseconds; then the scope fires with `SyncError('timeout')`.
   * `Infinity` (or anything past 2^31 - 1 ms, the longest a timer waits) sets no timer.
   *
   * @defaultValue `Infinity`
   */
  readonly timeoutMs?: number;
  /**
   * What the call is, for the timeout's message: `"<what> got no answer within <timeoutMs> ms"`.
   *
   * @defaultValue `'The call'`
   */
  readonly what?: string;
}

/** The defaults of {@link CallScopeOptions}. */
export const DEFAULT_CALL_SCOPE_OPTIONS: Required<CallScopeOptions> = {
  signals: [],
  timeoutMs: Infinity,
  what: 'The call',
};

/**
 * The cancellation of one call of a transport: a signal that fires with the caller's own
 * `signal.reason` when one of the given signals fires, or with `SyncError('timeout')` (details
 * `{ timeoutMs }`) when the time is up. Hand {@link CallScope.signal} to whatever the call waits on
 * (`fetch`, a body read, an answer on a socket), or wait through {@link CallScope.race}.
 *
 * Each scope adds one listener to each signal and removes it in {@link CallScope.dispose}, so a
 * long-lived signal (a caller's signal reused for many calls, a subscription's) keeps no listener
 * of a call that settled. Always dispose the scope when the call settles. Calls in flight at the
 * same time each hold theirs, and Node warns past ten listeners on one signal: a transport that runs
 * many calls at once opens its scopes in a {@link CallScopes} and closes that on close, rather than
 * linking every call to its closing signal (as the example below does, for brevity).
 *
 * A signal that has fired already aborts the scope at once, with no timer and no listener.
 *
 * @example
 * ```ts
 * async latestVersion(options: SignalOptions = {}): Promise<CursorVersion> {
 *   const scope = new CallScope({
 *     signals: [options.signal, this.#closing.signal],
 *     timeoutMs: 30_000,
 *     what: 'Asking the latest version',
 *   });
 *   try {
 *     // Rejects with the caller's reason, SyncError('closed') or SyncError('timeout').
 *     return await scope.race(this.#ask('version', scope.signal));
 *   } finally {
 *     scope.dispose();
 *   }
 * }
 * ```
 */
export class CallScope {
  readonly #controller = new AbortController();
  readonly #unlink: (() => void)[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * Links the scope to `options.signals` and starts the timeout.
   *
   * @param options - The signals, the timeout and what the call is; see {@link CallScopeOptions}.
   * @throws SyncError `invalid_input` for a `timeoutMs` that is not a positive number.
   */
  constructor(options: CallScopeOptions = {}) {
    const defaults = DEFAULT_CALL_SCOPE_OPTIONS;
    const signals = options.signals ?? defaults.signals;
    const timeoutMs = options.timeoutMs ?? defaults.timeoutMs;
    const what = options.what ?? defaults.what;
    if (!(timeoutMs > 0)) {
      throw new SyncError('invalid_input', `timeoutMs must be positive, got ${String(timeoutMs)}`, {
        details: { field: 'timeoutMs' },
      });
    }
    const fired = signals.find((signal) => signal?.aborted === true);
    if (fired !== undefined) {
      this.#controller.abort(abortReason(fired));
      return;
    }
    for (const signal of signals) {
      if (signal === undefined) continue;
      const onAbort = (): void => this.#controller.abort(abortReason(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      this.#unlink.push(() => signal.removeEventListener('abort', onAbort));
    }
    // A timer cannot wait longer than 2^31 - 1 ms (Node would fire it after 1 ms): a longer timeout
    // (about 25 days and more) is as good as none.
    if (timeoutMs <= MAX_TIMER_MS) {
      this.#timer = setTimeout(() => {
        this.#controller.abort(
          new SyncError('timeout', `${what} got no answer within ${timeoutMs} ms`, { details: { timeoutMs } }),
        );
      }, timeoutMs);
    }
  }

  /**
   * Waits for `promise`, or rejects with `signal.reason` as soon as `signal` fires (at once when it
   * has fired already). The listener is removed when either happens. `promise` is not cancelled: pass
   * the signal to whatever it waits on to release that too.
   *
   * @param promise - What to wait for.
   * @param signal - What stops the wait.
   * @returns The value `promise` resolves with.
   * @example
   * ```ts
   * const token = await CallScope.race(Promise.resolve(provider(request)), request.signal);
   * ```
   */
  static race<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
    if (signal.aborted) {
      promise.catch(() => undefined);
      return Promise.reject(signal.reason as unknown);
    }
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason as unknown);
      signal.addEventListener('abort', onAbort, { once: true });
      promise.then(
        (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
    });
  }

  /** Fires when the call is cancelled, for whatever reason; its `reason` is what the call rejects with. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Whether the call ran out of time (rather than being aborted or closed). */
  get timedOut(): boolean {
    const reason: unknown = this.signal.reason;
    return this.signal.aborted && reason instanceof SyncError && reason.code === 'timeout';
  }

  /**
   * Waits for `promise`, or rejects with the scope's reason as soon as it is cancelled: the same as
   * `CallScope.race(promise, scope.signal)`.
   *
   * @param promise - What the call waits for.
   * @returns The value `promise` resolves with.
   */
  race<T>(promise: Promise<T>): Promise<T> {
    return CallScope.race(promise, this.signal);
  }

  /** Throws the scope's reason when it was cancelled. */
  throwIfAborted(): void {
    if (this.signal.aborted) throw this.signal.reason;
  }

  /**
   * Cancels the call with `reason` (a stream that went silent, a connection released). Does nothing
   * when the scope was cancelled already.
   *
   * @param reason - What the call rejects with.
   */
  abort(reason: unknown): void {
    this.#controller.abort(reason);
  }

  /** Stops the timeout and keeps the signals linked: for a call that goes on as a stream once answered. */
  stopTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Removes the listeners from the given signals and stops the timer. Idempotent. */
  dispose(): void {
    this.stopTimer();
    for (const unlink of this.#unlink.splice(0)) unlink();
  }
}

/**
 * The calls in flight of one client, such as a transport: {@link CallScopes.open} makes each call's
 * {@link CallScope}, {@link CallScopes.release} disposes of it when the call settles, and
 * {@link CallScopes.close} aborts every call in flight, and every call opened after, with its reason.
 * No call puts a listener on a shared closing signal, so any number may be in flight at once.
 *
 * @example
 * ```ts
 * async pull(since: CursorVersion, options: PullOptions = {}): Promise<EventPage> {
 *   const scope = this.#calls.open({ signals: [options.signal], timeoutMs: 30_000, what: 'Pulling' });
 *   try {
 *     return await scope.race(this.#ask('pull', since, scope.signal));
 *   } finally {
 *     this.#calls.release(scope);
 *   }
 * }
 *
 * async close(): Promise<void> {
 *   this.#calls.close(new SyncError('closed', 'The transport was closed'));
 * }
 * ```
 */
export class CallScopes {
  readonly #open = new Set<CallScope>();
  #closed: { readonly reason: unknown } | undefined;

  /** How many calls are in flight: opened and not released. */
  get size(): number {
    return this.#open.size;
  }

  /**
   * The scope of a new call (see {@link CallScope}); aborted at once with the close's reason when the
   * group is closed already. Release it when the call settles.
   *
   * @throws SyncError `invalid_input` for a `timeoutMs` that is not a positive number.
   */
  open(options?: CallScopeOptions): CallScope {
    const scope = new CallScope(options);
    if (this.#closed !== undefined) scope.abort(this.#closed.reason);
    else this.#open.add(scope);
    return scope;
  }

  /** The call settled: forgets its scope and disposes of it. Idempotent. */
  release(scope: CallScope): void {
    this.#open.delete(scope);
    scope.dispose();
  }

  /** Aborts every call in flight, and every one opened from now on, with `reason`. Idempotent: the first reason stays. */
  close(reason: unknown): void {
    if (this.#closed !== undefined) return;
    this.#closed = { reason };
    for (const scope of [...this.#open]) scope.abort(reason);
  }
}
