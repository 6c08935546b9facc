// Several server nodes over one database: each node is a PostgresEventStore with its own pool (and its
// own LISTEN connection), as separate processes would have.

import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { CursorVersion, type AppendNotice, type Event, type VersionedEvent } from '@eventsync/core';
import { FakeClock, TestEvents } from '@eventsync/testkit';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { PostgresEventStore } from '../src/index.js';
import {
  adminPool,
  describeWithPostgres,
  dropSchema,
  eventually,
  freshSchema,
  openStore,
} from './postgres-test-database.js';

/** Reads the whole of a tenant's log in pages. */
async function readAll(store: PostgresEventStore, tenant: string, limit = 100): Promise<VersionedEvent[]> {
  const all: VersionedEvent[] = [];
  let since = CursorVersion.ZERO;
  for (let hasMore = true; hasMore;) {
    const page = await store.read(tenant, { since, limit });
    all.push(...page.events);
    ({ next: since, hasMore } = page);
  }
  return all;
}

/** Checks cursors 1…n, each once, in order, and the ids each once. */
function expectGaplessLog(log: readonly VersionedEvent[], ids: readonly string[]): void {
  expect(log.map((item) => item.version.value)).toEqual(log.map((_, i) => i + 1));
  expect(log.map((item) => item.event.id).sort()).toEqual([...ids].sort());
}

/**
 * What the SSE broker does with a store: on each notice of its tenant, reads from its own cursor until
 * it has caught up. It reads nothing unless told, so a lost notice leaves it behind for good.
 */
function follower(store: PostgresEventStore, tenant: string) {
  const seen: VersionedEvent[] = [];
  const errors: unknown[] = [];
  let cursor = CursorVersion.ZERO;
  let reading: Promise<void> | undefined;
  let again = false;
  const catchUp = async (): Promise<void> => {
    do {
      again = false;
      for (let hasMore = true; hasMore;) {
        const page = await store.read(tenant, { since: cursor, limit: 25 });
        seen.push(...page.events);
        ({ next: cursor, hasMore } = page);
      }
    } while (again);
  };
  const stop = store.subscribe((notice: AppendNotice) => {
    if (notice.tenant !== tenant) return;
    if (reading) {
      again = true;
      return;
    }
    reading = catchUp()
      .catch((error: unknown) => void errors.push(error))
      .finally(() => (reading = undefined));
  });
  return {
    seen,
    errors,
    stop,
    get cursor(): number {
      return cursor.value;
    },
  };
}

