import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { CheckedEvents, CursorVersion, type Event } from '@eventsync/core';
import {
  batchesOf,
  benchEvents,
  defineBenchmark,
  type BenchmarkSide,
  type SampleMetrics,
} from '../../bench/src/index.js';
import { SqliteEventStore, type SqliteWriter } from '../src/index.js';

const TENANT = 'acme';
const BATCH = 1_000;
const AGGREGATES = 1_000;
/** How many batches warm a store up before a sample, untimed. */
const WARMUP_BATCHES = 3;

/** The row the store writes for an event, as the raw side inserts it (JSON made before the clock starts). */
type Row = [tenant: string, seq: number, id: string, aggregateId: string, type: string, clientId: string, json: string];

const INSERT = 'INSERT INTO events (tenant, seq, id, aggregate_id, type, client_id, json) VALUES (?, ?, ?, ?, ?, ?, ?)';

/** A temporary folder for the benchmark's files; each sample gets a fresh file. */
function workspace() {
  const folder = mkdtempSync(join(tmpdir(), 'eventsync-bench-sqlite-'));
  let files = 0;
  return {
    folder,
    newPath: () => join(folder, `log-${++files}.db`),
    remove: () => rmSync(folder, { recursive: true, force: true }),
  };
}

function removeFile(path: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
}

/**
 * A raw connection to a file with the store's schema and the store's settings (WAL, synchronous=FULL):
 * the store creates the schema, so both sides write to the same tables and indexes.
 */
async function rawDatabase(path: string): Promise<Database.Database> {
  await new SqliteEventStore({ path, writer: 'inline' }).close();
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  return db;
}

/** The events in batches, the rows the raw side inserts, and the files of the samples. */
interface AppendFixture {
  readonly batches: Event[][];
  /** Per batch, the checks a sync server made of its events before the append (`options.checked`); empty unless asked. */
  readonly checks: CheckedEvents[];
  readonly rows: Row[][];
  /** Batches of other events, appended untimed to another tenant so that a store's code runs warm, as in a server. */
  readonly warmup: Event[][];
  readonly files: ReturnType<typeof workspace>;
}

function appendFixture(size: number, checked = false): AppendFixture {
  const batches = batchesOf(benchEvents(size, { aggregates: AGGREGATES, tenant: TENANT }), BATCH);
  let seq = 0;
  const rows = batches.map((batch) =>
    batch.map((event): Row => {
      seq++;
      return [TENANT, seq, event.id, event.aggregateId, event.type, event.metadata.clientId, JSON.stringify(event)];
    }),
  );
  const checks = batches.map((batch) => {
    const checks = new CheckedEvents();
    if (checked) for (const event of batch) checks.check(event, { maxEventBytes: Infinity });
    return checks;
  });
  const warmup = batchesOf(benchEvents(WARMUP_BATCHES * BATCH, { clientId: 'warmup' }), BATCH);
  return { batches, checks, rows, warmup, files: workspace() };
}

/** The raw limit every append benchmark compares with: prepared inserts of the rows, one transaction per batch. */
const rawInserts: BenchmarkSide<
  AppendFixture,
  { path: string; db: Database.Database; insertBatch: Database.Transaction<(rows: readonly Row[]) => void> }
> = {
  name: 'better-sqlite3 inserts',
  async setup({ fixture }) {
    const path = fixture.files.newPath();
    const db = await rawDatabase(path);
    const insert = db.prepare<Row>(INSERT);
    const setLatest = db.prepare<[string, number]>(
      'INSERT INTO tenants (tenant, latest) VALUES (?, ?) ON CONFLICT (tenant) DO UPDATE SET latest = excluded.latest',
    );
    const insertBatch = db.transaction((rows: readonly Row[]) => {
      for (const row of rows) insert.run(...row);
      setLatest.run(TENANT, rows.at(-1)![1]);
    });
    return { path, db, insertBatch };
  },
  run({ fixture }, { insertBatch }) {
    for (const rows of fixture.rows) insertBatch.immediate(rows);
  },
  after({ size }, { path, db }) {
    const { count } = db.prepare<[], { count: number }>('SELECT COUNT(*) AS count FROM events').get()!;
    db.close();
    removeFile(path);
    if (count !== size) throw new Error(`expected ${size} rows, found ${count}`);
  },
};

/**
 * `SqliteEventStore.append` of every batch with `writer`, keeping `inFlight` appends pending at once
 * (a sync server with that many pushes being stored), the events checked beforehand when `checked`.
 * Reports the event loop's busy time per append (`performance.eventLoopUtilization`): what the
 * append takes from the thread that serves requests.
 */
