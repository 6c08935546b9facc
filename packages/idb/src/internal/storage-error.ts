import { SyncError, isSyncError } from '@eventsync/core';

/**
 * Turns what IndexedDB threw into a {@link SyncError}, keeping the browser's `DOMException` as the
 * `cause`: `QuotaExceededError` is `quota`, a value that cannot be cloned is `invalid_input`, anything
 * else (`UnknownError` after a disk failure, an aborted transaction…) is `storage`. A `SyncError` passes
 * through unchanged.
 *
 * @param action - what was being done, for the message: `'appendLocal'`, `'open the database'`…
 */
export function toStorageError(error: unknown, action: string): SyncError {
  if (isSyncError(error)) return error;
  const name = errorName(error);
  if (name === 'QuotaExceededError') {
    return new SyncError(
      'quota',
      `IndexedDB is out of space: ${action} stored nothing. Free some space (delete old data) and try again.`,
      { cause: error, details: { domException: name } },
    );
  }
  if (name === 'DataCloneError') {
    return new SyncError('invalid_input', `${action}: a value cannot be stored in IndexedDB (${describe(error)})`, {
      cause: error,
      details: { domException: name },
    });
  }
  return new SyncError('storage', `IndexedDB failed in ${action}: ${describe(error)}`, {
    cause: error,
    details: { domException: name ?? 'unknown' },
  });
}

/** The `name` of a `DOMException` or `Error`, if any. */
export function errorName(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && typeof (error as { name?: unknown }).name === 'string'
    ? (error as { name: string }).name
    : undefined;
}

function describe(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const { name, message } = error as { name?: unknown; message?: unknown };
    return [name, message].filter((part) => typeof part === 'string' && part !== '').join(': ') || 'unknown error';
  }
  return String(error);
}
