import { CursorVersion, MemoryServerEventLog, SyncError } from '@eventsync/core';
import { describe, expect, it } from 'vitest';
import { SseBroker } from './index.js';
import { ALICE, BOB, batchOf, events, SseReader, testServer, waitUntil, type TestServer } from '../test/support.js';

async function openStream(
  server: TestServer,
  query = '',
  headers: Record<string, string> = {},
  token = ALICE,
): Promise<SseReader> {
  const response = await server.request(`/v1/stream${query}`, { token, headers });
  expect(response.status).toBe(200);
  expect(response.headers.get('Content-Type')).toBe('text/event-stream; charset=utf-8');
  expect(response.headers.get('Cache-Control')).toBe('no-cache, no-transform');
  return new SseReader(response.body!);
}

function versionsOf(batch: ReturnType<typeof batchOf>): string[] {
  return batch.events.map((item) => item.version);
}

describe('/v1/stream', () => {
  it('opens with retry and a message naming where it starts: the latest version by default', async () => {
    const server = testServer({ sse: { retryMs: 1234 } });
    await server.push(events().many(2));
    const stream = await openStream(server);
    const opening = await stream.next();
    expect(opening).toMatchObject({ retry: '1234', id: '2', event: 'events' });
    expect(batchOf(opening)).toEqual({ events: [], cursor: '2' });
    await stream.cancel();
  });

  it('resumes after ?since and after Last-Event-ID, which wins', async () => {
    const server = testServer();
    const batch = events().many(4);
    await server.push(batch);
    const fromSince = await openStream(server, '?since=1');
    expect((await fromSince.next())?.id).toBe('1');
    const resumed = batchOf(await fromSince.nextMessage());
    expect(versionsOf(resumed)).toEqual(['2', '3', '4']);
    expect(resumed.events.map((item) => item.event.id)).toEqual(batch.slice(1).map((event) => event.id));
    expect(resumed.cursor).toBe('4');
    await fromSince.cancel();

    const fromHeader = await openStream(server, '?since=1', { 'Last-Event-ID': '3' });
    expect((await fromHeader.next())?.id).toBe('3');
    const message = await fromHeader.nextMessage();
    expect(message?.id).toBe('4');
    expect(versionsOf(batchOf(message))).toEqual(['4']);
    await fromHeader.cancel();
  });

  it('delivers a push to a subscriber promptly, in order, none twice', async () => {
    const server = testServer();
    const stream = await openStream(server);
    expect((await stream.next())?.id).toBe('0');
    const alice = events();
    await server.push([alice.make('todo-1'), alice.make('todo-2')]);
    await server.push([alice.make('todo-3')]);
    const seen: string[] = [];
    while (seen.length < 3) seen.push(...versionsOf(batchOf(await stream.nextMessage(5000))));
    expect(seen).toEqual(['1', '2', '3']);
    await stream.cancel();
  });

  it('carries only the subscriber’s tenant', async () => {
    const server = testServer();
    const bobStream = await openStream(server, '', {}, BOB);
    await bobStream.next();
    await server.push(events('alice').many(3), ALICE);
    const bobs = events('bob').many(1);
    await server.push(bobs, BOB);
    const message = batchOf(await bobStream.nextMessage());
    expect(message.events.map((item) => item.event.id)).toEqual([bobs[0]!.id]);
    expect(message.cursor).toBe('1');
    await bobStream.cancel();
  });

  it('sends heartbeats on a quiet stream', async () => {
    const server = testServer({ sse: { heartbeatMs: 20 } });
    const stream = await openStream(server);
    await stream.next();
    expect(await stream.next()).toEqual({ comment: 'heartbeat' });
    await stream.cancel();
  });

  it('splits history into messages of at most batchSize events', async () => {
    const server = testServer({ sse: { batchSize: 2 } });
    await server.push(events().many(5));
    const stream = await openStream(server, '?since=0');
    await stream.next();
    const batches: string[][] = [];
    for (let i = 0; i < 3; i++) batches.push(versionsOf(batchOf(await stream.nextMessage())));
    expect(batches).toEqual([['1', '2'], ['3', '4'], ['5']]);
    await stream.cancel();
  });

  it('reads a long history at the reader’s pace without cutting it off', async () => {
    const server = testServer({ sse: { batchSize: 1, maxQueuedBatches: 2 } });
    await server.push(events().many(60));
    const stream = await openStream(server, '?since=0');
    await stream.next();
    const seen: string[] = [];
    while (seen.length < 60) {
      seen.push(...versionsOf(batchOf(await stream.nextMessage())));
      if (seen.length % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(seen).toEqual(Array.from({ length: 60 }, (_, i) => String(i + 1)));
    expect(server.handler.broker.stats.disconnected).toBe(0);
    await stream.cancel();
  });

  it('cuts off a subscriber that falls behind, counts it, and loses nothing on resume', async () => {
    const server = testServer({ sse: { maxQueuedBatches: 3 } });
    const response = await server.request('/v1/stream', { token: ALICE });
    await waitUntil(() => server.handler.broker.stats.subscribers === 1);
    const alice = events();
    const pushed = [];
    for (let i = 0; i < 8; i++) {
      const event = alice.make(`todo-${i}`);
      pushed.push(event);
      await server.push([event]);
    }
    await waitUntil(() => server.handler.broker.stats.disconnected === 1, 5000, 'the cut-off');
    expect(server.handler.broker.stats).toMatchObject({ subscribers: 0, disconnected: 1 });
    expect(server.handler.broker.stats.published).toBeGreaterThanOrEqual(3);
    // The slow reader finds its stream ended, and resumes from the last id it processed (none: 0).
    const slow = new SseReader(response.body!);
    expect(await slow.next()).toBeUndefined();

    const resumed = await openStream(server, '', { 'Last-Event-ID': '0' });
    await resumed.next();
    const seen: string[] = [];
    while (seen.length < 8) seen.push(...batchOf(await resumed.nextMessage()).events.map((item) => item.event.id));
    expect(seen).toEqual(pushed.map((event) => event.id));
    await resumed.cancel();
  });

  it('forgets a subscriber when its reader cancels or its request is aborted', async () => {
    const server = testServer();
    const stream = await openStream(server);
    await stream.next();
    expect(server.handler.broker.stats.subscribers).toBe(1);
    await stream.cancel();
    expect(server.handler.broker.stats.subscribers).toBe(0);

    const controller = new AbortController();
    const response = await server.handler.fetch(
      new Request('http://localhost/v1/stream', {
        headers: { Authorization: `Bearer ${ALICE}` },
        signal: controller.signal,
      }),
    );
    expect(response.status).toBe(200);
    expect(server.handler.broker.stats.subscribers).toBe(1);
    controller.abort();
    expect(server.handler.broker.stats.subscribers).toBe(0);
  });

  it('opens no subscriber for a HEAD request', async () => {
    const server = testServer();
    const response = await server.request('/v1/stream', { method: 'HEAD', token: ALICE });
    expect(response.status).toBe(200);
    expect(response.headers.get('Content-Type')).toBe('text/event-stream; charset=utf-8');
    expect(server.handler.broker.stats.subscribers).toBe(0);
  });

  it('ends every stream on close and refuses new ones', async () => {
    const server = testServer();
    const streams = [await openStream(server), await openStream(server, '', {}, BOB)];
    for (const stream of streams) await stream.next();
    await server.handler.close();
    for (const stream of streams) expect(await stream.next()).toBeUndefined();
    expect(server.handler.broker.stats.subscribers).toBe(0);
    expect((await server.request('/v1/stream', { token: ALICE })).status).toBe(503);
  });
});

describe('SseBroker', () => {
  it('ends a stream whose log read fails and reports the error', async () => {
    const store = new MemoryServerEventLog();
    const errors: unknown[] = [];
    const broker = new SseBroker(store, {}, (error) => errors.push(error));
    const body = await broker.open('acme', CursorVersion.ZERO);
    const reader = new SseReader(body);
    expect((await reader.next())?.id).toBe('0');
    store.read = () => Promise.reject(new SyncError('storage', 'disk gone'));
    await store.append('acme', events().many(1));
    expect(await reader.next()).toBeUndefined();
    expect(errors).toHaveLength(1);
    expect(broker.stats.subscribers).toBe(0);
    await broker.close();
  });

  it('does not notice other tenants’ appends', async () => {
    const store = new MemoryServerEventLog();
    const broker = new SseBroker(store);
    let reads = 0;
    const read = store.read.bind(store);
    store.read = (tenant, options) => {
      reads++;
      return read(tenant, options);
    };
    const reader = new SseReader(await broker.open('acme'));
    await reader.next();
    await waitUntil(() => reads > 0);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const settled = reads;
    await store.append('globex', events().many(3));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(reads).toBe(settled);
    await broker.close();
    await expect(broker.open('acme')).rejects.toMatchObject({ code: 'closed' });
  });

  it('reads the log once for subscribers woken together at one cursor', async () => {
    const store = new MemoryServerEventLog();
    const broker = new SseBroker(store);
    const readers = await Promise.all(
      Array.from({ length: 5 }, async () => new SseReader(await broker.open('acme', CursorVersion.ZERO))),
    );
    for (const reader of readers) await reader.next();
    await new Promise((resolve) => setTimeout(resolve, 20));
    let reads = 0;
    const read = store.read.bind(store);
    store.read = (tenant, options) => {
      reads++;
      return read(tenant, options);
    };
    await store.append('acme', events().many(2));
    for (const reader of readers) expect(batchOf(await reader.nextMessage()).cursor).toBe('2');
    expect(reads).toBe(1);
    expect(broker.stats.published).toBe(5);
    await broker.close();
  });

  it('refuses options that are not positive integers', () => {
    const store = new MemoryServerEventLog();
    expect(() => new SseBroker(store, { heartbeatMs: 0 })).toThrow(/heartbeatMs/);
    expect(() => new SseBroker(store, { maxQueuedBatches: 1.5 })).toThrow(/maxQueuedBatches/);
    expect(() => new SseBroker(store, { retryMs: 0 })).not.toThrow();
  });
});
