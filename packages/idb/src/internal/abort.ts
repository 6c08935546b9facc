import { SyncError } from '@eventsync/core';

/** The error an aborted call rejects with: the signal's reason, or a `SyncError('aborted')` without one. */
export function abortReason(signal: AbortSignal): unknown {
  const reason: unknown = signal.reason;
  return reason === undefined ? new SyncError('aborted', 'The operation was aborted') : reason;
}

/** Throws the signal's reason when it has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}
