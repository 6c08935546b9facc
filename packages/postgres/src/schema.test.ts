import type pg from 'pg';
import { expectSyncError, TestEvents } from '@eventsync/testkit';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { adminPool, describeWithPostgres, dropSchema, freshSchema, openStore } from '../test/postgres-test-database.js';
import { migrate, POSTGRES_SCHEMA_VERSION } from './schema.js';

describeWithPostgres('PostgreSQL schema migrations', (url) => {
  let admin: pg.Pool;
  let schema: string;

  beforeAll(() => {
    admin = adminPool(url);
  });
  afterAll(async () => {
    await admin.end();
  });
  beforeEach(() => {
    schema = freshSchema();
  });
  afterEach(async () => {
    await dropSchema(admin, schema);
  });

  async function applied(): Promise<number[]> {
    const { rows } = await admin.query<{ version: number }>(
      `SELECT version FROM "${schema}".migrations ORDER BY version`,
    );
    return rows.map((row) => row.version);
  }

  it('creates the schema and records each migration once; running them again changes nothing', async () => {
    const client = await admin.connect();
    try {
      expect(await migrate(client, schema)).toBe(POSTGRES_SCHEMA_VERSION);
      expect(await migrate(client, schema)).toBe(0);
    } finally {
      client.release();
    }
    expect(await applied()).toEqual(Array.from({ length: POSTGRES_SCHEMA_VERSION }, (_, i) => i + 1));
    const store = await openStore(url, schema);
    await store.append('t1', new TestEvents().many(2));
    await store.close();
    const reopened = await openStore(url, schema);
    expect((await reopened.latestVersion('t1')).value).toBe(2);
    await reopened.close();
    expect(await applied()).toHaveLength(POSTGRES_SCHEMA_VERSION);
  });

  it('migrates once when several nodes start at the same time on a new schema', async () => {
    const stores = await Promise.all(
      Array.from({ length: 6 }, () => openStore(url, schema, { poolOptions: { max: 2 } })),
    );
    expect(await applied()).toEqual(Array.from({ length: POSTGRES_SCHEMA_VERSION }, (_, i) => i + 1));
    const results = await Promise.all(
      stores.map((store, i) => store.append('t1', new TestEvents({ clientId: `n${i}` }).many(3))),
    );
    expect(results.flat().every((result) => result.status === 'accepted')).toBe(true);
    expect((await stores[0]!.latestVersion('t1')).value).toBe(18);
    await Promise.all(stores.map((store) => store.close()));
  });

  it('refuses a schema written by a newer version of the package', async () => {
    const store = await openStore(url, schema);
    await store.close();
    await admin.query(`INSERT INTO "${schema}".migrations (version, name) VALUES ($1, 'from the future')`, [
      POSTGRES_SCHEMA_VERSION + 1,
    ]);
    const error = await expectSyncError(() => openStore(url, schema), 'storage');
    expect(error.message).toMatch(/newer/);
    expect(error.details).toMatchObject({ schemaVersion: POSTGRES_SCHEMA_VERSION + 1 });
  });

  it('uses a schema made beforehand, and leaves other schemas alone', async () => {
    await admin.query(`CREATE SCHEMA "${schema}"`);
    const other = freshSchema();
    const store = await openStore(url, schema);
    await store.close();
    const { rows } = await admin.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [other]);
    expect(rows).toHaveLength(0);
    expect(await applied()).toHaveLength(POSTGRES_SCHEMA_VERSION);
  });
});
