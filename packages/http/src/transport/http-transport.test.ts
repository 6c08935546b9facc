import { CursorVersion, isSyncError, SyncError, type AppendResult, type Event } from '@eventsync/core';
import { expectSyncError, TestEvents } from '@eventsync/testkit';
import { delay, http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { BASE_URL, MockSyncServer, problemResponse, type SeenRequest } from '../../test/mock-sync-server.js';
import type { PushChain } from '../protocol/wire.js';
import { parseRetryAfter } from './http-error.js';
import {
  DEFAULT_HTTP_TRANSPORT_OPTIONS,
  HttpTransport,
  type HttpTransportOptions,
  type TokenRequest,
} from './http-transport.js';

const network = setupServer();
beforeAll(() => network.listen({ onUnhandledRequest: 'error' }));
afterAll(() => network.close());

let server: MockSyncServer;
let transports: HttpTransport[];
let alice: TestEvents;

beforeEach(() => {
  server = new MockSyncServer();
  network.resetHandlers(...server.handlers);
  transports = [];
  alice = new TestEvents({ clientId: 'alice' });
});

afterEach(async () => {
  for (const transport of transports) await transport.close();
});

function connect(options: Partial<HttpTransportOptions> = {}): HttpTransport {
  const transport = new HttpTransport({ baseUrl: BASE_URL, timeoutMs: 2000, ...options });
  transports.push(transport);
  return transport;
}

/** The partial-push error's results: the first `count` events of `batch`, accepted at versions 1, 2, … */
function expectAnsweredFirst(error: SyncError, batch: readonly Event[], count: number): void {
  expect(error.details.completed).toBe(count);
  expect((error.details.results as AppendResult[]).map((result) => [result.id, versionOf(result)])).toEqual(
    batch.slice(0, count).map((event, i) => [event.id, String(i + 1)]),
  );
}

/** Makes every request to `path` answer `response` (a fresh one each time). */
function answer(path: string, response: () => Response | Promise<Response>): void {
  server.intercept = (request) => (request.path === path ? response() : undefined);
}

const versionOf = (result: AppendResult | undefined): string | undefined =>
  result && 'version' in result ? result.version.toString() : undefined;

describe('HttpTransport requests', () => {
  it('pushes a batch as JSON with credentials and answers per event with CursorVersions', async () => {
    const transport = connect({ token: () => 'secret', headers: { 'X-Client': 'test' } });
    const batch = alice.many(3);
    const results = await transport.push(batch);
    expect(results.map((result) => [result.id, result.status, versionOf(result)])).toEqual(
      batch.map((event, i) => [event.id, 'accepted', String(i + 1)]),
    );
    expect(results[0]?.status === 'accepted' && results[0].version).toBeInstanceOf(CursorVersion);
    const [request] = server.seen('/v1/events', 'POST');
    expect(request?.headers.get('Authorization')).toBe('Bearer secret');
    expect(request?.headers.get('Content-Type')).toBe('application/json');
    expect(request?.headers.get('Accept')).toBe('application/json');
    expect(request?.headers.get('X-Client')).toBe('test');
    expect(JSON.parse(request?.body ?? '')).toEqual({ events: batch });
  });

  it('sends no request for an empty push', async () => {
    expect(await connect().push([])).toEqual([]);
    expect(server.requests).toEqual([]);
  });

  it('pulls with since, limit and filters in the query, and decodes the page', async () => {
    const transport = connect();
    const batch = [
      alice.make('a', { type: 'keep' }),
      alice.make('b', { type: 'skip' }),
      alice.make('a', { type: 'keep' }),
    ];
    await server.append(batch);
    const page = await transport.pull(CursorVersion.ZERO, {
      limit: 1,
      filter: { type: 'keep', aggregateId: ['a', 'b'] },
    });
    expect(server.seen('/v1/events')[0]?.query.toString()).toBe(
      'since=0&limit=1&type=keep&aggregateId=a&aggregateId=b',
    );
    expect(page.events.map((item) => [item.event.id, item.version.value])).toEqual([[batch[0]!.id, 1]]);
    expect(page.next.value).toBe(1);
    expect(page.hasMore).toBe(true);
    expect(page.events[0]?.event).toMatchObject(batch[0]!);
  });

  it('reads the latest version and the health check, the latter without credentials', async () => {
    const transport = connect({ token: () => 'secret' });
    await server.append(alice.many(2));
    expect((await transport.latestVersion()).value).toBe(2);
    expect(await transport.health()).toEqual({ status: 'ok', protocol: 1 });
    expect(server.seen('/v1/health')[0]?.headers.get('Authorization')).toBeNull();
    answer('/v1/health', () => HttpResponse.json({ status: 'ok', protocol: 2 }));
    await expectSyncError(() => transport.health(), 'protocol');
  });

  it('keeps the path of a base URL mounted under a prefix', async () => {
    network.use(http.get(`${BASE_URL}/sync/v1/version`, () => HttpResponse.json({ latest: '7' })));
    expect((await connect({ baseUrl: `${BASE_URL}/sync/` }).latestVersion()).value).toBe(7);
  });

  it('uses an injected fetch', async () => {
    const fetch = vi.fn(async (input: string | URL | Request) => {
      expect(input instanceof Request ? input.url : input.toString()).toBe('https://sync.example/v1/version');
      return HttpResponse.json({ latest: '3' });
    });
    expect((await connect({ baseUrl: 'https://sync.example', fetch }).latestVersion()).value).toBe(3);
    expect(fetch).toHaveBeenCalledTimes(1);
  });

  it('gzips push bodies from gzipMinBytes on', async () => {
    const transport = connect({ gzipMinBytes: 100 });
    const batch = alice.many(5);
    await transport.push(
      batch
        .slice(0, 0)
        .concat([alice.make('x', { data: null })])
        .slice(0, 0),
    );
    await transport.push(batch);
    const [request] = server.seen('/v1/events', 'POST');
    expect(request?.headers.get('Content-Encoding')).toBe('gzip');
    expect(JSON.parse(request?.body ?? '')).toEqual({ events: batch });
    expect((await transport.latestVersion()).value).toBe(5);
  });

  it('refuses bad options and bad arguments', async () => {
    for (const options of [
      {},
      { baseUrl: 'ftp://x' },
      { baseUrl: 'not a url' },
      { baseUrl: BASE_URL, timeoutMs: 0 },
      { baseUrl: BASE_URL, maxBatchSize: 0 },
      { baseUrl: BASE_URL, pushWindow: 0 },
      { baseUrl: BASE_URL, pushWindow: 1.5 },
      { baseUrl: BASE_URL, pushWindow: Number.POSITIVE_INFINITY },
      { baseUrl: BASE_URL, pushWindow: '4' },
      { baseUrl: BASE_URL, stream: { initialDelayMs: 10, maxDelayMs: 5 } },
    ]) {
      await expectSyncError(() => new HttpTransport(options as HttpTransportOptions), 'invalid_input');
    }
    const transport = connect();
    await expectSyncError(() => transport.push('x' as unknown as Event[]), 'invalid_input');
    await expectSyncError(() => transport.pull(0 as unknown as CursorVersion), 'invalid_input');
    await expectSyncError(() => transport.pull(CursorVersion.ZERO, { limit: -1 }), 'invalid_input');
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    await expectSyncError(
      () => transport.push([{ ...alice.make('a'), data: cycle } as unknown as Event]),
      'invalid_input',
    );
    expect(server.requests).toEqual([]);
  });

  it('sends malformed events as they are: the server answers rejected per event', async () => {
    const results = await connect().push([alice.make('a'), { ...alice.make('b'), type: '' }]);
    expect(results.map((result) => result.status)).toEqual(['accepted', 'rejected']);
    expect(results[1]).toMatchObject({ code: 'invalid_event' });
  });
});

describe('HttpTransport errors', () => {
  it.each<[string, () => Response, string, boolean, Record<string, unknown>]>([
    [
      '400 invalid_request',
      () => problemResponse(400, 'invalid_request'),
      'invalid_input',
      false,
      { status: 400, problem: 'invalid_request' },
    ],
    [
      '400 invalid_cursor',
      () => problemResponse(400, 'invalid_cursor'),
      'invalid_input',
      false,
      { problem: 'invalid_cursor' },
    ],
    [
      '400 limit_exceeded',
      () => problemResponse(400, 'limit_exceeded', { limit: 'maxPullLimit', max: 1000, actual: 5000 }),
      'limit_exceeded',
      false,
      { limit: 'maxPullLimit', max: 1000, actual: 5000 },
    ],
    [
      '401 without a token provider',
      () => problemResponse(401, 'unauthorized'),
      'unauthorized',
      false,
      { status: 401 },
    ],
    ['403', () => problemResponse(403, 'forbidden'), 'forbidden', false, { status: 403 }],
    ['404', () => problemResponse(404, 'not_found'), 'not_found', false, { status: 404 }],
    ['405', () => problemResponse(405, 'method_not_allowed'), 'protocol', false, { status: 405 }],
    ['408', () => new HttpResponse(null, { status: 408 }), 'timeout', true, { status: 408 }],
    [
      '413 naming the limit',
      () => problemResponse(413, 'limit_exceeded', { limit: 'maxEventBytes', max: 65536, actual: 70000, eventId: 'e' }),
      'limit_exceeded',
      false,
      { status: 413, limit: 'maxEventBytes', max: 65536, actual: 70000, eventId: 'e' },
    ],
    ['415', () => problemResponse(415, 'unsupported_media_type'), 'invalid_input', false, { status: 415 }],
    ['422 (not in the protocol)', () => new HttpResponse('no', { status: 422 }), 'protocol', false, { status: 422 }],
    [
      '429 with Retry-After seconds',
      () => problemResponse(429, 'too_many_requests', {}, { 'Retry-After': '7' }),
      'unavailable',
      true,
      { status: 429, retryAfterMs: 7000 },
    ],
    ['500', () => problemResponse(500, 'internal'), 'unavailable', true, { status: 500, problem: 'internal' }],
    [
      '502 with an HTML body',
      () => new HttpResponse('<html>bad gateway</html>', { status: 502, headers: { 'Content-Type': 'text/html' } }),
      'unavailable',
      true,
      { status: 502 },
    ],
    [
      '503 without a body',
      () => new HttpResponse(null, { status: 503, headers: { 'Retry-After': '0' } }),
      'unavailable',
      true,
      { status: 503, retryAfterMs: 0 },
    ],
    ['a 3xx that is not followed', () => new HttpResponse(null, { status: 300 }), 'protocol', false, { status: 300 }],
    ['a 2xx without a body', () => new HttpResponse(null, { status: 204 }), 'protocol', false, { status: 204 }],
  ])('maps %s to its error code', async (_name, response, code, retryable, details) => {
    answer('/v1/version', response);
    const error = await expectSyncError(() => connect().latestVersion(), code as SyncError['code']);
    expect(error.retryable).toBe(retryable);
    expect(error.details).toMatchObject(details);
  });

  it('reads Retry-After as an HTTP date', async () => {
    const at = new Date(Date.now() + 60_000).toUTCString();
    answer('/v1/version', () => new HttpResponse(null, { status: 503, headers: { 'Retry-After': at } }));
    const error = await expectSyncError(() => connect().latestVersion(), 'unavailable');
    expect(error.details.retryAfterMs).toBeGreaterThan(55_000);
    expect(error.details.retryAfterMs).toBeLessThanOrEqual(60_000);
  });

  it('fails with a retryable network error when the server cannot be reached', async () => {
    answer('/v1/version', () => HttpResponse.error());
    const error = await expectSyncError(() => connect().latestVersion(), 'network');
    expect(error.retryable).toBe(true);
    expect(error.cause).toBeInstanceOf(TypeError);
  });

  it.each<[string, () => Response]>([
    ['not JSON', () => new HttpResponse('<html>portal</html>', { headers: { 'Content-Type': 'text/html' } })],
    ['truncated JSON', () => new HttpResponse('{"latest":"4', { headers: { 'Content-Type': 'application/json' } })],
    ['the wrong shape', () => HttpResponse.json({ version: 4 })],
    ['a version that is not one', () => HttpResponse.json({ latest: '-4' })],
  ])('fails with a protocol error on a 200 that is %s', async (_name, response) => {
    answer('/v1/version', response);
    const error = await expectSyncError(() => connect().latestVersion(), 'protocol');
    expect(error.retryable).toBe(false);
  });

  it('fails with a retryable network error when the answer breaks off mid-body', async () => {
    answer('/v1/version', () => {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('{"lat'));
          setTimeout(() => controller.error(new TypeError('connection reset')), 5);
        },
      });
      return new HttpResponse(body, { headers: { 'Content-Type': 'application/json' } });
    });
    expect((await expectSyncError(() => connect().latestVersion(), 'network')).retryable).toBe(true);
  });

  it('refuses push results that do not match the batch', async () => {
    const batch = alice.many(2);
    answer('/v1/events', () =>
      HttpResponse.json({
        results: [
          { id: batch[1]!.id, status: 'accepted', version: '1' },
          { id: batch[0]!.id, status: 'accepted', version: '2' },
        ],
      }),
    );
    await expectSyncError(() => connect().push(batch), 'protocol');
    answer('/v1/events', () =>
      HttpResponse.json({ results: [{ id: batch[0]!.id, status: 'accepted', version: '1' }] }),
    );
    const error = await expectSyncError(() => connect().push(batch), 'protocol');
    expect(error.message).toContain('1 results for a batch of 2');
  });

  it('refuses a pull page that goes back before since', async () => {
    answer('/v1/events', () =>
      HttpResponse.json({ events: [{ event: alice.make('a'), version: '3' }], next: '3', hasMore: false }),
    );
    await expectSyncError(() => connect().pull(CursorVersion.of(5)), 'protocol');
  });
});

