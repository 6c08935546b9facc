import { CursorVersion, type AppendResult } from '@eventsync/core';
import { defineBenchmark, type BenchmarkSide } from '@eventsync/bench';
import { HttpTransport } from '@eventsync/http';
import { SqliteEventStore } from '@eventsync/sqlite';
import {
  BENCH_TENANT,
  BENCH_TOKEN,
  Database,
  batchesOf,
  buildEvents,
  startBenchServer,
  workspace,
  type BenchServer,
  type SqliteDatabase,
} from './bench-support.js';

const BATCH = 1_000;

/** The row the store writes for an event, as the raw side inserts it (JSON made before the clock starts). */
type Row = [tenant: string, seq: number, id: string, aggregateId: string, type: string, clientId: string, json: string];

const INSERT = 'INSERT INTO events (tenant, seq, id, aggregate_id, type, client_id, json) VALUES (?, ?, ?, ?, ?, ?, ?)';

function transport(server: BenchServer, baseUrl = server.syncUrl): HttpTransport {
  // Loopback: compressing pages would only cost CPU on both ends, and the raw sides send plain JSON.
  return new HttpTransport({
    baseUrl,
    token: () => BENCH_TOKEN,
    headers: { 'Accept-Encoding': 'identity' },
    maxBatchSize: BATCH,
  });
}

/** The inputs of the push benchmarks: the events, and the rows the raw side inserts (JSON made untimed). */
async function pushFixture(size: number) {
  const events = buildEvents(size);
  let seq = 0;
  const rows = batchesOf(
    events.map((event): Row => {
      seq++;
      return [
        BENCH_TENANT,
        seq,
        event.id,
        event.aggregateId,
        event.type,
        event.metadata.clientId,
        JSON.stringify(event),
      ];
    }),
    BATCH,
  );
  const server = await startBenchServer();
  const client = transport(server);
  // The push floor's client (server/http.push-floor); it connects only when used.
  const floor = transport(server, server.floorUrl);
  return { events, rows, files: workspace('http-push'), server, client, floor };
}

type PushFixture = Awaited<ReturnType<typeof pushFixture>>;

async function closePushFixture({ files, server, client, floor }: PushFixture): Promise<void> {
  await client.close();
  await floor.close();
  await server.stop();
  files.remove();
}

/** A fresh file with the store's schema, for a sample. */
async function schemaFile(fixture: PushFixture): Promise<string> {
  const path = fixture.files.newPath();
  await new SqliteEventStore({ path, writer: 'inline' }).close();
  return path;
}

/** The baseline of the push benchmarks: raw better-sqlite3 inserts of the same rows, one transaction per batch. */
interface RawInsertState {
  readonly path: string;
  readonly db: SqliteDatabase;
  readonly insertBatch: { immediate(rows: readonly Row[]): void };
}

const rawInserts: BenchmarkSide<PushFixture, RawInsertState> = {
  name: 'better-sqlite3 inserts',
  async setup({ fixture }) {
    const path = await schemaFile(fixture);
    const db: SqliteDatabase = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    const insert = db.prepare<Row>(INSERT);
    const setLatest = db.prepare<[string, number]>(
      'INSERT INTO tenants (tenant, latest) VALUES (?, ?) ON CONFLICT (tenant) DO UPDATE SET latest = excluded.latest',
    );
    const insertBatch = db.transaction((rows: readonly Row[]) => {
      for (const row of rows) insert.run(...row);
      setLatest.run(BENCH_TENANT, rows.at(-1)![1]);
    });
    return { path, db, insertBatch };
  },
  run({ fixture }, { insertBatch }) {
    for (const rows of fixture.rows) insertBatch.immediate(rows);
  },
  after({ size, fixture }, { path, db }) {
    const { count } = db.prepare<[], { count: number }>('SELECT COUNT(*) AS count FROM events').get()!;
    db.close();
    fixture.files.removeFile(path);
    if (count !== size) throw new Error(`expected ${size} rows, found ${count}`);
  },
};

/** Every result `accepted`, one per event. */
function checkAccepted(size: number, results: readonly AppendResult[]): void {
  const accepted = results.filter((result) => result.status === 'accepted').length;
  if (results.length !== size || accepted !== size) {
    throw new Error(`expected ${size} accepted events, got ${accepted} of ${results.length} results`);
  }
}

