import type { SyncManager } from '@eventsync/core';
import type { IndexedDbEventStore } from './indexed-db-event-store.js';
import type { TabLeader } from './tab-leader.js';

/** Options of {@link createTabSync}. */
export interface TabSyncOptions {
  /** This tab's store on the shared database. */
  readonly store: IndexedDbEventStore;
  /** This tab's sync manager, on `store`, with `clientId: store.clientId`. */
  readonly manager: SyncManager;
  /** The election among the tabs; {@link createTabSync} starts it. */
  readonly leader: TabLeader;
  /**
   * Refreshed when another tab changes the store (this tab's own changes refresh them already).
   *
   * @defaultValue none
   */
  readonly projections?: readonly {
    /** Folds what changed in the store; a `Projection` or a `KeyedProjection` fits. A rejection goes to `onError`. */
    refresh(): Promise<void>;
  }[];
  /**
   * Told about failures of the syncs and refreshes it starts (the manager also reports its syncs on
   * its own events and status).
   *
   * @defaultValue nothing
   */
  readonly onError?: (error: unknown) => void;
}

/** What {@link createTabSync} returns. */
export interface TabSync {
  /** Stops: this tab no longer leads or listens. The store and the manager stay open. */
  close(): Promise<void>;
}

/**
 * Shares one sync among the tabs of an app: only the tab that {@link TabLeader} elects runs
 * `manager.start()` (auto sync); every tab appends through its own manager, and the leader syncs as
 * soon as another tab's appends reach the outbox (it hears of them through
 * {@link IndexedDbEventStore.subscribe}), so no tab's events wait for the leader's own timer. When the
 * leader's tab closes or freezes, another tab takes over and starts its manager.
 *
 * @example
 * ```ts
 * const store = await IndexedDbEventStore.open({ name: 'todos' });
 * const manager = new SyncManager({ store, transport, clientId: store.clientId });
 * const tabs = createTabSync({ store, manager, leader: new TabLeader({ name: 'todos' }), projections: [todos] });
 * ```
 */
export function createTabSync(options: TabSyncOptions): TabSync {
  const { store, manager, leader, projections = [], onError = () => {} } = options;
  const report = (promise: Promise<unknown>): void => {
    promise.catch(onError);
  };
  const lead = (leading: boolean): void => {
    try {
      if (leading) manager.start();
      else manager.stop();
    } catch (error) {
      onError(error);
    }
  };
  const stopLeader = leader.subscribe(lead);
  const stopStore = store.subscribe((change) => {
    if (change.origin !== 'remote') return;
    if (change.outbox && leader.isLeader) report(manager.sync());
    for (const projection of projections) report(projection.refresh());
  });
  leader.start();
  if (leader.isLeader) lead(true);
  return {
    async close() {
      stopStore();
      stopLeader();
      manager.stop();
      await leader.close();
    },
  };
}
