import { CursorVersion, isSyncError, type Event, type VersionedEvent } from '@eventsync/core';
import { TestEvents, expectSyncError } from '@eventsync/testkit';
import type { IDBFactory } from 'fake-indexeddb';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { failPuts, freshIndexedDb, openStore } from '../test/support/fake-indexeddb.js';
import type { IndexedDbEventStore } from './indexed-db-event-store.js';
import { ID_LEAF_MAX } from './internal/schema.js';
import { SEGMENT_MAX, SEGMENT_SMALL } from './internal/segments.js';
import type { StoreChange } from './store-change.js';

const v = (n: number): CursorVersion => CursorVersion.of(n);
const ids = (list: readonly { event: Event }[]): string[] => list.map((item) => item.event.id);
const at = (list: readonly Event[], first: number): VersionedEvent[] =>
  list.map((event, i) => ({ event, version: v(first + i) }));

/** Reads every record of an object store straight from the database, outside the store. */
async function rawRecords(factory: IDBFactory, storeName: string): Promise<unknown[]> {
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    const request = factory.open('test');
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  try {
    return await new Promise<unknown[]>((resolve, reject) => {
      const request = db.transaction(storeName).objectStore(storeName).getAll();
      request.onsuccess = () => resolve(request.result as unknown[]);
      request.onerror = () => reject(request.error);
    });
  } finally {
    db.close();
  }
}

