import type { Conflict, ResolvedConflict } from '../conflict/conflict.js';
import type { Event, VersionedEvent } from '../event/event.js';
import type { SignalOptions } from '../internal/abort.js';
import type { CursorVersion } from '../version/cursor-version.js';
import type { Version } from '../version/version.js';
import type { EventStore } from './event-store.js';

/** A local event waiting in the outbox to be pushed. */
export interface OutboxEntry {
  /** The local event, as it was appended (or added by a rebase). */
  readonly event: Event;
  /** The position in this client's outbox: increases with every local append, never reused. */
  readonly localSeq: number;
}

/** The server's version for a pushed event (an `accepted` or `duplicate` push result). */
export interface Acknowledgement<V extends Version = CursorVersion> {
  /** The id of the pushed event. */
  readonly id: string;
  /** The version the server gave it: its place in the confirmed log. */
  readonly version: V;
}

/** A pulled page to apply: the events and the cursor to move to, in one step. */
export interface PulledPage<V extends Version = CursorVersion> {
  /** The page's events, in server order. */
  readonly events: readonly VersionedEvent<V>[];
  /** The cursor after the page: at or after every event in it, never before the current cursor. */
  readonly cursor: V;
}

/** What {@link LocalEventStore.applyPulled} did. */
export interface ApplyPulledResult {
  /** How many events were new to the confirmed log. */
  readonly stored: number;
  /** The ids of this client's own pending events that the page confirmed (they left the outbox). */
  readonly acknowledged: readonly string[];
}

/** A permanent refusal of a pushed event, kept so the application can tell the user. */
export interface RejectionRecord {
  /** The refused event, as it was in the outbox. */
  readonly event: Event;
  /** A stable machine-readable code, e.g. `forbidden` or `invalid_event`. */
  readonly code: string;
  /** Why, in words. */
  readonly reason: string;
  /** When it was recorded, in milliseconds since the epoch. */
  readonly rejectedAt: number;
}

/** A conflict detected on pull, and what became of it. */
export interface ConflictRecord {
  /** A unique id for the record (e.g. a ULID). */
  readonly id: string;
  /** What conflicted: the aggregate, this client's pending events, and the other clients' events it had not seen. */
  readonly conflict: Conflict;
  /** `open` until a resolver (or the application, for manual resolution) decided. */
  readonly status: 'open' | 'resolved';
  /** When it was detected, in milliseconds since the epoch. */
  readonly detectedAt: number;
  /** The decision, once resolved. */
  readonly resolution?: ResolvedConflict;
  /** When it was resolved, in milliseconds since the epoch. */
  readonly resolvedAt?: number;
}

/** A change to the outbox made in one step: the rebase after a conflict. */
export interface OutboxChange {
  /** Ids of pending events to drop from the outbox. */
  readonly remove: readonly string[];
  /** New pending events, appended in this order after everything else in the outbox. */
  readonly add: readonly Event[];
  /** A conflict record to save in the same step (e.g. the one this change resolves). */
  readonly conflict?: ConflictRecord;
}

/** A permanent rejection to record; see {@link LocalEventStore.reject}. */
export interface Rejection {
  /** The id of the pending event to take out of the outbox. */
  readonly id: string;
  /** A stable machine-readable code, e.g. `forbidden` or `invalid_event`; kept as `RejectionRecord.code`. */
  readonly code: string;
  /** Why, in words; kept as `RejectionRecord.reason`. */
  readonly reason: string;
}

/**
 * What an offline client keeps: the confirmed log (an {@link EventStore} in server order), the outbox
 * of local events not yet confirmed, the pull cursor, and the records of conflicts and rejections.
 * Every method is one atomic step: it happens whole or not at all, even when the process dies in it.
 *
 * @typeParam V - the server's version space; {@link CursorVersion} by default.
 */
export interface LocalEventStore<V extends Version = CursorVersion> extends EventStore<V> {
  /**
   * Puts local events in the outbox, in order. Appending an id that is already pending or confirmed
   * with the same content changes nothing.
   *
   * @returns the outbox entries of the given events, in order (an event already confirmed has none).
   * @throws SyncError `invalid_input` for a malformed event, an id reused with other content, or the
   *   id of a rejected event; then nothing is appended.
   */
  appendLocal(events: readonly Event[], options?: SignalOptions): Promise<OutboxEntry[]>;

