import type { ClientBase } from 'pg';
import { SyncError } from '@eventsync/core';

/** A migration: the SQL that takes the schema from the previous version to this one. */
interface Migration {
  readonly name: string;
  /** The statements, for the schema named `s` (already quoted). */
  sql(s: string): string;
}

/**
 * The migrations, in order: migration `i` takes the schema from version `i` to `i + 1`. The versions
 * applied are rows of `<schema>.migrations`. Never edit a released migration; add one.
 */
const MIGRATIONS: readonly Migration[] = [
  {
    name: 'events and tenants',
    sql: (s) => `
      -- Each tenant's latest cursor. Its row is the tenant's append lock: an append takes it
      -- (SELECT … FOR UPDATE) before it reads the cursor, and moves it before it commits.
      CREATE TABLE ${s}.tenants (
        tenant text   NOT NULL PRIMARY KEY,
        latest bigint NOT NULL CHECK (latest >= 0)
      );
      -- One row per event. The primary key is the cursor order a pull reads.
      CREATE TABLE ${s}.events (
        tenant       text   NOT NULL,
        seq          bigint NOT NULL CHECK (seq > 0),
        id           text   NOT NULL,
        aggregate_id text   NOT NULL,
        type         text   NOT NULL,
        client_id    text   NOT NULL,
        json         text   NOT NULL,
        PRIMARY KEY (tenant, seq),
        -- Idempotent pushes: an id is stored once per tenant.
        CONSTRAINT events_tenant_id UNIQUE (tenant, id)
      );
      -- The conflict check (who wrote to an aggregate after a version) as an index-only scan, and
      -- aggregate filters.
      CREATE INDEX events_tenant_aggregate ON ${s}.events (tenant, aggregate_id, seq) INCLUDE (client_id);
    `,
  },
];

/** The schema version this package writes. */
export const POSTGRES_SCHEMA_VERSION = MIGRATIONS.length;

/** The first key of the advisory lock that serialises migrations: "EVNT" in ASCII. The second is the schema's hash. */
const MIGRATION_LOCK = 0x45564e54;

/** An identifier as SQL: double quotes, doubled inside (the names are checked to need none). */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Brings `schema` to {@link POSTGRES_SCHEMA_VERSION}: creates it when missing, then applies each
 * pending migration in a transaction of its own, recording it in `<schema>.migrations`. A session
 * advisory lock (one per schema) is held throughout, so several nodes starting at once migrate once:
 * the others wait, then find nothing left to do. Refuses a schema written by a newer version.
 *
 * @returns the migrations applied (0 when the schema was up to date).
 */
export async function migrate(client: ClientBase, schema: string): Promise<number> {
  const s = quoteIdentifier(schema);
  await client.query('SELECT pg_advisory_lock($1, hashtext($2))', [MIGRATION_LOCK, schema]);
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    // Checked first, so a role without CREATE on the database can use a schema made for it.
    if (rowCount === 0) await client.query(`CREATE SCHEMA ${s}`);
    await client.query(`
      CREATE TABLE IF NOT EXISTS ${s}.migrations (
        version    integer     NOT NULL PRIMARY KEY,
        name       text        NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
    const { rows } = await client.query<{ version: number }>(
      `SELECT COALESCE(MAX(version), 0)::integer AS version FROM ${s}.migrations`,
    );
    const current = rows[0]?.version ?? 0;
    if (current > POSTGRES_SCHEMA_VERSION) {
      throw new SyncError(
        'storage',
        `The PostgreSQL schema ${schema} has version ${current}, newer than ${POSTGRES_SCHEMA_VERSION} that this @eventsync/postgres knows: upgrade the package`,
        { details: { schemaVersion: current, supported: POSTGRES_SCHEMA_VERSION } },
      );
    }
    for (let version = current; version < POSTGRES_SCHEMA_VERSION; version++) {
      const migration = MIGRATIONS[version]!;
      await client.query('BEGIN');
      try {
        await client.query(migration.sql(s));
        await client.query(`INSERT INTO ${s}.migrations (version, name) VALUES ($1, $2)`, [
          version + 1,
          migration.name,
        ]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    }
    return POSTGRES_SCHEMA_VERSION - current;
  } finally {
    // A lost connection releases the lock by itself; the caller then discards the client.
    await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [MIGRATION_LOCK, schema]).catch(() => undefined);
  }
}
