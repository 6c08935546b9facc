import { SyncError } from '../errors/sync-error.js';

/** Checks an optional `limit` option: a positive integer, or absent for no limit. */
export function checkLimit(limit: number | undefined, field = 'limit'): number {
  if (limit === undefined) return Number.POSITIVE_INFINITY;
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new SyncError('invalid_input', `${field} must be a positive integer, got ${String(limit)}`, {
      details: { field },
    });
  }
  return limit;
}
