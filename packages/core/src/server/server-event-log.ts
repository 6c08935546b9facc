import type { Event, EventPage } from '../event/event.js';
import type { SignalOptions } from '../internal/abort.js';
import type { Filter } from '../store/filter.js';
import type { CursorVersion } from '../version/cursor-version.js';
import type { CheckedEvents } from './checked-events.js';

/** Why the server refused an event for good; stable codes a client can branch on. */
export type RejectionCode =
  /** The event is malformed or breaks a limit. */
  | 'invalid_event'
  /** The id is already stored with other content: ids are never overwritten. */
  | 'id_reused'
  /** The `authorize` hook refused it. */
  | 'forbidden'
  | (string & {});

/** The server's answer for one event of a pushed batch. */
export type AppendResult =
  /** Stored at `version`. */
  | { readonly id: string; readonly status: 'accepted'; readonly version: CursorVersion }
  /** Already stored, with the same content, at `version`: pushes are idempotent. */
  | { readonly id: string; readonly status: 'duplicate'; readonly version: CursorVersion }
  /**
   * Not stored: another client's event landed on the aggregate after the event's `baseVersion`.
   * `latest` is the aggregate's latest version; pull, resolve, and push again.
   */
  | { readonly id: string; readonly status: 'conflict'; readonly latest: CursorVersion; readonly reason: string }
  /** Not stored, and never will be as it is. */
  | { readonly id: string; readonly status: 'rejected'; readonly code: RejectionCode; readonly reason: string };

/** Options of {@link ServerEventLog.append}. */
export interface AppendOptions extends SignalOptions {
  /**
   * The events' checks, when the caller has validated them already (a sync server does, before
   * `authorize`): the log then stores the JSON each check made instead of validating and serialising
   * the event again. An event it does not cover (another object, a check with looser bounds than the
   * log's, or fields changed since) is validated as usual, so passing it never lets an invalid event
   * in. Logs that keep no JSON may ignore it.
   *
   * @defaultValue none: every event is validated by the log
   */
  readonly checked?: CheckedEvents;
}

/** Options of {@link ServerEventLog.read}. */
export interface ReadOptions extends SignalOptions {
  /**
   * Read strictly after this cursor.
   *
   * @defaultValue `CursorVersion.ZERO`
   */
  readonly since?: CursorVersion;
  /**
   * The most events in the page.
   *
   * @defaultValue 1000
   */
  readonly limit?: number;
  /** Keeps only matching events; `tenant` in it is ignored (the log is already scoped). */
  readonly filter?: Filter;
}

/** One stored event as its JSON text, with its version: a row of {@link JsonEventPage}. */
export interface JsonEventRow {
  /** The event exactly as stored: the `JSON.stringify` of a valid event (as `checkedEventJson` made it). */
  readonly json: string;
  readonly version: CursorVersion;
}

/** A page of {@link ServerEventLog.readJson}: an {@link EventPage} whose events are kept as JSON text. */
export interface JsonEventPage {
  readonly rows: readonly JsonEventRow[];
  /** As {@link EventPage.next}. */
  readonly next: CursorVersion;
  /** As {@link EventPage.hasMore}. */
  readonly hasMore: boolean;
}

/** Told to listeners after an append committed. */
export interface AppendNotice {
  readonly tenant: string;
  /** The tenant's latest cursor after the append. */
  readonly latest: CursorVersion;
}

/**
 * The server's log: one gapless, totally ordered sequence of events per tenant.
 *
 * - `append` takes a client's batch in one transaction and answers per event (see {@link AppendResult}).
 *   Events keep their batch order. An event whose aggregate already had a `conflict` earlier in the
 *   same batch is a `conflict` too, so one client's events never land out of order.
 * - Accepted events get the tenant's next cursors: `1, 2, 3, …`, no gaps, and a reader that has seen
 *   cursor `n` will never later find a new event at or below `n`.
 * - Nothing stored is ever changed or removed.
 *
 * Implementations: `MemoryServerEventLog` (here), `SqliteEventStore`, `PostgresEventStore`.
 */
export interface ServerEventLog {
  /**
   * Appends a batch for `tenant`; see the interface notes. Results come in the batch's order. Every
   * event is validated (with the log's bounds) unless `options.checked` covers it.
   */
  append(tenant: string, events: readonly Event[], options?: AppendOptions): Promise<AppendResult[]>;

  /** Reads a page of the tenant's log after `since`. */
  read(tenant: string, options?: ReadOptions): Promise<EventPage>;

  /**
   * Optional: the page {@link ServerEventLog.read} would return, with each event left as the JSON text
   * the log stored (so a server can write it into a response without parsing and serialising it again).
   * Each `json` must be exactly `JSON.stringify` of the event `read` returns, and the page must have the
   * same events, `next` and `hasMore`; it throws as `read` does. Logs that keep JSON (SQLite,
   * PostgreSQL) offer it; callers fall back to `read` when it is absent.
   */
  readJson?(tenant: string, options?: ReadOptions): Promise<JsonEventPage>;

  /** The tenant's latest cursor; zero when it has no events. */
  latestVersion(tenant: string, options?: SignalOptions): Promise<CursorVersion>;

  /**
   * Calls `listener` after every append that stored at least one event. Listeners must not throw;
   * when one does, the log carries on and the others are still told.
   *
   * @returns a function that stops the notifications (idempotent).
   */
  subscribe(listener: (notice: AppendNotice) => void): () => void;

  /** Releases the log; later calls fail with `SyncError('closed')`. Idempotent. */
  close(): Promise<void>;
}
