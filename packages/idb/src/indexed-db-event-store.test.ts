import 'fake-indexeddb/auto';
import { describeLocalEventStoreContract } from '@eventsync/testkit';
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { IndexedDbEventStore } from './indexed-db-event-store.js';

// A fresh fake IndexedDB per store: tests never see each other's databases. (`fake-indexeddb/auto`
// only provides the IndexedDB classes that `idb` checks values against.)
const factories = new WeakMap<IndexedDbEventStore, IDBFactory>();

async function open(factory: IDBFactory): Promise<IndexedDbEventStore> {
  const store = await IndexedDbEventStore.open({
    name: 'contract',
    indexedDB: factory,
    IDBKeyRange,
    BroadcastChannel: null,
    pollIntervalMs: 0,
  });
  factories.set(store, factory);
  return store;
}

describeLocalEventStoreContract('IndexedDbEventStore on fake-indexeddb', {
  create: () => open(new IDBFactory()),
  reopen: async (store) => {
    await store.close();
    return open(factories.get(store)!);
  },
  destroy: (store) => IndexedDbEventStore.deleteDatabase({ name: store.name, indexedDB: factories.get(store)! }),
});
