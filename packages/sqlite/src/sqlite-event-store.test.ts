import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CheckedEvents, CursorVersion, MemoryServerEventLog, type AppendResult, type Event } from '@eventsync/core';
import { describeServerEventLogContract, expectSyncError, TestEvents } from '@eventsync/testkit';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SQLITE_APPLICATION_ID, SQLITE_SCHEMA_VERSION } from './schema.js';
import { DEFAULT_SQLITE_EVENT_STORE_OPTIONS, SqliteEventStore, type SqliteWriter } from './sqlite-event-store.js';

const folder = mkdtempSync(join(tmpdir(), 'eventsync-sqlite-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

let files = 0;
const newPath = (): string => join(folder, `log-${++files}.db`);
const paths = new WeakMap<SqliteEventStore, string>();

/** Both places an append's transaction can run; every case about appends runs with each. */
const WRITERS = ['thread', 'inline'] as const satisfies readonly SqliteWriter[];

function open(path: string, writer?: SqliteWriter): SqliteEventStore {
  const store = new SqliteEventStore({ path, writer });
  paths.set(store, path);
  return store;
}

/** How many file descriptors of this process are open on `path` itself (Linux: /proc/self/fd). */
function connectionsTo(path: string): number {
  let count = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === path) count++;
    } catch {
      // Closed meanwhile (the directory's own fd, for one).
    }
  }
  return count;
}

function remove(path: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
}

for (const writer of WRITERS) {
  describeServerEventLogContract(`SqliteEventStore (writer: '${writer}')`, {
    create: () => open(newPath(), writer),
    reopen: async (store) => {
      await store.close();
      return open(paths.get(store)!, writer);
    },
    destroy: (store) => remove(paths.get(store)!),
  });
}

const statuses = (results: readonly AppendResult[]): string[] => results.map((result) => result.status);
const versionOf = (result: AppendResult | undefined): number =>
  result && 'version' in result ? result.version.value : Number.NaN;

async function readAll(store: SqliteEventStore, tenant: string): Promise<{ event: Event; version: number }[]> {
  const all: { event: Event; version: number }[] = [];
  let since = CursorVersion.ZERO;
  for (let hasMore = true; hasMore;) {
    const page = await store.read(tenant, { since, limit: 250 });
    all.push(...page.events.map(({ event, version }) => ({ event, version: version.value })));
    ({ next: since, hasMore } = page);
  }
  return all;
}

