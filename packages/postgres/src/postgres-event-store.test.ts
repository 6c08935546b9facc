import pg from 'pg';
import { CheckedEvents, CursorVersion, isSyncError, type AppendResult, type Event } from '@eventsync/core';
import { describeServerEventLogContract, expectSyncError, TestEvents } from '@eventsync/testkit';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  adminPool,
  describeWithPostgres,
  dropSchema,
  eventually,
  freshSchema,
  openStore,
} from '../test/postgres-test-database.js';
import { columnText } from './column-text.js';
import { DEFAULT_POSTGRES_EVENT_STORE_OPTIONS } from './postgres-event-store-options.js';
import { PostgresEventStore } from './postgres-event-store.js';

const statuses = (results: readonly AppendResult[]): string[] => results.map((result) => result.status);

describe('PostgresEventStore options', () => {
  const url = 'postgres://nobody@127.0.0.1:1/none';

  it('refuses neither or both of connectionString and pool, and poolOptions beside a pool', async () => {
    const pool = new pg.Pool({ connectionString: url });
    await expectSyncError(() => new PostgresEventStore({}), 'invalid_input');
    await expectSyncError(() => new PostgresEventStore({ connectionString: url, pool }), 'invalid_input');
    await expectSyncError(() => new PostgresEventStore({ pool, poolOptions: { max: 2 } }), 'invalid_input');
    await expectSyncError(() => new PostgresEventStore({ connectionString: '' }), 'invalid_input');
    await pool.end();
  });

  it('refuses schema and channel names that are not plain lowercase identifiers', async () => {
    for (const schema of ['', 'Public', '1st', 'a-b', 'x'.repeat(64), 'a"; DROP TABLE x; --']) {
      const error = await expectSyncError(
        () => new PostgresEventStore({ connectionString: url, schema }),
        'invalid_input',
      );
      expect(error.details.field).toBe('schema');
    }
    await expectSyncError(
      () => new PostgresEventStore({ connectionString: url, channel: 'no spaces' }),
      'invalid_input',
    );
  });

  it('refuses bad limits, heartbeats and reconnect delays', async () => {
    await expectSyncError(() => new PostgresEventStore({ connectionString: url, maxReadLimit: 0 }), 'invalid_input');
    await expectSyncError(() => new PostgresEventStore({ connectionString: url, heartbeatMs: -1 }), 'invalid_input');
    await expectSyncError(
      () => new PostgresEventStore({ connectionString: url, reconnect: { initialDelayMs: 10, maxDelayMs: 5 } }),
      'invalid_input',
    );
  });

  it('has documented defaults', () => {
    expect(DEFAULT_POSTGRES_EVENT_STORE_OPTIONS).toMatchObject({
      schema: 'eventsync',
      channel: 'eventsync_appends',
      maxReadLimit: 10_000,
      heartbeatMs: 30_000,
    });
  });

  it('fails with a retryable unavailable error, with the cause, when the database cannot be reached', async () => {
    const error = await expectSyncError(
      () => PostgresEventStore.open({ connectionString: url, poolOptions: { connectionTimeoutMillis: 2000 } }),
      'unavailable',
    );
    expect(error.retryable).toBe(true);
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('connects nothing until it is used, and closes twice without error', async () => {
    const store = new PostgresEventStore({ connectionString: url });
    await store.close();
    await store.close();
    await expectSyncError(() => store.read('t1'), 'closed');
    expect(() => store.subscribe(() => undefined)).toThrow(/closed/);
  });
});

describe('columnText', () => {
  it('keeps ordinary strings as they are and escapes backslash, NUL and lone surrogates one to one', () => {
    expect(columnText('todo-1')).toBe('todo-1');
    expect(columnText('emoji 😀')).toBe('emoji 😀');
    const tricky = ['a\0b', 'a\\0b', 'a\\\\0b', '\uD800', '\\uD800', 'x\uDC00', '\\', '\\\\'];
    const mapped = tricky.map(columnText);
    expect(new Set(mapped).size).toBe(tricky.length);
    for (const text of mapped) {
      expect(text).not.toContain('\0');
      expect(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text)).toBe(false);
    }
  });
});

describeWithPostgres('PostgresEventStore on PostgreSQL', (url) => {
  let admin: pg.Pool;
  beforeAll(() => {
    admin = adminPool(url);
  });
  afterAll(async () => {
    await admin.end();
  });

  describeServerEventLogContract('PostgresEventStore', {
    create: () => openStore(url, freshSchema(), { poolOptions: { max: 8 } }),
    reopen: async (store) => {
      await store.close();
      return openStore(url, store.schema, { poolOptions: { max: 8 } });
    },
    destroy: (store) => dropSchema(admin, store.schema),
    concurrency: 8,
  });

  describe('PostgresEventStore', () => {
    let schema: string;
    let store: PostgresEventStore;
    const alice = new TestEvents({ clientId: 'alice' });
    const bob = new TestEvents({ clientId: 'bob' });

    beforeEach(async () => {
      schema = freshSchema();
      store = await openStore(url, schema);
    });

    afterEach(async () => {
      await store.close();
      await dropSchema(admin, schema);
    });

    it('stores each event as the JSON it was pushed as, with its columns, in its schema', async () => {
      const event = alice.make('todo-1', { type: 'todo.added', data: { title: 'Milk', tags: ['a'] } });
      await store.append('acme', [event]);
      const { rows } = await admin.query<{ tenant: string; seq: string; id: string; json: string }>(
        `SELECT tenant, seq, id, aggregate_id, type, client_id, json FROM "${schema}".events`,
      );
      expect(rows).toEqual([
        {
          tenant: 'acme',
          seq: '1',
          id: event.id,
          aggregate_id: 'todo-1',
          type: 'todo.added',
          client_id: 'alice',
          json: JSON.stringify(event),
        },
      ]);
      const tenants = await admin.query(`SELECT tenant, latest FROM "${schema}".tenants`);
      expect(tenants.rows).toEqual([{ tenant: 'acme', latest: '1' }]);
    });

    it('locks and appends to tenants whose names need quoting, each apart from the others', async () => {
      const tenants = [
        "o'brien",
        "o''brien",
        'back\\slash',
        "x'; DROP TABLE events; --",
        "e\\'q",
        'lone\uDC00',
        // `$` patterns a string replacement would expand inside the escaped literal.
        'team$1',
        'team$$1',
        'a$&b',
        'a$`b',
        "x$'; CREATE TABLE pwned (x int); --",
      ];
      for (const [i, tenant] of tenants.entries()) {
        expect(statuses(await store.append(tenant, alice.many(i + 1)))).toEqual(Array(i + 1).fill('accepted'));
        // The second append finds the tenant's row and locks it.
        expect(statuses(await store.append(tenant, alice.many(1)))).toEqual(['accepted']);
      }
      for (const [i, tenant] of tenants.entries()) {
        expect((await store.latestVersion(tenant)).value).toBe(i + 2);
      }
      const { rows } = await admin.query<{ count: string }>(`SELECT COUNT(*) AS count FROM "${schema}".events`);
      expect(Number(rows[0]!.count)).toBe(tenants.reduce((sum, _, i) => sum + i + 2, 0));
      const made = await admin.query(`SELECT table_schema FROM information_schema.tables WHERE table_name = 'pwned'`);
      expect(made.rows).toEqual([]);
    });

    it('answers duplicates for a batch pushed again, whole or in part, and keeps the cursors gapless', async () => {
      const first = alice.many(5, 2);
      expect(statuses(await store.append('acme', first))).toEqual(Array(5).fill('accepted'));
      // Every id stored: the insert meets the unique index, and the append looks the ids up instead.
      const again = await store.append('acme', first);
      expect(again.map((result) => `${result.status}@${'version' in result ? result.version.value : ''}`)).toEqual(
        first.map((_, i) => `duplicate@${i + 1}`),
      );
      // Some stored, some new, one reused id with other content.
      const reused = { ...first[1]!, data: { other: true } };
      const mixed = [alice.make('agg-9'), first[4]!, reused, alice.make('agg-8')];
      expect(statuses(await store.append('acme', mixed))).toEqual(['accepted', 'duplicate', 'rejected', 'accepted']);
      const page = await store.read('acme');
      expect(page.events.map((item) => item.version.value)).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(page.events.map((item) => item.event.id)).toEqual([...first, mixed[0]!, mixed[3]!].map((e) => e.id));
    });

    it('stores the JSON the checks of its caller made, and still validates what they do not cover', async () => {
      const checked = new CheckedEvents();
      const good = alice.make('todo-1');
      const json = checked.check(good);
      const bad = { ...alice.make('todo-2'), type: '' };
      expect(statuses(await store.append('acme', [good, bad], { checked }))).toEqual(['accepted', 'rejected']);
      const { rows } = await admin.query<{ json: string }>(`SELECT json FROM "${schema}".events`);
      expect(rows).toEqual([{ json }]);
    });

    it('keeps types and aggregate ids with NUL, backslashes and lone surrogates apart, and filters and checks conflicts on them', async () => {
      const names = ['a\0b', 'a\\0b', 'lone\uD800', 'lone\\ud800'];
      const events = names.map((name) => alice.make(name, { type: name }));
      expect(statuses(await store.append('t\0x', events))).toEqual(['accepted', 'accepted', 'accepted', 'accepted']);
      const page = await store.read('t\0x');
      expect(page.events.map((item) => item.event)).toEqual(events);
      for (const [i, name] of names.entries()) {
        const byAggregate = await store.read('t\0x', { filter: { aggregateId: name } });
        expect(byAggregate.events.map((item) => item.version.value)).toEqual([i + 1]);
        const byType = await store.read('t\0x', { filter: { type: [name] } });
        expect(byType.events.map((item) => item.version.value)).toEqual([i + 1]);
      }
      const [conflict] = await store.append('t\0x', [bob.make('a\0b', { metadata: { baseVersion: '0' } })]);
      expect(conflict).toMatchObject({ status: 'conflict' });
      expect(conflict?.status === 'conflict' && conflict.latest.value).toBe(1);
      expect((await store.latestVersion('t\0x')).value).toBe(4);
      expect((await store.latestVersion('t')).value).toBe(0);
    });

    it('answers conflict with the aggregate’s latest version, from writes well before and within the batch', async () => {
      await store.append('t1', [alice.make('x'), alice.make('y'), bob.make('x'), alice.make('x')]);
      // Bob saw version 3 (his own write); alice wrote x at 4 since: conflict, latest 4.
      const [late] = await store.append('t1', [bob.make('x', { metadata: { baseVersion: '3' } })]);
      expect(late?.status === 'conflict' && late.latest.value).toBe(4);
      // Alice saw 3: bob's write at 3 is not after it, her own at 4 does not count.
      expect(statuses(await store.append('t1', [alice.make('x', { metadata: { baseVersion: '3' } })]))).toEqual([
        'accepted',
      ]);
      // Two writers, one aggregate, one batch: bob's event based on 5 meets alice's at 6.
      const results = await store.append('t1', [
        alice.make('z', { metadata: { baseVersion: '5' } }),
        bob.make('z', { metadata: { baseVersion: '5' } }),
        bob.make('y', { metadata: { baseVersion: '1' } }),
        bob.make('y', { metadata: { baseVersion: '2' } }),
      ]);
      expect(statuses(results)).toEqual(['accepted', 'conflict', 'conflict', 'conflict']);
      expect(results.map((result) => (result.status === 'conflict' ? result.latest.value : undefined))).toEqual([
        undefined,
        6,
        2,
        2,
      ]);
    });

    it('lowers a read limit past maxReadLimit, and the page says there is more', async () => {
      await store.close();
      store = await openStore(url, schema, { maxReadLimit: 3 });
      await store.append('t1', alice.many(5));
      const page = await store.read('t1', { limit: 100 });
      expect(page.events).toHaveLength(3);
      expect(page).toMatchObject({ hasMore: true });
      expect(page.next.value).toBe(3);
    });

    it('rolls back and rejects with the reason when the signal fires while the append runs', async () => {
      const controller = new AbortController();
      const reason = new Error('user left');
      const appending = store.append('t1', alice.many(3), { signal: controller.signal });
      controller.abort(reason); // the append is on its way to the database: it stops before writing
      await expect(appending).rejects.toBe(reason);
      expect((await store.latestVersion('t1')).isZero()).toBe(true);
      const reading = store.read('t1', { signal: controller.signal });
      await expect(reading).rejects.toBe(reason);
    });

    it('fails with a storage error that carries the cause when the database refuses, and keeps serving', async () => {
      await store.append('t1', alice.many(1));
      await admin.query(`ALTER TABLE "${schema}".events ADD CONSTRAINT no_more CHECK (seq < 2) NOT VALID`);
      const error = await expectSyncError(() => store.append('t1', alice.many(1)), 'storage');
      expect(error.retryable).toBe(false);
      expect(error.details.sqlState).toBe('23514');
      expect((error.cause as { code?: string }).code).toBe('23514');
      expect((await store.latestVersion('t1')).value).toBe(1);
      await admin.query(`ALTER TABLE "${schema}".events DROP CONSTRAINT no_more`);
      expect(statuses(await store.append('t1', alice.many(1)))).toEqual(['accepted']);
    });

    it('uses a pool it is given and leaves it open on close', async () => {
      const pool = new pg.Pool({ connectionString: url, max: 2 });
      const onPool = await PostgresEventStore.open({ pool, schema });
      await onPool.append('t1', alice.many(2));
      await onPool.close();
      const { rows } = await pool.query<{ count: string }>(`SELECT COUNT(*) AS count FROM "${schema}".events`);
      expect(rows[0]?.count).toBe('2');
      await pool.end();
    });

    it('lets calls under way finish when it closes, and refuses new ones', async () => {
      const appending = store.append('t1', alice.many(50));
      const closing = store.close();
      expect(statuses(await appending).every((status) => status === 'accepted')).toBe(true);
      await closing;
      await expectSyncError(() => store.append('t1', alice.many(1)), 'closed');
      const check = await admin.query<{ latest: string }>(`SELECT latest FROM "${schema}".tenants`);
      expect(check.rows[0]?.latest).toBe('50');
    });

    it('starts on first use when constructed, and tells subscribers of appends through LISTEN/NOTIFY', async () => {
      const lazy = new PostgresEventStore({ connectionString: url, schema, poolOptions: { max: 2 } });
      const notices: string[] = [];
      lazy.subscribe((notice) => notices.push(`${notice.tenant}@${notice.latest.toString()}`));
      await eventually(() => lazy.listenerState === 'listening', 'the listener');
      await store.append('t1', alice.many(2));
      await eventually(() => notices.length === 1, 'a notice');
      expect(notices).toEqual(['t1@2']);
      expect(await lazy.latestVersion('t1')).toEqual(CursorVersion.of(2));
      await lazy.close();
    });

    it('reads pages from one snapshot while appends go on', async () => {
      const writing = (async () => {
        for (let i = 0; i < 20; i++) await store.append('t1', alice.many(5, 2));
      })();
      let since = CursorVersion.ZERO;
      const seen: Event[] = [];
      for (let guard = 0; guard < 10_000; guard++) {
        const page = await store.read('t1', { since, limit: 3, filter: { aggregateId: 'agg-0' } });
        seen.push(...page.events.map((item) => item.event));
        for (const item of page.events) expect(item.event.aggregateId).toBe('agg-0');
        expect(page.next.value).toBeGreaterThanOrEqual(since.value);
        since = page.next;
        if (seen.length === 60 && !page.hasMore) break;
      }
      await writing;
      expect(new Set(seen.map((event) => event.id)).size).toBe(60);
    });

    it('counts an error as a SyncError everywhere', async () => {
      await store.close();
      const error: unknown = await store.append('t1', alice.many(1)).catch((caught: unknown) => caught);
      expect(isSyncError(error, 'closed')).toBe(true);
    });
  });
});
