import { isSyncError, SyncError } from '../errors/sync-error.js';
import type { SyncManager } from '../sync/sync-manager.js';
import type { SyncEventMap, SyncEventName } from '../sync/sync-types.js';
import type { Envelope } from './envelope.js';
import type { EventBus } from './event-bus.js';
import { validateSubject } from './subject.js';

/**
 * The subjects {@link publishSyncLifecycle} publishes under (after its `prefix`), one per `SyncManager`
 * notification, with the notification's payload ({@link SyncEventMap}) as the envelope's payload:
 *
 * | subject | when | payload |
 * | --- | --- | --- |
 * | `sync.started` | a sync run began | `{ at }` |
 * | `sync.completed` | a sync run succeeded | `{ result }` (a `SyncResult`) |
 * | `sync.failed` | a sync run failed | `{ error, at }` (a `SyncError`) |
 * | `sync.pulled` | a pulled page was stored | `{ events, cursor }` |
 * | `event.appended` | local events were stored in the outbox | `{ events }` |
 * | `event.acknowledged` | the server confirmed local events | `{ acks }` |
 * | `event.rejected` | the server refused local events for good | `{ rejections }` |
 * | `conflict.detected` | a conflict was found (and recorded) | `{ record }` |
 * | `conflict.resolved` | a conflict was decided | `{ record }` |
 * | `outbox.rebased` | a decision rewrote the outbox | `{ removed, added }` |
 * | `connection.changed` | online or live-stream state changed | `{ online, live }` |
 * | `status.changed` | anything in `manager.status` changed | `{ status }` |
 *
 * Every envelope carries the header `clientId`. Notifications are published after the change is
 * committed, in the order the manager makes them.
 */
export const SYNC_LIFECYCLE_SUBJECTS: readonly SyncEventName[] = [
  'sync.started',
  'sync.completed',
  'sync.failed',
  'sync.pulled',
  'event.appended',
  'event.acknowledged',
  'event.rejected',
  'conflict.detected',
  'conflict.resolved',
  'outbox.rebased',
  'connection.changed',
  'status.changed',
];

/** The envelope of the lifecycle notification `K`, as a subscriber receives it. */
export type SyncLifecycleEnvelope<K extends SyncEventName = SyncEventName> = Envelope<SyncEventMap[K]>;

/** Options of {@link publishSyncLifecycle}. */
export interface SyncLifecycleOptions {
  /**
   * Put before every subject, with a dot: `'clients.phone-1'` publishes `clients.phone-1.sync.completed`.
   * Useful when several managers share a bus.
   *
   * @defaultValue none
   */
  readonly prefix?: string;
  /**
   * Which notifications to publish.
   *
   * @defaultValue all of {@link SYNC_LIFECYCLE_SUBJECTS}
   */
  readonly subjects?: readonly SyncEventName[];
}

/**
 * Publishes a `SyncManager`'s lifecycle notifications on `bus`, under the subjects of
 * {@link SYNC_LIFECYCLE_SUBJECTS}. The manager never waits for the bus: a `block` subscriber holds up
 * only these publishes, which queue behind one another in order. Publishing stops when the returned
 * function is called, when the bus closes, or when the manager closes.
 *
 * @returns the function that stops publishing. Idempotent.
 * @throws SyncError `invalid_input` for a malformed prefix or an unknown notification name; `closed`
 *   if the bus is closed.
 *
 * @example
 * ```ts
 * const bus = new EventBus();
 * const stop = publishSyncLifecycle(manager, bus);
 * bus.subscribe<SyncEventMap['sync.failed']>('sync.failed', ({ payload }) => showBanner(payload.error.message));
 * bus.subscribe('conflict.*', ({ subject, payload }) => console.log(subject, payload));
 * ```
 */
export function publishSyncLifecycle(
  manager: SyncManager,
  bus: EventBus,
  options: SyncLifecycleOptions = {},
): () => void {
  const { prefix, subjects = SYNC_LIFECYCLE_SUBJECTS } = options;
  if (prefix !== undefined) validateSubject(prefix);
  for (const name of subjects) {
    if (!SYNC_LIFECYCLE_SUBJECTS.includes(name)) {
      throw new SyncError('invalid_input', `Unknown lifecycle notification ${JSON.stringify(name)}`, {
        details: { field: 'subjects' },
      });
    }
  }
  if (bus.closed) throw new SyncError('closed', 'The event bus is closed');
  const headers = { clientId: manager.clientId };
  let stopped = false;
  const stops: (() => void)[] = [];
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    for (const unsubscribe of stops.splice(0)) unsubscribe();
  };
  for (const name of new Set(subjects)) {
    const subject = prefix === undefined ? name : `${prefix}.${name}`;
    stops.push(
      manager.on(name, (payload) => {
        if (stopped) return;
        bus.publish(subject, payload, { headers }).catch((error: unknown) => {
          if (isSyncError(error, 'closed')) stop();
        });
      }),
    );
  }
  return stop;
}
