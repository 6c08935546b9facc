// Two eventsync server processes on different ports over one PostgreSQL database, reached over HTTP
// as clients reach a deployment behind a load balancer.

import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import {
  CursorVersion,
  MemoryEventStore,
  SyncManager,
  alwaysOnline,
  type Event,
  type LiveBatch,
  type SubscriptionState,
  type VersionedEvent,
} from '@eventsync/core';
import { HttpTransport } from '@eventsync/http';
import { TestEvents } from '@eventsync/testkit';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { adminPool, describeWithPostgres, dropSchema, eventually, freshSchema } from './postgres-test-database.js';
import { startSyncNode, type SyncNode } from './sync-nodes.js';

function transport(node: SyncNode, token = 'alice-token'): HttpTransport {
  return new HttpTransport({
    baseUrl: node.url,
    token: () => token,
    stream: { initialDelayMs: 50, maxDelayMs: 500 },
  });
}

/** Every event of tenant acme, pulled through `client` page by page. */
async function pullAll(client: HttpTransport): Promise<VersionedEvent[]> {
  const all: VersionedEvent[] = [];
  let since = CursorVersion.ZERO;
  for (let hasMore = true; hasMore;) {
    const page = await client.pull(since, { limit: 250 });
    all.push(...page.events);
    ({ next: since, hasMore } = page);
  }
  return all;
}

/** A live subscription that keeps every batch it gets. */
function follow(client: HttpTransport) {
  const seen: VersionedEvent[] = [];
  const live = { seen, state: 'connecting' as SubscriptionState };
  const subscription = client.subscribe(
    (batch: LiveBatch) => {
      seen.push(...batch.events);
    },
    { since: CursorVersion.ZERO, onStateChange: (state) => (live.state = state) },
  );
  return Object.assign(live, { subscription });
}

