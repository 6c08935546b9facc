import {
  CursorVersion,
  MemoryEventStore,
  MemoryServerEventLog,
  SyncManager,
  type AppendResult,
  type LiveBatch,
  type SubscriptionState,
  type SyncError,
} from '@eventsync/core';
import { HttpTransport } from '@eventsync/http';
import { createSyncHandler, serve } from '@eventsync/server';
import { expectSyncError, TestEvents } from '@eventsync/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  attachWebSocketSync,
  SUBPROTOCOL,
  WebSocketTransport,
  type WebSocketSyncOptions,
  type WebSocketTransportOptions,
} from '../src/index.js';
import {
  FAST_RECONNECT,
  gate,
  OTHER_TOKEN,
  rawSocket,
  startServer,
  TOKEN,
  TOKENS,
  transportFor,
  until,
  type RawSocket,
  type TestServer,
} from './support.js';

let servers: TestServer[];
let transports: WebSocketTransport[];
let raws: RawSocket[];
let cleanups: (() => Promise<void>)[];
let alice: TestEvents;

beforeEach(() => {
  servers = [];
  transports = [];
  raws = [];
  cleanups = [];
  alice = new TestEvents({ clientId: 'alice' });
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  for (const transport of transports.splice(0)) await transport.close();
  for (const raw of raws.splice(0)) raw.socket.terminate();
  for (const server of servers.splice(0)) await server.close();
});

async function start(options: Partial<WebSocketSyncOptions<string>> = {}): Promise<TestServer> {
  const server = await startServer(options);
  servers.push(server);
  return server;
}

function connect(url: string, options: Partial<WebSocketTransportOptions> = {}): WebSocketTransport {
  const transport = transportFor(url, options);
  transports.push(transport);
  return transport;
}

async function raw(url: string, protocols?: string[]): Promise<RawSocket> {
  const socket = await rawSocket(url, protocols);
  raws.push(socket);
  return socket;
}

/** A raw socket past its hello. */
async function welcomed(url: string): Promise<RawSocket> {
  const socket = await raw(url);
  socket.send({ type: 'hello', token: TOKEN });
  await socket.next((message) => message.type === 'welcome');
  return socket;
}

const versions = (results: readonly AppendResult[]): string[] =>
  results.map((result) => ('version' in result ? result.version.toString() : result.status));

