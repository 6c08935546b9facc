/**
 * Two devices sync through a WebSocket server: `attachWebSocketSync` serves a SQLite log on
 * 127.0.0.1, and each device's `SyncManager` talks to it through a `WebSocketTransport`. The laptop
 * follows the log live; both edit the same todo while apart; the server drops every socket and the
 * devices carry on. Prints what happens, then shuts everything down.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CursorVersion, MemoryEventStore, SyncManager } from '@eventsync/core';
import { SqliteEventStore } from '@eventsync/sqlite';
import { WebSocket } from 'ws';
import { attachWebSocketSync, DEFAULT_SOCKET_PATH, WebSocketTransport } from './index.js';

const TOKENS = {
  'phone-secret': { principal: 'phone', tenant: 'demo' },
  'laptop-secret': { principal: 'laptop', tenant: 'demo' },
};

interface Device {
  readonly name: string;
  readonly store: MemoryEventStore;
  readonly transport: WebSocketTransport;
  readonly manager: SyncManager;
}

function device(name: string, url: string, token: string): Device {
  const store = new MemoryEventStore();
  const transport = new WebSocketTransport({
    url,
    token: () => token,
    WebSocket,
    timeoutMs: 5000,
    reconnect: { initialDelayMs: 100, maxDelayMs: 2000 },
  });
  // Retries after a failure start at 100 ms (1 s by default), so the demo does not wait long.
  const manager = new SyncManager({ store, transport, clientId: name, retry: { initialDelayMs: 100 } });
  manager.on('conflict.resolved', ({ record }) => {
    const { decision, reasons } = record.resolution ?? { decision: '?', reasons: [] };
    console.log(`  ${name} resolved a conflict on ${record.conflict.aggregateId}: ${decision} (${reasons.join('; ')})`);
  });
  manager.on('connection.changed', ({ live }) => console.log(`  ${name}'s live subscription is ${live}`));
  manager.on('sync.failed', ({ error }) => {
    console.log(`  ${name}'s sync failed (${error.code}${error.retryable ? ', retryable: it will try again' : ''})`);
  });
  return { name, store, transport, manager };
}

/** The todo titles a device shows: its confirmed log in server order, then its pending events. */
async function titles(device: Device): Promise<string> {
  const confirmed = (await device.store.load(CursorVersion.ZERO)).map((item) => item.event);
  const pending = (await device.store.pending()).map((entry) => entry.event);
  const todos = new Map<string, string>();
  for (const event of [...confirmed, ...pending]) {
    const { title } = event.data as { title?: string };
    if (title !== undefined) todos.set(event.aggregateId, title);
  }
  return [...todos.values()].map((title) => JSON.stringify(title)).join(', ') || '(empty)';
}

async function confirmedIds(device: Device): Promise<string[]> {
  return (await device.store.load(CursorVersion.ZERO)).map((item) => item.event.id);
}

/** Waits until `condition` holds, checking every 10 ms, for at most 5 s. */
async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

async function main(): Promise<void> {
  const folder = mkdtempSync(join(tmpdir(), 'eventsync-websocket-'));
  const log = new SqliteEventStore({ path: join(folder, 'eventsync.db') });
  // Plain HTTP requests are told where the socket is; upgrades on /v1/socket are the sync server's.
  const server = createServer((_request, response) => {
    response.writeHead(426, { Upgrade: 'websocket', 'Content-Type': 'text/plain' });
    response.end(`Connect a WebSocket (subprotocol eventsync.v1) to ${DEFAULT_SOCKET_PATH}\n`);
  });
  const sync = attachWebSocketSync(server, { store: log, tokens: TOKENS });
  const url = `ws://127.0.0.1:${await listen(server)}${DEFAULT_SOCKET_PATH}`;
  console.log(`Sync server on ${url}, its log in ${folder}\n`);

  const phone = device('phone', url, 'phone-secret');
  const laptop = device('laptop', url, 'laptop-secret');
  try {
    console.log('1. The laptop follows the log live; the phone adds two todos and syncs:');
    laptop.manager.start();
    await until(async () => laptop.manager.status.live === 'live', "the laptop's live subscription");
    await phone.manager.append([
      { type: 'todo.added', aggregateId: 'todo-1', data: { title: 'Buy milk' } },
      { type: 'todo.added', aggregateId: 'todo-2', data: { title: 'Call the bank' } },
    ]);
    const first = await phone.manager.sync();
    console.log(`  phone pushed ${first.pushed} events, ${first.acknowledged} acknowledged`);
    await until(async () => (await confirmedIds(laptop)).length === 2, 'the laptop to receive both todos');
    console.log(`  laptop got them live: ${await titles(laptop)}`);

    console.log('\n2. Both rename todo-1 while apart; the laptop syncs first, then the phone:');
    laptop.manager.stop();
    await laptop.manager.append({ type: 'todo.renamed', aggregateId: 'todo-1', data: { title: 'Buy milk and bread' } });
    await phone.manager.append({ type: 'todo.renamed', aggregateId: 'todo-1', data: { title: 'Buy oat milk' } });
    await laptop.manager.sync();
    const second = await phone.manager.sync();
    console.log(`  phone: ${second.conflicts} conflict(s), ${second.resolved} resolved, in ${second.rounds} round(s)`);
    await laptop.manager.sync();

    console.log('\n3. Both sync on their own; the server drops every socket, and the phone adds a todo:');
    laptop.manager.start();
    phone.manager.start();
    await until(async () => laptop.manager.status.live === 'live', "the laptop's live subscription");
    await until(async () => phone.manager.status.live === 'live', "the phone's live subscription");
    for (const socket of sync.wss.clients) socket.terminate();
    await phone.manager.append({ type: 'todo.added', aggregateId: 'todo-3', data: { title: 'Water the plants' } });
    await until(async () => (await titles(laptop)).includes('Water the plants'), 'the laptop to receive todo-3');
    await until(async () => (await phone.store.pending()).length === 0, 'the phone to see todo-3 acknowledged');
    console.log('  the laptop got todo-3 over its new socket');

    const [phoneLog, laptopLog] = await Promise.all([confirmedIds(phone), confirmedIds(laptop)]);
    const latest = await log.latestVersion('demo');
    console.log(`\nphone  shows: ${await titles(phone)}`);
    console.log(`laptop shows: ${await titles(laptop)}`);
    console.log(
      `Both hold the server's ${latest.toString()} events in the same order: ${String(
        phoneLog.length === latest.value && phoneLog.join() === laptopLog.join(),
      )}`,
    );
    const { published, publishedEvents } = sync.broker.stats;
    console.log(`The server's broker sent ${publishedEvents} events in ${published} live batches.`);
  } finally {
    await Promise.all([phone.manager.close(), laptop.manager.close()]);
    await Promise.all([phone.transport.close(), laptop.transport.close()]);
    await sync.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await log.close();
    rmSync(folder, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
