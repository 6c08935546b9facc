import type Database from 'better-sqlite3';
import { SyncError } from '@eventsync/core';
import type { SqliteSynchronous } from './sqlite-event-store.js';

/** The settings every connection of a store is opened with. */
export interface ConnectionSettings {
  readonly busyTimeoutMs: number;
  readonly synchronous: SqliteSynchronous;
}

/**
 * Sets the pragmas every connection of a `SqliteEventStore` has (its own and its writer thread's):
 * the busy timeout, WAL mode and `synchronous`.
 *
 * @throws SyncError `storage` when a file cannot switch to WAL mode (an in-memory database keeps its own)
 */
export function configureConnection(db: Database.Database, settings: ConnectionSettings): void {
  db.pragma(`busy_timeout = ${settings.busyTimeoutMs}`);
  const mode = db.pragma('journal_mode = WAL', { simple: true }) as string;
  if (mode !== 'wal' && !db.memory) {
    throw new SyncError('storage', `The SQLite database could not switch to WAL mode (it is in ${mode} mode)`);
  }
  db.pragma(`synchronous = ${settings.synchronous}`);
}