describeWithPostgres('two server processes over one PostgreSQL, over HTTP', (pgUrl) => {
  let admin: pg.Pool;
  let schema: string;
  let nodes: SyncNode[];
  let clients: { close(): Promise<void> }[];

  beforeAll(() => {
    admin = adminPool(pgUrl);
  });
  afterAll(async () => {
    await admin.end();
  });
  beforeEach(async () => {
    schema = freshSchema();
    clients = [];
    const tag = randomBytes(4).toString('hex');
    nodes = await Promise.all([
      startSyncNode(pgUrl, schema, `node_a_${tag}`),
      startSyncNode(pgUrl, schema, `node_b_${tag}`),
    ]);
  });
  afterEach(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await Promise.all(nodes.map((node) => node.stop()));
    await dropSchema(admin, schema);
  });

  const open = <T extends { close(): Promise<void> }>(client: T): T => {
    clients.push(client);
    return client;
  };

  describe('live events', () => {
    it('carries a push through node A to a live subscriber on node B, in order, none twice', async () => {
      const [a, b] = nodes as [SyncNode, SyncNode];
      const onB = open(transport(b, 'bob-token'));
      const live = follow(onB);
      await eventually(() => live.state === 'live', 'the stream on node B');
      const onA = open(transport(a));
      const events = new TestEvents({ clientId: 'alice' });
      const pushed: Event[] = [];
      for (let i = 0; i < 5; i++) {
        const batch = events.many(4, 2);
        pushed.push(...batch);
        const results = await onA.push(batch);
        expect(results.every((result) => result.status === 'accepted')).toBe(true);
      }
      await eventually(() => live.seen.length >= pushed.length, 'the pushes on node B');
      expect(live.seen.map((item) => item.event.id)).toEqual(pushed.map((event) => event.id));
      expect(live.seen.map((item) => item.version.value)).toEqual(pushed.map((_, i) => i + 1));
      live.subscription.close();
    });

    it('keeps a subscriber on node B whole while B’s LISTEN connection is terminated and A goes on taking pushes', async () => {
      const [a, b] = nodes as [SyncNode, SyncNode];
      const live = follow(open(transport(b, 'bob-token')));
      await eventually(() => live.state === 'live', 'the stream on node B');
      const onA = open(transport(a));
      const events = new TestEvents({ clientId: 'alice' });
      const pushed: string[] = [];
      const push = async (count: number) => {
        const batch = events.many(count);
        pushed.push(...batch.map((event) => event.id));
        await onA.push(batch);
      };
      await push(3);
      await eventually(() => live.seen.length === 3, 'the first push on node B');
      for (let kill = 0; kill < 3; kill++) {
        const { rows } = await admin.query<{ killed: boolean }>(
          `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
            WHERE application_name = $1 AND query ILIKE 'LISTEN%'`,
          [b.listenerName],
        );
        expect(rows).toEqual([{ killed: true }]);
        await push(2); // while node B may not listen yet
        await push(1);
        const expected = pushed.length;
        await eventually(() => live.seen.length >= expected, `node B's subscriber at ${expected}`);
        await eventually(async () => (await listenerCount(b)) === 1, 'node B listening again');
      }
      expect(live.seen.map((item) => item.event.id)).toEqual(pushed);
      expect(live.seen.map((item) => item.version.value)).toEqual(pushed.map((_, i) => i + 1));
      expect(b.stderr()).toMatch(/listener: /); // it did lose its connection
      live.subscription.close();
    });
  });

  async function listenerCount(node: SyncNode): Promise<number> {
    const { rows } = await admin.query(
      `SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND query ILIKE 'LISTEN%'`,
      [node.listenerName],
    );
    return rows.length;
  }

  describe('convergence', () => {
    it('converges clients on both nodes that edit shared aggregates at once: one gapless log, identical replicas', async () => {
      const [a, b] = nodes as [SyncNode, SyncNode];
      const devices = Array.from({ length: 6 }, (_, i) => {
        const store = new MemoryEventStore();
        const manager = new SyncManager({
          store,
          transport: open(transport(i % 2 === 0 ? a : b, i % 3 === 0 ? 'bob-token' : 'alice-token')),
          clientId: `device-${i}`,
          connectivity: alwaysOnline,
        });
        open(manager);
        return { store, manager };
      });
      await Promise.all(
        devices.map(async ({ manager }, i) => {
          for (let round = 0; round < 8; round++) {
            await manager.append([
              { type: 'todo.renamed', aggregateId: `todo-${round % 3}`, data: { title: `${i}-${round}` } },
              { type: 'todo.touched', aggregateId: `device-${i}`, data: { round } },
            ]);
            if (round % 2 === 1) await manager.sync();
          }
        }),
      );
      // Until every outbox is empty and every replica has the whole log.
      for (let pass = 0; pass < 20; pass++) {
        for (const { manager } of devices) await manager.sync();
        const pending = await Promise.all(devices.map(({ store }) => store.pendingCount()));
        const latest = (await open(transport(a)).latestVersion()).value;
        const cursors = await Promise.all(devices.map(({ store }) => store.cursor()));
        if (pending.every((count) => count === 0) && cursors.every((cursor) => cursor.value === latest)) break;
      }
      const fromA = await pullAll(open(transport(a)));
      const fromB = await pullAll(open(transport(b, 'bob-token')));
      expect(fromB).toEqual(fromA);
      expect(fromA.map((item) => item.version.value)).toEqual(fromA.map((_, i) => i + 1));
      expect(new Set(fromA.map((item) => item.event.id)).size).toBe(fromA.length);
      for (const { store } of devices) {
        expect(await store.pendingCount()).toBe(0);
        const replica = await store.load(CursorVersion.ZERO);
        expect(replica.map((item) => [item.version.value, item.event.id])).toEqual(
          fromA.map((item) => [item.version.value, item.event.id]),
        );
      }
      // Every device's own aggregate holds its 8 events, in its order.
      for (let i = 0; i < devices.length; i++) {
        const own = fromA.filter((item) => item.event.aggregateId === `device-${i}`);
        expect(own.map((item) => (item.event.data as { round: number }).round)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      }
    });
  });
});
