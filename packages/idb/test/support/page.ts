// The code every test and benchmark page carries, on `window.eventsyncPage`: the packages, and a "tab"
// (store, sync manager, leader) whose transport reaches a server log kept by the Node test through
// the `eventsyncServer` binding (see `server-bridge.ts`).

import * as core from '@eventsync/core';
import {
  CursorVersion,
  SyncManager,
  type AppendResult,
  type Event,
  type EventPage,
  type Transport,
} from '@eventsync/core';
import * as idb from '../../src/index.js';
import { IndexedDbEventStore, TabLeader, createTabSync, type TabSync } from '../../src/index.js';
import { CURRENT_SCHEMA, type Migration } from '../../src/internal/schema.js';
import type { BridgeRequest, WireAppendResult, WirePage } from './server-bridge.js';

declare global {
  interface Window {
    eventsyncPage: typeof eventsyncPage;
    /** Exposed by the Node test: the server. */
    eventsyncServer?: (request: BridgeRequest) => Promise<unknown>;
  }
}

function call<T>(request: BridgeRequest): Promise<T> {
  if (!window.eventsyncServer) throw new Error('no server bridge in this page');
  return window.eventsyncServer(request) as Promise<T>;
}

/** A transport to the Node test's server log; no live stream (auto sync polls). */
class BridgeTransport implements Transport {
  async push(events: readonly Event[]): Promise<AppendResult[]> {
    const results = await call<WireAppendResult[]>({ op: 'push', events: [...events] });
    return results.map((result) => {
      if (result.status === 'accepted' || result.status === 'duplicate') {
        return { id: result.id, status: result.status, version: CursorVersion.of(result.version!) };
      }
      if (result.status === 'conflict') {
        return { id: result.id, status: 'conflict', latest: CursorVersion.of(result.latest!), reason: result.reason! };
      }
      return { id: result.id, status: 'rejected', code: result.code!, reason: result.reason! };
    });
  }

  async pull(since: CursorVersion, options: { limit?: number } = {}): Promise<EventPage> {
    const page = await call<WirePage>({ op: 'pull', since: since.value, limit: options.limit ?? 1000 });
    return {
      events: page.events.map(({ event, version }) => ({ event, version: CursorVersion.of(version) })),
      next: CursorVersion.of(page.next),
      hasMore: page.hasMore,
    };
  }

  async latestVersion(): Promise<CursorVersion> {
    return CursorVersion.of(await call<number>({ op: 'latest' }));
  }

  subscribe(_handler: unknown, options: { onStateChange?: (state: 'closed') => void } = {}) {
    options.onStateChange?.('closed');
    return { close() {} };
  }

  async close(): Promise<void> {}
}

/** One tab of the app: its store, sync manager and leader. */
interface Tab {
  store: IndexedDbEventStore;
  manager: SyncManager;
  leader: TabLeader;
  tabs: TabSync;
  /** Set when another tab's upgrade closed this tab's store. */
  versionChanged: boolean;
}

let tab: Tab | undefined;

/**
 * Opens this page's tab on database `name`; with `sync: false`, the tab never syncs (nor leads); with
 * `locks: false`, the leader is elected by the lease in IndexedDB, as where Web Locks are missing.
 */
async function openTab(
  name: string,
  options: { sync?: boolean; locks?: boolean } = {},
): Promise<{ clientId: string; mode: string }> {
  const state = { versionChanged: false };
  const store = await IndexedDbEventStore.open({
    name,
    onVersionChange: () => {
      state.versionChanged = true;
    },
  });
  const manager = new SyncManager({
    store,
    transport: new BridgeTransport(),
    clientId: store.clientId,
    autoSync: { live: false, pollIntervalMs: 200, debounceMs: 5 },
  });
  const leader = new TabLeader({ name, ...(options.locks === false ? { locks: null, leaseMs: 300 } : {}) });
  const tabs = options.sync === false ? { close: () => leader.close() } : createTabSync({ store, manager, leader });
  tab = Object.assign(state, { store, manager, leader, tabs });
  return { clientId: store.clientId, mode: leader.mode };
}

function current(): Tab {
  if (!tab) throw new Error('no tab opened in this page');
  return tab;
}

/** Appends `count` events, one `append` call each, all at once; returns their ids. */
async function appendMany(count: number, label: string): Promise<string[]> {
  const { manager } = current();
  const made = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      manager.append({ type: 'todo.added', aggregateId: `${label}-${i % 5}`, data: { label, i } }),
    ),
  );
  return made.flat().map((event) => event.id);
}

/** What this tab sees. */
async function status(): Promise<{ leader: boolean; pending: number; confirmed: number; cursor: string }> {
  const { store, leader } = current();
  return {
    leader: leader.isLeader,
    pending: await store.pendingCount(),
    confirmed: (await store.load(CursorVersion.ZERO)).length,
    cursor: (await store.cursor()).toString(),
  };
}

/** Opens database `name` with the next schema version, whose migration adds an object store. */
async function openNextSchema(
  name: string,
  blockedTimeoutMs = 5_000,
): Promise<{ pending: number; stores: string[] } | { blocked: boolean; error: { code: string; reason: unknown } }> {
  const addStore: Migration = (db) => {
    (db as unknown as IDBDatabase).createObjectStore('added-by-the-next-version');
  };
  let blocked = false;
  let store: IndexedDbEventStore;
  try {
    store = await IndexedDbEventStore.openWithSchema(
      {
        name,
        blockedTimeoutMs,
        onBlocked: () => {
          blocked = true;
        },
      },
      { version: CURRENT_SCHEMA.version + 1, migrations: [...CURRENT_SCHEMA.migrations, addStore] },
    );
  } catch (error) {
    const { code, details } = error as { code: string; details: { reason?: unknown } };
    return { blocked, error: { code, reason: details.reason } };
  }
  try {
    const names = await new Promise<string[]>((resolve, reject) => {
      const request = indexedDB.open(name);
      request.onsuccess = () => {
        resolve([...request.result.objectStoreNames]);
        request.result.close();
      };
      request.onerror = () => reject(request.error);
    });
    return { pending: await store.pendingCount(), stores: names };
  } finally {
    await store.close();
  }
}

/** Opens a plain connection to database `name` that ignores `versionchange`, as old code would. */
async function holdOpen(name: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const request = indexedDB.open(name);
    request.onsuccess = () => {
      (window as unknown as { held: IDBDatabase }).held = request.result;
      resolve();
    };
    request.onerror = () => reject(request.error);
  });
}

/** Closes the connection {@link holdOpen} opened. */
function letGo(): void {
  (window as unknown as { held?: IDBDatabase }).held?.close();
}

const eventsyncPage = { core, idb, openTab, appendMany, status, openNextSchema, holdOpen, letGo, current };

window.eventsyncPage = eventsyncPage;
