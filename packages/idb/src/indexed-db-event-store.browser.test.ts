// The contract suites in real Chromium, with IndexedDB on disk (vitest's browser project runs on a
// persistent profile): each test gets a database of its own, deleted afterwards.

import { describeLocalEventStoreContract } from '@eventsync/testkit';
import { IndexedDbEventStore } from './indexed-db-event-store.js';

let databases = 0;

describeLocalEventStoreContract('IndexedDbEventStore in Chromium', {
  create: () => IndexedDbEventStore.open({ name: `contract-${Date.now()}-${databases++}` }),
  reopen: async (store) => {
    await store.close();
    return IndexedDbEventStore.open({ name: store.name });
  },
  destroy: (store) => IndexedDbEventStore.deleteDatabase({ name: store.name }),
});
