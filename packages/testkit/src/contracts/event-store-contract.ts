import { CursorVersion, type Event, type EventStore } from '@eventsync/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expectSyncError } from '../fixtures/expect-sync-error.js';
import { TestEvents } from '../fixtures/test-events.js';
import { v } from './support.js';

/** How a contract suite gets the store under test. */
export interface StoreContractOptions<S> {
  /** A fresh, empty store for each test. */
  create(): S | Promise<S>;
  /**
   * Closes `store` and opens the same storage again, for the durability cases. Leave it out for stores
   * that keep nothing (those cases are then skipped, saying so).
   */
  reopen?(store: S): S | Promise<S>;
  /** Removes what `create` made (files, databases) after each test; the suite closes the store itself. */
  destroy?(store: S): void | Promise<void>;
}

/** A durability case: run when the store can be reopened, skipped with the reason otherwise. */
export function itWhenDurable(options: { reopen?: unknown }, name: string, test: () => Promise<void>): void {
  if (options.reopen) it(name, test);
  else it.skip(`${name} (skipped: this store keeps nothing across a reopen)`, test);
}

/**
 * The contract every {@link EventStore} over cursor versions keeps (go-sync-kit parity). Call it from
 * the store's test file:
 *
 * @example
 * ```ts
 * describeEventStoreContract('MemoryEventStore', { create: () => new MemoryEventStore() });
 * ```
 */
