import { SyncError } from '@eventsync/core';

/** The SQLite result code of an error thrown by better-sqlite3 (`SQLITE_FULL`, `SQLITE_BUSY`…), if it has one. */
export function sqliteCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}

/**
 * The `SyncError` a failure of SQLite becomes: `quota` when the disk or the database is full,
 * `storage` otherwise (retryable when another connection held the lock past the busy timeout).
 * A `SyncError` passes through; an error that did not come from SQLite is a bug (`internal`), unless
 * `fallback` says otherwise. The original error is the `cause`.
 *
 * @param action - what was being done, for the message: `append to`, `read`, `open`…
 */
export function toSyncError(error: unknown, action: string, fallback: 'internal' | 'storage' = 'internal'): SyncError {
  if (error instanceof SyncError) return error;
  const code = sqliteCode(error);
  const message = error instanceof Error ? error.message : String(error);
  const details = code === undefined ? {} : { sqliteCode: code };
  if (code === undefined) {
    return new SyncError(fallback, `Could not ${action} the SQLite event store: ${message}`, { cause: error });
  }
  if (code === 'SQLITE_FULL') {
    return new SyncError('quota', `Could not ${action} the SQLite event store: the disk or database is full`, {
      cause: error,
      details,
    });
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new SyncError(
      'storage',
      `Could not ${action} the SQLite event store: another connection held the database past the busy timeout`,
      { cause: error, details, retryable: true },
    );
  }
  if (code.startsWith('SQLITE_READONLY')) {
    return new SyncError('storage', `Could not ${action} the SQLite event store: the database is read-only`, {
      cause: error,
      details,
    });
  }
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    return new SyncError(
      'storage',
      `Could not ${action} the SQLite event store: the file is corrupt or not a SQLite database (${message})`,
      { cause: error, details },
    );
  }
  return new SyncError('storage', `Could not ${action} the SQLite event store: ${message} (${code})`, {
    cause: error,
    details,
  });
}
