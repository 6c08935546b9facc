/**
 * The app's sync wiring: the IndexedDB log, the HTTP transport to the server that serves the app, the
 * sync manager with a conflict strategy the user can switch, the list's projection, and one syncing tab
 * among several.
 */
import { lastWriteWins, manual, SyncManager, type ConflictResolver, type KeyedProjection } from '@eventsync/core';
import { HttpTransport } from '@eventsync/http';
import { createTabSync, IndexedDbEventStore, TabLeader, type TabSync } from '@eventsync/idb';
import { loadStrategy, loadToken, saveStrategy, type Strategy } from './settings.js';
import { todoProjection, type Todo } from './todos.js';

/** Everything the view needs. */
export interface TodoSync {
  readonly store: IndexedDbEventStore;
  readonly manager: SyncManager;
  readonly todos: KeyedProjection<Todo>;
  readonly leader: TabLeader;
  /** The strategy for the next conflicts; switching it does not touch conflicts already parked. */
  strategy: Strategy;
  close(): Promise<void>;
}

const DATABASE = 'eventsync-todos';

/**
 * A resolver that asks the strategy chosen at the moment of the conflict: `lastWriteWins()` decides
 * at once (every device picks the same side), `manual()` parks the conflict in the inbox.
 */
function switchableResolver(current: () => Strategy): ConflictResolver {
  const resolvers: Record<Strategy, ConflictResolver> = { 'last-write-wins': lastWriteWins(), manual: manual() };
  return { resolve: (conflict, context) => resolvers[current()].resolve(conflict, context) };
}

/** Opens the log and starts syncing with the server at `baseUrl` (the app's own origin by default). */
export async function startSync(
  options: { baseUrl?: string; onError?: (error: unknown) => void } = {},
): Promise<TodoSync> {
  const onError = options.onError ?? ((error: unknown) => console.error(error));
  const store = await IndexedDbEventStore.open({
    name: DATABASE,
    // A newer version of the app upgraded the database in another tab: get the new code.
    onVersionChange: () => location.reload(),
  });
  let strategy = loadStrategy();
  const transport = new HttpTransport({
    baseUrl: options.baseUrl ?? location.origin,
    // Read at each request, so a token entered later is used at once.
    token: () => loadToken(),
  });
  const manager = new SyncManager({
    store,
    transport,
    clientId: store.clientId,
    resolver: switchableResolver(() => strategy),
  });
  const todos = todoProjection(store, manager);
  const leader = new TabLeader({ name: DATABASE });
  const tabs: TabSync = createTabSync({ store, manager, leader, projections: [todos], onError });
  await todos.ready;
  return {
    store,
    manager,
    todos,
    leader,
    get strategy() {
      return strategy;
    },
    set strategy(next: Strategy) {
      strategy = next;
      saveStrategy(next);
    },
    async close() {
      await tabs.close();
      todos.close();
      await manager.close();
      await transport.close();
      await store.close();
    },
  };
}
