import { describeLocalEventStoreContract } from '@eventsync/testkit';
import type { IDBFactory } from 'fake-indexeddb';
import { freshIndexedDb, openStore } from '../test/support/fake-indexeddb.js';
import { IndexedDbEventStore } from './indexed-db-event-store.js';

const factories = new WeakMap<IndexedDbEventStore, IDBFactory>();

async function open(factory: IDBFactory): Promise<IndexedDbEventStore> {
  const store = await openStore(factory, { name: 'contract' });
  factories.set(store, factory);
  return store;
}

describeLocalEventStoreContract('IndexedDbEventStore on fake-indexeddb', {
  create: () => open(freshIndexedDb()),
  reopen: async (store) => {
    await store.close();
    return open(factories.get(store)!);
  },
  destroy: (store) => IndexedDbEventStore.deleteDatabase({ name: store.name, indexedDB: factories.get(store)! }),
});
