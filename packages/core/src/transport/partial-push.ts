import { isSyncError, SyncError } from '../errors/sync-error.js';
import type { AppendResult } from '../server/server-event-log.js';

/**
 * The error a transport's `push` fails with when it sent a batch in parts and a part failed after
 * earlier ones were answered: `error` with the results so far in `details.results` (and their count
 * in `details.completed`), its code and retryability kept, so that the caller knows what was stored.
 * Pushing everything again is safe: events already stored come back `duplicate`. With no results
 * yet, or an error that is not a `SyncError`, `error` itself.
 *
 * @param results - the results of the events answered before the failure, in order.
 * @param total - how many events the push held.
 *
 * @example
 * ```ts
 * throw partialPushError(error, results, events.length);
 * ```
 */
export function partialPushError(error: unknown, results: readonly AppendResult[], total: number): unknown {
  if (results.length === 0 || !isSyncError(error)) return error;
  return new SyncError(error.code, `${error.message} (after ${results.length} of ${total} events were pushed)`, {
    cause: error,
    details: { ...error.details, results: [...results], completed: results.length },
    retryable: error.retryable,
  });
}
