import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, it } from 'vitest';
import { PostgresEventStore, type PostgresEventStoreOptions } from '../src/index.js';

/** The server the tests use: `scripts/test.sh` starts one and sets it; a local run may set it by hand. */
export const PG_URL = process.env.EVENTSYNC_PG_URL;

const IN_CI = process.env.CI === 'true' || process.env.CI === '1';

/** How long any one wait in these tests may take before it fails, in milliseconds. */
export const PATIENCE_MS = 15_000;

/** How long one test may take: several waits, and the database's own work. */
export const TEST_TIMEOUT_MS = 60_000;

/**
 * `describe`, when a PostgreSQL server is given in `EVENTSYNC_PG_URL`. Without one, a local run skips
 * the tests and says why in their name; CI fails instead, so they are never skipped there unnoticed.
 */
export function describeWithPostgres(name: string, tests: (url: string) => void): void {
  if (PG_URL) {
    describe(name, { timeout: TEST_TIMEOUT_MS }, () => tests(PG_URL));
  } else if (IN_CI) {
    describe(name, () => {
      it('needs a PostgreSQL server: EVENTSYNC_PG_URL is not set in CI', () => {
        throw new Error('EVENTSYNC_PG_URL is not set: CI must run these tests against PostgreSQL (scripts/test.sh)');
      });
    });
  } else {
    describe.skip(`${name} (skipped: EVENTSYNC_PG_URL is not set; \`pnpm test\` starts a PostgreSQL and sets it)`, () =>
      tests(''));
  }
}

/** A fresh schema name no other test uses: `es_test_` and 12 random hex digits. */
export function freshSchema(): string {
  return `es_test_${randomBytes(6).toString('hex')}`;
}

/** A small pool for the test's own SQL (setting up, looking, dropping schemas). */
export function adminPool(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 3, application_name: 'eventsync-tests' });
  pool.on('error', () => undefined);
  return pool;
}

/** Drops a schema the tests made, with everything in it. */
export async function dropSchema(pool: pg.Pool, schema: string): Promise<void> {
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

/** Opens a store on `schema` with a small pool and quick reconnects. */
export function openStore(
  url: string,
  schema: string,
  options: Omit<PostgresEventStoreOptions, 'connectionString' | 'pool'> = {},
): Promise<PostgresEventStore> {
  return PostgresEventStore.open({
    connectionString: url,
    schema,
    poolOptions: { max: 6 },
    reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
    ...options,
  });
}

/** Polls `condition` until it holds; fails after `timeoutMs` saying what it waited for. */
export async function eventually(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = PATIENCE_MS) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
