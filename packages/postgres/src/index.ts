// @eventsync/postgres: the server log on PostgreSQL (pg), with LISTEN/NOTIFY fan-out across server nodes.

export { PostgresEventStore } from './postgres-event-store.js';
export { DEFAULT_POSTGRES_EVENT_STORE_OPTIONS } from './postgres-event-store-options.js';
export type { PostgresEventStoreOptions } from './postgres-event-store-options.js';
export type { ListenerState, ListenerTimers } from './notification-listener.js';
export { POSTGRES_SCHEMA_VERSION } from './schema.js';