export function describeEventStoreContract<S extends EventStore>(name: string, options: StoreContractOptions<S>): void {
  describe(`${name} keeps the EventStore contract`, () => {
    let store: S;
    let events: TestEvents;

    beforeEach(async () => {
      store = await options.create();
      events = new TestEvents();
    });

    afterEach(async () => {
      await store.close();
      await options.destroy?.(store);
    });

    async function storeAll(list: readonly Event[], first = 1): Promise<void> {
      for (const [i, event] of list.entries()) await store.store(event, v(first + i));
    }

    it('is empty at first: the latest version is zero and nothing loads', async () => {
      expect((await store.latestVersion()).isZero()).toBe(true);
      expect(await store.load(CursorVersion.ZERO)).toEqual([]);
    });

    it('loads events in version order, whatever order they were stored in', async () => {
      const [a, b, c] = events.many(3) as [Event, Event, Event];
      await store.store(c, v(3));
      await store.store(a, v(1));
      await store.store(b, v(2));
      const loaded = await store.load(CursorVersion.ZERO);
      expect(loaded.map((item) => item.event.id)).toEqual([a.id, b.id, c.id]);
      expect(loaded.map((item) => item.version.toString())).toEqual(['1', '2', '3']);
      expect(loaded[0]?.event).toEqual(a);
    });

    it('loads strictly after the version it is given', async () => {
      const list = events.many(5);
      await storeAll(list);
      const loaded = await store.load(v(2));
      expect(loaded.map((item) => item.event.id)).toEqual(list.slice(2).map((event) => event.id));
      expect(await store.load(v(5))).toEqual([]);
    });

    it('filters by type, aggregate and tenant', async () => {
      const added = events.make('todo-1', { type: 'todo.added' });
      const renamed = events.make('todo-1', { type: 'todo.renamed' });
      const other = events.make('todo-2', { type: 'todo.added', metadata: { tenant: 'acme' } });
      await storeAll([added, renamed, other]);
      const ids = async (filter: Parameters<S['load']>[1]): Promise<string[]> =>
        (await store.load(CursorVersion.ZERO, filter)).map((item) => item.event.id);
      expect(await ids({ filter: { type: 'todo.added' } })).toEqual([added.id, other.id]);
      expect(await ids({ filter: { type: ['todo.renamed', 'nope'] } })).toEqual([renamed.id]);
      expect(await ids({ filter: { aggregateId: 'todo-1' } })).toEqual([added.id, renamed.id]);
      expect(await ids({ filter: { aggregateId: ['todo-2'], type: 'todo.added' } })).toEqual([other.id]);
      expect(await ids({ filter: { tenant: 'acme' } })).toEqual([other.id]);
      expect(await ids({ filter: { type: 'todo.deleted' } })).toEqual([]);
    });

    it('returns at most `limit` events, the first ones, so paging finds each event once', async () => {
      const list = events.many(25);
      await storeAll(list);
      expect((await store.load(CursorVersion.ZERO, { limit: 10 })).map((item) => item.event.id)).toEqual(
        list.slice(0, 10).map((event) => event.id),
      );
      const seen: string[] = [];
      let since = CursorVersion.ZERO;
      for (let page = 0; page < 10; page++) {
        const loaded = await store.load(since, { limit: 7 });
        if (loaded.length === 0) break;
        seen.push(...loaded.map((item) => item.event.id));
        since = loaded.at(-1)!.version;
      }
      expect(seen).toEqual(list.map((event) => event.id));
      await expectSyncError(() => store.load(CursorVersion.ZERO, { limit: 0 }), 'invalid_input');
    });

    it('loads one aggregate after a version, with filters', async () => {
      const a1 = events.make('a', { type: 'x' });
      const b1 = events.make('b', { type: 'x' });
      const a2 = events.make('a', { type: 'y' });
      const a3 = events.make('a', { type: 'x' });
      await storeAll([a1, b1, a2, a3]);
      const ids = (list: { event: Event }[]): string[] => list.map((item) => item.event.id);
      expect(ids(await store.loadByAggregate('a', CursorVersion.ZERO))).toEqual([a1.id, a2.id, a3.id]);
      expect(ids(await store.loadByAggregate('a', v(1)))).toEqual([a2.id, a3.id]);
      expect(ids(await store.loadByAggregate('a', CursorVersion.ZERO, { filter: { type: 'x' } }))).toEqual([
        a1.id,
        a3.id,
      ]);
      expect(ids(await store.loadByAggregate('a', CursorVersion.ZERO, { limit: 1 }))).toEqual([a1.id]);
      expect(await store.loadByAggregate('nobody', CursorVersion.ZERO)).toEqual([]);
    });

    it('reports the highest version stored as the latest', async () => {
      const [a, b] = events.many(2) as [Event, Event];
      await store.store(b, v(7));
      await store.store(a, v(3));
      expect((await store.latestVersion()).toString()).toBe('7');
    });

    it('parses its versions from their string form and refuses bad strings', async () => {
      expect(store.parseVersion('42').compare(v(42))).toBe(0);
      expect(store.parseVersion(v(9).toString()).toString()).toBe('9');
      for (const bad of ['', '-1', '1.5', 'abc', '01', ' 1']) {
        await expectSyncError(() => store.parseVersion(bad), 'invalid_input');
      }
    });

    it('stores an event once when it is stored twice at the same version', async () => {
      const event = events.make('a');
      await store.store(event, v(1));
      await store.store(event, v(1));
      expect(await store.load(CursorVersion.ZERO)).toHaveLength(1);
    });

    it('refuses an id already stored at another version or with other content, and keeps the original', async () => {
      const event = events.make('a');
      await store.store(event, v(1));
      await expectSyncError(() => store.store(event, v(2)), 'invalid_input');
      await expectSyncError(() => store.store({ ...event, data: { changed: true } }, v(1)), 'invalid_input');
      const loaded = await store.load(CursorVersion.ZERO);
      expect(loaded).toHaveLength(1);
      expect(loaded[0]?.event).toEqual(event);
      expect(loaded[0]?.version.toString()).toBe('1');
    });

    it('refuses a malformed event with invalid_input and stores nothing', async () => {
      const event = events.make('a');
      await expectSyncError(() => store.store({ ...event, type: '' }, v(1)), 'invalid_input');
      await expectSyncError(
        () => store.store({ ...event, data: { when: new Date() } } as never, v(1)),
        'invalid_input',
      );
      expect(await store.load(CursorVersion.ZERO)).toEqual([]);
    });

    it('rejects with the signal reason when the signal is aborted, storing nothing', async () => {
      const reason = new Error('stop');
      const signal = AbortSignal.abort(reason);
      await expect(store.store(events.make('a'), v(1), { signal })).rejects.toBe(reason);
      await expect(store.load(CursorVersion.ZERO, { signal })).rejects.toBe(reason);
      await expect(store.loadByAggregate('a', CursorVersion.ZERO, { signal })).rejects.toBe(reason);
      await expect(store.latestVersion({ signal })).rejects.toBe(reason);
      expect(await store.load(CursorVersion.ZERO)).toEqual([]);
    });

    it('fails every call with a closed error after close, and closes twice without error', async () => {
      await store.store(events.make('a'), v(1));
      await store.close();
      await store.close();
      await expectSyncError(() => store.load(CursorVersion.ZERO), 'closed');
      await expectSyncError(() => store.loadByAggregate('a', CursorVersion.ZERO), 'closed');
      await expectSyncError(() => store.latestVersion(), 'closed');
      await expectSyncError(() => store.store(events.make('b'), v(2)), 'closed');
    });

    itWhenDurable(options, 'keeps stored events across a reopen', async () => {
      const list = events.many(3);
      await storeAll(list);
      store = await options.reopen!(store);
      expect((await store.load(CursorVersion.ZERO)).map((item) => item.event.id)).toEqual(
        list.map((event) => event.id),
      );
      expect((await store.latestVersion()).toString()).toBe('3');
    });
  });
}