describe('IndexedDbEventStore', () => {
  let factory: IDBFactory;
  let store: IndexedDbEventStore;
  let mine: TestEvents;
  let theirs: TestEvents;

  beforeEach(async () => {
    factory = freshIndexedDb();
    store = await openStore(factory);
    mine = new TestEvents({ clientId: 'me' });
    theirs = new TestEvents({ clientId: 'them' });
  });

  afterEach(async () => {
    await store.close();
  });

  describe('group commit', () => {
    it('commits concurrent appends together, each resolving with its own entries, in call order', async () => {
      const events = mine.many(200, 7);
      const results = await Promise.all(events.map((event) => store.appendLocal([event])));
      expect(results.map((entries) => entries.map((entry) => entry.event.id))).toEqual(events.map((e) => [e.id]));
      const seqs = results.map((entries) => entries[0]!.localSeq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(ids(await store.pending())).toEqual(events.map((event) => event.id));
      await store.close();
      // One outbox chunk per transaction: the 200 calls shared one.
      expect(await rawRecords(factory, 'outbox')).toHaveLength(1);
      store = await openStore(factory);
    });

    it('fails only the call whose events are refused; the calls beside it in the transaction commit', async () => {
      const [a, b, c] = mine.many(3) as [Event, Event, Event];
      await store.appendLocal([a]);
      const outcomes = await Promise.allSettled([
        store.appendLocal([b]),
        store.appendLocal([{ ...a, data: { other: true } }]),
        store.appendLocal([c, c]),
        store.appendLocal([a, c]),
      ]);
      expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
      for (const outcome of outcomes) {
        if (outcome.status === 'rejected') expect(isSyncError(outcome.reason, 'invalid_input')).toBe(true);
      }
      expect(ids(await store.pending())).toEqual([a.id, b.id, c.id]);
    });

    it('sees the events of earlier calls in the same transaction: a repeat is appended once', async () => {
      const event = mine.make('a');
      const [first, second] = await Promise.all([store.appendLocal([event]), store.appendLocal([event])]);
      expect(second[0]!.localSeq).toBe(first[0]!.localSeq);
      expect(await store.pendingCount()).toBe(1);
    });

    it('keeps an awaited append: it is there after a reopen', async () => {
      const events = mine.many(20);
      await Promise.all(events.map((event) => store.appendLocal([event])));
      await store.close();
      store = await openStore(factory);
      expect(ids(await store.pending())).toEqual(events.map((event) => event.id));
    });

    it('drops a queued call whose signal fires before its transaction starts', async () => {
      const [a, b] = mine.many(2) as [Event, Event];
      const controller = new AbortController();
      const reason = new Error('stop');
      const first = store.appendLocal([a]);
      const second = store.appendLocal([b], { signal: controller.signal });
      const refused = expect(second).rejects.toBe(reason);
      controller.abort(reason);
      await first;
      await refused;
      expect(ids(await store.pending())).toEqual([a.id]);
    });

    it('splits a long queue into transactions of at most maxEventsPerCommit events', async () => {
      await store.close();
      store = await openStore(factory, { maxEventsPerCommit: 10 });
      await Promise.all(mine.many(35).map((event) => store.appendLocal([event])));
      expect(await store.pendingCount()).toBe(35);
      await store.close();
      expect(await rawRecords(factory, 'outbox')).toHaveLength(4);
      store = await openStore(factory);
    });

    it('keeps what a call was given, whatever the caller does to its objects before the commit', async () => {
      const event = mine.make('a', { data: { title: 'as appended' } });
      const appended = store.appendLocal([event]);
      (event.data as { title: string }).title = 'changed before the commit';
      await appended;
      expect((await store.pending())[0]?.event.data).toEqual({ title: 'as appended' });
    });
  });

  describe('abort', () => {
    it('aborts a step whose signal fires while its transaction runs: nothing of it is stored', async () => {
      const own = mine.many(3);
      await store.appendLocal(own);
      const reason = new Error('stop');
      const pulling = new AbortController();
      const pulled = store.applyPulled(
        { events: [...at(theirs.many(5), 1), { event: own[0]!, version: v(6) }], cursor: v(6) },
        { signal: pulling.signal },
      );
      pulling.abort(reason);
      await expect(pulled).rejects.toBe(reason);
      const acking = new AbortController();
      const acked = store.acknowledge([{ id: own[1]!.id, version: v(1) }], { signal: acking.signal });
      acking.abort(reason);
      await expect(acked).rejects.toBe(reason);
      expect(await store.load(CursorVersion.ZERO)).toEqual([]);
      expect((await store.cursor()).isZero()).toBe(true);
      expect(ids(await store.pending())).toEqual(own.map((event) => event.id));
    });
  });

  describe('close', () => {
    it('commits the appends already called, then fails later calls with closed', async () => {
      const events = mine.many(5);
      const appends = events.map((event) => store.appendLocal([event]));
      await store.close();
      await Promise.all(appends);
      await expectSyncError(() => store.pending(), 'closed');
      await expectSyncError(() => store.appendLocal([mine.make('a')]), 'closed');
      store = await openStore(factory);
      expect(await store.pendingCount()).toBe(5);
    });
  });

  describe('segments', () => {
    it('stores a pulled page as one segment, and reads it back in order, filtered and paged', async () => {
      const page = at(theirs.many(1000, 10), 1);
      await store.applyPulled({ events: page, cursor: v(1000) });
      expect(await rawRecords(factory, 'segments')).toHaveLength(1);
      expect(ids(await store.load(CursorVersion.ZERO))).toEqual(ids(page));
      expect(ids(await store.load(v(990)))).toEqual(ids(page.slice(990)));
      expect(ids(await store.load(v(10), { limit: 5 }))).toEqual(ids(page.slice(10, 15)));
      const agg3 = page.filter((item) => item.event.aggregateId === 'agg-3');
      expect(ids(await store.loadByAggregate('agg-3', CursorVersion.ZERO))).toEqual(ids(agg3));
      expect(ids(await store.load(CursorVersion.ZERO, { filter: { aggregateId: ['agg-3'] }, limit: 3 }))).toEqual(
        ids(agg3.slice(0, 3)),
      );
      expect((await store.aggregateVersion('agg-3')).toString()).toBe(agg3.at(-1)!.version.toString());
      expect((await store.latestVersion()).toString()).toBe('1000');
    });

    it('merges small runs: events acknowledged one push at a time share a few segments', async () => {
      const events = mine.many(SEGMENT_SMALL * 2 + 10);
      await store.appendLocal(events);
      for (const [i, event] of events.entries()) await store.acknowledge([{ id: event.id, version: v(i + 1) }]);
      const segments = await rawRecords(factory, 'segments');
      expect(segments.length).toBeLessThanOrEqual(3);
      expect(ids(await store.load(CursorVersion.ZERO))).toEqual(events.map((event) => event.id));
    });

    it('fills gaps: own events confirmed ahead of the cursor, then the page around them', async () => {
      const own = mine.many(3);
      await store.appendLocal(own);
      await store.acknowledge([
        { id: own[0]!.id, version: v(4) },
        { id: own[1]!.id, version: v(7) },
      ]);
      const foreign = theirs.many(6);
      const page: VersionedEvent[] = [
        ...at(foreign.slice(0, 3), 1),
        { event: own[0]!, version: v(4) },
        ...at(foreign.slice(3, 5), 5),
        { event: own[1]!, version: v(7) },
        { event: own[2]!, version: v(8) },
        { event: foreign[5]!, version: v(9) },
      ];
      const result = await store.applyPulled({ events: page, cursor: v(9) });
      expect(result).toEqual({ stored: 7, acknowledged: [own[2]!.id] });
      expect(ids(await store.load(CursorVersion.ZERO))).toEqual(ids(page));
      expect(await store.pendingCount()).toBe(0);
    });

    it('splits a run longer than a segment holds', async () => {
      const events = theirs.many(SEGMENT_MAX + 100, 50);
      await store.applyPulled({ events: at(events, 1), cursor: v(events.length) });
      expect(await rawRecords(factory, 'segments')).toHaveLength(2);
      expect(ids(await store.load(v(SEGMENT_MAX - 2), { limit: 4 }))).toEqual(
        events.slice(SEGMENT_MAX - 2, SEGMENT_MAX + 2).map((event) => event.id),
      );
    });

    it('filters on the segment columns: type, tenant and aggregate lists', async () => {
      const list = [
        theirs.make('a', { type: 'x', metadata: { tenant: 't1' } }),
        theirs.make('b', { type: 'y' }),
        theirs.make('a', { type: 'y', metadata: { tenant: 't2' } }),
        theirs.make('c', { type: 'x', metadata: { tenant: 't1' } }),
      ];
      await store.applyPulled({ events: at(list, 1), cursor: v(4) });
      const load = async (filter: object): Promise<string[]> => ids(await store.load(CursorVersion.ZERO, { filter }));
      expect(await load({ type: 'x' })).toEqual([list[0]!.id, list[3]!.id]);
      expect(await load({ tenant: 't1', aggregateId: ['c', 'b'] })).toEqual([list[3]!.id]);
      expect(await load({ type: ['y'], aggregateId: 'a' })).toEqual([list[2]!.id]);
      expect(await load({ tenant: 'nobody' })).toEqual([]);
    });
  });

  describe('ids', () => {
    it('keeps ids unique across many leaves: finds each, and refuses any reused at another version', async () => {
      const count = ID_LEAF_MAX * 3;
      const events = theirs.many(count, 100);
      for (let first = 0; first < count; first += 500) {
        const page = at(events.slice(first, first + 500), first + 1);
        await store.applyPulled({ events: page, cursor: v(Math.min(first + 500, count)) });
      }
      expect((await rawRecords(factory, 'ids')).length).toBeGreaterThan(3);
      for (const i of [0, 1, ID_LEAF_MAX - 1, ID_LEAF_MAX, count - 1]) {
        const found = await store.find(events[i]!.id);
        expect(found?.status === 'confirmed' && found.version.toString()).toBe(String(i + 1));
      }
      await expectSyncError(
        () =>
          store.applyPulled({
            events: [{ event: events[ID_LEAF_MAX + 5]!, version: v(count + 1) }],
            cursor: v(count + 1),
          }),
        'invalid_input',
      );
      expect((await store.cursor()).toString()).toBe(String(count));
    });
  });

  describe('change feed', () => {
    it('tells subscribers of each committed change, and what it touched', async () => {
      const changes: StoreChange[] = [];
      const stop = store.subscribe((change) => changes.push(change));
      const event = mine.make('a');
      await store.appendLocal([event]);
      await store.acknowledge([{ id: event.id, version: v(1) }]);
      await store.pending();
      stop();
      await store.appendLocal([mine.make('b')]);
      expect(changes).toEqual([
        { origin: 'local', outbox: true, log: false, records: false },
        { origin: 'local', outbox: true, log: true, records: false },
      ]);
    });

    it('tells one store of another store’s changes on the same database through a BroadcastChannel', async () => {
      await store.close();
      store = await openStore(factory, { name: 'feed', BroadcastChannel });
      const other = await openStore(factory, { name: 'feed', BroadcastChannel });
      try {
        const heard = new Promise<StoreChange>((resolve) => store.subscribe(resolve));
        await other.appendLocal([mine.make('a')]);
        expect(await heard).toEqual({ origin: 'remote', outbox: true, log: false, records: false });
        expect(await store.pendingCount()).toBe(1);
      } finally {
        await other.close();
      }
    });

    it('polls for other stores’ changes where there is no BroadcastChannel', async () => {
      await store.close();
      store = await openStore(factory, { pollIntervalMs: 5 });
      const other = await openStore(factory);
      try {
        const heard = new Promise<StoreChange>((resolve) => store.subscribe(resolve));
        await store.pendingCount();
        await other.appendLocal([mine.make('a')]);
        expect((await heard).origin).toBe('remote');
      } finally {
        await other.close();
      }
    });
  });

  describe('a stale cache', () => {
    it('reads right when another store on the database rewrote the segments it had cached', async () => {
      const other = await openStore(factory);
      try {
        const events = theirs.many(10);
        await store.applyPulled({ events: at(events.slice(0, 5), 1), cursor: v(5) });
        expect(await store.load(CursorVersion.ZERO)).toHaveLength(5);
        await other.applyPulled({ events: at(events.slice(5), 6), cursor: v(10) });
        expect(ids(await store.load(CursorVersion.ZERO))).toEqual(events.map((event) => event.id));
        expect((await store.latestVersion()).toString()).toBe('10');
      } finally {
        await other.close();
      }
    });

    it('reads right when overlapping reads of one store see different snapshots', async () => {
      const events = theirs.many(40);
      await store.applyPulled({ events: at(events.slice(0, 10), 1), cursor: v(10) });
      const reads: Promise<VersionedEvent[]>[] = [];
      const writes: Promise<unknown>[] = [];
      for (let i = 1; i < 4; i++) {
        reads.push(store.load(CursorVersion.ZERO));
        writes.push(
          store.applyPulled({ events: at(events.slice(i * 10, i * 10 + 10), i * 10 + 1), cursor: v(i * 10 + 10) }),
        );
        reads.push(store.load(CursorVersion.ZERO));
      }
      await Promise.all(writes);
      for (const loaded of await Promise.all(reads)) {
        expect(ids(loaded)).toEqual(events.slice(0, loaded.length).map((event) => event.id));
        expect(loaded.length % 10).toBe(0);
      }
      expect(await store.load(CursorVersion.ZERO)).toHaveLength(40);
    });
  });

  describe('storage errors', () => {
    it('fails with quota, the DOMException as its cause, and loses nothing already stored', async () => {
      const kept = mine.many(3);
      await store.appendLocal(kept);
      await store.applyPulled({ events: at(theirs.many(2), 1), cursor: v(2) });
      let full = true;
      const restore = failPuts(
        () => full,
        () => new DOMException('The quota has been exceeded.', 'QuotaExceededError'),
      );
      try {
        const error = await expectSyncError(() => store.appendLocal([mine.make('b')]), 'quota');
        expect(error.cause).toBeInstanceOf(DOMException);
        expect((error.cause as DOMException).name).toBe('QuotaExceededError');
        await expectSyncError(() => store.applyPulled({ events: at(theirs.many(2), 3), cursor: v(4) }), 'quota');
        expect(ids(await store.pending())).toEqual(kept.map((event) => event.id));
        expect((await store.cursor()).toString()).toBe('2');
        full = false;
        await store.appendLocal([mine.make('c')]);
        expect(await store.pendingCount()).toBe(4);
      } finally {
        restore();
      }
    });

    it('fails each call of a group commit that the storage refuses, and commits the others', async () => {
      const small = mine.make('a');
      const big = mine.make('b', { data: { blob: 'x'.repeat(4000) } });
      // The storage refuses whatever would hold the big event.
      const restore = failPuts(
        (name, value) => name === 'outbox' && JSON.stringify(value).includes('xxxx'),
        () => new DOMException('The quota has been exceeded.', 'QuotaExceededError'),
      );
      try {
        const outcomes = await Promise.allSettled([store.appendLocal([small]), store.appendLocal([big])]);
        expect(outcomes[0].status).toBe('fulfilled');
        expect(outcomes[1].status === 'rejected' && isSyncError(outcomes[1].reason, 'quota')).toBe(true);
      } finally {
        restore();
      }
      expect(ids(await store.pending())).toEqual([small.id]);
    });

    it('fails with storage for other failures, keeping the DOMException', async () => {
      const restore = failPuts(
        () => true,
        () => new DOMException('disk', 'UnknownError'),
      );
      try {
        const error = await expectSyncError(
          () =>
            store.saveConflict({
              id: 'c1',
              status: 'open',
              detectedAt: 1,
              conflict: { aggregateId: 'a', eventType: 't', changedFields: [], metadata: {}, local: [], remote: [] },
            }),
          'storage',
        );
        expect((error.cause as DOMException).name).toBe('UnknownError');
      } finally {
        restore();
      }
    });

    it('refuses a conflict record IndexedDB cannot clone, with invalid_input', async () => {
      await expectSyncError(
        () =>
          store.saveConflict({
            id: 'c1',
            status: 'open',
            detectedAt: 1,
            conflict: {
              aggregateId: 'a',
              eventType: 't',
              changedFields: [],
              metadata: { f: (() => 1) as never },
              local: [],
              remote: [],
            },
          }),
        'invalid_input',
      );
      expect(await store.conflicts()).toEqual([]);
    });
  });

  describe('options', () => {
    it('refuses impossible options when opening', async () => {
      await expectSyncError(() => openStore(factory, { maxEventsPerCommit: 0 }), 'invalid_input');
      await expectSyncError(() => openStore(factory, { name: '' }), 'invalid_input');
      await expectSyncError(() => openStore(factory, { blockedTimeoutMs: -1 }), 'invalid_input');
    });

    it('gives every store on a database the same client id, made when the database was', async () => {
      const other = await openStore(factory);
      try {
        expect(other.clientId).toBe(store.clientId);
        expect(store.clientId).toMatch(/^[A-Za-z0-9_.:-]{1,128}$/);
      } finally {
        await other.close();
      }
      const elsewhere = await openStore(freshIndexedDb());
      expect(elsewhere.clientId).not.toBe(store.clientId);
      await elsewhere.close();
    });

    it('stamps rejections with the clock it was given', async () => {
      await store.close();
      const now = vi.fn(() => 1234);
      store = await openStore(factory, { now });
      const event = mine.make('a');
      await store.appendLocal([event]);
      await store.reject([{ id: event.id, code: 'forbidden', reason: 'no' }]);
      expect((await store.rejections())[0]?.rejectedAt).toBe(1234);
    });
  });
});
