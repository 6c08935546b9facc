import type { Event, VersionedEvent } from '../event/event.js';
import type { SignalOptions } from '../internal/abort.js';
import type { CursorVersion } from '../version/cursor-version.js';
import type { Version } from '../version/version.js';
import type { Filter } from './filter.js';

/** Options of {@link EventStore.load} and {@link EventStore.loadByAggregate}. */
export interface LoadOptions extends SignalOptions {
  /** Keeps only matching events. */
  readonly filter?: Filter;
  /**
   * The most events to return; the first ones in version order.
   *
   * @defaultValue no limit
   */
  readonly limit?: number;
}

/**
 * A log of events in one version space (go-sync-kit's `EventStore`). On a client this is the
 * confirmed log, in server order; events not yet pushed live in the outbox of a
 * {@link LocalEventStore} and are never mixed into it.
 *
 * Every async method rejects with `SyncError('closed')` after {@link EventStore.close}, and with the
 * signal's reason when its `AbortSignal` fires.
 *
 * @typeParam V - the version space; the server's {@link CursorVersion} by default.
 */
export interface EventStore<V extends Version = CursorVersion> {
  /**
   * Stores `event` at `version`. Idempotent: storing the same event at the same version again changes
   * nothing.
   *
   * @throws SyncError `invalid_input` for a malformed event, or an id already stored at another version
   *   or with other content.
   */
  store(event: Event, version: V, options?: SignalOptions): Promise<void>;

  /** The events strictly after `since`, in version order. */
  load(since: V, options?: LoadOptions): Promise<VersionedEvent<V>[]>;

  /** The events of one aggregate strictly after `since`, in version order. */
  loadByAggregate(aggregateId: string, since: V, options?: LoadOptions): Promise<VersionedEvent<V>[]>;

  /** The highest version stored; the zero version when the store is empty. */
  latestVersion(options?: SignalOptions): Promise<V>;

  /**
   * Turns a version's string form back into a version of this store's space.
   *
   * @throws SyncError `invalid_input` on a bad string.
   */
  parseVersion(value: string): V;

  /** Releases the store; later calls fail with `SyncError('closed')`. Idempotent. */
  close(): Promise<void>;
}
