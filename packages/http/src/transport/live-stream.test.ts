import { CursorVersion, type LiveBatch, type SubscriptionState, type SyncError } from '@eventsync/core';
import { TestEvents } from '@eventsync/testkit';
import { delay, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BASE_URL, MockSyncServer, problemResponse, STREAM_HEARTBEAT } from '../../test/mock-sync-server.js';
import { HttpTransport, type HttpTransportOptions } from './http-transport.js';

const network = setupServer();
beforeAll(() => network.listen({ onUnhandledRequest: 'error' }));
afterAll(() => network.close());

let server: MockSyncServer;
let transports: HttpTransport[];
let bob: TestEvents;

beforeEach(() => {
  server = new MockSyncServer();
  network.resetHandlers(...server.handlers);
  transports = [];
  bob = new TestEvents({ clientId: 'bob' });
});

afterEach(async () => {
  for (const transport of transports) await transport.close();
});

const fastStream = { initialDelayMs: 5, maxDelayMs: 50, idleTimeoutMs: 2000 };

function connect(options: Partial<HttpTransportOptions> = {}): HttpTransport {
  const transport = new HttpTransport({ baseUrl: BASE_URL, timeoutMs: 2000, stream: fastStream, ...options });
  transports.push(transport);
  return transport;
}

/** Polls until `condition` holds, failing after `ms`. */
async function until(condition: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(2);
  }
}

/** A subscription that records its batches, states and errors. */
function follow(transport: HttpTransport, since?: number, handler?: (batch: LiveBatch) => void | Promise<void>) {
  const batches: LiveBatch[] = [];
  const states: SubscriptionState[] = [];
  const errors: (SyncError | undefined)[] = [];
  const subscription = transport.subscribe(
    async (batch) => {
      batches.push(batch);
      await handler?.(batch);
    },
    {
      ...(since === undefined ? {} : { since: CursorVersion.of(since) }),
      onStateChange: (state, error) => {
        states.push(state);
        errors.push(error);
      },
    },
  );
  const ids = (): string[] => batches.flatMap((batch) => batch.events.map((item) => item.event.id));
  const versions = (): number[] => batches.flatMap((batch) => batch.events.map((item) => item.version.value));
  return { subscription, batches, states, errors, ids, versions };
}

