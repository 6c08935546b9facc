import { randomBytes } from 'node:crypto';
import { batchesOf, benchEvents, defineBenchmark } from '../../bench/src/index.js';
import { PostgresEventStore } from '../src/index.js';
import { rawInserts } from './raw-inserts.js';

const URL = process.env.EVENTSYNC_PG_URL;
const TENANT = 'acme';
const BATCH = 1_000;
const AGGREGATES = 1_000;
const SIZE = 100_000;

const append = defineBenchmark({
  name: 'postgres/postgres-event-store.append',
  skip: URL ? undefined : 'EVENTSYNC_PG_URL is not set; `pnpm test` starts a PostgreSQL, or point it at yours',
  description:
    `PostgresEventStore.append in batches of ${BATCH} (validation, duplicate and conflict checks, tenant row lock, ` +
    `one multi-row INSERT, cursor and NOTIFY, one transaction each) vs raw multi-row INSERTs of the same rows ` +
    `(JSON made untimed) into the same tables and indexes plus the cursor update, one transaction per batch, ` +
    `on one connection; both on the PostgreSQL of EVENTSYNC_PG_URL`,
  units: 'events',
  size: SIZE,
  repeat: 5,
  warmup: 1,
  target: {
    min: 0.6,
    note: 'issue 7 asks push ingest over HTTP for at least 0.6× raw multi-row INSERTs, which the store alone bounds',
  },
  async setup(size) {
    const schema = `es_bench_${randomBytes(4).toString('hex')}`;
    // The store makes the schema, so both sides write to the same tables and indexes.
    const store = await PostgresEventStore.open({ connectionString: URL!, schema, poolOptions: { max: 2 } });
    const batches = batchesOf(benchEvents(size, { aggregates: AGGREGATES, tenant: TENANT }), BATCH);
    const raw = await rawInserts(URL!, schema, TENANT, batches);
    return { schema, store, batches, raw };
  },
  baseline: {
    name: 'multi-row INSERT',
    setup: ({ fixture }) => fixture.raw.empty(),
    run: ({ fixture }) => fixture.raw.insertAll(),
    async after({ size, fixture }) {
      const count = await fixture.raw.count();
      if (count !== size) throw new Error(`expected ${size} rows, found ${count}`);
    },
  },
  subject: {
    name: 'PostgresEventStore.append',
    setup: ({ fixture }) => fixture.raw.empty(),
    async run({ fixture: { store, batches } }) {
      for (const batch of batches) await store.append(TENANT, batch);
    },
    async after({ size, fixture }) {
      const latest = await fixture.store.latestVersion(TENANT);
      const count = await fixture.raw.count();
      if (latest.value !== size || count !== size) {
        throw new Error(`expected ${size} accepted events, got ${latest.value} (${count} rows)`);
      }
    },
  },
  async teardown({ store, raw }) {
    await store.close();
    await raw.drop();
    await raw.close();
  },
});

export default append;
