import type { ConflictDecision } from '../conflict/conflict.js';
import type { Event, VersionedEvent } from '../event/event.js';
import type { SyncError } from '../errors/sync-error.js';
import type { ConflictRecord } from '../store/local-event-store.js';
import type { SubscriptionState } from '../transport/transport.js';
import type { CursorVersion } from '../version/cursor-version.js';

/** What one `sync()` did. */
export interface SyncResult {
  /** Local events the server took (accepted or already had). */
  readonly pushed: number;
  /** Events new to the local log from pulls. */
  readonly pulled: number;
  /** Local events confirmed, by push results or by finding them in pulled pages. */
  readonly acknowledged: number;
  /** Conflicts detected. */
  readonly conflicts: number;
  /** Conflicts decided by the resolver. */
  readonly resolved: number;
  /** Conflicts parked in the inbox for the application to decide. */
  readonly parked: number;
  /** Local events the server refused for good. */
  readonly rejected: number;
  /** Pull–resolve–push rounds run (more than one when a push met a conflict). */
  readonly rounds: number;
  /** Whether the outbox was left with nothing the server had answered `conflict` to. */
  readonly settled: boolean;
  /** The cursor after the run. */
  readonly cursor: CursorVersion;
  /** Milliseconds spent, in all and per phase. */
  readonly timings: {
    /** The whole run: `finishedAt - startedAt`, in milliseconds. */
    readonly totalMs: number;
    /** Pulling pages and applying them to the store, over all rounds, in milliseconds. */
    readonly pullMs: number;
    /** Finding conflicts and deciding them (the resolver included), over all rounds, in milliseconds. */
    readonly resolveMs: number;
    /** Pushing the outbox and recording the results, over all rounds, in milliseconds. */
    readonly pushMs: number;
  };
  /** When the run started, in milliseconds since the epoch (by the manager's `timers.now()`). */
  readonly startedAt: number;
  /** When the run finished, in milliseconds since the epoch (by the manager's `timers.now()`). */
  readonly finishedAt: number;
}

/** Where the manager stands; see `SyncManager.status`. */
export interface SyncStatus {
  /** What the connectivity source says (`navigator.onLine` in browsers). */
  readonly online: boolean;
  /** Whether a sync is running. */
  readonly syncing: boolean;
  /** The state of the live subscription (`closed` when auto sync is not started). */
  readonly live: SubscriptionState;
  /** Local events not yet confirmed. */
  readonly pending: number;
  /** Conflicts waiting in the inbox. */
  readonly parked: number;
  /** The pull cursor. */
  readonly cursor: CursorVersion;
  /** When the last sync completed, in milliseconds since the epoch. */
  readonly lastSyncAt?: number;
  /** The error of the last sync, until a sync succeeds. */
  readonly lastError?: SyncError;
  /** When auto sync will try next, in milliseconds since the epoch. */
  readonly nextSyncAt?: number;
}

/** The state of one local event; see `SyncManager.eventState`. */
export type EventState =
  /** In the outbox, waiting to be pushed (or pushed and not yet answered). */
  | {
      /** In the outbox. */
      readonly status: 'pending';
    }
  /** Confirmed by the server at `version`. */
  | {
      /** In the confirmed log. */
      readonly status: 'acknowledged';
      /** The server's version of the event: its place in the tenant's log. */
      readonly version: CursorVersion;
    }
  /** Refused for good; it left the outbox and its effect left the projections. */
  | {
      /** Refused by the server. */
      readonly status: 'rejected';
      /**
       * Why, for code: the server's {@link RejectionCode} (`invalid_event`, `id_reused`, `forbidden`…),
       * or `too_large` when the server refused the event for being over its size limit.
       */
      readonly code: string;
      /** Why, in words, as the server said it. */
      readonly reason: string;
    }
  /** Parked in the conflict inbox, waiting for the application's decision. */
  | {
      /** Waiting in the conflict inbox. */
      readonly status: 'conflicted';
      /** The id of the open {@link ConflictRecord}: pass it to `SyncManager.resolveConflict`. */
      readonly conflictId: string;
    }
  /** Replaced by a conflict decision (dropped, merged into another event…). */
  | {
      /** Taken out of the outbox by a conflict decision. */
      readonly status: 'resolved';
      /** The id of the resolved {@link ConflictRecord}, which keeps the whole decision. */
      readonly conflictId: string;
      /** What was decided: `keep_remote`, `merge`, `keep_both`… (see {@link ConflictDecision}). */
      readonly decision: ConflictDecision;
      /** Why, in words, as the resolver (or the application's choice) gave them. */
      readonly reasons: readonly string[];
    }
  /** Not an event this client knows. */
  | {
      /** Neither in the store nor in a rejection or conflict record. */
      readonly status: 'unknown';
    };

