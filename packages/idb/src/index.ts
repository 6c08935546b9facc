// @eventsync/idb: eventsync's local log in the browser, on IndexedDB, shared safely by the tabs of an app.

export { IndexedDbEventStore } from './indexed-db-event-store.js';
export { DEFAULT_INDEXED_DB_EVENT_STORE_OPTIONS } from './indexed-db-event-store-options.js';
export type { IndexedDbEventStoreOptions } from './indexed-db-event-store-options.js';
export type { StoreChange } from './store-change.js';
export { TabLeader, DEFAULT_TAB_LEADER_OPTIONS } from './tab-leader.js';
export type { TabLeaderOptions } from './tab-leader.js';
export { createTabSync } from './create-tab-sync.js';
export type { TabSync, TabSyncOptions } from './create-tab-sync.js';
