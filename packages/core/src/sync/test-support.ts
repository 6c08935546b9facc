import { MemoryNetwork } from '@eventsync/testkit';
import type { ConflictResolver } from '../conflict/conflict.js';
import type { Event } from '../event/event.js';
import { SyncError } from '../errors/sync-error.js';
import type { AppendResult } from '../server/server-event-log.js';
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

/** A transport that delegates to `transport`, with `push` and/or `pull` replaced. */
export function intercept(transport: Transport, overrides: Partial<Pick<Transport, 'push' | 'pull'>>): Transport {
  return {
    push: overrides.push ?? ((events, options) => transport.push(events, options)),
    pull: overrides.pull ?? ((since, options) => transport.pull(since, options)),
    latestVersion: (options) => transport.latestVersion(options),
    subscribe: (handler, options) => transport.subscribe(handler, options),
    close: () => transport.close(),
  };
}

/** Runs `before` (which may throw) ahead of every push. */
export function spyPush(transport: Transport, before: (events: readonly Event[]) => unknown): Transport {
  return intercept(transport, {
    push: async (events, options) => {
      await before(events);
      return transport.push(events, options);
    },
  });
}

/** Runs `before` (which may throw or wait) ahead of every pull. */
export function spyPull(transport: Transport, before: () => unknown): Transport {
  return intercept(transport, {
    pull: async (since, options) => {
      await before();
      return transport.pull(since, options);
    },
  });
}

/** Pushes reach the server, but their answers are lost while `lose()` says so. */
export function losingPushAnswers(transport: Transport, lose: () => boolean): Transport {
  return intercept(transport, {
    push: async (events, options) => {
      const results = await transport.push(events, options);
      if (lose()) throw new SyncError('network', 'the answer was lost');
      return results;
    },
  });
}

/** The server refuses (`forbidden`, `reason`) every event of `type` and takes the others. */
export function rejecting(transport: Transport, type: string, reason = 'not allowed in tests'): Transport {
  return intercept(transport, {
    push: async (events, options): Promise<AppendResult[]> => {
      const allowed = events.filter((event) => event.type !== type);
      const results = allowed.length > 0 ? await transport.push(allowed, options) : [];
      const byId = new Map(results.map((result) => [result.id, result]));
      return events.map(
        (event) => byId.get(event.id) ?? { id: event.id, status: 'rejected', code: 'forbidden', reason },
      );
    },
  });
}