describe('HttpTransport timeouts, aborts and close', () => {
  it('times out a request that gets no answer', async () => {
    answer('/v1/version', async () => {
      await delay(5000);
      return HttpResponse.json({ latest: '1' });
    });
    const started = Date.now();
    const error = await expectSyncError(() => connect({ timeoutMs: 50 }).latestVersion(), 'timeout');
    expect(error.retryable).toBe(true);
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('times out an answer whose body stalls', async () => {
    answer('/v1/version', () => {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('{"lat'));
        },
      });
      return new HttpResponse(body, { headers: { 'Content-Type': 'application/json' } });
    });
    await expectSyncError(() => connect({ timeoutMs: 50 }).latestVersion(), 'timeout');
  });

  it('rejects with the signal reason, without a request, when aborted before', async () => {
    const controller = new AbortController();
    const reason = new Error('stop');
    controller.abort(reason);
    const transport = connect();
    await expect(transport.push(alice.many(1), { signal: controller.signal })).rejects.toBe(reason);
    await expect(transport.pull(CursorVersion.ZERO, { signal: controller.signal })).rejects.toBe(reason);
    await expect(transport.latestVersion({ signal: controller.signal })).rejects.toBe(reason);
    expect(() => transport.subscribe(() => undefined, { signal: controller.signal })).toThrow(reason);
    expect(server.requests).toEqual([]);
  });

  it('rejects with the signal reason when aborted during a request', async () => {
    let arrived!: () => void;
    const reached = new Promise<void>((resolve) => (arrived = resolve));
    answer('/v1/events', async () => {
      arrived();
      await delay(5000);
      return HttpResponse.json({ results: [] });
    });
    const controller = new AbortController();
    const reason = new Error('user left');
    const pushing = connect().push(alice.many(1), { signal: controller.signal });
    await reached;
    controller.abort(reason);
    await expect(pushing).rejects.toBe(reason);
  });

  it('rejects with the signal reason when aborted while the answer is read', async () => {
    answer('/v1/version', () => {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('{"lat'));
        },
      });
      return new HttpResponse(body, { headers: { 'Content-Type': 'application/json' } });
    });
    const controller = new AbortController();
    const reading = connect().latestVersion({ signal: controller.signal });
    setTimeout(() => controller.abort('plain reason'), 30);
    await expect(reading).rejects.toBe('plain reason');
  });

  it('fails requests in flight with closed when closed, and every later call', async () => {
    answer('/v1/version', async () => {
      await delay(5000);
      return HttpResponse.json({ latest: '1' });
    });
    const transport = connect();
    const pending = transport.latestVersion();
    await delay(20);
    await transport.close();
    await transport.close();
    await expectSyncError(() => pending, 'closed');
    await expectSyncError(() => transport.push(alice.many(1)), 'closed');
    await expectSyncError(() => transport.pull(CursorVersion.ZERO), 'closed');
    await expectSyncError(() => transport.latestVersion(), 'closed');
    await expectSyncError(() => transport.health(), 'closed');
    await expectSyncError(() => transport.subscribe(() => undefined), 'closed');
  });
  it('runs many requests at once without piling listeners on one signal, and closes them all', async () => {
    answer('/v1/version', async () => {
      await delay(5000);
      return HttpResponse.json({ latest: '1' });
    });
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const transport = connect();
      const pending = Array.from({ length: 25 }, () => transport.latestVersion());
      await delay(20);
      await transport.close();
      const outcomes = await Promise.allSettled(pending);
      expect(outcomes.every((outcome) => outcome.status === 'rejected' && isSyncError(outcome.reason, 'closed'))).toBe(
        true,
      );
      await delay(10);
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('HttpTransport tokens', () => {
  /** The server accepts only `valid`; it answers 401 to anything else. */
  function requireToken(valid: () => string): void {
    server.intercept = (request) =>
      request.headers.get('Authorization') === `Bearer ${valid()}`
        ? undefined
        : problemResponse(401, 'unauthorized', {}, { 'WWW-Authenticate': 'Bearer' });
  }

  it('asks the provider before each request', async () => {
    let n = 0;
    const token = vi.fn((_request: TokenRequest) => `t${++n}`);
    requireToken(() => `t${n}`);
    const transport = connect({ token });
    await transport.latestVersion();
    await transport.latestVersion();
    expect(token.mock.calls.map(([request]) => request.refresh)).toEqual([false, false]);
    expect(server.requests.map((request) => request.headers.get('Authorization'))).toEqual(['Bearer t1', 'Bearer t2']);
  });

  it('refreshes once on 401 and retries with the new token', async () => {
    let current = 'old';
    requireToken(() => 'new');
    const token = vi.fn(async ({ refresh }: { refresh: boolean }) => {
      if (refresh) current = 'new';
      return current;
    });
    const transport = connect({ token });
    const results = await transport.push(alice.many(2));
    expect(results.map((result) => result.status)).toEqual(['accepted', 'accepted']);
    expect(token.mock.calls.map(([request]) => request.refresh)).toEqual([false, true]);
    expect(server.requests.map((request) => request.headers.get('Authorization'))).toEqual([
      'Bearer old',
      'Bearer new',
    ]);
    // The retried push was sent whole again.
    expect(server.requests[1]?.body).toBe(server.requests[0]?.body);
  });

  it('fails with unauthorized after a second 401, having asked twice', async () => {
    requireToken(() => 'never');
    const token = vi.fn(() => 'wrong');
    const error = await expectSyncError(() => connect({ token }).latestVersion(), 'unauthorized');
    expect(error.details.status).toBe(401);
    expect(error.retryable).toBe(false);
    expect(token).toHaveBeenCalledTimes(2);
    expect(server.requests).toHaveLength(2);
  });

  it('shares one refresh between requests that meet a 401 together', async () => {
    let current = 'old';
    requireToken(() => 'new');
    let refreshes = 0;
    const token = async ({ refresh }: { refresh: boolean }): Promise<string> => {
      if (refresh) {
        refreshes++;
        await delay(20);
        current = 'new';
      }
      return current;
    };
    const transport = connect({ token });
    const versions = await Promise.all([
      transport.latestVersion(),
      transport.latestVersion(),
      transport.latestVersion(),
    ]);
    expect(versions.map((version) => version.value)).toEqual([0, 0, 0]);
    expect(refreshes).toBe(1);
  });

  it('sends no Authorization header when the provider gives none, and a fixed one from headers', async () => {
    await connect({ token: () => undefined }).latestVersion();
    expect(server.requests[0]?.headers.get('Authorization')).toBeNull();
    await connect({ headers: { Authorization: 'Basic abc' } }).latestVersion();
    expect(server.requests[1]?.headers.get('Authorization')).toBe('Basic abc');
    await connect({ headers: { Authorization: 'Basic abc' }, token: () => 't' }).latestVersion();
    expect(server.requests[2]?.headers.get('Authorization')).toBe('Bearer t');
  });

  it('fails with unauthorized when the provider throws, and passes its SyncErrors on', async () => {
    const failing = connect({
      token: () => {
        throw new Error('no session');
      },
    });
    const error = await expectSyncError(() => failing.latestVersion(), 'unauthorized');
    expect(error.cause).toBeInstanceOf(Error);
    const offline = connect({ token: () => Promise.reject(new SyncError('network', 'auth server down')) });
    await expectSyncError(() => offline.latestVersion(), 'network');
    expect(server.requests).toEqual([]);
  });
});

describe('HttpTransport push batching', () => {
  it('splits a batch larger than maxBatchSize and concatenates the results in order', async () => {
    const transport = connect({ maxBatchSize: 2 });
    const batch = alice.many(5);
    const results = await transport.push(batch);
    expect(results.map((result) => result.id)).toEqual(batch.map((event) => event.id));
    expect(results.map(versionOf)).toEqual(['1', '2', '3', '4', '5']);
    expect(
      server
        .seen('/v1/events', 'POST')
        .map((request) => (JSON.parse(request.body ?? '') as { events: unknown[] }).events.length),
    ).toEqual([2, 2, 1]);
  });

  it('fails with the results so far when a later request fails, and a retry is safe', async () => {
    const transport = connect({ maxBatchSize: 2 });
    const batch = alice.many(5);
    let pushes = 0;
    server.intercept = (request) =>
      request.method === 'POST' && ++pushes === 2 ? problemResponse(503, 'unavailable') : undefined;
    const error = await expectSyncError(() => transport.push(batch), 'unavailable');
    expect(error.retryable).toBe(true);
    expectAnsweredFirst(error, batch, 2);
    expect(isSyncError(error.cause, 'unavailable')).toBe(true);
    const again = await transport.push(batch);
    expect(again.map((result) => [result.status, versionOf(result)])).toEqual([
      ['duplicate', '1'],
      ['duplicate', '2'],
      ['accepted', '3'],
      ['accepted', '4'],
      ['accepted', '5'],
    ]);
  });

  it('answers conflict, unsent, for the later events of an aggregate that conflicted in an earlier request', async () => {
    const bob = new TestEvents({ clientId: 'bob' });
    await server.append([bob.make('todo-1')]);
    const transport = connect({ maxBatchSize: 2, pushWindow: 1 });
    const batch = [
      alice.make('todo-1', { metadata: { baseVersion: '0' } }),
      alice.make('todo-2'),
      alice.make('todo-1'),
      alice.make('todo-3'),
    ];
    const results = await transport.push(batch);
    expect(results.map((result) => [result.id, result.status])).toEqual([
      [batch[0]!.id, 'conflict'],
      [batch[1]!.id, 'accepted'],
      [batch[2]!.id, 'conflict'],
      [batch[3]!.id, 'accepted'],
    ]);
    expect(results[2]?.status === 'conflict' && results[2].latest.value).toBe(1);
    const sent = server
      .seen('/v1/events', 'POST')
      .map((request) => (JSON.parse(request.body ?? '') as { events: Event[] }).events.map((event) => event.id));
    expect(sent).toEqual([[batch[0]!.id, batch[1]!.id], [batch[3]!.id]]);
  });

  it("learns the server's maxEventsPerPush from a 413 and sends smaller requests", async () => {
    server.intercept = (request) => {
      const count =
        request.method === 'POST' ? (JSON.parse(request.body ?? '') as { events: unknown[] }).events.length : 0;
      return count > 2
        ? problemResponse(413, 'limit_exceeded', { limit: 'maxEventsPerPush', max: 2, actual: count })
        : undefined;
    };
    const batch = alice.many(5);
    const results = await connect().push(batch);
    expect(results.map(versionOf)).toEqual(['1', '2', '3', '4', '5']);
  });

  it('halves a request over maxBodyBytes until it fits, and names the limit when one event is too big', async () => {
    server.intercept = (request) =>
      request.method === 'POST' && (request.body?.length ?? 0) > 700
        ? problemResponse(413, 'limit_exceeded', { limit: 'maxBodyBytes', max: 700, actual: request.body?.length })
        : undefined;
    const batch = alice.many(6);
    expect((await connect().push(batch)).map(versionOf)).toEqual(['1', '2', '3', '4', '5', '6']);
    const big = alice.make('big', { data: { text: 'x'.repeat(1000) } });
    const error = await expectSyncError(() => connect().push([big]), 'limit_exceeded');
    expect(error.details).toMatchObject({ limit: 'maxBodyBytes', max: 700, status: 413 });
  });
});

describe('HttpTransport push chains', () => {
  const pushes = (on: MockSyncServer = server): SeenRequest[] => on.seen('/v1/events', 'POST');
  const eventsOf = (request: SeenRequest | undefined): Event[] =>
    (JSON.parse(request?.body ?? '') as { events: Event[] }).events;
  const idsOf = (events: readonly { id: string }[]): string[] => events.map((event) => event.id);
  const chainsOf = (requests: readonly SeenRequest[]): (string | undefined)[] =>
    requests.map((request) => (request.chain ? `${request.chain.id}#${request.chain.seq}` : undefined));

  /** Waits until `condition` holds. */
  async function until(condition: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 2000;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await delay(2);
    }
  }

  /** Makes the server take 5 ms per request; answers the most requests it ever had at once. */
  function trackInFlight(): () => number {
    let inFlight = 0;
    let most = 0;
    server.intercept = async () => {
      most = Math.max(most, ++inFlight);
      await delay(5);
      inFlight--;
      return undefined;
    };
    return () => most;
  }

  /** Checks that the log holds `batch` in its order, each once. */
  async function expectStored(batch: readonly Event[], on: MockSyncServer = server): Promise<void> {
    expect(idsOf(await on.stored())).toEqual(idsOf(batch));
  }

  it('sends a push that fits in one batch as one request without a chain, the body as before', async () => {
    const batch = alice.many(3);
    await connect({ maxBatchSize: 3 }).push(batch);
    expect(pushes()).toHaveLength(1);
    expect(pushes()[0]?.body).toBe(JSON.stringify({ events: batch }));
  });

  it('sends the batches of a longer push as one chain, seq 0, 1, 2…, with a fresh random id per push', async () => {
    const transport = connect({ maxBatchSize: 2 });
    const batch = alice.many(5);
    const results = await transport.push(batch);
    expect(results.map((result) => [result.id, versionOf(result)])).toEqual(
      batch.map((event, i) => [event.id, String(i + 1)]),
    );
    const first = pushes().map((request) => request.chain);
    expect(first.map((chain) => chain?.seq)).toEqual([0, 1, 2]);
    expect(new Set(first.map((chain) => chain?.id)).size).toBe(1);
    expect(first[0]?.id).toMatch(/^[0-9a-f]{32}$/);
    expect(JSON.parse(pushes()[1]?.body ?? '')).toEqual({ events: batch.slice(2, 4), chain: first[1] });
    await transport.push(alice.many(3));
    const second = pushes().slice(3);
    expect(second.map((request) => request.chain?.seq)).toEqual([0, 1]);
    expect(second[0]?.chain?.id).not.toBe(first[0]?.id);
    await expectStored(pushes().flatMap(eventsOf));
  });

  it('sends no chain with pushWindow 1: one request after the other', async () => {
    const batch = alice.many(5);
    const most = trackInFlight();
    expect((await connect({ maxBatchSize: 2, pushWindow: 1 }).push(batch)).map(versionOf)).toEqual([
      '1',
      '2',
      '3',
      '4',
      '5',
    ]);
    expect(chainsOf(pushes())).toEqual([undefined, undefined, undefined]);
    expect(most()).toBe(1);
  });

  it('prefers pushes of two windows: maxBatchSize × pushWindow × 2 events, one batch without a window', () => {
    expect(connect().preferredPushSize).toBe(
      DEFAULT_HTTP_TRANSPORT_OPTIONS.maxBatchSize * DEFAULT_HTTP_TRANSPORT_OPTIONS.pushWindow * 2,
    );
    expect(connect({ maxBatchSize: 250, pushWindow: 3 }).preferredPushSize).toBe(1500);
    expect(connect({ maxBatchSize: 250, pushWindow: 1 }).preferredPushSize).toBe(250);
  });

  it('refuses a pushWindow that is not a positive integer, naming it', async () => {
    const error = await expectSyncError(() => connect({ pushWindow: 0 }), 'invalid_input');
    expect(error.details.field).toBe('pushWindow');
  });

  it('sends push 0 alone, then keeps pushWindow requests in flight once its answer echoed the chain', async () => {
    const batch = alice.many(12);
    let arrivedBeforeAnswer0 = 0;
    let arrivedBeforeAnswer1 = 0;
    server.intercept = async (request) => {
      if (request.chain?.seq === 0) await delay(10);
      if (request.chain?.seq === 1) await until(() => pushes().length >= 4, 'three requests in flight');
      return undefined;
    };
    server.beforeAnswer = (request) => {
      if (request.chain?.seq === 0) arrivedBeforeAnswer0 = pushes().length;
      if (request.chain?.seq === 1) arrivedBeforeAnswer1 = pushes().length;
    };
    const results = await connect({ maxBatchSize: 2, pushWindow: 3 }).push(batch);
    expect(idsOf(results)).toEqual(idsOf(batch));
    expect(results.map(versionOf)).toEqual(batch.map((_, i) => String(i + 1)));
    // Push 0 alone until its answer proved the server keeps chains; then three in flight (1, 2, 3),
    // and not a fourth before answer 1.
    expect(arrivedBeforeAnswer0).toBe(1);
    expect(arrivedBeforeAnswer1).toBe(4);
    expect(pushes().map((request) => request.chain?.seq)).toEqual([0, 1, 2, 3, 4, 5]);
    await expectStored(batch);
  });

  it('lands the events in order when a later request of the chain reaches the server first', async () => {
    const batch = alice.many(8);
    // The network delays request 1 until request 2 has reached the server.
    const fetch: typeof globalThis.fetch = async (input, init) => {
      const chain = (JSON.parse(typeof init?.body === 'string' ? init.body : '{}') as { chain?: PushChain }).chain;
      if (chain?.seq === 1) await until(() => pushes().some((request) => request.chain?.seq === 2), 'request 2');
      return globalThis.fetch(input, init);
    };
    const results = await connect({ maxBatchSize: 2, fetch }).push(batch);
    const arrived = pushes().map((request) => request.chain?.seq);
    expect(arrived.slice(0, 2)).toEqual([0, 2]);
    expect(arrived.indexOf(1)).toBeGreaterThan(1);
    expect(idsOf(results)).toEqual(idsOf(batch));
    expect(results.map(versionOf)).toEqual(['1', '2', '3', '4', '5', '6', '7', '8']);
    await expectStored(batch);
  });

  it('uses the answers in order when the server answers out of order', async () => {
    const batch = alice.many(8);
    const answered: number[] = [];
    server.beforeAnswer = async (request) => {
      const seq = request.chain?.seq ?? -1;
      if (seq === 1) await until(() => answered.includes(3), 'answer 3');
      answered.push(seq);
    };
    const results = await connect({ maxBatchSize: 2 }).push(batch);
    expect(answered).toEqual([0, 2, 3, 1]);
    expect(idsOf(results)).toEqual(idsOf(batch));
    expect(results.map(versionOf)).toEqual(['1', '2', '3', '4', '5', '6', '7', '8']);
    await expectStored(batch);
  });

  it('carries a conflict across the chain: the results are those of one request after the other', async () => {
    const bob = new TestEvents({ clientId: 'bob' });
    const conflicting = bob.make('todo-1');
    const batch = [
      alice.make('todo-8'),
      alice.make('todo-9'),
      alice.make('todo-1', { metadata: { baseVersion: '0' } }),
      alice.make('todo-2'),
      alice.make('todo-1'),
      alice.make('todo-3'),
      alice.make('todo-2'),
      alice.make('todo-1'),
    ];
    const sequential = server;
    await sequential.append([conflicting]);
    const expected = await connect({ maxBatchSize: 2, pushWindow: 1 }).push(batch);
    expect(expected.map((result) => result.status)).toEqual([
      'accepted',
      'accepted',
      'conflict',
      'accepted',
      'conflict',
      'accepted',
      'accepted',
      'conflict',
    ]);

    const chained = new MockSyncServer();
    network.resetHandlers(...chained.handlers);
    await chained.append([conflicting]);
    // Batch 0 goes alone (its answer proves the chain is kept); batches 2 and 3 then go out before
    // batch 1 (and its conflict on todo-1) is answered: the server carries the conflict.
    chained.intercept = async (request) => {
      if (request.chain?.seq === 1) await until(() => pushes(chained).length === 4, 'four requests');
      return undefined;
    };
    const results = await connect({ maxBatchSize: 2 }).push(batch);
    expect(results).toEqual(expected);
    expect(pushes(chained).map((request) => idsOf(eventsOf(request)))).toEqual([
      idsOf(batch.slice(0, 2)),
      idsOf(batch.slice(2, 4)),
      idsOf(batch.slice(4, 6)),
      idsOf(batch.slice(6, 8)),
    ]);
    expect(idsOf(await chained.stored())).toEqual(idsOf(await sequential.stored()));
  });

  it('splits further on a 413 over maxEventsPerPush and goes on with a new chain', async () => {
    server = new MockSyncServer({ maxEventsPerPush: 2 });
    network.resetHandlers(...server.handlers);
    const batch = alice.many(7);
    const results = await connect({ maxBatchSize: 3 }).push(batch);
    expect(results.map(versionOf)).toEqual(['1', '2', '3', '4', '5', '6', '7']);
    const requests = pushes();
    const [first] = requests;
    const retried = requests.filter((request) => request.chain?.id !== first?.chain?.id);
    expect(retried.map((request) => [request.chain?.seq, eventsOf(request).length])).toEqual([
      [0, 2],
      [1, 2],
      [2, 2],
      [3, 1],
    ]);
    await expectStored(batch);
  });

  it('halves on a 413 over maxBodyBytes for a later batch, aborts the requests after it, and goes on from it with a new chain', async () => {
    const small = (): Event => alice.make('small');
    const big = (): Event => alice.make('big', { data: { text: 'x'.repeat(600) } });
    const batch = [small(), small(), big(), big(), small(), small()];
    // Refused before the server reads it, like a body past maxBodyBytes: the chain never sees it.
    server.intercept = (request) =>
      (request.body?.length ?? 0) > 1000
        ? problemResponse(413, 'limit_exceeded', { limit: 'maxBodyBytes', max: 1000, actual: request.body?.length })
        : undefined;
    const results = await connect({ maxBatchSize: 2 }).push(batch);
    expect(results.map(versionOf)).toEqual(['1', '2', '3', '4', '5', '6']);
    const [first, refused, waiting, ...rest] = pushes();
    expect([first, refused, waiting].map((request) => request?.chain?.seq)).toEqual([0, 1, 2]);
    // Request 2 was waiting for request 1 on the server: the client dropped it.
    expect(server.dropped).toEqual([waiting]);
    expect(rest.map((request) => [request.chain?.seq, idsOf(eventsOf(request))])).toEqual([
      [0, [batch[2]!.id]],
      [1, [batch[3]!.id]],
      [2, [batch[4]!.id]],
      [3, [batch[5]!.id]],
    ]);
    expect(rest[0]?.chain?.id).not.toBe(first?.chain?.id);
    await expectStored(batch);
  });

  it('stops chaining after chain_unknown (two server nodes behind one address) and goes on one request after the other', async () => {
    // A load balancer: even seqs go to node A, odd ones and unchained pushes alternately to B and A.
    const log = server.log;
    const nodeA = new MockSyncServer({ log, chainWaitMs: 5000 });
    const nodeB = new MockSyncServer({ log, chainWaitMs: 50 });
    let turn = 0;
    network.resetHandlers(
      http.all(`${BASE_URL}/*`, async ({ request }) => {
        const chain = (JSON.parse((await request.clone().text()) || '{}') as { chain?: PushChain }).chain;
        // Request 1 reaches node B after request 3: its wait must not be cut short by request 3's.
        if (chain?.seq === 1) await delay(10);
        const node = chain ? (chain.seq % 2 === 0 ? nodeA : nodeB) : turn++ % 2 === 0 ? nodeB : nodeA;
        return node.handle(request);
      }),
    );
    const transport = connect({ maxBatchSize: 2 });
    expect(transport.preferredPushSize).toBe(2 * DEFAULT_HTTP_TRANSPORT_OPTIONS.pushWindow * 2);
    const batch = alice.many(8);
    const results = await transport.push(batch);
    expect(idsOf(results)).toEqual(idsOf(batch));
    expect(results.map(versionOf)).toEqual(['1', '2', '3', '4', '5', '6', '7', '8']);
    expect(transport.preferredPushSize).toBe(2); // one request per push from now on
    await expectStored(batch);
    const seen = [...pushes(nodeA), ...pushes(nodeB)];
    const chained = seen.filter((request) => request.chain !== undefined);
    expect(chained.map((request) => request.chain?.seq).sort()).toEqual([0, 1, 2, 3]);
    // Request 2 waited on node A for request 1, which went to node B: the client dropped it.
    expect(nodeA.dropped.map((request) => request.chain?.seq)).toEqual([2]);
    const unchained = seen.filter((request) => request.chain === undefined);
    expect(unchained.map((request) => idsOf(eventsOf(request))).sort()).toEqual(
      [batch.slice(2, 4), batch.slice(4, 6), batch.slice(6, 8)].map(idsOf).sort(),
    );
    // The transport chains no more.
    await transport.push(alice.many(4));
    expect([...pushes(nodeA), ...pushes(nodeB)].filter((request) => request.chain !== undefined)).toHaveLength(4);
  });

  it('goes on with a new chain after chain_broken for the oldest batch, and keeps chaining', async () => {
    const batch = alice.many(8);
    let broke = false;
    server.intercept = (request) => {
      if (request.chain?.seq !== 1 || broke) return undefined;
      broke = true;
      return problemResponse(409, 'chain_broken');
    };
    const transport = connect({ maxBatchSize: 2 });
    expect((await transport.push(batch)).map(versionOf)).toEqual(['1', '2', '3', '4', '5', '6', '7', '8']);
    await expectStored(batch);
    const requests = pushes();
    const firstId = requests[0]?.chain?.id;
    const again = requests.filter((request) => request.chain?.id !== firstId);
    expect(again.map((request) => [request.chain?.seq, idsOf(eventsOf(request))])).toEqual([
      [0, idsOf(batch.slice(2, 4))],
      [1, idsOf(batch.slice(4, 6))],
      [2, idsOf(batch.slice(6, 8))],
    ]);
    await transport.push(alice.many(4));
    expect(pushes().at(-1)?.chain?.seq).toBe(1);
  });

  it('goes on unchained after a batch meets chain_broken a second time', async () => {
    const batch = alice.many(6);
    server.intercept = (request) =>
      request.chain !== undefined && eventsOf(request)[0]?.id === batch[2]!.id
        ? problemResponse(409, 'chain_broken')
        : undefined;
    expect((await connect({ maxBatchSize: 2 }).push(batch)).map(versionOf)).toEqual(['1', '2', '3', '4', '5', '6']);
    await expectStored(batch);
    const withBatch1 = pushes().filter((request) => eventsOf(request)[0]?.id === batch[2]!.id);
    expect(withBatch1.map((request) => request.chain?.seq)).toEqual([1, 0, undefined]);
    expect(pushes().at(-1)?.chain).toBeUndefined();
  });

  it('fails on another error with the results answered before it, aborting the requests after it; a retry is safe', async () => {
    const batch = alice.many(8);
    server.intercept = (request) => (request.chain?.seq === 1 ? problemResponse(503, 'unavailable') : undefined);
    const transport = connect({ maxBatchSize: 2 });
    const error = await expectSyncError(() => transport.push(batch), 'unavailable');
    expect(error.retryable).toBe(true);
    expectAnsweredFirst(error, batch, 2);
    const requests = pushes();
    expect(requests.map((request) => request.chain?.seq)).toEqual([0, 1, 2, 3]);
    // Requests 2 and 3 waited on the server for request 1: the client dropped them; nothing was stored.
    expect(server.dropped).toEqual(requests.slice(2));
    await expectStored(batch.slice(0, 2));
    server.intercept = () => undefined;
    expect((await transport.push(batch)).map((result) => [result.status, versionOf(result)])).toEqual([
      ['duplicate', '1'],
      ['duplicate', '2'],
      ...batch.slice(2).map((_, i) => ['accepted', String(i + 3)]),
    ]);
    await expectStored(batch);
  });

  it('aborts every request in flight on the caller’s signal and on close()', async () => {
    // The server answers the first push of each chain, then nothing until the client drops the request.
    server.intercept = async (request) => {
      if (request.chain?.seq === 0) return undefined;
      await new Promise((resolve) => request.signal.addEventListener('abort', resolve, { once: true }));
      return problemResponse(503, 'unavailable');
    };
    const controller = new AbortController();
    const reason = new Error('user left');
    const transport = connect({ maxBatchSize: 2 });
    const pushing = transport.push(alice.many(10), { signal: controller.signal });
    await until(() => pushes().length === 5, 'push 0, then four requests');
    controller.abort(reason);
    await expect(pushing).rejects.toBe(reason);
    await until(() => server.dropped.length === 4, 'the server to see four requests dropped');
    expect(new Set(server.dropped)).toEqual(new Set(pushes().slice(1)));

    const closing = transport.push(alice.many(10));
    await until(() => pushes().length === 10, 'push 0, then four more requests');
    await transport.close();
    await expectSyncError(() => closing, 'closed');
    await until(() => server.dropped.length === 8, 'the server to see every request dropped');
    expect(new Set(server.dropped)).toEqual(new Set([...pushes().slice(1, 5), ...pushes().slice(6)]));
  });

  it('never has two requests in flight on a server that drops the chain member, and stops chaining there', async () => {
    server = new MockSyncServer({ echoesChains: false });
    network.resetHandlers(...server.handlers);
    const most = trackInFlight();
    const transport = connect({ maxBatchSize: 2 });
    const batch = alice.many(7);
    expect((await transport.push(batch)).map(versionOf)).toEqual(['1', '2', '3', '4', '5', '6', '7']);
    // Its first answer did not echo the chain: the rest went one request after the other, unchained.
    expect(chainsOf(pushes()).map((chain) => chain !== undefined)).toEqual([true, false, false, false]);
    expect(most()).toBe(1);
    await expectStored(batch);
    const before = pushes().length;
    await transport.push(alice.many(5));
    expect(chainsOf(pushes().slice(before))).toEqual([undefined, undefined, undefined]);
  });

  it('stops chaining on a server that refuses chains, and sends that batch and the rest unchained', async () => {
    server = new MockSyncServer({ chains: false });
    network.resetHandlers(...server.handlers);
    const transport = connect({ maxBatchSize: 2 });
    const batch = alice.many(5);
    expect((await transport.push(batch)).map(versionOf)).toEqual(['1', '2', '3', '4', '5']);
    await expectStored(batch);
    const unchained = pushes().filter((request) => request.chain === undefined);
    expect(unchained.map((request) => idsOf(eventsOf(request)))).toEqual([
      idsOf(batch.slice(0, 2)),
      idsOf(batch.slice(2, 4)),
      idsOf(batch.slice(4)),
    ]);
    const before = pushes().length;
    await transport.push(alice.many(5));
    expect(chainsOf(pushes().slice(before))).toEqual([undefined, undefined, undefined]);
  });

  it('goes on unchained for that push after a 400 naming no field, and fails on a 400 naming another field', async () => {
    server.intercept = (request) => (request.chain ? problemResponse(400, 'invalid_request') : undefined);
    const batch = alice.many(4);
    const transport = connect({ maxBatchSize: 2 });
    expect((await transport.push(batch)).map(versionOf)).toEqual(['1', '2', '3', '4']);
    // Not known to be about the chain: the next push tries a chain again.
    const before = pushes().length;
    const again = alice.many(4);
    await transport.push(again);
    expect(pushes()[before]?.chain?.seq).toBe(0);
    // A 400 naming nothing that was not about the chain fails the push once the unchained batch meets it too.
    server.intercept = () => problemResponse(400, 'invalid_request');
    await expectSyncError(() => connect({ maxBatchSize: 2 }).push(alice.many(4)), 'invalid_input');
    server.intercept = (request) =>
      request.chain ? problemResponse(400, 'invalid_request', { field: 'events.0.type' }) : undefined;
    const error = await expectSyncError(() => connect({ maxBatchSize: 2 }).push(alice.many(4)), 'invalid_input');
    expect(error.details).toMatchObject({ status: 400, field: 'events.0.type' });
    await expectStored([...batch, ...again]);
  });

  it('sends no chain where crypto.getRandomValues is missing', async () => {
    vi.stubGlobal('crypto', undefined);
    try {
      expect((await connect({ maxBatchSize: 2 }).push(alice.many(3))).map(versionOf)).toEqual(['1', '2', '3']);
    } finally {
      vi.unstubAllGlobals();
    }
    expect(chainsOf(pushes())).toEqual([undefined, undefined]);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.UTC(2026, 10, 24, 18, 0, 0);
  it.each<[string | null, number | undefined]>([
    ['120', 120_000],
    ['0', 0],
    [' 3 ', 3000],
    ['Tue, 24 Nov 2026 18:00:30 GMT', 30_000],
    ['Tue, 24 Nov 2026 17:00:00 GMT', 0],
    ['Tuesday, 24-Nov-26 18:01:00 GMT', 60_000],
    ['-1', undefined],
    ['1.5', undefined],
    ['soon', undefined],
    ['2026-11-24T18:00:30Z', undefined],
    [null, undefined],
  ])('reads %j as %j ms', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });
});