describe('authentication and tenants', () => {
  it('refuses an unknown token with unauthorized after asking the provider for a fresh one once', async () => {
    const { url, log } = await start();
    const asked: boolean[] = [];
    const transport = connect(url, {
      token: ({ refresh }) => {
        asked.push(refresh);
        return 'wrong';
      },
    });
    const error = await expectSyncError(() => transport.push(alice.many(1)), 'unauthorized');
    expect(error.retryable).toBe(false);
    expect(error.details.problem).toBe('unauthorized');
    expect(asked).toEqual([false, true]);
    await expectSyncError(() => connect(url, { token: undefined }).latestVersion(), 'unauthorized');
    expect(log.appends).toEqual([]);
  });

  it('uses the refreshed token when the server refused the first', async () => {
    const { url } = await start();
    const asked: boolean[] = [];
    const transport = connect(url, {
      token: ({ refresh }) => {
        asked.push(refresh);
        return refresh ? TOKEN : 'expired';
      },
    });
    expect((await transport.latestVersion()).isZero()).toBe(true);
    expect(asked).toEqual([false, true]);
  });

  it('closes a subscription the server refuses for good, saying why', async () => {
    const { url } = await start();
    const states: [SubscriptionState, SyncError | undefined][] = [];
    connect(url, { token: () => 'wrong' }).subscribe(() => undefined, {
      onStateChange: (state, error) => states.push([state, error]),
    });
    await until(() => states.at(-1)?.[0] === 'closed', "the 'closed' state");
    expect(states.map(([state]) => state)).toEqual(['connecting', 'closed']);
    expect(states.at(-1)?.[1]?.code).toBe('unauthorized');
  });

  it("keeps tenants apart: another tenant's pushes, pulls, versions and live batches are never seen", async () => {
    const { url } = await start();
    const acme = connect(url);
    const globex = connect(url, { token: () => OTHER_TOKEN });
    const seenByGlobex: LiveBatch[] = [];
    const states: SubscriptionState[] = [];
    globex.subscribe((batch) => void seenByGlobex.push(batch), {
      since: CursorVersion.ZERO,
      onStateChange: (state) => states.push(state),
    });
    await until(() => states.includes('live'), 'the globex subscription');
    expect(versions(await acme.push(alice.many(3)))).toEqual(['1', '2', '3']);
    const own = new TestEvents({ clientId: 'globex-client' }).make('g-1');
    expect(versions(await globex.push([own]))).toEqual(['1']);
    await until(() => seenByGlobex.length > 0, 'the globex batch');
    expect(seenByGlobex.flatMap((batch) => batch.events.map((item) => item.event.id))).toEqual([own.id]);
    expect((await globex.latestVersion()).toString()).toBe('1');
    expect((await globex.pull(CursorVersion.ZERO)).events.map((item) => item.event.id)).toEqual([own.id]);
    const intruder = alice.make('x', { metadata: { tenant: 'globex' } });
    expect(await acme.push([intruder])).toEqual([
      expect.objectContaining({ id: intruder.id, status: 'rejected', code: 'forbidden' }),
    ]);
  });

  it('answers rejected (forbidden) for the events authorize refuses, and stores the rest', async () => {
    const { url } = await start({
      authorize: (event) => (event.type === 'admin.reset' ? 'only administrators may reset' : true),
    });
    const results = await connect(url).push([alice.make('a'), alice.make('b', { type: 'admin.reset' })]);
    expect(results[0]).toMatchObject({ status: 'accepted' });
    expect(results[1]).toMatchObject({
      status: 'rejected',
      code: 'forbidden',
      reason: 'only administrators may reset',
    });
  });
});