const push = defineBenchmark({
  name: 'server/http.push',
  description:
    `HttpTransport.push of all the events, sent in batches of ${BATCH} (a push chain: up to pushWindow requests ` +
    `in flight, decided in order) over 127.0.0.1 to the sync server (serve + createSyncHandler over ` +
    `SqliteEventStore, in its own process): JSON, HTTP, validation, duplicate and conflict checks, one transaction ` +
    `per batch, WAL with synchronous=FULL; vs raw better-sqlite3 prepared inserts of the same rows (JSON made ` +
    `untimed) into the same tables, one transaction per batch, in this process`,
  units: 'events',
  size: 50_000,
  repeat: 5,
  warmup: 1,
  target: { min: 0.6, note: 'issue 5: at least 0.6 of raw better-sqlite3 inserts' },
  setup: pushFixture,
  baseline: rawInserts,
  subject: {
    name: 'HttpTransport.push → server',
    async setup({ fixture }) {
      const path = fixture.files.newPath();
      await fixture.server.open(path);
      return { path, statuses: new Map<string, number>() };
    },
    async run({ fixture }, { statuses }) {
      // One call: the transport sends the batches of BATCH as one push chain.
      for (const result of await fixture.client.push(fixture.events)) {
        statuses.set(result.status, (statuses.get(result.status) ?? 0) + 1);
      }
    },
    async after({ size, fixture }, { path, statuses }) {
      const latest = await fixture.client.latestVersion();
      await fixture.server.open(fixture.files.newPath()); // closes this sample's file
      fixture.files.removeFile(path);
      if (latest.value !== size || statuses.get('accepted') !== size) {
        throw new Error(
          `expected ${size} accepted events, got ${JSON.stringify([...statuses])}, latest ${latest.toString()}`,
        );
      }
    },
  },
  teardown: closePushFixture,
});

const pushFloor = defineBenchmark({
  name: 'server/http.push-floor',
  description:
    `What this machine allows a push over HTTP into SQLite, to read server/http.push against: the same ` +
    `HttpTransport.push of all the events (batches of ${BATCH} as a push chain) to a bare node:http endpoint in ` +
    `the sync server's process that only parses each body, makes each event's JSON with JSON.stringify and ` +
    `inserts the events in one transaction (WAL, synchronous=FULL), answering each accepted: no authentication, ` +
    `validation, duplicate or conflict check, nor order; vs the same raw inserts as server/http.push`,
  units: 'events',
  size: 50_000,
  repeat: 5,
  warmup: 1,
  setup: pushFixture,
  baseline: rawInserts,
  subject: {
    name: 'HttpTransport.push → floor',
    async setup({ fixture }) {
      const path = await schemaFile(fixture);
      await fixture.server.openFloor(path);
      return { path, results: [] as AppendResult[] };
    },
    async run({ fixture }, state) {
      state.results = await fixture.floor.push(fixture.events);
    },
    async after({ size, fixture }, { path, results }) {
      const stored = await fixture.server.closeFloor();
      fixture.files.removeFile(path);
      checkAccepted(size, results);
      if (stored !== size) throw new Error(`expected ${size} events in the floor's file, found ${stored}`);
    },
  },
  teardown: closePushFixture,
});

const pull = defineBenchmark({
  name: 'server/http.pull',
  description:
    `HttpTransport.pull in pages of ${BATCH} over 127.0.0.1 from the sync server on SQLite (read, encode, HTTP, ` +
    `parse, every event checked) vs fetch + JSON.parse of the same pages (the sync server's own answers, kept ` +
    `as text) from a plain node:http server in the same process as the sync server`,
  units: 'events',
  size: 100_000,
  repeat: 7,
  warmup: 2,
  target: { min: 0.5, note: 'issue 5: at least half of raw loopback HTTP with JSON.parse' },
  async setup(size) {
    const files = workspace('http-pull');
    const server = await startBenchServer();
    await server.open(files.newPath());
    if ((await server.fill(size)) !== size) throw new Error('the log was not filled');
    await server.preparePages(BATCH);
    return { files, server, client: transport(server) };
  },
  baseline: {
    name: 'fetch + JSON.parse',
    setup: () => ({ read: 0 }),
    async run({ fixture }, state) {
      let since = '0';
      for (let hasMore = true; hasMore;) {
        const response = await fetch(`${fixture.server.rawUrl}/raw/pages?since=${since}`);
        const page = JSON.parse(await response.text()) as { events: unknown[]; next: string; hasMore: boolean };
        state.read += page.events.length;
        ({ next: since, hasMore } = page);
      }
    },
    after: ({ size }, { read }) => checkRead(size, read),
  },
  subject: {
    name: 'HttpTransport.pull',
    setup: () => ({ read: 0 }),
    async run({ fixture }, state) {
      let since = CursorVersion.ZERO;
      for (let hasMore = true; hasMore;) {
        const page = await fixture.client.pull(since, { limit: BATCH });
        state.read += page.events.length;
        ({ next: since, hasMore } = page);
      }
    },
    after: ({ size }, { read }) => checkRead(size, read),
  },
  async teardown({ files, server, client }) {
    await client.close();
    await server.stop();
    files.remove();
  },
});

function checkRead(size: number, read: number): void {
  if (read !== size) throw new Error(`expected to read ${size} events, read ${read}`);
}

export default [push, pushFloor, pull];