describeWithPostgres('PostgresEventStore on several nodes', (url) => {
  let admin: pg.Pool;
  let schema: string;
  const opened: PostgresEventStore[] = [];

  async function node(options: Parameters<typeof openStore>[2] = {}): Promise<PostgresEventStore> {
    const store = await openStore(url, schema, options);
    opened.push(store);
    return store;
  }

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
    await Promise.all(opened.splice(0).map((store) => store.close()));
    await dropSchema(admin, schema);
  });

  describe('appends', () => {
    it('keeps one gapless order when clients on two nodes push to shared aggregates at once, retries included', async () => {
      const [a, b] = [await node(), await node()];
      const clients = Array.from({ length: 8 }, (_, i) => ({
        node: i % 2 === 0 ? a : b,
        events: new TestEvents({ clientId: `client-${i}` }),
        ids: [] as string[],
      }));
      // Each client edits the shared aggregates with the baseVersion it last saw, rebases on a conflict,
      // and pushes every accepted batch a second time (a lost acknowledgement): duplicates, same versions.
      await Promise.all(
        clients.map(async (client) => {
          const seen = new Map<string, number>();
          const make = (aggregateId: string): Event =>
            client.events.make(aggregateId, { metadata: { baseVersion: String(seen.get(aggregateId) ?? 0) } });
          for (let round = 0; round < 6; round++) {
            let batch = ['shared-1', 'shared-2', `own-${client.events.clientId}-${round}`].map(make);
            for (let attempt = 0; batch.length > 0; attempt++) {
              expect(attempt).toBeLessThan(50);
              const results = await client.node.append('t1', batch);
              const again = await client.node.append('t1', batch);
              const conflicted: string[] = [];
              for (const [i, result] of results.entries()) {
                const event = batch[i]!;
                if (result.status === 'accepted') {
                  client.ids.push(event.id);
                  seen.set(event.aggregateId, result.version.value);
                  expect(again[i]).toMatchObject({ status: 'duplicate', version: result.version });
                } else {
                  expect(result.status).toBe('conflict');
                  if (result.status === 'conflict') seen.set(event.aggregateId, result.latest.value);
                  conflicted.push(event.aggregateId);
                }
              }
              batch = conflicted.map(make); // rebased on what the conflict said
            }
          }
        }),
      );
      const ids = clients.flatMap((client) => client.ids);
      expect(ids).toHaveLength(8 * 6 * 3);
      const fromA = await readAll(a, 't1', 17);
      expectGaplessLog(fromA, ids);
      expect(await readAll(b, 't1', 1000)).toEqual(fromA);
      // One client's events keep its order.
      for (const client of clients) {
        const order = fromA.filter((item) => client.ids.includes(item.event.id)).map((item) => item.event.id);
        expect(order).toEqual(client.ids);
      }
    });

    // The skipped-sequence bug: with a bare BIGSERIAL, a transaction that drew 7 can commit after one
    // that drew 8; a reader that read 8 then asks for "after 8" and never sees 7. The store rules it out
    // by construction: an append locks the tenant's row before it reads the cursor and holds the lock
    // until it commits, so the append that takes 8 starts after the one that took 7 committed, and no
    // snapshot can hold 8 without 7. This test hunts for a skip anyway, with many appenders on two
    // nodes and a reader on a third paging all along. Against a BIGSERIAL table (same writers, batches
    // and reader), this very check found cursors out of step in each of three runs while this was
    // written; as that outcome depends on timing, the next test shows the naive design's skip step by step.
    it('never lets a reader paging during concurrent appends on two nodes skip an event', async () => {
      const [a, b, reader] = [await node(), await node(), await node({ poolOptions: { max: 1 } })];
      const writers = Array.from({ length: 12 }, (_, i) => ({
        store: i % 2 === 0 ? a : b,
        events: new TestEvents({ clientId: `w${i}` }),
      }));
      const rounds = 15;
      const total = writers.length * rounds * 3;
      const seen: string[] = [];
      let writing = true;
      const reading = (async () => {
        let since = CursorVersion.ZERO;
        for (let guard = 0; guard < 1_000_000; guard++) {
          const finished = !writing; // then every append committed before this read began
          const page = await reader.read('t1', { since, limit: 5 });
          for (const item of page.events) {
            // The next event is always the one right after the cursor: nothing was passed over.
            expect(item.version.value).toBe(since.value + 1);
            seen.push(item.event.id);
            since = item.version;
          }
          if (finished && !page.hasMore) {
            expect(seen.length).toBe(total);
            return;
          }
        }
        throw new Error('the reader did not catch up');
      })();
      const ids: string[] = [];
      await Promise.all(
        writers.map(async ({ store, events }) => {
          for (let i = 0; i < rounds; i++) {
            const batch = events.many(3, 4);
            ids.push(...batch.map((event) => event.id));
            const results = await store.append('t1', batch);
            expect(results.every((result) => result.status === 'accepted')).toBe(true);
          }
        }),
      );
      writing = false;
      await reading;
      expect([...seen].sort()).toEqual([...ids].sort());
    });

    it('shows the skip on a naive BIGSERIAL log, where commit order is not cursor order', async () => {
      await admin.query(`CREATE SCHEMA "${schema}"`);
      await admin.query(`CREATE TABLE "${schema}".naive (seq bigserial PRIMARY KEY, id text NOT NULL)`);
      const insert = `INSERT INTO "${schema}".naive (id) VALUES ($1) RETURNING seq`;
      const page = (since: number) =>
        admin.query<{ seq: string; id: string }>(`SELECT seq, id FROM "${schema}".naive WHERE seq > $1 ORDER BY seq`, [
          since,
        ]);
      const first = await admin.connect();
      const second = await admin.connect();
      try {
        await first.query('BEGIN');
        expect((await first.query<{ seq: string }>(insert, ['first'])).rows[0]?.seq).toBe('1');
        await second.query('BEGIN');
        expect((await second.query<{ seq: string }>(insert, ['second'])).rows[0]?.seq).toBe('2');
        await second.query('COMMIT');
        const seen = (await page(0)).rows; // the reader sees 2 and moves its cursor there
        expect(seen.map((row) => row.id)).toEqual(['second']);
        await first.query('COMMIT');
        expect((await page(2)).rows).toEqual([]); // 1 is now committed, and behind the cursor for ever
        expect((await page(0)).rows.map((row) => row.id)).toEqual(['first', 'second']);
      } finally {
        first.release();
        second.release();
      }
    });
  });

  describe('notifications', () => {
    it('tells the listeners of every node of an append made on any node, once, in commit order', async () => {
      const [a, b] = [await node(), await node()];
      const heard = { a: [] as string[], b: [] as string[] };
      a.subscribe((notice) => heard.a.push(`${notice.tenant}@${notice.latest.toString()}`));
      b.subscribe((notice) => heard.b.push(`${notice.tenant}@${notice.latest.toString()}`));
      const events = new TestEvents();
      await a.append('t1', events.many(2));
      await b.append('t2', events.many(1));
      await a.append('t1', events.many(3));
      const expected = ['t1@2', 't2@1', 't1@5'];
      await eventually(() => heard.a.length >= 3 && heard.b.length >= 3, 'three notices on each node');
      expect(heard.a).toEqual(expected);
      expect(heard.b).toEqual(expected);
    });

    it('ignores the notices of a store over another schema on the same channel', async () => {
      const b = await node();
      const otherSchema = freshSchema();
      const other = await openStore(url, otherSchema);
      const heard: string[] = [];
      b.subscribe((notice) => heard.push(`${notice.tenant}@${notice.latest.toString()}`));
      try {
        await other.append('t1', new TestEvents().many(4));
        await b.append('t1', new TestEvents().many(1));
        // Notifications arrive in commit order: once b's own is here, the other's would have been too.
        await eventually(() => heard.length >= 1, 'the notice of b');
        expect(heard).toEqual(['t1@1']);
      } finally {
        await other.close();
        await dropSchema(admin, otherSchema);
      }
    });
  });

  describe('the listener', () => {
    const listenerName = (applicationName: string) => `${applicationName}:listener`;

    /** Terminates the LISTEN connection of one store, found by its application name; returns how many. */
    async function killListener(applicationName: string): Promise<number> {
      const { rows } = await admin.query<{ killed: boolean }>(
        `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
          WHERE application_name = $1 AND query ILIKE 'LISTEN%'`,
        [listenerName(applicationName)],
      );
      return rows.filter((row) => row.killed).length;
    }

    it('reconnects after its connection is terminated, and no subscriber misses what was appended meanwhile', async () => {
      const clock = new FakeClock();
      const applicationName = `node_b_${randomBytes(4).toString('hex')}`;
      const errors: unknown[] = [];
      const a = await node();
      const b = await node({
        applicationName,
        timers: clock,
        heartbeatMs: 0,
        reconnect: { initialDelayMs: 50, maxDelayMs: 50, jitter: 0 },
        onListenerError: (error) => errors.push(error),
      });
      const follow = follower(b, 't1');
      const events = new TestEvents({ clientId: 'writer' });
      const ids: string[] = [];
      const append = async (count: number) => {
        const batch = events.many(count);
        ids.push(...batch.map((event) => event.id));
        await a.append('t1', batch);
      };

      await append(5);
      await eventually(() => follow.cursor === 5, 'the follower at 5');

      expect(await killListener(applicationName)).toBe(1);
      await eventually(() => b.listenerState === 'reconnecting', 'the listener to notice');
      expect(errors.length).toBeGreaterThan(0);
      // Appended while node b listens to nothing: its notices are lost, the reconnection must make up for them.
      await append(7);
      await append(3);
      await clock.advance(50);
      await eventually(() => b.listenerState === 'listening', 'the listener to reconnect');
      await eventually(() => follow.cursor === 15, 'the follower to catch up after the reconnection');

      await append(4);
      await eventually(() => follow.cursor === 19, 'the follower after one more append');
      expect(follow.errors).toEqual([]);
      expectGaplessLog(follow.seen, ids);
      const { rows } = await admin.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1`, [
        listenerName(applicationName),
      ]);
      expect(rows).toHaveLength(1); // one LISTEN connection, the new one
      follow.stop();
    });

    it('loses nothing when its connection is terminated again and again while another node keeps appending', async () => {
      const applicationName = `node_b_${randomBytes(4).toString('hex')}`;
      const a = await node();
      let lost = 0;
      const b = await node({
        applicationName,
        heartbeatMs: 0,
        reconnect: { initialDelayMs: 5, maxDelayMs: 40 },
        onListenerError: () => lost++,
      });
      const follow = follower(b, 't1');
      const events = new TestEvents({ clientId: 'writer' });
      const ids: string[] = [];
      let writing = true;
      const writer = (async () => {
        while (writing) {
          const batch = events.many(2);
          ids.push(...batch.map((event) => event.id));
          await a.append('t1', batch);
        }
      })();
      for (let kill = 0; kill < 4; kill++) {
        await eventually(() => b.listenerState === 'listening', 'the listener to listen');
        const before = ids.length;
        await eventually(() => follow.cursor > before, 'the follower to move on');
        const losses = lost;
        expect(await killListener(applicationName)).toBe(1);
        await eventually(() => lost > losses, 'the listener to notice');
      }
      writing = false;
      await writer;
      await eventually(() => follow.cursor === ids.length, `the follower to reach ${ids.length}`);
      expect(follow.errors).toEqual([]);
      expectGaplessLog(follow.seen, ids);
    });
  });
});
