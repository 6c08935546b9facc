import type { EventLimits } from '@eventsync/core';

/** Options of {@link IndexedDbEventStore.open}. */
export interface IndexedDbEventStoreOptions {
  /**
   * The database's name. One database holds one client's log; give each app (and each signed-in user,
   * if they must not share a log) its own.
   *
   * @defaultValue `'eventsync'`
   */
  readonly name?: string;
  /**
   * The IndexedDB to use: pass `new IDBFactory()` from fake-indexeddb in tests, with
   * {@link IndexedDbEventStoreOptions.IDBKeyRange} from the same place.
   *
   * @defaultValue `globalThis.indexedDB`
   */
  readonly indexedDB?: IDBFactory;
  /**
   * The `IDBKeyRange` of the same IndexedDB as {@link IndexedDbEventStoreOptions.indexedDB}.
   *
   * @defaultValue `globalThis.IDBKeyRange`
   */
  readonly IDBKeyRange?: typeof IDBKeyRange;
  /**
   * Bounds checked on every event stored.
   *
   * @defaultValue `DEFAULT_EVENT_LIMITS`
   */
  readonly limits?: EventLimits;
  /**
   * The clock for `rejectedAt`, in milliseconds since the epoch.
   *
   * @defaultValue `Date.now`
   */
  readonly now?: () => number;
  /**
   * The durability of write transactions. `'strict'` waits until the data is flushed to the disk
   * (survives a power cut, slower); `'relaxed'` until the operating system has it (survives a crash of
   * the browser); `'default'` lets the browser choose (Chromium: relaxed). A call resolves only when
   * its transaction has committed with this durability.
   *
   * @defaultValue `'default'`
   */
  readonly durability?: IDBTransactionDurability;
  /**
   * Group commit: `appendLocal` calls made while another is being written share the next transaction,
   * up to this many events. Each call still resolves only once its events are committed, and still
   * fails alone when its own events are refused.
   *
   * @defaultValue 10000
   */
  readonly maxEventsPerCommit?: number;
  /**
   * How long opening waits when another tab's old connection blocks an upgrade before failing with
   * `SyncError('timeout')`, in milliseconds.
   *
   * @defaultValue 10000
   */
  readonly blockedTimeoutMs?: number;
  /**
   * Told when another tab's old connection blocks opening (it does not close on `versionchange`).
   * Ask the user to close the app's other tabs.
   */
  readonly onBlocked?: (event: { readonly oldVersion: number; readonly newVersion: number }) => void;
  /**
   * Told when this store closed its connection because another tab opened the database with a newer
   * schema (or deleted it). Later calls fail with `SyncError('closed')` whose `details.reason` is
   * `'versionchange'`; the page should reload to get the new code.
   */
  readonly onVersionChange?: (event: { readonly oldVersion: number; readonly newVersion: number | null }) => void;
  /**
   * Told when the browser closed the connection abnormally (the user cleared site data, the disk
   * failed). Later calls fail with `SyncError('storage')` whose `details.reason` is `'terminated'`.
   */
  readonly onTerminated?: () => void;
  /**
   * The `BroadcastChannel` constructor that carries change notices to other tabs; `null` for none
   * (then other tabs' changes are found by polling, see
   * {@link IndexedDbEventStoreOptions.pollIntervalMs}).
   *
   * @defaultValue `globalThis.BroadcastChannel`, or `null` where it is missing
   */
  readonly BroadcastChannel?: typeof BroadcastChannel | null;
  /**
   * Without a `BroadcastChannel`, how often to look for other tabs' changes while someone
   * subscribes, in milliseconds; 0 never looks.
   *
   * @defaultValue 1000
   */
  readonly pollIntervalMs?: number;
  /** Aborts opening. */
  readonly signal?: AbortSignal;
}

/** The defaults of {@link IndexedDbEventStoreOptions}. */
export const DEFAULT_INDEXED_DB_EVENT_STORE_OPTIONS = {
  /** The database is named `eventsync`; see {@link IndexedDbEventStoreOptions.name}. */
  name: 'eventsync',
  /** The browser chooses the durability; see {@link IndexedDbEventStoreOptions.durability}. */
  durability: 'default',
  /** Appends share a transaction up to 10000 events; see {@link IndexedDbEventStoreOptions.maxEventsPerCommit}. */
  maxEventsPerCommit: 10_000,
  /** A blocked open fails after 10 s; see {@link IndexedDbEventStoreOptions.blockedTimeoutMs}. */
  blockedTimeoutMs: 10_000,
  /** Without a `BroadcastChannel`, look every second; see {@link IndexedDbEventStoreOptions.pollIntervalMs}. */
  pollIntervalMs: 1_000,
} as const satisfies IndexedDbEventStoreOptions;
