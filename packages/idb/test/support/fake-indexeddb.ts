// fake-indexeddb for the fast test run: one fresh IndexedDB per test, so tests never share databases.
// `fake-indexeddb/auto` is imported only for the IndexedDB classes `idb` checks values against.

import 'fake-indexeddb/auto';
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { IndexedDbEventStore, type IndexedDbEventStoreOptions } from '../../src/index.js';

/** A fresh, empty IndexedDB. */
export function freshIndexedDb(): IDBFactory {
  return new IDBFactory();
}

/** Opens a store on `factory`, without BroadcastChannel or polling unless asked. */
export function openStore(factory: IDBFactory, options: IndexedDbEventStoreOptions = {}): Promise<IndexedDbEventStore> {
  return IndexedDbEventStore.open({
    name: 'test',
    indexedDB: factory,
    IDBKeyRange,
    BroadcastChannel: null,
    pollIntervalMs: 0,
    ...options,
  });
}

/**
 * Makes `put` on object stores throw `error()` (as a browser's does for a value it cannot write)
 * whenever `when(storeName, value)` says so; returns the function that puts `put` back.
 */
export function failPuts(when: (storeName: string, value: unknown) => boolean, error: () => unknown): () => void {
  const proto = (globalThis as unknown as { IDBObjectStore: typeof IDBObjectStore }).IDBObjectStore.prototype;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- put back as it was, called with its own `this`
  const original = proto.put;
  proto.put = function put(this: IDBObjectStore, ...args: Parameters<IDBObjectStore['put']>) {
    if (when(this.name, args[0])) throw error();
    return original.apply(this, args);
  };
  return () => {
    proto.put = original;
  };
}

export { IDBKeyRange };
