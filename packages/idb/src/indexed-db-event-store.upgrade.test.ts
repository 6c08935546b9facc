import { CursorVersion } from '@eventsync/core';
import { TestEvents, expectSyncError } from '@eventsync/testkit';
import type { IDBFactory } from 'fake-indexeddb';
import type { IDBPDatabase } from 'idb';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { IDBKeyRange, freshIndexedDb, openStore } from '../test/support/fake-indexeddb.js';
import { IndexedDbEventStore } from './indexed-db-event-store.js';
import { MIGRATIONS, SCHEMA_VERSION, type Migration, type Schema } from './internal/schema.js';

/** The current schema plus one more version, whose migration adds an object store and counts its runs. */
function nextSchema(ran: { count: number }): Schema {
  const addStore: Migration = (db) => {
    ran.count++;
    (db as unknown as IDBPDatabase).createObjectStore('added-by-the-next-version');
  };
  return { version: SCHEMA_VERSION + 1, migrations: [...MIGRATIONS, addStore] };
}

function openNext(factory: IDBFactory, schema: Schema, options: Parameters<typeof openStore>[1] = {}) {
  return IndexedDbEventStore.openWithSchema(
    { name: 'test', indexedDB: factory, IDBKeyRange, BroadcastChannel: null, pollIntervalMs: 0, ...options },
    schema,
  );
}

/** A plain connection that never closes when asked to: an old tab without a `versionchange` handler. */
function holdOpen(factory: IDBFactory): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = factory.open('test');
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

describe('IndexedDbEventStore schema versions', () => {
  let factory: IDBFactory;
  let events: TestEvents;

  beforeEach(() => {
    factory = freshIndexedDb();
    events = new TestEvents({ clientId: 'me' });
  });

  it('upgrades a database of the previous schema, keeping everything in it, and runs the migration once', async () => {
    const store = await openStore(factory);
    const pending = events.many(3);
    await store.appendLocal(pending);
    await store.applyPulled({
      events: [{ event: events.make('x'), version: CursorVersion.of(1) }],
      cursor: CursorVersion.of(1),
    });
    const clientId = store.clientId;
    await store.close();

    const ran = { count: 0 };
    const upgraded = await openNext(factory, nextSchema(ran));
    expect(ran.count).toBe(1);
    expect((await upgraded.pending()).map((entry) => entry.event.id)).toEqual(pending.map((event) => event.id));
    expect((await upgraded.cursor()).toString()).toBe('1');
    expect(upgraded.clientId).toBe(clientId);
    await upgraded.close();

    const again = await openNext(factory, nextSchema(ran));
    expect(ran.count).toBe(1);
    await again.close();
  });

  it('refuses to open a database a newer version of the app upgraded, saying to reload', async () => {
    const upgraded = await openNext(factory, nextSchema({ count: 0 }));
    await upgraded.close();
    const error = await expectSyncError(() => openStore(factory), 'storage');
    expect(error.details.reason).toBe('version');
    expect(error.message).toMatch(/reload/);
  });

  it('leaves the database as it was when a migration fails', async () => {
    const store = await openStore(factory);
    await store.appendLocal([events.make('a')]);
    await store.close();
    const broken: Schema = {
      version: SCHEMA_VERSION + 1,
      migrations: [
        ...MIGRATIONS,
        () => {
          throw new Error('bad migration');
        },
      ],
    };
    const error = await expectSyncError(() => openNext(factory, broken), 'storage');
    expect(error.details.reason).toBe('upgrade');
    const reopened = await openStore(factory);
    expect(await reopened.pendingCount()).toBe(1);
    await reopened.close();
  });

  it('closes itself when another tab upgrades, tells onVersionChange, and fails later calls with closed', async () => {
    const onVersionChange = vi.fn();
    const old = await openStore(factory, { onVersionChange });
    await old.appendLocal([events.make('a')]);
    const onBlocked = vi.fn();
    const upgraded = await openNext(factory, nextSchema({ count: 0 }), { onBlocked });
    expect(onBlocked).not.toHaveBeenCalled();
    expect(onVersionChange).toHaveBeenCalledWith({ oldVersion: SCHEMA_VERSION, newVersion: SCHEMA_VERSION + 1 });
    const error = await expectSyncError(() => old.pendingCount(), 'closed');
    expect(error.details.reason).toBe('versionchange');
    await expectSyncError(() => old.appendLocal([events.make('b')]), 'closed');
    expect(await upgraded.pendingCount()).toBe(1);
    await old.close();
    await upgraded.close();
  });

  it('reports a blocked upgrade and gives up after blockedTimeoutMs instead of hanging', async () => {
    const store = await openStore(factory);
    await store.appendLocal([events.make('a')]);
    await store.close();
    const stubborn = await holdOpen(factory);
    const onBlocked = vi.fn();
    const error = await expectSyncError(
      () => openNext(factory, nextSchema({ count: 0 }), { onBlocked, blockedTimeoutMs: 20 }),
      'timeout',
    );
    expect(error.details.reason).toBe('blocked');
    expect(onBlocked).toHaveBeenCalledWith({ oldVersion: SCHEMA_VERSION, newVersion: SCHEMA_VERSION + 1 });
    stubborn.close();
    // The abandoned upgrade did not happen behind our back: the old schema still opens.
    const reopened = await openStore(factory);
    expect(await reopened.pendingCount()).toBe(1);
    await reopened.close();
  });

  it('stops opening when its signal fires', async () => {
    const stubborn = await holdOpen(factory);
    try {
      const controller = new AbortController();
      const opening = openNext(factory, nextSchema({ count: 0 }), {
        signal: controller.signal,
        onBlocked: () => controller.abort(new Error('user gave up')),
      });
      await expect(opening).rejects.toThrow('user gave up');
    } finally {
      stubborn.close();
    }
  });

  it('deletes its database: a store opened afterwards is empty, with a new client id', async () => {
    const store = await openStore(factory);
    await store.appendLocal([events.make('a')]);
    const clientId = store.clientId;
    await store.close();
    await IndexedDbEventStore.deleteDatabase({ name: 'test', indexedDB: factory });
    const fresh = await openStore(factory);
    expect(await fresh.pendingCount()).toBe(0);
    expect(fresh.clientId).not.toBe(clientId);
    await fresh.close();
  });

  it('closes a store whose database another tab deletes', async () => {
    const onVersionChange = vi.fn();
    const store = await openStore(factory, { onVersionChange });
    await IndexedDbEventStore.deleteDatabase({ name: 'test', indexedDB: factory });
    expect(onVersionChange).toHaveBeenCalledWith({ oldVersion: SCHEMA_VERSION, newVersion: null });
    await expectSyncError(() => store.pendingCount(), 'closed');
    await store.close();
  });
});