function storeAppends(
  name: string,
  writer: SqliteWriter,
  inFlight: number,
  checked = false,
): BenchmarkSide<AppendFixture, { path: string; store: SqliteEventStore }> {
  return {
    name,
    async setup({ fixture }) {
      const path = fixture.files.newPath();
      const store = new SqliteEventStore({ path, writer });
      // Untimed: the writer thread is up and its code warm; the timed appends start from an empty log.
      for (const batch of fixture.warmup) await store.append('warmup', batch);
      return { path, store };
    },
    async run({ fixture }, { store }): Promise<SampleMetrics> {
      const { batches, checks } = fixture;
      const busy = performance.eventLoopUtilization();
      let next = 0;
      await Promise.all(
        Array.from({ length: inFlight }, async () => {
          while (next < batches.length) {
            const i = next++;
            await store.append(TENANT, batches[i]!, checked ? { checked: checks[i]! } : undefined);
          }
        }),
      );
      return { 'main ms/append': performance.eventLoopUtilization(busy).active / batches.length };
    },
    async after({ size }, { path, store }) {
      const latest = await store.latestVersion(TENANT);
      await store.close();
      removeFile(path);
      if (latest.value !== size) throw new Error(`expected ${size} accepted events, got ${latest.value}`);
    },
  };
}

/** One size for every append benchmark: a log's size changes its insert rate, so only runs of one size compare. */
const SAMPLES = { units: 'events', size: 100_000, repeat: 5, warmup: 1 } as const;
const WHAT =
  `in batches of ${BATCH} (validation, duplicate and conflict checks, one IMMEDIATE transaction each) vs raw ` +
  `better-sqlite3 prepared inserts of the same rows (JSON made untimed) into the same tables and indexes, one ` +
  `transaction per batch; both on files in WAL mode with synchronous=FULL`;

const append = defineBenchmark({
  name: 'sqlite/sqlite-event-store.append',
  description: `SqliteEventStore.append (writer: 'inline') ${WHAT}`,
  ...SAMPLES,
  setup: appendFixture,
  baseline: rawInserts,
  subject: storeAppends('SqliteEventStore.append, inline', 'inline', 1),
  teardown: ({ files }) => files.remove(),
});

const appendThread = defineBenchmark({
  name: 'sqlite/sqlite-event-store.append-thread',
  description: `SqliteEventStore.append (writer: 'thread'), one append at a time, ${WHAT}`,
  ...SAMPLES,
  setup: appendFixture,
  baseline: rawInserts,
  subject: storeAppends('SqliteEventStore.append, thread', 'thread', 1),
  teardown: ({ files }) => files.remove(),
});

const appendThreadInFlight = defineBenchmark({
  name: 'sqlite/sqlite-event-store.append-thread-3',
  description: `SqliteEventStore.append (writer: 'thread'), three appends in flight at once, ${WHAT}`,
  ...SAMPLES,
  setup: appendFixture,
  baseline: rawInserts,
  subject: storeAppends('SqliteEventStore.append, thread ×3', 'thread', 3),
  teardown: ({ files }) => files.remove(),
});

const appendThreadChecked = defineBenchmark({
  name: 'sqlite/sqlite-event-store.append-thread-3-checked',
  description:
    `SqliteEventStore.append (writer: 'thread'), three appends in flight, each with the checks a sync server ` +
    `made of its events (options.checked, made untimed), ${WHAT}`,
  ...SAMPLES,
  setup: (size) => appendFixture(size, true),
  baseline: rawInserts,
  subject: storeAppends('SqliteEventStore.append, thread ×3, checked', 'thread', 3, true),
  teardown: ({ files }) => files.remove(),
});

const read = defineBenchmark({
  name: 'sqlite/sqlite-event-store.read',
  description: `SqliteEventStore.read in pages of ${BATCH} vs raw better-sqlite3 SELECT … LIMIT ${BATCH} + JSON.parse, on one file`,
  units: 'events',
  size: 100_000,
  repeat: 9,
  async setup(size) {
    const files = workspace();
    const path = files.newPath();
    const store = new SqliteEventStore({ path });
    for (const batch of batchesOf(benchEvents(size, { aggregates: AGGREGATES, tenant: TENANT }), BATCH))
      await store.append(TENANT, batch);
    const db = new Database(path, { readonly: true });
    const page = db.prepare<[string, number, number], { seq: number; json: string }>(
      'SELECT seq, json FROM events WHERE tenant = ? AND seq > ? ORDER BY seq LIMIT ?',
    );
    return { files, store, db, page };
  },
  baseline: {
    name: 'SELECT … LIMIT + JSON.parse',
    setup: () => ({ read: 0 }),
    run({ fixture: { page } }, state) {
      let since = 0;
      for (;;) {
        const rows = page.all(TENANT, since, BATCH);
        if (rows.length === 0) break;
        for (const row of rows) {
          if ((JSON.parse(row.json) as Event).id === '') throw new Error('unreachable');
          since = row.seq;
        }
        state.read += rows.length;
      }
    },
    after: ({ size }, { read }) => checkRead(size, read),
  },
  subject: {
    name: 'SqliteEventStore.read',
    setup: () => ({ read: 0 }),
    async run({ fixture: { store } }, state) {
      let since = CursorVersion.ZERO;
      for (let hasMore = true; hasMore;) {
        const page = await store.read(TENANT, { since, limit: BATCH });
        state.read += page.events.length;
        ({ next: since, hasMore } = page);
      }
    },
    after: ({ size }, { read }) => checkRead(size, read),
  },
  async teardown({ files, store, db }) {
    db.close();
    await store.close();
    files.remove();
  },
});

function checkRead(size: number, read: number): void {
  if (read !== size) throw new Error(`expected to read ${size} events, read ${read}`);
}

export default [append, appendThread, appendThreadInFlight, appendThreadChecked, read];