describe('SqliteEventStore', () => {
  let path: string;
  let store: SqliteEventStore | undefined;
  const alice = new TestEvents({ clientId: 'alice' });

  beforeEach(() => {
    path = newPath();
  });

  afterEach(async () => {
    await store?.close();
    store = undefined;
    remove(path);
  });

  describe('the file', () => {
    it('is in WAL mode with synchronous=FULL and a busy timeout by default', () => {
      const db = new Database(path);
      store = new SqliteEventStore({ database: db });
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL
      expect(db.pragma('busy_timeout', { simple: true })).toBe(DEFAULT_SQLITE_EVENT_STORE_OPTIONS.busyTimeoutMs);
      db.close();
    });

    it('takes another synchronous level and busy timeout when asked', () => {
      const db = new Database(path);
      store = new SqliteEventStore({ database: db, synchronous: 'NORMAL', busyTimeoutMs: 250 });
      expect(db.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
      expect(db.pragma('busy_timeout', { simple: true })).toBe(250);
      db.close();
    });

    it('creates the schema in an empty file, with its version and application id', () => {
      writeFileSync(path, '');
      store = open(path);
      const db = new Database(path, { readonly: true });
      expect(db.pragma('user_version', { simple: true })).toBe(SQLITE_SCHEMA_VERSION);
      expect(db.pragma('application_id', { simple: true })).toBe(SQLITE_APPLICATION_ID);
      const objects = db
        .prepare<[], { name: string }>("SELECT name FROM sqlite_schema WHERE type IN ('table', 'index') ORDER BY name")
        .all()
        .map((row) => row.name);
      expect(objects).toEqual(
        expect.arrayContaining(['events', 'events_tenant_aggregate', 'events_tenant_id', 'tenants']),
      );
      db.close();
    });

    it('opens a file again without migrating it twice, and keeps what it holds', async () => {
      store = open(path);
      await store.append('acme', alice.many(3));
      await store.close();
      store = open(path);
      await store.close();
      store = open(path);
      expect((await store.latestVersion('acme')).toString()).toBe('3');
      expect(await readAll(store, 'acme')).toHaveLength(3);
    });

    it('serves two stores open on one file at once, each seeing what the other appended', async () => {
      store = open(path);
      const other = open(path);
      await other.append('acme', alice.many(1));
      expect((await store.latestVersion('acme')).toString()).toBe('1');
      await other.close();
    });

    it('leaves a database it was given open on close, and closes one it opened', async () => {
      const db = new Database(path);
      const given = new SqliteEventStore({ database: db });
      await given.close();
      expect(db.open).toBe(true);
      db.close();
      const owned = open(path);
      await owned.close();
      await expectSyncError(() => owned.latestVersion('acme'), 'closed');
      expect(() => owned.subscribe(() => {})).toThrow(/closed/);
    });
  });

  describe('options', () => {
    it.each([
      ['neither path nor database', {}],
      ['both path and database', { path: 'x.db', database: {} as Database.Database }],
      ['an empty path', { path: '' }],
      ['an unknown synchronous level', { path: 'x.db', synchronous: 'SOMETIMES' }],
      ['a negative busy timeout', { path: 'x.db', busyTimeoutMs: -1 }],
      ['a read page max of zero', { path: 'x.db', maxReadLimit: 0 }],
    ])('refuses %s with invalid_input', async (_name, options) => {
      await expectSyncError(() => new SqliteEventStore(options as never), 'invalid_input');
    });

    it.each([
      ['an unknown writer', () => ({ path, writer: 'process' })],
      ["a writer thread for ':memory:'", () => ({ path: ':memory:', writer: 'thread' })],
      ['a writer thread for a database given open', () => ({ database: new Database(path), writer: 'thread' })],
    ])('refuses %s with invalid_input on writer', async (_name, options) => {
      const given = options();
      try {
        const error = await expectSyncError(() => new SqliteEventStore(given as never), 'invalid_input');
        expect(error.details.field).toBe('writer');
      } finally {
        if ('database' in given) given.database.close();
      }
    });

    it("appends on a writer thread for a file, and inline for ':memory:' and for a database given open", async () => {
      store = open(path);
      expect(store.writer).toBe('thread');
      await store.close();
      store = new SqliteEventStore({ path: ':memory:' });
      expect(store.writer).toBe('inline');
      await store.close();
      const db = new Database(path);
      store = new SqliteEventStore({ database: db });
      expect(store.writer).toBe('inline');
      await store.close();
      db.close();
      store = open(path, 'inline');
      expect(store.writer).toBe('inline');
    });
  });

  describe('the writer thread', () => {
    it('leaves the event loop free while an append waits for the write lock: reads answer meanwhile', async () => {
      store = new SqliteEventStore({ path, busyTimeoutMs: 30_000 });
      await store.append('acme', alice.many(2));
      const holder = new Database(path);
      holder.exec('BEGIN IMMEDIATE');
      let settled = false;
      const appending = store.append('acme', alice.many(3)).finally(() => (settled = true));
      try {
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect((await store.latestVersion('acme')).value).toBe(2);
        expect((await store.read('acme')).events).toHaveLength(2);
        expect(settled).toBe(false);
      } finally {
        holder.exec('ROLLBACK');
        holder.close();
      }
      expect(statuses(await appending)).toEqual(['accepted', 'accepted', 'accepted']);
      expect((await store.latestVersion('acme')).value).toBe(5);
    });

    it('resolves appends in call order, telling listeners of each after its commit, in that order', async () => {
      store = open(path);
      const log: string[] = [];
      store.subscribe(({ tenant, latest }) => log.push(`notice ${tenant}@${latest.value}`));
      const batches: [string, Event[]][] = [
        ['acme', alice.many(3)],
        ['other', alice.many(2)],
        ['acme', [{ ...alice.make('x'), type: '' }]],
        ['acme', alice.many(1)],
      ];
      await Promise.all(
        batches.map(async ([tenant, events], i) => {
          const results = await store!.append(tenant, events);
          log.push(`${i}: ${statuses(results).join(' ')}`);
        }),
      );
      expect(log).toEqual([
        'notice acme@3',
        '0: accepted accepted accepted',
        'notice other@2',
        '1: accepted accepted',
        '2: rejected',
        'notice acme@4',
        '3: accepted',
      ]);
      for (let i = 5; i <= 15; i++) {
        await store.append('acme', alice.many(1));
        expect((await store.latestVersion('acme')).value).toBe(i);
        expect((await store.read('acme', { since: CursorVersion.of(i - 1) })).events).toHaveLength(1);
      }
    });

    it('drops an append whose signal fires before the thread has it, and completes one handed over already', async () => {
      store = new SqliteEventStore({ path, busyTimeoutMs: 30_000 });
      await store.append('acme', alice.many(1));
      const holder = new Database(path);
      holder.exec('BEGIN IMMEDIATE');
      const controllers = Array.from({ length: 4 }, () => new AbortController());
      const batches = controllers.map(() => alice.many(2));
      const outcomes = batches.map((batch, i) =>
        store!.append('acme', batch, { signal: controllers[i]!.signal }).then(statuses, (error: unknown) => error),
      );
      // The thread runs the first (waiting for the lock) and holds the second; the others wait here.
      const reason = new Error('the client went away');
      for (const controller of controllers) controller.abort(reason);
      holder.exec('ROLLBACK');
      holder.close();
      expect(await Promise.all(outcomes)).toEqual([['accepted', 'accepted'], ['accepted', 'accepted'], reason, reason]);
      const stored = (await readAll(store, 'acme')).map((item) => item.event.id);
      expect(stored).toEqual(expect.arrayContaining([...batches[0]!, ...batches[1]!].map((event) => event.id)));
      expect(stored).toHaveLength(5);
    });

    it('opens with open() once the thread has its connection, and appends at once', async () => {
      const before = connectionsTo(path);
      store = await SqliteEventStore.open({ path });
      expect(store.writer).toBe('thread');
      // The store's connection and the writer thread's (fds of this process: threads share them).
      expect(connectionsTo(path) - before).toBe(2);
      expect(statuses(await store.append('acme', alice.many(2)))).toEqual(['accepted', 'accepted']);
      await store.start(); // started already: at once
    });

    it('fails start, and then every append, with a storage error when the thread cannot open its connection', async () => {
      store = new SqliteEventStore({ path });
      // The thread opens the file a few milliseconds from now, and only if it exists.
      remove(path);
      const error = await expectSyncError(() => store!.start(), 'storage');
      expect(error.message).toMatch(/writer thread did not start \(Could not open/);
      expect(error.message).toContain(path);
      const appended = await expectSyncError(() => store!.append('acme', alice.many(1)), 'storage');
      expect(appended.message).toMatch(/writer thread stopped \(Could not open/);
    });

    it('fails open with that error, having closed what it opened', async () => {
      const before = connectionsTo(path);
      const opening = SqliteEventStore.open({ path });
      remove(path); // before the thread opens it
      const error = await expectSyncError(() => opening, 'storage');
      expect(error.message).toMatch(/writer thread did not start \(Could not open/);
      expect(connectionsTo(path)).toBe(before);
    });

    it('fails a start that was waiting when the store closed', async () => {
      store = new SqliteEventStore({ path });
      const starting = store.start();
      const closing = store.close();
      await expectSyncError(() => starting, 'closed');
      await closing;
    });

    it('stops waiting in start when its signal fires, the thread starting all the same', async () => {
      store = new SqliteEventStore({ path });
      const controller = new AbortController();
      const reason = new Error('no time');
      const starting = store.start({ signal: controller.signal });
      controller.abort(reason);
      await expect(starting).rejects.toBe(reason);
      await expect(store.start({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
      await store.start();
      expect(statuses(await store.append('acme', alice.many(1)))).toEqual(['accepted']);
    });

    it('starts at once inline, and refuses to start once closed', async () => {
      store = await SqliteEventStore.open({ path, writer: 'inline' });
      expect(store.writer).toBe('inline');
      await store.close();
      await expectSyncError(() => store!.start(), 'closed');
    });

    it('waits on close for the appends in flight, then refuses every call', async () => {
      store = new SqliteEventStore({ path, busyTimeoutMs: 30_000 });
      await store.append('acme', alice.many(1));
      const holder = new Database(path);
      holder.exec('BEGIN IMMEDIATE');
      const inFlight = [alice.many(2), alice.many(2), alice.many(2)].map((batch) =>
        store!.append('acme', batch).then(statuses),
      );
      let closed = false;
      const closing = store.close().then(() => (closed = true));
      try {
        await expectSyncError(() => store!.append('acme', alice.many(1)), 'closed');
        await expectSyncError(() => store!.latestVersion('acme'), 'closed');
        await new Promise((resolve) => setTimeout(resolve, 20));
        expect(closed).toBe(false);
      } finally {
        holder.exec('ROLLBACK');
        holder.close();
      }
      expect(await Promise.all(inFlight)).toEqual([
        ['accepted', 'accepted'],
        ['accepted', 'accepted'],
        ['accepted', 'accepted'],
      ]);
      await closing;
      await store.close();
      store = open(path);
      expect((await store.latestVersion('acme')).value).toBe(7);
    });
  });

  describe('errors', () => {
    it('fails to open a file that is not a database with a storage error', async () => {
      writeFileSync(path, 'this is not a SQLite database, only text that is long enough to be read as a header');
      const error = await expectSyncError(() => open(path), 'storage');
      expect(error.message).toMatch(/not a SQLite database/);
      expect(error.cause).toBeInstanceOf(Error);
    });

    it('answers reads of a corrupt file with a storage error', async () => {
      store = open(path);
      await store.append('acme', alice.many(200, 20));
      await store.close();
      store = undefined;
      const bytes = readFileSync(path);
      const pageSize = bytes.readUInt16BE(16);
      bytes.fill(0xa5, pageSize, bytes.length); // every page but the first (header and schema)
      writeFileSync(path, bytes);
      const error = await expectSyncError(async () => {
        const broken = open(path);
        try {
          await readAll(broken, 'acme');
        } finally {
          await broken.close();
        }
      }, 'storage');
      expect(error.message).toMatch(/corrupt/);
    });

    it('fails to open a file in a missing folder with a storage error', async () => {
      await expectSyncError(() => open(join(folder, 'missing', 'log.db')), 'storage');
    });

    it('refuses a database of another application', async () => {
      const db = new Database(path);
      db.pragma('application_id = 42');
      db.exec('CREATE TABLE notes (text TEXT)');
      db.close();
      const error = await expectSyncError(() => open(path), 'storage');
      expect(error.message).toMatch(/another application/);
    });

    it('refuses a database written by a newer schema version', async () => {
      store = open(path);
      await store.close();
      const db = new Database(path);
      db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION + 1}`);
      db.close();
      const error = await expectSyncError(() => open(path), 'storage');
      expect(error.message).toMatch(/newer/);
      store = undefined;
    });

    it('answers appends to a read-only database with a storage error, and still reads', async () => {
      store = open(path);
      await store.append('acme', alice.many(2));
      await store.close();
      const db = new Database(path, { readonly: true });
      store = new SqliteEventStore({ database: db });
      const error = await expectSyncError(() => store!.append('acme', alice.many(1)), 'storage');
      expect(error.message).toMatch(/read-only/);
      expect(error.details.sqliteCode).toMatch(/^SQLITE_READONLY/);
      expect((await store.latestVersion('acme')).toString()).toBe('2');
      await store.close();
      db.close();
    });

    it('answers a full database with a quota error, keeping what it had and taking smaller batches', async () => {
      const db = new Database(path);
      store = new SqliteEventStore({ database: db });
      await store.append('acme', alice.many(1));
      db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
      const big = Array.from({ length: 50 }, () => alice.make('x', { data: { text: 'x'.repeat(4000) } }));
      const error = await expectSyncError(() => store!.append('acme', big), 'quota');
      expect(error.details.sqliteCode).toBe('SQLITE_FULL');
      expect((await store.latestVersion('acme')).toString()).toBe('1');
      db.pragma('max_page_count = 1000000');
      expect(statuses(await store.append('acme', big.slice(0, 2)))).toEqual(['accepted', 'accepted']);
      await store.close();
      db.close();
    });
  });
});

describe.each(WRITERS)('SqliteEventStore appends (writer: %s)', (writer) => {
  // The other connections on the file append the other way.
  const otherWriter = writer === 'thread' ? 'inline' : 'thread';
  let path: string;
  let store: SqliteEventStore | undefined;
  const alice = new TestEvents({ clientId: 'alice' });

  beforeEach(() => {
    path = newPath();
  });

  afterEach(async () => {
    await store?.close();
    store = undefined;
    remove(path);
  });

  describe('readJson', () => {
    it('returns the pages read returns, each event as its stored JSON text', async () => {
      store = open(path, writer);
      const events = alice.many(30, 3);
      await store.append('acme', events);
      for (const options of [
        { since: CursorVersion.ZERO, limit: 7 },
        { since: CursorVersion.of(21), limit: 7 },
        { since: CursorVersion.of(30), limit: 7 },
        { since: CursorVersion.ZERO, limit: 4, filter: { aggregateId: events[0]!.aggregateId } },
        { since: CursorVersion.ZERO, limit: 50, filter: { aggregateId: events[0]!.aggregateId } },
      ]) {
        const page = await store.read('acme', options);
        const raw = await store.readJson('acme', options);
        expect(raw.next.value).toBe(page.next.value);
        expect(raw.hasMore).toBe(page.hasMore);
        expect(raw.rows.map((row) => row.version.value)).toEqual(page.events.map((item) => item.version.value));
        expect(raw.rows.map((row) => row.json)).toEqual(page.events.map((item) => JSON.stringify(item.event)));
      }
      await expectSyncError(() => store!.readJson('acme', { since: CursorVersion.of(31) }), 'invalid_input');
    });
  });

  describe('options', () => {
    it('lowers a read limit past maxReadLimit, and pages on from there', async () => {
      store = new SqliteEventStore({ path, writer, maxReadLimit: 2 });
      await store.append('acme', alice.many(5));
      const page = await store.read('acme', { limit: 100 });
      expect(page.events.map((item) => item.version.toString())).toEqual(['1', '2']);
      expect(page.next.toString()).toBe('2');
      expect(page.hasMore).toBe(true);
    });

    it('rejects events past the limits it is given as invalid_event', async () => {
      store = new SqliteEventStore({ path, writer, limits: { maxEventBytes: 400 } });
      const results = await store.append('acme', [
        alice.make('x', { data: { text: 'x'.repeat(500) } }),
        alice.make('x'),
      ]);
      expect(statuses(results)).toEqual(['rejected', 'accepted']);
      expect(results[0]).toMatchObject({ code: 'invalid_event' });
    });
  });

  describe('stored data', () => {
    it('keeps __proto__ and constructor keys as plain data', async () => {
      store = open(path, writer);
      const data = JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}},"title":"t"}') as {
        [key: string]: unknown;
      };
      const event = alice.make('x', { data: data as never });
      await store.append('acme', [event]);
      await store.close();
      store = open(path, writer);
      const [stored] = await readAll(store, 'acme');
      const read = stored!.event.data as Record<string, unknown>;
      expect(Object.getPrototypeOf(read)).toBe(Object.prototype);
      expect(Object.keys(read)).toEqual(['__proto__', 'constructor', 'title']);
      expect(read.polluted).toBeUndefined();
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(statuses(await store.append('acme', [event]))).toEqual(['duplicate']);
    });

    it('reads events exactly as they were appended', async () => {
      store = open(path, writer);
      const event = alice.make('x', { data: { nested: { list: [1, 'two', null, true, { deep: 1.5 }] } } });
      await store.append('acme', [event]);
      const [stored] = await readAll(store, 'acme');
      expect(stored?.event).toEqual(event);
    });

    it('filters by lists of types and aggregates, an empty list matching nothing', async () => {
      store = open(path, writer);
      await store.append('acme', [
        alice.make('a', { type: 'one' }),
        alice.make('b', { type: 'two' }),
        alice.make('c', { type: 'three' }),
        alice.make('a', { type: 'two' }),
      ]);
      const versions = async (filter: object): Promise<string[]> =>
        (await store!.read('acme', { filter })).events.map((item) => item.version.toString());
      expect(await versions({ type: ['one', 'three'] })).toEqual(['1', '3']);
      expect(await versions({ type: 'two', aggregateId: ['a', 'c'] })).toEqual(['4']);
      expect(await versions({ aggregateId: [] })).toEqual([]);
      expect(await versions({ tenant: 'other' })).toEqual(['1', '2', '3', '4']);
      await expectSyncError(() => store!.read('acme', { filter: { type: [1] as never } }), 'invalid_input');
    });
  });

  describe('append', () => {
    it('answers several offline edits of one aggregate sharing a baseVersion alike', async () => {
      store = open(path, writer);
      const bob = new TestEvents({ clientId: 'bob' });
      await store.append('acme', [bob.make('todo-1'), alice.make('todo-1')]);
      const base = { metadata: { baseVersion: '1' } };
      const mine = await store.append('acme', [alice.make('todo-1', base), alice.make('todo-1', base)]);
      expect(statuses(mine)).toEqual(['accepted', 'accepted']);
      const stale = await store.append('acme', [bob.make('todo-1', base), bob.make('todo-1', base)]);
      expect(stale.map((result) => (result.status === 'conflict' ? result.latest.value : 0))).toEqual([4, 4]);
    });
  });

  describe('several connections on one file', () => {
    it('keeps cursors gapless when two stores append to the same file in turns', async () => {
      store = open(path, writer);
      const other = open(path, otherWriter);
      const bob = new TestEvents({ clientId: 'bob' });
      const batches = Array.from({ length: 20 }, (_, i) =>
        (i % 2 === 0 ? store! : other).append('acme', (i % 2 === 0 ? alice : bob).many(7, 3)),
      );
      const results = (await Promise.all(batches)).flat();
      expect(results.every((result) => result.status === 'accepted')).toBe(true);
      const numbers = results.map(versionOf).sort((a, b) => a - b);
      expect(numbers).toEqual(numbers.map((_, i) => i + 1));
      expect((await other.latestVersion('acme')).value).toBe(140);
      expect((await readAll(store, 'acme')).map((item) => item.version)).toEqual(numbers);
      await other.close();
    });

    it('sees in one store the conflicts made through another', async () => {
      store = open(path, writer);
      const other = open(path, otherWriter);
      const bob = new TestEvents({ clientId: 'bob' });
      await store.append('acme', [alice.make('todo-1')]);
      const [result] = await other.append('acme', [bob.make('todo-1', { metadata: { baseVersion: '0' } })]);
      expect(result).toMatchObject({ status: 'conflict' });
      const [again] = await other.append('acme', [(await readAll(store, 'acme'))[0]!.event]);
      expect(again).toMatchObject({ status: 'duplicate' });
      await other.close();
    });
  });

  describe('errors', () => {
    it('answers a write lock held past the busy timeout with a retryable storage error', async () => {
      store = new SqliteEventStore({ path, writer, busyTimeoutMs: 0 });
      await store.append('acme', alice.many(1));
      const holder = new Database(path);
      holder.exec('BEGIN IMMEDIATE');
      try {
        const error = await expectSyncError(() => store!.append('acme', alice.many(1)), 'storage');
        expect(error.retryable).toBe(true);
        expect(error.details.sqliteCode).toMatch(/^SQLITE_BUSY/);
        expect(error.cause).toBeInstanceOf(Error);
        expect((await store.read('acme')).events).toHaveLength(1);
      } finally {
        holder.exec('ROLLBACK');
        holder.close();
      }
      expect(statuses(await store.append('acme', alice.many(1)))).toEqual(['accepted']);
    });
  });
});

const alice = new TestEvents({ clientId: 'alice' });

/** A deterministic generator of 32-bit numbers (mulberry32), so a failing case can be replayed. */
function random(seed: number): (below: number) => number {
  let state = seed;
  return (below) => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % below;
  };
}

describe.each(WRITERS)('SqliteEventStore conflict checks (writer: %s)', (writer) => {
  const summary = (results: readonly AppendResult[]): string[] =>
    results.map((result) => {
      switch (result.status) {
        case 'accepted':
        case 'duplicate':
          return `${result.status}@${result.version.value}`;
        case 'conflict':
          return `conflict@${result.latest.value}`;
        case 'rejected':
          return `rejected:${result.code}`;
      }
    });

  it.each([1, 2, 3, 4, 5, 6])(
    'answers random batches of several writers exactly as the memory log does (seed %i)',
    async (seed) => {
      const next = random(seed);
      const sqlite = open(newPath(), writer);
      const memory = new MemoryServerEventLog();
      const clients = Array.from({ length: 7 }, (_, i) => new TestEvents({ clientId: `client-${i}` }));
      const pushed: Event[] = [];
      let latest = 0;
      try {
        for (let round = 0; round < 40; round++) {
          // Few writers (one scan of the log since their base) or many (a lookup per aggregate), and
          // bases from far behind (a lookup) to the head and past it.
          const writers = 1 + next(next(3) === 0 ? 7 : 2);
          const size = 1 + next(30);
          const batch: Event[] = [];
          for (let i = 0; i < size; i++) {
            if (pushed.length > 0 && next(10) === 0) {
              batch.push(pushed[next(pushed.length)]!); // pushed again: a duplicate
              continue;
            }
            const client = clients[next(writers)]!;
            const behind = next(4) === 0 ? next(latest + 1) : next(Math.min(latest, 5) + 1);
            const base = next(20) === 0 ? latest + 1 + next(3) : Math.max(0, latest - behind);
            const event = client.make(
              `agg-${next(6)}`,
              next(8) === 0 ? {} : { metadata: { baseVersion: String(base) } },
            );
            batch.push(event);
          }
          const checked = new CheckedEvents();
          for (const event of batch) if (next(2) === 0) checked.check(event);
          const [fromSqlite, fromMemory] = [
            await sqlite.append('acme', batch, { checked }),
            await memory.append('acme', batch),
          ];
          expect(summary(fromSqlite), `round ${round}`).toEqual(summary(fromMemory));
          for (const [i, result] of fromMemory.entries()) if (result.status === 'accepted') pushed.push(batch[i]!);
          latest = (await memory.latestVersion('acme')).value;
        }
        expect((await readAll(sqlite, 'acme')).map((item) => item.event)).toEqual(
          (await memory.read('acme', { limit: 100_000 })).events.map((item) => item.event),
        );
      } finally {
        await sqlite.close();
      }
    },
  );

  it('finds another client’s write on an aggregate far behind the head, and one right after the base', async () => {
    const sqlite = open(newPath(), writer);
    const bob = new TestEvents({ clientId: 'bob' });
    try {
      await sqlite.append('acme', [bob.make('todo-1'), ...bob.many(200, 10)]);
      // Far behind: 200 events since the base, for one aggregate.
      const far = await sqlite.append('acme', [alice.make('todo-1', { metadata: { baseVersion: '0' } })]);
      expect(far[0]).toMatchObject({ status: 'conflict', latest: CursorVersion.of(1) });
      // Right behind the head: the stretch since the base is one event.
      const near = await sqlite.append('acme', [
        bob.make('agg-3'),
        alice.make('agg-3', { metadata: { baseVersion: '201' } }),
      ]);
      expect(near[1]).toMatchObject({ status: 'conflict', latest: CursorVersion.of(202) });
      const own = await sqlite.append('acme', [alice.make('agg-4', { metadata: { baseVersion: '202' } })]);
      expect(own[0]).toMatchObject({ status: 'accepted', version: CursorVersion.of(203) });
    } finally {
      await sqlite.close();
    }
  });
});

describe('SqliteEventStore writers', () => {
  it.each([1, 2, 3])(
    'answer alike, reasons and all, on the thread and inline: random batches with invalid, foreign, repeated and stale events (seed %i)',
    async (seed) => {
      const next = random(seed);
      const [thread, inline] = WRITERS.map(
        (writer) => new SqliteEventStore({ path: newPath(), writer, limits: { maxEventBytes: 1_500 } }),
      ) as [SqliteEventStore, SqliteEventStore];
      const clients = Array.from({ length: 4 }, (_, i) => new TestEvents({ clientId: `client-${i}` }));
      const pushed: Event[] = [];
      let latest = 0;
      try {
        for (let round = 0; round < 25; round++) {
          const batch: Event[] = [];
          for (let size = 1 + next(25), i = 0; i < size; i++) {
            const client = clients[next(clients.length)]!;
            const base = String(Math.max(0, latest - next(6)) + (next(15) === 0 ? 3 : 0));
            const event = client.make(`agg-${next(5)}`, next(6) === 0 ? {} : { metadata: { baseVersion: base } });
            switch (next(12)) {
              case 0:
                if (pushed.length > 0) batch.push(pushed[next(pushed.length)]!); // again: duplicate
                break;
              case 1:
                if (pushed.length > 0) batch.push({ ...pushed[next(pushed.length)]!, data: { other: round } }); // id_reused
                break;
              case 2:
                batch.push({ ...event, type: '' }); // invalid
                break;
              case 3:
                batch.push({ ...event, metadata: { ...event.metadata, tenant: 'someone-else' } }); // forbidden
                break;
              case 4:
                batch.push({ ...event, data: { text: 'x'.repeat(2_000) } }); // past the stores' maxEventBytes
                break;
              default:
                batch.push(event);
            }
            if (next(10) === 0 && batch.length > 0) batch.push(batch[next(batch.length)]!); // twice in one batch
          }
          // Some events checked as a sync server checks them (with no size bound), the others not.
          const checked = new CheckedEvents();
          for (const event of batch) {
            try {
              if (next(2) === 0) checked.check(event, { maxEventBytes: Infinity });
            } catch {
              // Invalid: the stores validate it and answer invalid_event.
            }
          }
          const fromThread = await thread.append('acme', batch, { checked });
          const fromInline = await inline.append('acme', batch, { checked });
          expect(fromThread, `round ${round}`).toEqual(fromInline);
          for (const [i, result] of fromInline.entries()) if (result.status === 'accepted') pushed.push(batch[i]!);
          latest = (await inline.latestVersion('acme')).value;
        }
        expect(await thread.readJson('acme', { limit: 10_000 })).toEqual(
          await inline.readJson('acme', { limit: 10_000 }),
        );
      } finally {
        await Promise.all([thread.close(), inline.close()]);
      }
    },
  );
});
