import { MemoryNetwork } from '@eventsync/testkit';
import { defineBenchmark } from '../../bench/src/index.js';
import {
  alwaysOnline,
  CursorVersion,
  EventFactory,
  MemoryEventStore,
  MemoryServerEventLog,
  SyncManager,
  type ConflictResolver,
  type Event,
  type EventPage,
  type LocalEventStore,
  type Transport,
  type VersionedEvent,
} from '@eventsync/core';

const TENANT = 'default';
const PUSH_BATCH = 500;
const PAGE = 1_000;
const MiB = 2 ** 20;

const keepLocal: ConflictResolver = {
  resolve: (conflict) => ({ resolvedEvents: conflict.local, decision: 'keep_local', reasons: ['bench'] }),
};

function buildEvents(clientId: string, size: number, aggregates: number, base?: string): Event[] {
  const factory = new EventFactory({ clientId });
  return Array.from({ length: size }, (_, i) =>
    factory.create({
      type: 'todo.renamed',
      aggregateId: `todo-${i % aggregates}`,
      data: { title: `title ${i}`, done: i % 2 === 0 },
      ...(base === undefined ? {} : { metadata: { baseVersion: base } }),
    }),
  );
}

function manager(clientId: string, store: LocalEventStore, transport: Transport): SyncManager {
  return new SyncManager({
    clientId,
    store,
    transport,
    resolver: keepLocal,
    connectivity: alwaysOnline,
    pushBatchSize: PUSH_BATCH,
    pullPageSize: PAGE,
  });
}

/** 100k events from one client to another, through the manager and MemoryNetwork, against the raw calls. */
const twoClients = defineBenchmark({
  name: 'core/sync.two-clients',
  description: `100k events pushed by one SyncManager and pulled by another over MemoryNetwork, vs the same log.append batches (${PUSH_BATCH}) and applyPulled pages (${PAGE}) called by hand`,
  units: 'events',
  size: 100_000,
  repeat: 5,
  setup: (size) => buildEvents('a', size, 1_000),
  baseline: {
    name: 'log.append + applyPulled by hand',
    setup: () => ({ log: new MemoryServerEventLog(), store: new MemoryEventStore() }),
    async run({ fixture }, { log, store }) {
      for (let i = 0; i < fixture.length; i += PUSH_BATCH) await log.append(TENANT, fixture.slice(i, i + PUSH_BATCH));
      let since = CursorVersion.ZERO;
      for (;;) {
        const page = await log.read(TENANT, { since, limit: PAGE });
        await store.applyPulled({ events: page.events, cursor: page.next });
        since = page.next;
        if (!page.hasMore) break;
      }
    },
    async after({ size }, { store }) {
      if ((await store.cursor()).value !== size) throw new Error('the baseline did not move every event');
    },
  },
  subject: {
    name: 'SyncManager over MemoryNetwork',
    async setup({ fixture }) {
      const log = new MemoryServerEventLog();
      const network = new MemoryNetwork({ log });
      const storeA = new MemoryEventStore();
      await storeA.appendLocal(fixture);
      const storeB = new MemoryEventStore();
      return {
        network,
        storeB,
        a: manager('a', storeA, network.transport('a')),
        b: manager('b', storeB, network.transport('b')),
      };
    },
    async run(_context, { a, b }) {
      await a.sync();
      await b.sync();
    },
    async after({ size }, { a, b, storeB, network }) {
      if ((await storeB.cursor()).value !== size) throw new Error('the manager did not move every event');
      await Promise.all([a.close(), b.close(), network.close()]);
    },
  },
});

/**
 * A client with P pending events on A aggregates meets P remote events on the same aggregates: every
 * aggregate conflicts. Baseline: ten syncs of 1k × 1k; subject: one sync of 10k × 10k, the same number
 * of events. A ratio near 1 means the cost per event stays flat (linear); quadratic work would show as
 * a ratio near 0.1.
 */
function conflictWorld(size: number, aggregates: number) {
  return async () => {
    const log = new MemoryServerEventLog();
    await log.append(TENANT, buildEvents('remote', size, aggregates));
    const network = new MemoryNetwork({ log });
    const store = new MemoryEventStore();
    await store.appendLocal(buildEvents('local', size, aggregates, '0'));
    return { network, store, local: manager('local', store, network.transport('local')) };
  };
}

