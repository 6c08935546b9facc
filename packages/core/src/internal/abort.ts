import { SyncError } from '../errors/sync-error.js';

/** The options every async public method takes. */
export interface SignalOptions {
  /** Aborts the call; it then rejects with `signal.reason`. */
  readonly signal?: AbortSignal | undefined;
}

/** Throws the signal's reason when it has fired: the first line of every async public method. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}

/** The error an aborted call rejects with: the signal's reason, or a `SyncError('aborted')` if it has none. */
export function abortReason(signal: AbortSignal): unknown {
  const reason: unknown = signal.reason;
  return reason === undefined ? new SyncError('aborted', 'The operation was aborted') : reason;
}
