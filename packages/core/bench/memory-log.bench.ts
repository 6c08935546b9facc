import { batchesOf, benchEvents, defineBenchmark, type SampleContext } from '../../bench/src/index.js';
import { CursorVersion, MemoryServerEventLog, type Event, type VersionedEvent } from '@eventsync/core';

const TENANT = 'acme';
const BATCH = 1_000;
const AGGREGATES = 1_000;
const MiB = 2 ** 20;

const retained = (context: SampleContext<unknown>, before: number) => ({
  'retained MiB': (context.heapUsed() - before) / MiB,
});

const append = defineBenchmark({
  name: 'core/memory-log.append',
  description: `MemoryServerEventLog.append in batches of ${BATCH} (validation, duplicate and conflict checks) vs array.push + Map.set`,
  units: 'events',
  size: 100_000,
  setup: (size) => batchesOf(benchEvents(size, { aggregates: AGGREGATES, tenant: TENANT }), BATCH),
  baseline: {
    name: 'array + Map by id',
    setup: (context) => ({ events: [] as Event[], byId: new Map<string, Event>(), before: context.heapUsed() }),
    run({ fixture }, { events, byId }) {
      for (const batch of fixture) {
        for (const event of batch) {
          events.push(event);
          byId.set(event.id, event);
        }
      }
    },
    after(context, { events, byId, before }) {
      if (events.length !== context.size || byId.size !== context.size)
        throw new Error(`expected ${context.size} events`);
      return retained(context, before);
    },
  },
  subject: {
    name: 'MemoryServerEventLog',
    setup: (context) => ({ log: new MemoryServerEventLog(), before: context.heapUsed() }),
    async run({ fixture }, { log }) {
      for (const batch of fixture) await log.append(TENANT, batch);
    },
    async after(context, { log, before }) {
      const latest = await log.latestVersion(TENANT);
      if (latest.value !== context.size)
        throw new Error(`expected ${context.size} accepted events, got ${latest.value}`);
      return retained(context, before);
    },
  },
});

const read = defineBenchmark({
  name: 'core/memory-log.read',
  description: `MemoryServerEventLog.read in pages of ${BATCH} vs array.slice`,
  units: 'events',
  size: 100_000,
  // A sample takes milliseconds at most: more of them steady the median.
  repeat: 15,
  async setup(size) {
    const log = new MemoryServerEventLog();
    const events = benchEvents(size, { aggregates: AGGREGATES, tenant: TENANT });
    for (const batch of batchesOf(events, BATCH)) await log.append(TENANT, batch);
    const all: VersionedEvent[] = events.map((event, i) => ({ event, version: CursorVersion.of(i + 1) }));
    return { log, all };
  },
  baseline: {
    name: 'array.slice',
    setup: () => ({ read: 0 }),
    run({ fixture: { all } }, state) {
      for (let position = 0; position < all.length; position += BATCH) {
        state.read += all.slice(position, position + BATCH).length;
      }
    },
    after: ({ size }, { read }) => checkRead(size, read),
  },
  subject: {
    name: 'MemoryServerEventLog.read',
    setup: () => ({ read: 0 }),
    async run({ fixture: { log } }, state) {
      let since = CursorVersion.ZERO;
      for (let hasMore = true; hasMore;) {
        const page = await log.read(TENANT, { since, limit: BATCH });
        state.read += page.events.length;
        ({ next: since, hasMore } = page);
      }
    },
    after: ({ size }, { read }) => checkRead(size, read),
  },
  teardown: ({ log }) => log.close(),
});

function checkRead(size: number, read: number): void {
  if (read !== size) throw new Error(`expected to read ${size} events, read ${read}`);
}

export default [append, read];
