// @eventsync/sqlite: the server log on SQLite (better-sqlite3), the embedded default of the sync server.

export { SqliteEventStore, DEFAULT_SQLITE_EVENT_STORE_OPTIONS } from './sqlite-event-store.js';
export type { SqliteEventStoreOptions, SqliteSynchronous, SqliteWriter } from './sqlite-event-store.js';
export { SQLITE_SCHEMA_VERSION, SQLITE_APPLICATION_ID } from './schema.js';
