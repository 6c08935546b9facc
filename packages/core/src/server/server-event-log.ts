import type { Event, EventPage } from '../event/event.js';
import type { SignalOptions } from '../internal/abort.js';
import type { Filter } from '../store/filter.js';
import type { CursorVersion } from '../version/cursor-version.js';
import type { CheckedEvents } from './checked-events.js';

/** Why the server refused an event for good; stable codes a client can branch on. */
export type RejectionCode =
  /** The event is malformed, breaks a limit, or has a `baseVersion` after the log's latest version. */
  | 'invalid_event'
  /** The id is already stored with other content: ids are never overwritten. */
  | 'id_reused'
  /**
   * The caller may not write it: the `authorize` hook refused it, or its `metadata.tenant` names
   * another tenant than the one the push writes to.
   */
  | 'forbidden'
  | (string & {});

/**
 * The server's answer for one event of a pushed batch; `status` says which of the four it is. Every
 * variant names the event by `id`, so a client can match results to the events it pushed.
 */
export type AppendResult =
  /** Stored at `version`. */
  | {
      /** The pushed event's id. */
      readonly id: string;
      /** The event is stored now, for good. */
      readonly status: 'accepted';
      /** The cursor it is stored at: the tenant's next one, given in batch order without gaps. */
      readonly version: CursorVersion;
    }
  /** Already stored, with the same content, at `version`: pushes are idempotent. */
  | {
      /** The pushed event's id. */
      readonly id: string;
      /**
       * An event with this id and the same content was stored before (by an earlier push, or earlier
       * in this batch); nothing new is stored. A client treats it as `accepted`.
       */
      readonly status: 'duplicate';
      /** The cursor the earlier copy is stored at, not a new one. */
      readonly version: CursorVersion;
    }
  /**
   * Not stored: another client's event landed on the aggregate after the event's `baseVersion`.
   * `latest` is the aggregate's latest version; pull, resolve, and push again.
   */
  | {
      /** The pushed event's id. */
      readonly id: string;
      /**
       * Not stored: another client's event landed on the aggregate after the event's `baseVersion`,
       * or an earlier event of this batch on the same aggregate is a `conflict`.
       */
      readonly status: 'conflict';
      /**
       * The aggregate's latest cursor when the conflict was found, counting the events of this batch
       * stored before it: pull up to it, resolve, and push the resolution with a later `baseVersion`.
       */
      readonly latest: CursorVersion;
      /** What conflicted, for people (logs, a conflict inbox); not a code to branch on. */
      readonly reason: string;
    }
  /** Not stored, and never will be as it is. */
  | {
      /**
       * The pushed event's id; `''` when the pushed item has no string `id` (such an item is always
       * `rejected`, as `invalid_event`).
       */
      readonly id: string;
      /** Not stored, and never will be as it is: a client drops it rather than push it again. */
      readonly status: 'rejected';
      /** Why, for programs: a {@link RejectionCode}. */
      readonly code: RejectionCode;
      /**
       * What is wrong, for people: the validation message, or the reason `authorize` gave. Possibly
       * empty; never parse it.
       */
      readonly reason: string;
    };

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
  /** The cursor the log gave the event. */
  readonly version: CursorVersion;
}

/** A page of {@link ServerEventLog.readJson}: an {@link EventPage} whose events are kept as JSON text. */
export interface JsonEventPage {
  /** The page's events, in cursor order: the same events as {@link EventPage.events}, each as its JSON text. */
  readonly rows: readonly JsonEventRow[];
  /** As {@link EventPage.next}. */
  readonly next: CursorVersion;
  /** As {@link EventPage.hasMore}. */
  readonly hasMore: boolean;
}

/** Told to listeners after an append committed. */
export interface AppendNotice {
  /** The tenant whose log the append wrote to. */
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