const conflicts = defineBenchmark({
  name: 'core/sync.conflicts',
  description:
    'one sync that pulls P remote events, detects and resolves a conflict on each of A aggregates, and pushes P rebased events: ten 1k × 1k syncs on 100 aggregates each (baseline) vs one 10k × 10k sync on 1k aggregates (subject)',
  units: 'events',
  size: 10_000,
  repeat: 5,
  target: { min: 0.5, note: 'linear: the cost per event must not grow with the number of events' },
  baseline: {
    name: '10 × (1k pending × 1k remote)',
    // Ten separate 1k × 1k worlds per sample: the same 10k events of work as the subject, in small syncs.
    setup: ({ size }) => Promise.all(Array.from({ length: 10 }, () => conflictWorld(size / 10, 100)())),
    async run({ size }, worlds) {
      for (const { local } of worlds) {
        const result = await local.sync();
        // Every aggregate that has events conflicts: 100, or fewer at --quick sizes.
        const expected = Math.min(100, size / 10);
        if (result.conflicts !== expected) throw new Error(`expected ${expected} conflicts, got ${result.conflicts}`);
      }
    },
    async after(_context, worlds) {
      await Promise.all(worlds.flatMap(({ local, network }) => [local.close(), network.close()]));
    },
  },
  subject: {
    name: '10k pending × 10k remote',
    setup: ({ size }) => conflictWorld(size, 1_000)(),
    async run({ size }, { local }) {
      const result = await local.sync();
      const expected = Math.min(1_000, size);
      if (result.conflicts !== expected) throw new Error(`expected ${expected} conflicts, got ${result.conflicts}`);
    },
    async after(_context, { local, network }) {
      await Promise.all([local.close(), network.close()]);
    },
  },
});

/**
 * A transport that serves a long log made on the fly, so the benchmark holds no copy of it, and a
 * store that keeps only the cursor and counts: what is left on the heap is the manager's own.
 */
function syntheticLog(total: number): Transport {
  const factory = new EventFactory({ clientId: 'server' });
  return {
    async push() {
      return [];
    },
    async pull(since: CursorVersion, options): Promise<EventPage> {
      const from = since.value;
      const count = Math.min(options?.limit ?? PAGE, total - from);
      const events: VersionedEvent[] = Array.from({ length: count }, (_, i) => ({
        event: factory.create({
          type: 'todo.renamed',
          aggregateId: `todo-${(from + i) % 10_000}`,
          data: { title: `t${from + i}` },
        }),
        version: CursorVersion.of(from + i + 1),
      }));
      const next = CursorVersion.of(from + count);
      return { events, next, hasMore: next.value < total };
    },
    async latestVersion() {
      return CursorVersion.of(total);
    },
    subscribe() {
      return { close() {} };
    },
    async close() {},
  };
}

class CountingStore extends MemoryEventStore {
  count = 0;
  peakHeap = 0;
  override async applyPulled(page: { events: readonly VersionedEvent[]; cursor: CursorVersion }) {
    this.count += page.events.length;
    this.peakHeap = Math.max(this.peakHeap, process.memoryUsage().heapUsed);
    return super.applyPulled({ events: [], cursor: page.cursor });
  }
}

const million = defineBenchmark({
  name: 'core/sync.memory-1m',
  description: `pulling 1M events in pages of ${PAGE}: the heap the manager keeps must follow the page size, not the log size (by-hand loop as baseline)`,
  units: 'events',
  size: 1_000_000,
  // A sample pulls a million events (about 6 s a side): the heap figures, not the rate, are the point.
  repeat: 1,
  warmup: 0,
  baseline: {
    name: 'pull + applyPulled by hand',
    setup: (context) => ({
      transport: syntheticLog(context.size),
      store: new CountingStore(),
      before: context.heapUsed(),
    }),
    async run(_context, { transport, store }) {
      let since = CursorVersion.ZERO;
      for (;;) {
        const page = await transport.pull(since, { limit: PAGE });
        await store.applyPulled({ events: page.events, cursor: page.next });
        since = page.next;
        if (!page.hasMore) break;
      }
    },
    after: ({ size }, { store, before }) => {
      if (store.count !== size) throw new Error('not every event was pulled');
      return { 'peak heap growth MiB': (store.peakHeap - before) / MiB };
    },
  },
  subject: {
    name: 'SyncManager.sync',
    setup: (context) => {
      const store = new CountingStore();
      return { store, manager: manager('b', store, syntheticLog(context.size)), before: context.heapUsed() };
    },
    async run(_context, { manager }) {
      await manager.sync();
    },
    async after(context, { store, manager, before }) {
      if (store.count !== context.size) throw new Error('not every event was pulled');
      const retained = (context.heapUsed() - before) / MiB;
      await manager.close();
      return { 'peak heap growth MiB': (store.peakHeap - before) / MiB, 'retained MiB': retained };
    },
  },
});

export default [twoClients, conflicts, million];
