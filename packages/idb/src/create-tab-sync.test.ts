import { SyncManager, type Event, type Transport } from '@eventsync/core';
import { MemoryNetwork } from '@eventsync/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../test/support/eventually.js';
import { freshIndexedDb, openStore } from '../test/support/fake-indexeddb.js';
import { FakeLockManager } from '../test/support/fake-locks.js';
import { createTabSync, type TabSync } from './create-tab-sync.js';
import type { IndexedDbEventStore } from './indexed-db-event-store.js';
import { TabLeader } from './tab-leader.js';

interface Tab {
  readonly store: IndexedDbEventStore;
  readonly manager: SyncManager;
  readonly leader: TabLeader;
  readonly tabs: TabSync;
  /** The events this tab's transport pushed. */
  readonly pushed: string[];
}

/** Counts what a transport pushes. */
function counting(transport: Transport, pushed: string[]): Transport {
  return {
    push: (events, options) => {
      pushed.push(...events.map((event) => event.id));
      return transport.push(events, options);
    },
    pull: (since, options) => transport.pull(since, options),
    latestVersion: (options) => transport.latestVersion(options),
    subscribe: (handler, options) => transport.subscribe(handler, options),
    close: () => transport.close(),
  };
}

describe('createTabSync', () => {
  const open: Tab[] = [];

  afterEach(async () => {
    for (const tab of open.splice(0)) {
      await tab.tabs.close();
      await tab.manager.close();
      await tab.store.close();
    }
  });

  it('lets one tab sync for all: the others append, the leader pushes at once, and takes over when it goes', async () => {
    const indexedDB = freshIndexedDb();
    const locks = new FakeLockManager().asLockManager();
    const network = new MemoryNetwork();
    const name = `tabs-${Math.random()}`;
    async function openTab(): Promise<Tab> {
      const store = await openStore(indexedDB, { name, BroadcastChannel });
      const pushed: string[] = [];
      const manager = new SyncManager({
        store,
        transport: counting(network.transport(store.clientId), pushed),
        clientId: store.clientId,
        autoSync: { intervalMs: 60_000 },
      });
      const leader = new TabLeader({ name, locks, lifecycle: null });
      const tab = { store, manager, leader, pushed, tabs: createTabSync({ store, manager, leader }) };
      open.push(tab);
      return tab;
    }
    const first = await openTab();
    await first.leader.whenLeader();
    const second = await openTab();
    expect(second.leader.isLeader).toBe(false);

    const appended: Event[] = [];
    appended.push(...(await second.manager.append({ type: 'todo.added', aggregateId: 't1', data: { n: 1 } })));
    appended.push(...(await first.manager.append({ type: 'todo.added', aggregateId: 't2', data: { n: 2 } })));
    await eventually(
      async () => (await network.log.latestVersion(network.tenant)).value === 2,
      'both tabs’ events on the server',
    );
    expect(second.pushed).toEqual([]);
    expect(new Set(first.pushed)).toEqual(new Set(appended.map((event) => event.id)));
    await eventually(async () => (await second.store.pendingCount()) === 0, 'the outbox to empty');

    // The leader's tab goes; the other takes over and pushes its own appends.
    await first.tabs.close();
    await second.leader.whenLeader();
    const [later] = await second.manager.append({ type: 'todo.added', aggregateId: 't3', data: { n: 3 } });
    await eventually(
      async () => (await network.log.latestVersion(network.tenant)).value === 3,
      'the new leader’s push',
    );
    expect(second.pushed).toEqual([later!.id]);
    const server = await network.log.read(network.tenant);
    expect(server.events.map((item) => item.event.id)).toEqual([...appended, later!].map((event) => event.id));
  });
});
