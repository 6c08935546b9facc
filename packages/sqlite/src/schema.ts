import type Database from 'better-sqlite3';
import { SyncError } from '@eventsync/core';

/** `PRAGMA application_id` of an eventsync database: "EVNT" in ASCII, so other tools can tell the file apart. */
export const SQLITE_APPLICATION_ID = 0x45564e54;

/**
 * The migrations, in order: migration `i` takes the schema from version `i` to `i + 1`. The version
 * is kept in `PRAGMA user_version`. Never edit a released migration; add one.
 */
const MIGRATIONS: readonly string[] = [
  `
  -- One row per event; clustered by (tenant, seq), so a pull reads the table in cursor order.
  CREATE TABLE events (
    tenant       TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    id           TEXT    NOT NULL,
    aggregate_id TEXT    NOT NULL,
    type         TEXT    NOT NULL,
    client_id    TEXT    NOT NULL,
    json         TEXT    NOT NULL,
    PRIMARY KEY (tenant, seq)
  ) WITHOUT ROWID;
  -- Idempotent pushes: an id is stored once per tenant.
  CREATE UNIQUE INDEX events_tenant_id ON events (tenant, id);
  -- The conflict check (events of an aggregate after a version) and aggregate filters.
  CREATE INDEX events_tenant_aggregate ON events (tenant, aggregate_id, seq);
  -- Each tenant's latest cursor, moved in the append's transaction.
  CREATE TABLE tenants (
    tenant TEXT    NOT NULL PRIMARY KEY,
    latest INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
];

/** The schema version this package writes. */
export const SQLITE_SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the database to {@link SQLITE_SCHEMA_VERSION}, in one IMMEDIATE transaction, so two processes
 * opening the same new file migrate it once. Refuses a file written by a newer version, or one that
 * belongs to another application.
 */
export function migrate(db: Database.Database): void {
  const version = schemaVersion(db);
  checkApplication(db, version);
  if (version === SQLITE_SCHEMA_VERSION) return;
  db.transaction(() => {
    // Read again under the write lock: another process may have migrated in the meantime.
    const current = schemaVersion(db);
    checkApplication(db, current);
    for (let version = current; version < SQLITE_SCHEMA_VERSION; version++) db.exec(MIGRATIONS[version]!);
    if (current < SQLITE_SCHEMA_VERSION) {
      db.pragma(`application_id = ${SQLITE_APPLICATION_ID}`);
      db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION}`);
    }
  }).immediate();
}

function schemaVersion(db: Database.Database): number {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SQLITE_SCHEMA_VERSION) {
    throw new SyncError(
      'storage',
      `The SQLite database has schema version ${version}, newer than ${SQLITE_SCHEMA_VERSION} that this @eventsync/sqlite knows: upgrade the package`,
      { details: { schemaVersion: version, supported: SQLITE_SCHEMA_VERSION } },
    );
  }
  return version;
}

/** A file with a schema version must carry eventsync's application id; a fresh one (version 0) may carry none. */
function checkApplication(db: Database.Database, version: number): void {
  const id = db.pragma('application_id', { simple: true }) as number;
  if (id !== SQLITE_APPLICATION_ID && (version > 0 || id !== 0)) {
    throw new SyncError(
      'storage',
      `The SQLite database belongs to another application (application_id ${id}), not to eventsync`,
      { details: { applicationId: id } },
    );
  }
}
