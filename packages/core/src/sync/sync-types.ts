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
    readonly totalMs: number;
    readonly pullMs: number;
    readonly resolveMs: number;
    readonly pushMs: number;
  };
  /** When the run started and finished, in milliseconds since the epoch. */
  readonly startedAt: number;
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
  | { readonly status: 'pending' }
  /** Confirmed by the server at `version`. */
  | { readonly status: 'acknowledged'; readonly version: CursorVersion }
  /** Refused for good; it left the outbox and its effect left the projections. */
  | { readonly status: 'rejected'; readonly code: string; readonly reason: string }
  /** Parked in the conflict inbox, waiting for the application's decision. */
  | { readonly status: 'conflicted'; readonly conflictId: string }
  /** Replaced by a conflict decision (dropped, merged into another event…). */
  | {
      readonly status: 'resolved';
      readonly conflictId: string;
      readonly decision: ConflictDecision;
      readonly reasons: readonly string[];
    }
  /** Not an event this client knows. */
  | { readonly status: 'unknown' };

/** The lifecycle notifications of a `SyncManager`, by name. */
export interface SyncEventMap {
  'sync.started': { readonly at: number };
  'sync.completed': { readonly result: SyncResult };
  'sync.failed': { readonly error: SyncError; readonly at: number };
  /** Pulled events applied to the local log (a page), with the cursor after them. */
  'sync.pulled': { readonly events: readonly VersionedEvent[]; readonly cursor: CursorVersion };
  'event.appended': { readonly events: readonly Event[] };
  'event.acknowledged': { readonly acks: readonly { readonly id: string; readonly version: CursorVersion }[] };
  'event.rejected': {
    readonly rejections: readonly { readonly event: Event; readonly code: string; readonly reason: string }[];
  };
  'conflict.detected': { readonly record: ConflictRecord };
  'conflict.resolved': { readonly record: ConflictRecord };
  /** The outbox changed by a conflict decision: `removed` ids left it, `added` events joined it. */
  'outbox.rebased': { readonly removed: readonly string[]; readonly added: readonly Event[] };
  'connection.changed': { readonly online: boolean; readonly live: SubscriptionState };
  'status.changed': { readonly status: SyncStatus };
}

/** The name of a lifecycle notification. */
export type SyncEventName = keyof SyncEventMap;
