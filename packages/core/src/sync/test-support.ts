import { MemoryNetwork } from '@eventsync/testkit';
import type { ConflictResolver } from '../conflict/conflict.js';
import { MemoryServerEventLog } from '../server/memory-server-event-log.js';
import { MemoryEventStore } from '../store/memory-event-store.js';
import type { Transport } from '../transport/transport.js';
import { alwaysOnline } from './connectivity.js';
import { SyncManager, type SyncManagerOptions } from './sync-manager.js';

/** Test resolvers that do not depend on the built-in ones. */
export const keepRemote: ConflictResolver = {
  resolve: () => ({ resolvedEvents: [], decision: 'keep_remote', reasons: ['test: remote wins'] }),
};
export const keepLocal: ConflictResolver = {
  resolve: (conflict) => ({ resolvedEvents: conflict.local, decision: 'keep_local', reasons: ['test: local wins'] }),
};
export const park: ConflictResolver = {
  resolve: (conflict) => ({ resolvedEvents: conflict.local, decision: 'park', reasons: ['test: waiting'] }),
};

/** A server log, a network, and a way to make clients on it. */
export function createWorld(options: { seed?: number } = {}) {
  const log = new MemoryServerEventLog();
  const network = new MemoryNetwork({ log, seed: options.seed ?? 1 });
  const managers: SyncManager[] = [];
  return {
    log,
    network,
    client(
      clientId: string,
      overrides: Partial<SyncManagerOptions> & { wrap?: (transport: Transport) => Transport } = {},
    ): { manager: SyncManager; store: MemoryEventStore } {
      const store = (overrides.store as MemoryEventStore | undefined) ?? new MemoryEventStore();
      const base = network.transport(clientId);
      const manager = new SyncManager({
        resolver: keepLocal,
        connectivity: alwaysOnline,
        ...overrides,
        store,
        clientId,
        transport: overrides.wrap ? overrides.wrap(base) : (overrides.transport ?? base),
      });
      managers.push(manager);
      return { manager, store };
    },
    async close(): Promise<void> {
      for (const manager of managers) await manager.close();
      await network.close();
      await log.close();
    },
  };
}
