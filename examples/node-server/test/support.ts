import { MemoryEventStore, SyncManager, alwaysOnline, lastWriteWins, type ServerEventLog } from '@eventsync/core';
import { HttpTransport } from '@eventsync/http';
import { SqliteEventStore } from '@eventsync/sqlite';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, type App, type AppOptions } from '../src/app.js';
import { tokenIdentities, type TenantToken } from '../src/tenant-tokens.js';

/** Tokens of tenant acme (two devices) and tenant globex. */
export const ACME = 'acme-token-1';
export const ACME_2 = 'acme-token-2';
export const GLOBEX = 'globex-token-1';

const TOKENS: TenantToken[] = [
  { tenant: 'acme', variable: 'ACME_TOKEN', token: ACME, generated: false },
  { tenant: 'acme', variable: 'ACME_TOKEN_2', token: ACME_2, generated: false },
  { tenant: 'globex', variable: 'GLOBEX_TOKEN', token: GLOBEX, generated: false },
];

/** The app listening on 127.0.0.1, on a SQLite file of its own, and what a test needs to close. */
export interface Running {
  readonly app: App;
  readonly url: string;
  /** The base URL sync clients use: the URL and the sync path. */
  readonly syncUrl: string;
  readonly dbPath: string;
  /** Closes every client made with {@link Running.client}, then the app (and its store), then deletes the folder. */
  close(): Promise<void>;
  /** A sync client of one tenant: a `SyncManager` over `HttpTransport`, with an in-memory replica. */
  client(clientId: string, token: string): Client;
  /** `fetch` of a path of the app, with `token` as a bearer token when given. */
  call(path: string, token?: string, init?: RequestInit): Promise<Response>;
}

export interface Client {
  readonly manager: SyncManager;
  readonly local: MemoryEventStore;
  readonly transport: HttpTransport;
}

/**
 * Starts the app on port 0 of 127.0.0.1 over a SQLite file in a new temporary folder.
 *
 * @param store - makes the server log from the file's path (a wrapper, in tests that need one).
 */
export async function startApp(
  options: { store?: (path: string) => ServerEventLog } & Partial<Omit<AppOptions, 'store'>> = {},
): Promise<Running> {
  const folder = mkdtempSync(join(tmpdir(), 'eventsync-node-server-'));
  const dbPath = join(folder, 'events.db');
  const { store: makeStore = (path: string) => new SqliteEventStore({ path }), ...rest } = options;
  const app = createApp({
    tokens: tokenIdentities(TOKENS),
    shutdownTimeoutMs: 3_000,
    ...rest,
    store: makeStore(dbPath),
  });
  const url = await app.listen(0, '127.0.0.1');
  const closers: (() => Promise<void>)[] = [];
  let closed: Promise<void> | undefined;
  return {
    app,
    url,
    syncUrl: `${url}${app.syncPath}`,
    dbPath,
    close() {
      closed ??= (async () => {
        try {
          for (const close of closers.reverse()) await close();
          await app.close();
        } finally {
          rmSync(folder, { recursive: true, force: true });
        }
      })();
      return closed;
    },
    client(clientId, token) {
      const transport = new HttpTransport({
        baseUrl: `${url}${app.syncPath}`,
        token: () => token,
        timeoutMs: 5_000,
        stream: { initialDelayMs: 50, maxDelayMs: 200 },
      });
      const local = new MemoryEventStore();
      const manager = new SyncManager({
        store: local,
        transport,
        clientId,
        resolver: lastWriteWins(),
        connectivity: alwaysOnline,
      });
      closers.push(async () => {
        await manager.close();
        await transport.close();
        await local.close();
      });
      return { manager, local, transport };
    },
    call(path, token, init = {}) {
      const headers = new Headers(init.headers);
      if (token !== undefined) headers.set('Authorization', `Bearer ${token}`);
      return fetch(`${url}${path}`, { ...init, headers });
    },
  };
}

/** Settles `ms` milliseconds from now. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
