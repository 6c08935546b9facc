import pg from 'pg';
import type { Event } from '@eventsync/core';

/** The raw side of the PostgreSQL benchmarks: multi-row INSERTs of the rows the store writes, on one connection. */
export interface RawInserts {
  /** Empties the store's tables (untimed, before each sample of either side). */
  empty(): Promise<void>;
  /** Inserts every batch, one transaction each, with the cursor update the store also makes. */
  insertAll(): Promise<void>;
  /** The rows in the events table. */
  count(): Promise<number>;
  /** Drops the schema, with everything in it. */
  drop(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Prepares raw multi-row INSERTs of `batches` into `schema`'s tables (made by the store beforehand):
 * the parameters, JSON included, are made now, before any clock starts.
 */
export async function rawInserts(
  url: string,
  schema: string,
  tenant: string,
  batches: readonly Event[][],
): Promise<RawInserts> {
  const client = new pg.Client({ connectionString: url, application_name: 'eventsync-bench' });
  await client.connect();
  let seq = 0;
  const prepared = batches.map((batch) => {
    const values = batch.flatMap((event) => [
      tenant,
      ++seq,
      event.id,
      event.aggregateId,
      event.type,
      event.metadata.clientId,
      JSON.stringify(event),
    ]);
    return { values, text: insertStatement(schema, batch.length), latest: seq };
  });
  const moveCursor = `INSERT INTO "${schema}".tenants (tenant, latest) VALUES ($1, $2)
    ON CONFLICT (tenant) DO UPDATE SET latest = excluded.latest`;
  return {
    empty: async () => {
      await client.query(`TRUNCATE "${schema}".events, "${schema}".tenants`);
    },
    insertAll: async () => {
      for (const { values, text, latest } of prepared) {
        await client.query('BEGIN');
        await client.query(text, values);
        await client.query(moveCursor, [tenant, latest]);
        await client.query('COMMIT');
      }
    },
    count: async () => {
      const { rows } = await client.query<{ count: string }>(`SELECT COUNT(*) AS count FROM "${schema}".events`);
      return Number(rows[0]?.count);
    },
    drop: async () => {
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    },
    close: () => client.end(),
  };
}

function insertStatement(schema: string, rows: number): string {
  const values = Array.from({ length: rows }, (_, row) => {
    const first = row * 7;
    return `($${first + 1}, $${first + 2}, $${first + 3}, $${first + 4}, $${first + 5}, $${first + 6}, $${first + 7})`;
  });
  return `INSERT INTO "${schema}".events (tenant, seq, id, aggregate_id, type, client_id, json) VALUES ${values.join(', ')}`;
}
