import { SyncError } from '@eventsync/core';
import { wrap } from 'idb';
import { abortReason } from './abort.js';
import type { Database, Schema, UpgradeTransaction } from './schema.js';
import { errorName, toStorageError } from './storage-error.js';

/** What {@link openDatabase} needs. */
export interface OpenDatabaseOptions {
  readonly name: string;
  readonly factory: IDBFactory;
  readonly schema: Schema;
  /** How long to wait, once blocked by another connection, before giving up. */
  readonly blockedTimeoutMs: number;
  /** Told when another connection blocks the upgrade. */
  readonly onBlocked?: ((event: { oldVersion: number; newVersion: number }) => void) | undefined;
  readonly signal?: AbortSignal | undefined;
}

/**
 * Opens (creating or upgrading) the database, running the schema's migrations from the version found.
 * Never hangs on another tab: when an older connection blocks the upgrade, `onBlocked` is told and the
 * open fails with `SyncError('timeout')` after `blockedTimeoutMs` (the upgrade is then called off, so
 * nothing changes when the other tab finally lets go).
 */
export function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  const { name, factory, schema, blockedTimeoutMs, onBlocked, signal } = options;
  return new Promise<Database>((resolve, reject) => {
    let done = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let upgradeError: unknown;
    const finish = (outcome: () => void): void => {
      if (done) return;
      done = true;
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      outcome();
    };
    const onAbort = (): void => finish(() => reject(abortReason(signal!)));
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });

    let request: IDBOpenDBRequest;
    try {
      request = factory.open(name, schema.version);
    } catch (error) {
      finish(() => reject(toStorageError(error, `open the database ${name}`)));
      return;
    }
    request.onupgradeneeded = (event) => {
      const transaction = request.transaction!;
      // The caller gave up (timeout or abort): leave the database as it was.
      if (done) {
        transaction.abort();
        return;
      }
      try {
        const db = wrap(request.result) as unknown as Database;
        const tx = wrap(transaction) as unknown as UpgradeTransaction;
        // A failed upgrade is reported by the open request; its transaction's own rejection is not news.
        tx.done.catch(() => {});
        for (let version = event.oldVersion; version < schema.version; version++) {
          const migration = schema.migrations[version];
          if (!migration) throw new Error(`no migration from schema version ${version}`);
          migration(db, tx);
        }
      } catch (error) {
        upgradeError = error;
        transaction.abort();
      }
    };
    request.onblocked = (event) => {
      try {
        onBlocked?.({ oldVersion: event.oldVersion, newVersion: event.newVersion ?? schema.version });
      } finally {
        if (!done && timer === undefined) {
          timer = setTimeout(() => {
            finish(() =>
              reject(
                new SyncError(
                  'timeout',
                  `Opening the database ${name} is blocked: another tab or worker keeps version ` +
                    `${event.oldVersion} open and does not close it. Close the other tabs of this app and try again.`,
                  { details: { reason: 'blocked', oldVersion: event.oldVersion, newVersion: schema.version } },
                ),
              ),
            );
          }, blockedTimeoutMs);
        }
      }
    };
    request.onsuccess = () => {
      const db = request.result;
      if (done) {
        db.close();
        return;
      }
      finish(() => resolve(wrap(db) as unknown as Database));
    };
    request.onerror = (event) => {
      event.preventDefault();
      finish(() => reject(openError(name, schema, request.error, upgradeError)));
    };
  });
}

function openError(name: string, schema: Schema, error: unknown, upgradeError: unknown): SyncError {
  if (upgradeError !== undefined) {
    return new SyncError('storage', `Upgrading the database ${name} to schema ${schema.version} failed`, {
      cause: upgradeError,
      details: { reason: 'upgrade' },
    });
  }
  if (errorName(error) === 'VersionError') {
    return new SyncError(
      'storage',
      `The database ${name} was written by a newer version of this app (schema newer than ${schema.version}); ` +
        'reload the page to get the new version.',
      { cause: error, details: { reason: 'version', domException: 'VersionError' } },
    );
  }
  return toStorageError(error, `open the database ${name}`);
}

/** Deletes a database; gives up after `blockedTimeoutMs` when another connection keeps it open. */
export function deleteDatabase(
  name: string,
  factory: IDBFactory,
  blockedTimeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    let done = false;
    const finish = (outcome: () => void): void => {
      if (done) return;
      done = true;
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      outcome();
    };
    const onAbort = (): void => finish(() => reject(abortReason(signal!)));
    signal?.addEventListener('abort', onAbort, { once: true });
    const request = factory.deleteDatabase(name);
    request.onblocked = () => {
      timer ??= setTimeout(
        () =>
          finish(() =>
            reject(
              new SyncError('timeout', `Deleting the database ${name} is blocked: another tab keeps it open`, {
                details: { reason: 'blocked' },
              }),
            ),
          ),
        blockedTimeoutMs,
      );
    };
    request.onsuccess = () => finish(resolve);
    request.onerror = (event) => {
      event.preventDefault();
      finish(() => reject(toStorageError(request.error, `delete the database ${name}`)));
    };
  });
}