describe('dropped sockets', () => {
  it('fails a push whose socket drops before the answer with network; pushing again stores nothing twice', async () => {
    const { url, log, sync } = await start();
    const transport = connect(url);
    const watcher = connect(url);
    const live: LiveBatch[] = [];
    const states: SubscriptionState[] = [];
    watcher.subscribe((batch) => void live.push(batch), {
      since: CursorVersion.ZERO,
      onStateChange: (state) => states.push(state),
    });
    await until(() => states.includes('live'), 'the watcher');
    const batch = alice.many(3);
    // The server stores the batch, then every socket drops before the answer goes out.
    log.afterAppend = () => {
      log.afterAppend = undefined;
      for (const socket of sync.wss.clients) socket.terminate();
    };
    const error = await expectSyncError(() => transport.push(batch), 'network');
    expect(error.retryable).toBe(true);
    expect((await log.latestVersion('acme')).toString()).toBe('3');

    const again = await transport.push(batch);
    expect(again.map((result) => result.status)).toEqual(['duplicate', 'duplicate', 'duplicate']);
    expect(versions(again)).toEqual(['1', '2', '3']);
    const page = await transport.pull(CursorVersion.ZERO);
    expect(page.events.map((item) => item.event.id)).toEqual(batch.map((event) => event.id));
    await until(() => live.flatMap((item) => item.events).length >= 3, 'the live events');
    expect(live.flatMap((item) => item.events.map((event) => event.version.toString()))).toEqual(['1', '2', '3']);
    expect(states).toEqual(['connecting', 'live', 'connecting', 'live']);
  });

  it('resubscribes from its cursor after the server drops the socket: none lost, none twice', async () => {
    const { url, log, sync } = await start();
    const received: LiveBatch[] = [];
    const states: SubscriptionState[] = [];
    connect(url).subscribe((batch) => void received.push(batch), {
      since: CursorVersion.ZERO,
      onStateChange: (state) => states.push(state),
    });
    await until(() => states.includes('live'), 'live');
    const sent = alice.many(6);
    await log.append('acme', sent.slice(0, 3));
    await until(() => received.flatMap((batch) => batch.events).length === 3, 'three events');
    for (const socket of sync.wss.clients) socket.terminate();
    await log.append('acme', sent.slice(3));
    await until(() => received.flatMap((batch) => batch.events).length >= 6, 'six events');
    const events = received.flatMap((batch) => batch.events);
    expect(events.map((item) => item.event.id)).toEqual(sent.map((event) => event.id));
    expect(events.map((item) => item.version.value)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(states).toEqual(['connecting', 'live', 'connecting', 'live']);
  });

  it('lets a SyncManager whose push answer was lost acknowledge its events on the next sync, once each', async () => {
    const { url, log, sync } = await start();
    const store = new MemoryEventStore();
    const manager = new SyncManager({ store, transport: connect(url), clientId: 'phone' });
    cleanups.push(() => manager.close());
    await manager.append([
      { type: 'todo.added', aggregateId: 'todo-1', data: { title: 'Milk' } },
      { type: 'todo.added', aggregateId: 'todo-2', data: { title: 'Bread' } },
    ]);
    log.afterAppend = () => {
      log.afterAppend = undefined;
      for (const socket of sync.wss.clients) socket.terminate();
    };
    await expectSyncError(() => manager.sync(), 'network');
    expect(manager.status.pending).toBe(2);
    const result = await manager.sync();
    expect(result.acknowledged).toBe(2);
    expect(manager.status.pending).toBe(0);
    expect((await log.read('acme')).events).toHaveLength(2);
    expect((await store.load(CursorVersion.ZERO)).map((item) => item.version.toString())).toEqual(['1', '2']);
  });
});

describe('limits', () => {
  it('closes a socket whose message is over maxBodyBytes (1009), and serves the next one', async () => {
    const { url } = await start({ limits: { maxBodyBytes: 4096 } });
    const socket = await welcomed(url);
    socket.send({ type: 'version', id: 1, padding: 'x'.repeat(5000) });
    expect((await socket.closed).code).toBe(1009);
    expect((await connect(url).latestVersion()).isZero()).toBe(true);
  });

  it('splits a push over maxEventsPerPush or maxBodyBytes into messages that fit, in order', async () => {
    const { url, log } = await start({ limits: { maxEventsPerPush: 3, maxBodyBytes: 2500 } });
    const batch = Array.from({ length: 10 }, (_, i) => alice.make(`agg-${i % 4}`, { data: { note: 'n'.repeat(600) } }));
    const results = await connect(url).push(batch);
    expect(versions(results)).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']);
    expect(log.appends.reduce((sum, size) => sum + size, 0)).toBe(10);
    expect(log.appends.length).toBeGreaterThan(3);
    expect(Math.max(...log.appends)).toBeLessThanOrEqual(3);
  });

  it('holds back the later events of an aggregate that met a conflict in an earlier message', async () => {
    const { url } = await start({ limits: { maxEventsPerPush: 1 } });
    await connect(url, { token: () => TOKEN }).push([new TestEvents({ clientId: 'bob' }).make('todo-1')]);
    const stale = alice.make('todo-1', { metadata: { baseVersion: '0' } });
    // Sent alone, this one would be accepted, landing after an event of its client that is not stored.
    const later = alice.make('todo-1', { metadata: { baseVersion: '1' } });
    const other = alice.make('todo-2');
    const results = await connect(url).push([stale, later, other]);
    expect(results.map((result) => result.status)).toEqual(['conflict', 'conflict', 'accepted']);
    expect(results[1]).toMatchObject({ id: later.id, latest: CursorVersion.of(1) });
  });

  it('refuses a push with an event over maxEventBytes, naming it, and goes on on the same socket', async () => {
    const { url, log, sync } = await start({ limits: { maxEventBytes: 1024 } });
    const transport = connect(url);
    const big = alice.make('big', { data: { text: 'x'.repeat(2000) } });
    const error = await expectSyncError(() => transport.push([alice.make('small'), big]), 'limit_exceeded');
    expect(error.details).toMatchObject({
      limit: 'maxEventBytes',
      max: 1024,
      eventId: big.id,
      problem: 'limit_exceeded',
    });
    expect(log.appends).toEqual([]);
    expect(versions(await transport.push([alice.make('small')]))).toEqual(['1']);
    expect(sync.connections).toBe(1);
  });

  it('refuses, without sending it, an event that fits in no message', async () => {
    const { url, log } = await start({ limits: { maxBodyBytes: 2048 } });
    const big = alice.make('big', { data: { text: 'x'.repeat(3000) } });
    const error = await expectSyncError(() => connect(url).push([big]), 'limit_exceeded');
    expect(error.details).toMatchObject({ limit: 'maxBodyBytes', max: 2048, eventId: big.id });
    expect(log.appends).toEqual([]);
  });

  it('refuses a pull limit above maxPullLimit, naming it', async () => {
    const { url } = await start({ limits: { maxPullLimit: 10 } });
    const error = await expectSyncError(() => connect(url).pull(CursorVersion.ZERO, { limit: 11 }), 'limit_exceeded');
    expect(error.details).toMatchObject({ limit: 'maxPullLimit', max: 10 });
  });

  it('refuses a cursor past the log as invalid_input (invalid_cursor), for a pull and a subscription', async () => {
    const { url } = await start();
    const transport = connect(url);
    const error = await expectSyncError(() => transport.pull(CursorVersion.of(5)), 'invalid_input');
    expect(error.details.problem).toBe('invalid_cursor');
    const states: [SubscriptionState, SyncError | undefined][] = [];
    transport.subscribe(() => undefined, {
      since: CursorVersion.of(5),
      onStateChange: (state, cause) => states.push([state, cause]),
    });
    await until(() => states.at(-1)?.[0] === 'closed', "the 'closed' state");
    expect(states.at(-1)?.[1]?.details.problem).toBe('invalid_cursor');
  });
});

describe('close, abort and timeouts', () => {
  it('fails the calls in flight with closed when the transport closes', async () => {
    const { url, log } = await start();
    const held = gate();
    const entered = gate();
    log.beforeAppend = () => {
      entered.open();
      return held.opened;
    };
    const transport = connect(url);
    const pushing = transport.push(alice.many(1));
    await entered.opened;
    await transport.close();
    await expectSyncError(() => pushing, 'closed');
    held.open();
  });

  it("rejects an aborted call with the signal's reason and ignores its late answer", async () => {
    const { url, log } = await start();
    const held = gate();
    const entered = gate();
    log.beforeAppend = () => {
      entered.open();
      return held.opened;
    };
    const transport = connect(url);
    const controller = new AbortController();
    const reason = new Error('the user left');
    const pushing = transport.push(alice.many(1), { signal: controller.signal });
    await entered.opened;
    controller.abort(reason);
    await expect(pushing).rejects.toBe(reason);
    log.beforeAppend = undefined;
    held.open();
    // The server still stored it (an abort cannot take a request back), and the socket goes on.
    expect((await transport.latestVersion()).toString()).toBe('1');
  });

  it('times out a call without an answer, drops the socket, and opens a new one for the next call', async () => {
    const { url, log, sync } = await start();
    const held = gate();
    log.beforeAppend = () => held.opened;
    const transport = connect(url, { timeoutMs: 200 });
    const error = await expectSyncError(() => transport.push(alice.many(1)), 'timeout');
    expect(error.retryable).toBe(true);
    log.beforeAppend = undefined;
    held.open();
    await until(() => sync.connections === 0, 'the dropped socket to close on the server');
    expect((await transport.latestVersion()).toString()).toBe('1');
    expect(sync.connections).toBe(1);
  });

  it('shuts the server down: sockets close with 1001, subscriptions reconnect, new sockets are refused', async () => {
    const server = await start();
    const states: SubscriptionState[] = [];
    const transport = connect(server.url);
    transport.subscribe(() => undefined, { onStateChange: (state) => states.push(state) });
    await until(() => states.includes('live'), 'live');
    const socket = await welcomed(server.url);
    await server.sync.close({ timeoutMs: 500 });
    expect((await socket.closed).code).toBe(1001);
    await until(() => states.at(-1) === 'connecting', "the 'connecting' state");
    const error = await expectSyncError(() => transport.latestVersion(), 'network');
    expect(error.retryable).toBe(true);
  });
});

describe('liveness and backpressure', () => {
  it('keeps a quiet subscription alive with heartbeats, and takes a silent socket for dead', async () => {
    const chatty = await start({ heartbeatMs: 10 });
    const quiet = await start({ heartbeatMs: 60_000 });
    const follow = (url: string) => {
      const states: [SubscriptionState, string | undefined][] = [];
      connect(url, { idleTimeoutMs: 150 }).subscribe(() => undefined, {
        onStateChange: (state, error) => states.push([state, error?.code]),
      });
      return states;
    };
    const kept = follow(chatty.url);
    const dropped = follow(quiet.url);
    await until(() => dropped.filter(([state]) => state === 'live').length >= 2, 'a second live state');
    expect(dropped.slice(0, 3)).toEqual([
      ['connecting', undefined],
      ['live', undefined],
      ['connecting', 'timeout'],
    ]);
    expect(kept).toEqual([
      ['connecting', undefined],
      ['live', undefined],
    ]);
  });

  it('drops a socket that does not answer pings', async () => {
    const { url, sync } = await start({ heartbeatMs: 10 });
    const { WebSocket } = await import('ws');
    const mute = new WebSocket(url, [SUBPROTOCOL], { autoPong: false });
    const closed = new Promise<number>((resolve) => mute.on('close', (code) => resolve(code)));
    mute.on('open', () => mute.send(JSON.stringify({ type: 'hello', token: TOKEN })));
    expect(await closed).toBe(1006);
    await until(() => sync.connections === 0, 'the server to forget the socket');
  });

  it("handles one socket's requests in order, and stops reading it while too many wait", async () => {
    const { url, log, sync } = await start({ maxQueuedRequests: 2 });
    const held = gate();
    log.beforeAppend = () => held.opened;
    const socket = await welcomed(url);
    const batches = Array.from({ length: 5 }, () => [alice.make('todo-1')]);
    batches.forEach((events, i) => socket.send({ type: 'push', id: i + 1, body: { events } }));
    const [serverSide] = [...sync.wss.clients];
    await until(() => serverSide?.isPaused === true, 'the server to stop reading the socket');
    held.open();
    const answers = await Promise.all(batches.map((_, i) => socket.next((message) => message.id === i + 1)));
    expect(answers.map((answer) => (answer.body as { results: { version: string }[] }).results[0]?.version)).toEqual([
      '1',
      '2',
      '3',
      '4',
      '5',
    ]);
    expect(serverSide?.isPaused).toBe(false);
  });
});

describe('the protocol on the wire', () => {
  it('closes a socket that does not offer the eventsync.v1 subprotocol (1002)', async () => {
    const { url } = await start();
    const socket = await raw(url, []);
    expect((await socket.closed).code).toBe(1002);
  });

  it('refuses a first message that is not a hello (unauthorized, then 1008)', async () => {
    const { url } = await start();
    const socket = await raw(url);
    socket.send({ type: 'version', id: 1 });
    expect(await socket.next()).toMatchObject({ type: 'error', problem: { code: 'unauthorized', status: 401 } });
    expect((await socket.closed).code).toBe(1008);
  });

  it('closes a socket that sends no hello in time', async () => {
    const { url } = await start({ helloTimeoutMs: 20 });
    const socket = await raw(url);
    expect((await socket.closed).code).toBe(1008);
    expect(socket.messages).toEqual([expect.objectContaining({ type: 'error' })]);
  });

  it('answers bad requests by their id with invalid_request, and keeps the socket', async () => {
    const { url } = await start();
    const socket = await welcomed(url);
    socket.send({ type: 'rewind', id: 1 });
    socket.send({ type: 'version', id: 2, tenant: 'globex' });
    socket.send({ type: 'push', id: 3, body: { events: [], extra: true } });
    socket.send({ type: 'pull', id: 4, query: 'since=01' });
    socket.send({ type: 'version', id: 5 });
    const answer = (id: number) => socket.next((message) => message.id === id);
    for (const id of [1, 2, 3]) {
      expect(await answer(id)).toMatchObject({ type: 'error', problem: { code: 'invalid_request', status: 400 } });
    }
    expect(await answer(4)).toMatchObject({ type: 'error', problem: { code: 'invalid_cursor' } });
    expect(await answer(5)).toEqual({ type: 'result', id: 5, body: { latest: '0' } });
  });

  it('closes a socket that sends a request without an id (1002)', async () => {
    const { url } = await start();
    const socket = await welcomed(url);
    socket.send({ type: 'version' });
    expect((await socket.closed).code).toBe(1002);
  });

  it('fails with protocol against a server that answers the hello with something else than a welcome', async () => {
    const { WebSocketServer } = await import('ws');
    for (const reply of [JSON.stringify({ type: 'welcome', protocol: 2, limits: {} }), 'not JSON', '[]']) {
      const foreign = new WebSocketServer({ port: 0, host: '127.0.0.1' });
      cleanups.push(() => new Promise<void>((resolve) => foreign.close(() => resolve())));
      foreign.on('connection', (socket) => socket.on('message', () => socket.send(reply)));
      await new Promise((resolve) => foreign.once('listening', resolve));
      const { port } = foreign.address() as { port: number };
      await expectSyncError(() => connect(`ws://127.0.0.1:${port}`).latestVersion(), 'protocol');
      for (const socket of foreign.clients) socket.terminate();
    }
  });

  it('refuses impossible options', async () => {
    for (const options of [
      { url: '' },
      { url: 'ftp://example.com' },
      { url: 'not a url' },
      { url: 'ws://127.0.0.1:1', timeoutMs: 0 },
      { url: 'ws://127.0.0.1:1', reconnect: { initialDelayMs: 10, maxDelayMs: 5 } },
    ]) {
      await expectSyncError(() => transportFor(options.url, options), 'invalid_input');
    }
    // Node 20 has no global WebSocket: the transport says to pass one.
    if (!('WebSocket' in globalThis)) {
      await expectSyncError(() => new WebSocketTransport({ url: 'ws://127.0.0.1:1' }), 'invalid_input');
    }
    const store = new MemoryServerEventLog();
    const { createServer } = await import('node:http');
    const http = createServer();
    await expectSyncError(
      () => attachWebSocketSync(http, { store, tokens: TOKENS, authenticate: () => null }),
      'invalid_input',
    );
    await expectSyncError(() => attachWebSocketSync(http, { store, path: 'socket' }), 'invalid_input');
    await expectSyncError(() => attachWebSocketSync(http, { store, limits: { maxBodyBytes: 0 } }), 'invalid_input');
    expect(http.listenerCount('upgrade')).toBe(0);
    await store.close();
  });
});

describe('with SyncManagers and beside HTTP', () => {
  it('brings two SyncManagers syncing on their own to the same log', async () => {
    const { url, log } = await start();
    const devices = ['phone', 'laptop'].map((clientId) => {
      const store = new MemoryEventStore();
      const manager = new SyncManager({
        store,
        transport: connect(url),
        clientId,
        autoSync: { debounceMs: 5 },
        retry: { initialDelayMs: 10, maxDelayMs: 100 },
      });
      cleanups.push(() => manager.close());
      return { store, manager };
    });
    const [phone, laptop] = devices as [(typeof devices)[number], (typeof devices)[number]];
    for (const { manager } of devices) manager.start();
    await until(() => devices.every(({ manager }) => manager.status.live === 'live'), 'both live');
    await phone.manager.append({ type: 'todo.added', aggregateId: 'todo-1', data: { title: 'Milk' } });
    await until(async () => (await laptop.store.load(CursorVersion.ZERO)).length === 1, 'the laptop to see todo-1');
    await Promise.all([
      phone.manager.append({ type: 'todo.renamed', aggregateId: 'todo-1', data: { title: 'Oat milk' } }),
      laptop.manager.append({ type: 'todo.renamed', aggregateId: 'todo-1', data: { title: 'Soy milk' } }),
      laptop.manager.append({ type: 'todo.added', aggregateId: 'todo-2', data: { title: 'Bread' } }),
    ]);
    const logOf = async (store: MemoryEventStore) =>
      (await store.load(CursorVersion.ZERO)).map((item) => `${item.version.toString()}:${item.event.id}`);
    // Whichever rename wins, the server ends up with todo-1, todo-2, the winning rename and perhaps the other.
    await until(async () => {
      const latest = (await log.latestVersion('acme')).value;
      const [a, b] = await Promise.all([logOf(phone.store), logOf(laptop.store)]);
      const settled = devices.every(({ manager }) => manager.status.pending === 0);
      return settled && latest >= 3 && a.length === latest && a.join() === b.join();
    }, 'both devices to hold the whole log');
    const stored = (await log.read('acme')).events.map((item) => item.event.id);
    expect(new Set(stored).size).toBe(stored.length);
    const title = async (store: MemoryEventStore) =>
      (await store.loadByAggregate('todo-1', CursorVersion.ZERO)).map((item) => item.event.data).at(-1);
    expect(await title(phone.store)).toEqual(await title(laptop.store));
  });

  it('serves a WebSocketServer of your own, announcing the smaller of its maxPayload and maxBodyBytes', async () => {
    const { WebSocketServer } = await import('ws');
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', maxPayload: 3000 });
    await new Promise((resolve) => wss.once('listening', resolve));
    const store = new MemoryServerEventLog();
    const sync = attachWebSocketSync<string>(wss, { store, tokens: TOKENS, limits: { maxBodyBytes: 8000 } });
    cleanups.push(async () => {
      await sync.close({ timeoutMs: 200 });
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await store.close();
    });
    expect(sync.limits.maxBodyBytes).toBe(3000);
    const { port } = wss.address() as { port: number };
    const transport = connect(`ws://127.0.0.1:${port}`);
    const batch = Array.from({ length: 4 }, () => alice.make('a', { data: { note: 'n'.repeat(1000) } }));
    expect(versions(await transport.push(batch))).toEqual(['1', '2', '3', '4']);
  });

  it('shares the HTTP handler broker: a push over HTTP reaches a WebSocket subscription, and back', async () => {
    const store = new MemoryServerEventLog();
    const handler = createSyncHandler<string>({ store, tokens: TOKENS });
    const running = await serve(handler, { port: 0, host: '127.0.0.1', shutdownTimeoutMs: 200 });
    const sync = attachWebSocketSync<string>(running.server, { store, tokens: TOKENS, broker: handler.broker });
    cleanups.push(async () => {
      await sync.close({ timeoutMs: 200 });
      await running.close();
      await store.close();
    });
    const http = new HttpTransport({ baseUrl: running.url, token: () => TOKEN, stream: FAST_RECONNECT });
    cleanups.push(() => http.close());
    const socket = connect(running.url.replace('http:', 'ws:') + '/v1/socket');
    const received: string[] = [];
    const states: SubscriptionState[] = [];
    socket.subscribe((batch) => void received.push(...batch.events.map((item) => item.event.id)), {
      onStateChange: (state) => states.push(state),
    });
    await until(() => states.includes('live'), 'live');
    const overHttp = alice.make('a');
    await http.push([overHttp]);
    await until(() => received.length === 1, 'the live event');
    expect(received).toEqual([overHttp.id]);
    const overSocket = alice.make('b');
    expect(versions(await socket.push([overSocket]))).toEqual(['2']);
    expect((await http.pull(CursorVersion.ZERO)).events.map((item) => item.event.id)).toEqual([
      overHttp.id,
      overSocket.id,
    ]);
  });
});
