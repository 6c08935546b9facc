// @eventsync/idb: eventsync's local log in the browser, on IndexedDB, shared safely by the tabs of an app.

export { IndexedDbEventStore } from './indexed-db-event-store.js';
export { DEFAULT_INDEXED_DB_EVENT_STORE_OPTIONS } from './indexed-db-event-store-options.js';
export type { IndexedDbEventStoreOptions } from './indexed-db-event-store-options.js';
export type { StoreChange } from './store-change.js';
