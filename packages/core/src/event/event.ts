import type { CursorVersion } from '../version/cursor-version.js';
import type { Version } from '../version/version.js';

/** A JSON value: what event data and metadata may hold. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * What travels with an event besides its data. `timestamp` and `clientId` are always there; the
 * others where they apply; any other key is the application's own (JSON values only).
 */
export interface EventMetadata {
  /** The hybrid-logical-clock timestamp of the event, in `HlcTimestamp`'s string form. */
  readonly timestamp: string;
  /** The id of the client (device, tab group, server) that recorded the event. */
  readonly clientId: string;
  /**
   * The last server version of this event's aggregate that the client had seen when it recorded the
   * event, as a cursor string (`"0"` when it had seen none). The server answers `conflict` when another
   * client's event landed on the aggregate after it. Absent: the event is appended without that check.
   */
  readonly baseVersion?: string;
  /** The version of the event's data schema, for upcasting old events. */
  readonly schemaVersion?: number;
  /** The tenant the event belongs to; on the server it is always the authenticated tenant. */
  readonly tenant?: string;
  readonly [key: string]: JsonValue | undefined;
}

/**
 * Something that happened: immutable, identified by a ULID that is also its idempotency key.
 *
 * @typeParam TData - the shape of `data`; any JSON value.
 */
export interface Event<TData = JsonValue> {
  /** A ULID, monotonic per client: unique, sortable, and the key that makes pushes idempotent. */
  readonly id: string;
  /** What happened, e.g. `todo.added`. */
  readonly type: string;
  /** The entity the event is about; conflicts are detected and resolved per aggregate. */
  readonly aggregateId: string;
  /** The payload: JSON only. */
  readonly data: TData;
  /** See {@link EventMetadata}. */
  readonly metadata: EventMetadata;
}

/** An event with the version it has in a log (go-sync-kit's `EventWithVersion`). */
export interface VersionedEvent<V extends Version = CursorVersion, TData = JsonValue> {
  /** The event. */
  readonly event: Event<TData>;
  /** Its place in the log: for the server's log and the confirmed log, the cursor the server gave it. */
  readonly version: V;
}

/** A page of a log read after a version. */
export interface EventPage<V extends Version = CursorVersion> {
  /** The events, in log order. */
  readonly events: readonly VersionedEvent<V>[];
  /**
   * Where the next read starts: the version of the last event read, or of the last position scanned
   * when filters skipped events. Never before the `since` that was asked for.
   */
  readonly next: V;
  /** Whether the log goes on after `next`; a filtered read may then find nothing more. */
  readonly hasMore: boolean;
}
