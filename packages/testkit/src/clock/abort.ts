import { SyncError } from '@eventsync/core';

// Core's `internal/abort.ts` is not exported, so the testkit keeps its own copy of the pattern.

/** The error an aborted call rejects with: the signal's reason, or a `SyncError('aborted')` if it has none. */
export function abortReason(signal: AbortSignal): unknown {
  const reason: unknown = signal.reason;
  return reason === undefined ? new SyncError('aborted', 'The operation was aborted') : reason;
}

/** Throws the reason of the first signal that has fired. */
export function throwIfAborted(...signals: (AbortSignal | undefined)[]): void {
  for (const signal of signals) if (signal?.aborted) throw abortReason(signal);
}

/**
 * Settles like `promise`, or rejects with the reason of the first of `signals` to fire before it does.
 * `onAbort` runs once when a signal wins, to release what the promise holds (a timer).
 */
export function raceAbort<T>(
  promise: Promise<T>,
  signals: readonly (AbortSignal | undefined)[],
  onAbort?: () => void,
): Promise<T> {
  const live = signals.filter((signal): signal is AbortSignal => signal !== undefined);
  if (live.length === 0) return promise;
  return new Promise<T>((resolve, reject) => {
    // The contract is to reject with `signal.reason` (or the promise's own error), whatever it is.
    const fail = (reason: unknown): void => reject(reason);
    const cleanup = (): void => {
      for (const signal of live) signal.removeEventListener('abort', abort);
    };
    const abort = (event: Event): void => {
      cleanup();
      onAbort?.();
      fail(abortReason(event.target as AbortSignal));
    };
    promise.then(
      (value) => {
        cleanup();
        resolve(value);
      },
      (error: unknown) => {
        cleanup();
        fail(error);
      },
    );
    const fired = live.find((signal) => signal.aborted);
    if (fired) {
      cleanup();
      onAbort?.();
      fail(abortReason(fired));
      return;
    }
    for (const signal of live) signal.addEventListener('abort', abort, { once: true });
  });
}
