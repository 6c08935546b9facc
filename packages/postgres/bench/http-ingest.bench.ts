import { randomBytes } from 'node:crypto';
import { EventFactory, type Event } from '@eventsync/core';
import { HttpTransport } from '@eventsync/http';
import { batchesOf, defineBenchmark, type Benchmark } from '../../bench/src/index.js';
import { PostgresEventStore } from '../src/index.js';
import { startSyncNode, type SyncNode } from '../test/sync-nodes.js';
import { rawInserts, type RawInserts } from './raw-inserts.js';

const URL = process.env.EVENTSYNC_PG_URL;
const TENANT = 'acme'; // the tenant of the nodes' tokens (test/fixtures/sync-node.ts)
const BATCH = 1_000;
const PUSHERS = 4;
const AGGREGATES_PER_PUSHER = 250;

interface Fixture {
  readonly nodes: SyncNode[];
  readonly transports: HttpTransport[];
  /** Per pusher, its batches, in order. */
  readonly pushers: Event[][][];
  readonly raw: RawInserts;
}

/**
 * `size` events split between `PUSHERS` clients, each on aggregates of its own. They carry no
 * `baseVersion`: each pusher sets it, as a client does, from the versions its previous push got,
 * so the conflict check runs and finds nothing.
 */
function buildPushers(size: number): Event[][][] {
  return Array.from({ length: PUSHERS }, (_, p) => {
    const factory = new EventFactory({ clientId: `pusher-${p}` });
    const events = Array.from({ length: size / PUSHERS }, (_, i) =>
      factory.create({
        type: 'todo.added',
        aggregateId: `p${p}-todo-${i % AGGREGATES_PER_PUSHER}`,
        data: { title: `Buy milk #${i}`, done: false, tags: ['home', 'errand'], priority: i % 5 },
      }),
    );
    return batchesOf(events, BATCH);
  });
}

/** Pushes every pusher's batches at once, each pusher through its node, one push after the other. */
async function pushAll({ pushers, transports }: Fixture): Promise<void> {
  await Promise.all(
    pushers.map(async (batches, p) => {
      const transport = transports[p]!;
      const seen = new Map<string, number>();
      for (const batch of batches) {
        const sending = batch.map((event) => {
          const base = seen.get(event.aggregateId);
          return base === undefined ? event : { ...event, metadata: { ...event.metadata, baseVersion: String(base) } };
        });
        const results = await transport.push(sending);
        for (const [i, result] of results.entries()) {
          if (result.status !== 'accepted') throw new Error(`push answered ${result.status} for ${result.id}`);
          seen.set(batch[i]!.aggregateId, result.version.value);
        }
      }
    }),
  );
}

function ingest(nodeCount: 1 | 2): Benchmark {
  const name = `postgres/http-ingest.${nodeCount === 1 ? 'one-node' : 'two-nodes'}`;
  return defineBenchmark<Fixture, void, void>({
    name,
    skip: URL ? undefined : 'EVENTSYNC_PG_URL is not set; `pnpm test` starts a PostgreSQL, or point it at yours',
    description:
      `${PUSHERS} clients pushing at once over HTTP (HttpTransport, batches of ${BATCH}, baseVersion set from ` +
      `their previous results) to ${nodeCount === 1 ? 'one sync server process' : 'two sync server processes (half the clients each)'} ` +
      `over PostgresEventStore, vs raw multi-row INSERTs of the same rows (JSON made untimed) into the same tables, ` +
      `one transaction per batch, on one connection; all on the PostgreSQL of EVENTSYNC_PG_URL and this machine`,
    units: 'events',
    size: 40_000,
    repeat: 3,
    warmup: 1,
    target: { min: 0.6, note: 'issue 7: push ingest over HTTP at least 0.6× raw multi-row INSERTs' },
    async setup(size) {
      const schema = `es_bench_${randomBytes(4).toString('hex')}`;
      await (await PostgresEventStore.open({ connectionString: URL!, schema, poolOptions: { max: 1 } })).close();
      const tag = randomBytes(4).toString('hex');
      const nodes = await Promise.all(
        Array.from({ length: nodeCount }, (_, n) => startSyncNode(URL!, schema, `bench_${n}_${tag}`)),
      );
      const transports = Array.from(
        { length: PUSHERS },
        (_, p) =>
          new HttpTransport({
            baseUrl: nodes[p % nodeCount]!.url,
            token: () => 'alice-token',
          }),
      );
      const pushers = buildPushers(size);
      const raw = await rawInserts(URL!, schema, TENANT, batchesOf(pushers.flat(2), BATCH));
      return { nodes, transports, pushers, raw };
    },
    baseline: {
      name: 'multi-row INSERT',
      setup: ({ fixture }) => fixture.raw.empty(),
      run: ({ fixture }) => fixture.raw.insertAll(),
      after: ({ size, fixture }) => expectRows(fixture.raw, size),
    },
    subject: {
      name: `HTTP push, ${nodeCount} node${nodeCount === 1 ? '' : 's'}`,
      setup: ({ fixture }) => fixture.raw.empty(),
      run: ({ fixture }) => pushAll(fixture),
      after: ({ size, fixture }) => expectRows(fixture.raw, size),
    },
    async teardown({ nodes, transports, raw }) {
      await Promise.all(transports.map((transport) => transport.close()));
      await Promise.all(nodes.map((node) => node.stop()));
      await raw.drop();
      await raw.close();
    },
  });
}

async function expectRows(raw: RawInserts, size: number): Promise<void> {
  const count = await raw.count();
  if (count !== size) throw new Error(`expected ${size} rows, found ${count}`);
}

export default [ingest(1), ingest(2)];