  /** The pending events, oldest first. */
  pending(options?: PendingOptions): Promise<OutboxEntry[]>;

  /** How many events are pending. */
  pendingCount(options?: SignalOptions): Promise<number>;

  /**
   * Where an event of this store is: confirmed (with its version) or pending (with its place in the
   * outbox). `undefined` when the store holds no event with this id (rejected and parked events are
   * found through {@link LocalEventStore.rejections} and {@link LocalEventStore.conflicts}).
   */
  find(id: string, options?: SignalOptions): Promise<FoundEvent<V> | undefined>;

  /**
   * The version of the last confirmed event of an aggregate: the `baseVersion` of this client's next
   * event on it. Zero when the confirmed log has no event of the aggregate.
   */
  aggregateVersion(aggregateId: string, options?: SignalOptions): Promise<V>;

  /**
   * Moves pushed events from the outbox into the confirmed log at the versions the server gave them.
   * An id already confirmed at the same version is skipped, so acknowledging twice is harmless.
   *
   * @throws SyncError `invalid_input` for an id that is neither pending nor confirmed, or confirmed at
   *   another version; then nothing is acknowledged.
   */
  acknowledge(acks: readonly Acknowledgement<V>[], options?: SignalOptions): Promise<void>;

  /**
   * Applies a pulled page and moves the cursor, in one step: events new to the log are stored, events
   * already stored at the same version are skipped, and this client's pending events in the page leave
   * the outbox (they are confirmed).
   *
   * @throws SyncError `invalid_input` when an event is malformed, when an id is already stored at
   *   another version, or when the cursor would go back or stay behind an event of the page; then
   *   neither events nor cursor change.
   */
  applyPulled(page: PulledPage<V>, options?: SignalOptions): Promise<ApplyPulledResult>;

  /** The pull cursor: everything up to it has been applied. Zero before the first pull. */
  cursor(options?: SignalOptions): Promise<V>;

  /**
   * Takes permanently rejected events out of the outbox and records why.
   *
   * @throws SyncError `invalid_input` for an id that is not pending; then nothing changes.
   */
  reject(rejections: readonly Rejection[], options?: SignalOptions): Promise<void>;

  /** The recorded rejections, oldest first. */
  rejections(options?: SignalOptions): Promise<RejectionRecord[]>;

  /** Saves (inserts or replaces by id) a conflict record. */
  saveConflict(record: ConflictRecord, options?: SignalOptions): Promise<void>;

  /** The conflict records, oldest first, optionally only those with one status. */
  conflicts(options?: ConflictQueryOptions): Promise<ConflictRecord[]>;

  /**
   * Rebases the outbox in one step: drops `remove`, appends `add`, saves `conflict`.
   *
   * @returns the outbox entries of the added events (an event already confirmed has none).
   * @throws SyncError `invalid_input` for an id in `remove` that is not pending, or a malformed event in
   *   `add`; then nothing changes.
   */
  updateOutbox(change: OutboxChange, options?: SignalOptions): Promise<OutboxEntry[]>;
}

/** Where {@link LocalEventStore.find} found an event. */
export type FoundEvent<V extends Version = CursorVersion> =
  /** In the confirmed log. */
  | {
      /** In the confirmed log, at `version`. */
      readonly status: 'confirmed';
      /** The event as stored. */
      readonly event: Event;
      /** Its server version. */
      readonly version: V;
    }
  /** In the outbox. */
  | {
      /** In the outbox, at `localSeq`. */
      readonly status: 'pending';
      /** The event as stored. */
      readonly event: Event;
      /** Its place in the outbox (see {@link OutboxEntry.localSeq}). */
      readonly localSeq: number;
    };

/** Options of {@link LocalEventStore.pending}. */
export interface PendingOptions extends SignalOptions {
  /** Only entries after this place in the outbox (`localSeq`), for paging through a long outbox. */
  readonly afterSeq?: number;
  /** Only the pending events of this aggregate. */
  readonly aggregateId?: string;
  /**
   * The most entries to return, oldest first.
   *
   * @defaultValue no limit
   */
  readonly limit?: number;
}

/** Options of {@link LocalEventStore.conflicts}. */
export interface ConflictQueryOptions extends SignalOptions {
  /** Only records with this status. */
  readonly status?: ConflictRecord['status'];
}