/** The lifecycle notifications of a `SyncManager`, by name. */
export interface SyncEventMap {
  /** A sync run began (once per run: calls that join a running sync start none). */
  'sync.started': {
    /** When it began, in milliseconds since the epoch: the run's `startedAt`. */
    readonly at: number;
  };
  /** A sync run ended well. */
  'sync.completed': {
    /** What it did: what `sync()` resolves to. */
    readonly result: SyncResult;
  };
  /** A sync run failed or was aborted; the progress it made before is kept. */
  'sync.failed': {
    /**
     * Why, as `status.lastError` has it. An error that is not a `SyncError` comes wrapped: as `internal`,
     * or as `aborted` when the run was aborted, with the original as `cause`.
     */
    readonly error: SyncError;
    /** When it failed, in milliseconds since the epoch. */
    readonly at: number;
  };
  /** Pulled events applied to the local log (a page), with the cursor after them. */
  'sync.pulled': {
    /** The page's events, in server order, including any already stored and this client's own. */
    readonly events: readonly VersionedEvent[];
    /** The pull cursor after the page, as stored. */
    readonly cursor: CursorVersion;
  };
  /** Events recorded by `append` reached the outbox. */
  'event.appended': {
    /** The events as `append` made them (id, timestamp, `baseVersion`), in order. */
    readonly events: readonly Event[];
  };
  /** Local events were confirmed: by a push's `accepted` or `duplicate` results, or found in a pulled page. */
  'event.acknowledged': {
    /** The confirmed events, by id, each with the server's version for it. */
    readonly acks: readonly {
      /** The event's id. */
      readonly id: string;
      /** The version the server gave it. */
      readonly version: CursorVersion;
    }[];
  };
  /** The server refused local events for good; they left the outbox and are recorded as rejections. */
  'event.rejected': {
    /** The refused events, each with why. */
    readonly rejections: readonly {
      /** The event, as it was pushed. */
      readonly event: Event;
      /** The server's {@link RejectionCode}, or `too_large` for an event over its size limit. */
      readonly code: string;
      /** Why, in words, as the server said it. */
      readonly reason: string;
    }[];
  };
  /**
   * A sync found another client's events after the `baseVersion` of this client's pending events on an
   * aggregate; told before the resolver decides.
   */
  'conflict.detected': {
    /** The conflict, in an `open` record (saved to the store only once it is parked or decided). */
    readonly record: ConflictRecord;
  };
  /**
   * A conflict was decided, by the resolver or by `SyncManager.resolveConflict`. A conflict the resolver
   * parks is told here only once the application decides it.
   */
  'conflict.resolved': {
    /** The `resolved` record, as saved: its resolution's events carry their rebased `baseVersion`. */
    readonly record: ConflictRecord;
  };
  /** The outbox changed by a conflict decision: `removed` ids left it, `added` events joined it. */
  'outbox.rebased': {
    /** The ids of the local events the decision took out of the outbox. */
    readonly removed: readonly string[];
    /** The events the decision put in their place, rebased on their aggregates' latest versions; none when parked. */
    readonly added: readonly Event[];
  };
  /** The device went online or offline, or the live subscription changed state. */
  'connection.changed': {
    /** What the connectivity source says now. */
    readonly online: boolean;
    /** The live subscription's state now (`closed` when auto sync is not started). */
    readonly live: SubscriptionState;
  };
  /** Any field of `SyncManager.status` changed. */
  'status.changed': {
    /** The new status. */
    readonly status: SyncStatus;
  };
}

/** The name of a lifecycle notification. */
export type SyncEventName = keyof SyncEventMap;
