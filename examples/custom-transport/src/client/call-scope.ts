import { SyncError } from '@eventsync/core';

/**
 * The cancellation of one call: a signal that fires with the caller's own reason when the caller's
 * signal fires, with `SyncError('closed')` when the transport closes, and with `SyncError('timeout')`
 * when the time is up. Each scope holds its own listeners, released by {@link CallScope.dispose}, so
 * many concurrent calls never pile listeners onto one shared signal.
 */
export class CallScope {
  readonly #controller = new AbortController();
  readonly #unlink: (() => void)[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(signals: readonly (AbortSignal | undefined)[], timeoutMs: number, what: string) {
    for (const signal of signals) {
      if (signal === undefined) continue;
      if (signal.aborted) {
        this.#controller.abort(reasonOf(signal));
        return;
      }
      const onAbort = (): void => this.#controller.abort(reasonOf(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      this.#unlink.push(() => signal.removeEventListener('abort', onAbort));
    }
    this.#timer = setTimeout(() => {
      this.#controller.abort(
        new SyncError('timeout', `${what} got no answer within ${timeoutMs} ms`, { details: { timeoutMs } }),
      );
    }, timeoutMs);
  }

  /** Fires when the call is cancelled, for whatever reason. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Whether the call ran out of time (rather than being aborted or closed). */
  get timedOut(): boolean {
    return this.signal.aborted && this.signal.reason instanceof SyncError && this.signal.reason.code === 'timeout';
  }

  /** Releases the listeners and the timer. */
  dispose(): void {
    clearTimeout(this.#timer);
    for (const unlink of this.#unlink.splice(0)) unlink();
  }
}

/** `promise`, or a rejection with the signal's reason as soon as it fires. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
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

/** The signal's reason, or `SyncError('aborted')` when it has none. */
export function reasonOf(signal: AbortSignal): unknown {
  const reason: unknown = signal.reason;
  return reason === undefined ? new SyncError('aborted', 'The operation was aborted') : reason;
}