describe('HttpTransport live stream', () => {
  it('follows the stream with credentials and delivers batches in order', async () => {
    const live = follow(connect({ token: () => 'secret' }), 0);
    await until(() => live.states.includes('live'), 'live');
    const sent = bob.many(5);
    await server.append(sent.slice(0, 2));
    await server.append(sent.slice(2));
    await until(() => live.ids().length === 5, 'five events');
    expect(live.ids()).toEqual(sent.map((event) => event.id));
    expect(live.versions()).toEqual([1, 2, 3, 4, 5]);
    expect(live.batches.map((batch) => batch.cursor.value)).toEqual([2, 5]);
    expect(live.states).toEqual(['connecting', 'live']);
    const [request] = server.seen('/v1/stream');
    expect(request?.headers.get('Authorization')).toBe('Bearer secret');
    expect(request?.headers.get('Accept')).toBe('text/event-stream');
    expect(request?.headers.get('Last-Event-ID')).toBe('0');
    expect(request?.query.get('since')).toBe('0');
  });

  it('replays from since what came before the subscription', async () => {
    const sent = bob.many(4);
    await server.append(sent);
    const live = follow(connect(), 2);
    await until(() => live.ids().length === 2, 'two events');
    expect(live.ids()).toEqual(sent.slice(2).map((event) => event.id));
  });

  it('starts at the server latest without since, learning its cursor from the opening message', async () => {
    await server.append(bob.many(3));
    const live = follow(connect());
    await until(() => server.connections.length === 1, 'a connection');
    expect(server.seen('/v1/stream')[0]?.headers.get('Last-Event-ID')).toBeNull();
    // Cut before any batch: the resume point is the opening cursor, so nothing appended meanwhile is lost.
    server.connections[0]?.cut();
    const fresh = bob.many(2);
    await server.append(fresh);
    await until(() => live.ids().length === 2, 'the fresh events');
    expect(live.ids()).toEqual(fresh.map((event) => event.id));
    expect(server.seen('/v1/stream')[1]?.headers.get('Last-Event-ID')).toBe('3');
  });

  it('ignores heartbeats, comments, other event names and unknown fields', async () => {
    const live = follow(connect(), 0);
    await until(() => server.connections.length === 1, 'a connection');
    const connection = server.connections[0]!;
    connection.send(STREAM_HEARTBEAT);
    connection.send(': another comment\n\nevent: notice\ndata: {"hello":1}\n\nfoo: bar\n\n');
    const [event] = bob.many(1);
    await server.append([event!]);
    connection.send(STREAM_HEARTBEAT);
    await until(() => live.ids().length === 1, 'one event');
    await delay(20);
    expect(live.ids()).toEqual([event!.id]);
    expect(live.states).toEqual(['connecting', 'live']);
  });

  it('reads messages split across chunks anywhere, with CRLF line ends', async () => {
    const live = follow(connect(), 0);
    await until(() => server.connections.length === 1, 'a connection');
    const [a, b] = bob.many(2);
    const text =
      `id: 1\r\nevent: events\r\ndata: ${JSON.stringify({ events: [{ event: a, version: '1' }], cursor: '1' })}\r\n\r\n` +
      `id: 2\nevent: events\ndata: ${JSON.stringify({ events: [{ event: b, version: '2' }], cursor: '2' })}\n\n`;
    for (let i = 0; i < text.length; i += 7) {
      server.connections[0]!.send(text.slice(i, i + 7));
      await delay(0);
    }
    await until(() => live.ids().length === 2, 'two events');
    expect(live.versions()).toEqual([1, 2]);
  });

  it('reconnects after the stream is cut mid-way and resumes from the last id: none lost, none twice', async () => {
    const live = follow(connect(), 0);
    await until(() => server.connections.length === 1, 'a connection');
    const sent = bob.many(6);
    await server.append(sent.slice(0, 2));
    await until(() => live.ids().length === 2, 'the first events');
    // Half a message, then the connection breaks: that batch must come again, whole, once.
    server.connections[0]!.send('id: 99\nevent: events\ndata: {"events":[');
    server.connections[0]!.cut();
    await server.append(sent.slice(2, 4));
    await until(() => live.states.filter((state) => state === 'live').length === 2, 'the reconnection');
    await server.append(sent.slice(4));
    await until(() => live.ids().length === 6, 'every event');
    await delay(20);
    expect(live.ids()).toEqual(sent.map((event) => event.id));
    expect(live.versions()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(live.states).toEqual(['connecting', 'live', 'connecting', 'live']);
    expect(live.errors[2]?.code).toBe('network');
    const reconnect = server.seen('/v1/stream')[1];
    expect(reconnect?.headers.get('Last-Event-ID')).toBe('2');
    expect(reconnect?.query.get('since')).toBe('2');
  });

  it('reconnects after a clean end of the stream', async () => {
    const live = follow(connect(), 0);
    await until(() => server.connections.length === 1, 'a connection');
    server.connections[0]!.end();
    await until(() => server.connections.length === 2, 'a second connection');
    const [event] = bob.many(1);
    await server.append([event!]);
    await until(() => live.ids().length === 1, 'the event');
    expect(live.states).toEqual(['connecting', 'live', 'connecting', 'live']);
  });

  it('drops what it already has when a server replays too much', async () => {
    const replaying = new MockSyncServer({ honourLastEventId: false });
    network.resetHandlers(...replaying.handlers);
    const live = follow(connect(), 0);
    await until(() => replaying.connections.length === 1, 'a connection');
    const sent = bob.many(4);
    await replaying.append(sent.slice(0, 3));
    await until(() => live.ids().length === 3, 'three events');
    replaying.connections[0]!.cut();
    // The server ignores Last-Event-ID and replays from since=…: the client drops what it has.
    await until(() => replaying.connections.length === 2, 'a second connection');
    replaying.connections[1]!.send(
      `id: 3\nevent: events\ndata: ${JSON.stringify({
        events: [
          { event: sent[1], version: '2' },
          { event: sent[2], version: '3' },
        ],
        cursor: '3',
      })}\n\n`,
    );
    await replaying.append(sent.slice(3));
    await until(() => live.ids().length >= 4, 'the fourth event');
    await delay(20);
    expect(live.versions()).toEqual([1, 2, 3, 4]);
  });

  it('reconnects after a silent stream times out', async () => {
    const live = follow(connect({ stream: { ...fastStream, idleTimeoutMs: 60 } }), 0);
    await until(() => server.connections.length === 2, 'a second connection', 2000);
    expect(live.errors).toContainEqual(expect.objectContaining({ code: 'timeout' }));
    const [event] = bob.many(1);
    await server.append([event!]);
    await until(() => live.ids().length === 1, 'the event');
  });

  it('keeps a quiet stream that sends heartbeats', async () => {
    const live = follow(connect({ stream: { ...fastStream, idleTimeoutMs: 80 } }), 0);
    await until(() => server.connections.length === 1, 'a connection');
    for (let i = 0; i < 6; i++) {
      await delay(30);
      server.connections[0]!.send(STREAM_HEARTBEAT);
    }
    expect(server.connections).toHaveLength(1);
    expect(live.states).toEqual(['connecting', 'live']);
  });

  it('keeps a silent stream whose idle timeout is longer than a timer can wait', async () => {
    // Node turns a delay past 2^31 - 1 ms into 1 ms: such a timeout must set no timer at all.
    const forever = follow(connect({ stream: { ...fastStream, idleTimeoutMs: Infinity } }), 0);
    const long = follow(connect({ stream: { ...fastStream, idleTimeoutMs: 3_000_000_000 } }), 0);
    await until(() => server.connections.length === 2, 'two connections');
    await delay(100);
    expect(server.connections).toHaveLength(2);
    expect(forever.states).toEqual(['connecting', 'live']);
    expect(long.states).toEqual(['connecting', 'live']);
    const [event] = bob.many(1);
    await server.append([event!]);
    await until(() => forever.ids().length === 1 && long.ids().length === 1, 'the event on both');
  });

  it('retries 503 and malformed answers with backoff, waiting out Retry-After', async () => {
    let attempts = 0;
    const times: number[] = [];
    server.intercept = (request) => {
      if (request.path !== '/v1/stream') return undefined;
      times.push(Date.now());
      attempts++;
      if (attempts === 1) return problemResponse(503, 'unavailable', {}, { 'Retry-After': '1' });
      if (attempts === 2) return new HttpResponse('<html></html>', { headers: { 'Content-Type': 'text/html' } });
      if (attempts === 3) return HttpResponse.error();
      return undefined;
    };
    const live = follow(connect(), 0);
    await until(() => live.states.includes('live'), 'live', 4000);
    expect(attempts).toBe(4);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(950);
    expect(live.errors.filter(Boolean).map((error) => error?.code)).toEqual([]);
    expect(live.states).toEqual(['connecting', 'live']);
  });

  it('reconnects after a malformed batch, from the last good cursor', async () => {
    const live = follow(connect(), 0);
    await until(() => server.connections.length === 1, 'a connection');
    const [a, b] = bob.many(2);
    await server.append([a!]);
    await until(() => live.ids().length === 1, 'the first event');
    server.connections[0]!.send(
      'id: 2\nevent: events\ndata: {"events":[{"event":{"id":"bad"},"version":"2"}],"cursor":"2"}\n\n',
    );
    await until(() => server.connections.length === 2, 'a reconnection');
    expect(live.errors).toContainEqual(expect.objectContaining({ code: 'protocol' }));
    expect(server.seen('/v1/stream')[1]?.headers.get('Last-Event-ID')).toBe('1');
    await server.append([b!]);
    await until(() => live.ids().length === 2, 'the second event');
    expect(live.versions()).toEqual([1, 2]);
  });

  it.each<[string, () => Response, string]>([
    ['403', () => problemResponse(403, 'forbidden'), 'forbidden'],
    ['404', () => problemResponse(404, 'not_found'), 'not_found'],
    ['400 invalid_cursor', () => problemResponse(400, 'invalid_cursor'), 'invalid_input'],
  ])('gives up on %s: closed with the error', async (_name, response, code) => {
    server.intercept = (request) => (request.path === '/v1/stream' ? response() : undefined);
    const live = follow(connect(), 0);
    await until(() => live.states.includes('closed'), 'closed');
    expect(live.states).toEqual(['connecting', 'closed']);
    expect(live.errors.at(-1)?.code).toBe(code);
    await delay(30);
    expect(server.seen('/v1/stream')).toHaveLength(1);
  });

  it('refreshes the token once on 401, then gives up on a second 401', async () => {
    server.intercept = (request) =>
      request.headers.get('Authorization') === 'Bearer fresh' ? undefined : problemResponse(401, 'unauthorized');
    const asked: boolean[] = [];
    const live = follow(
      connect({
        token: ({ refresh }) => {
          asked.push(refresh);
          return refresh ? 'fresh' : 'stale';
        },
      }),
      0,
    );
    await until(() => live.states.includes('live'), 'live');
    expect(asked).toEqual([false, true]);

    server.intercept = (request) => (request.path === '/v1/stream' ? problemResponse(401, 'unauthorized') : undefined);
    server.connections[0]!.cut();
    await until(() => live.states.includes('closed'), 'closed');
    expect(live.errors.at(-1)?.code).toBe('unauthorized');
    expect(asked).toEqual([false, true, false, true]);
  });

  it('runs the handler one batch at a time, in order', async () => {
    let running = 0;
    let overlapped = false;
    const live = follow(connect(), 0, async () => {
      overlapped ||= running > 0;
      running++;
      await delay(15);
      running--;
    });
    await until(() => server.connections.length === 1, 'a connection');
    const sent = bob.many(4);
    for (const event of sent) await server.append([event]);
    await until(() => live.ids().length === 4, 'four events');
    expect(live.ids()).toEqual(sent.map((event) => event.id));
    expect(overlapped).toBe(false);
  });

  it('closes the subscription with the error when the handler throws', async () => {
    const live = follow(connect(), 0, () => {
      throw new Error('app bug');
    });
    await until(() => server.connections.length === 1, 'a connection');
    await server.append(bob.many(1));
    await until(() => live.states.includes('closed'), 'closed');
    expect(live.errors.at(-1)?.code).toBe('internal');
    expect(live.errors.at(-1)?.cause).toEqual(new Error('app bug'));
    await until(() => server.connections[0]!.closed, 'the connection released');
  });

  it('stops on close, on its signal and on the transport close, releasing the connection', async () => {
    const transport = connect();
    const first = follow(transport, 0);
    const controller = new AbortController();
    const states: SubscriptionState[] = [];
    transport.subscribe(() => undefined, {
      since: CursorVersion.ZERO,
      signal: controller.signal,
      onStateChange: (state) => states.push(state),
    });
    const third = follow(transport, 0);
    await until(() => server.connections.length === 3, 'three connections');
    first.subscription.close();
    first.subscription.close();
    controller.abort();
    await transport.close();
    await until(() => server.connections.every((connection) => connection.closed), 'every connection released');
    expect(first.states.at(-1)).toBe('closed');
    expect(states.at(-1)).toBe('closed');
    expect(third.states.at(-1)).toBe('closed');
    await server.append(bob.many(2));
    await delay(30);
    expect([...first.batches, ...third.batches]).toEqual([]);
    expect(server.seen('/v1/stream')).toHaveLength(3);
  });

  it('closes while it waits to reconnect', async () => {
    server.intercept = (request) => (request.path === '/v1/stream' ? problemResponse(503, 'unavailable') : undefined);
    const live = follow(connect({ stream: { initialDelayMs: 1000, maxDelayMs: 1000 } }), 0);
    await until(
      () => live.errors.some((error) => error?.code === 'unavailable') || server.seen('/v1/stream').length > 0,
      'a failure',
    );
    live.subscription.close();
    expect(live.states.at(-1)).toBe('closed');
    await delay(30);
    expect(server.seen('/v1/stream')).toHaveLength(1);
  });
});
