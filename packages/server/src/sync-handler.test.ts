import {
  CheckedEvents,
  CursorVersion,
  MemoryServerEventLog,
  SyncError,
  type AppendOptions,
  type Event,
  type ReadOptions,
} from '@eventsync/core';
import { SqliteEventStore } from '@eventsync/sqlite';
import { Hono } from 'hono';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createSyncHandler, type RequestLogEntry } from './index.js';
import { ALICE, BOB, events, snapshot, testServer, TOKENS, type TestServer } from '../test/support.js';

interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  code: string;
  limit?: string;
  max?: number;
  actual?: number;
  eventId?: string;
}

async function problemOf(response: Response, status: number, code: string): Promise<Problem> {
  expect(response.status).toBe(status);
  expect(response.headers.get('Content-Type')).toBe('application/problem+json');
  const body = (await response.json()) as Problem;
  expect(body).toMatchObject({ status, code, type: `urn:eventsync:problem:${code}` });
  return body;
}

function rawPush(server: TestServer, body: BodyInit, headers: Record<string, string> = {}, token = ALICE) {
  return server.request('/v1/events', {
    method: 'POST',
    token,
    headers: { 'Content-Type': 'application/json', ...headers },
    body,
    ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
  });
}

describe('createSyncHandler routes', () => {
  it('answers health without credentials', async () => {
    const server = testServer();
    const response = await server.request('/v1/health');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok', protocol: 1 });
    expect((await server.request('/v1/health', { method: 'HEAD' })).status).toBe(200);
  });

  it('pushes, pulls and answers the latest version', async () => {
    const server = testServer();
    const alice = events();
    const batch = [alice.make('todo-1'), alice.make('todo-2'), alice.make('todo-1')];
    const pushed = await server.push(batch);
    expect(pushed.status).toBe(200);
    expect(await pushed.json()).toEqual({
      results: batch.map((event, i) => ({ id: event.id, status: 'accepted', version: String(i + 1) })),
    });

    const again = await server.push([batch[0]]);
    expect(await again.json()).toEqual({ results: [{ id: batch[0]!.id, status: 'duplicate', version: '1' }] });

    const pulled = await server.request('/v1/events?since=0', { token: ALICE });
    expect(pulled.status).toBe(200);
    const page = (await pulled.json()) as {
      events: { event: Event; version: string }[];
      next: string;
      hasMore: boolean;
    };
    expect(page.events.map((item) => [item.event.id, item.version])).toEqual(
      batch.map((e, i) => [e.id, String(i + 1)]),
    );
    expect(page).toMatchObject({ next: '3', hasMore: false });

    const latest = await server.request('/v1/version', { token: ALICE });
    expect(await latest.json()).toEqual({ latest: '3' });
  });

  it('pages a pull by limit and filters by type and aggregate', async () => {
    const server = testServer();
    const alice = events();
    await server.push([
      alice.make('todo-1', { type: 'todo.added' }),
      alice.make('todo-2', { type: 'todo.added' }),
      alice.make('todo-1', { type: 'todo.renamed' }),
      alice.make('todo-3', { type: 'todo.removed' }),
    ]);
    const first = (await (await server.request('/v1/events?since=0&limit=2', { token: ALICE })).json()) as unknown;
    expect(first).toMatchObject({ next: '2', hasMore: true });
    const second = (await (await server.request('/v1/events?since=2&limit=2', { token: ALICE })).json()) as unknown;
    expect(second).toMatchObject({ next: '4', hasMore: false });

    const filtered = (await (
      await server.request(
        '/v1/events?since=0&type=todo.added&type=todo.removed&aggregateId=todo-1&aggregateId=todo-3',
        {
          token: ALICE,
        },
      )
    ).json()) as { events: { version: string }[] };
    expect(filtered.events.map((item) => item.version)).toEqual(['1', '4']);
  });

  it('writes the pages of a store with readJson byte for byte as the pages of read', async () => {
    const plain = new MemoryServerEventLog();
    const raw = Object.assign(new MemoryServerEventLog(), {
      readJson: async function (this: MemoryServerEventLog, tenant: string, options?: ReadOptions) {
        const page = await this.read(tenant, options);
        const rows = page.events.map((item) => ({ json: JSON.stringify(item.event), version: item.version }));
        return { rows, next: page.next, hasMore: page.hasMore };
      },
    });
    const servers = [testServer({ store: plain }), testServer({ store: raw })];
    const alice = events();
    const batch = [alice.make('todo-1', { data: { title: 'é "quoted" \u2028', n: 1.5e-7 } }), alice.make('todo-2')];
    for (const server of servers) expect((await server.push(batch)).status).toBe(200);
    for (const query of ['since=0', 'since=0&limit=1', 'since=1&limit=1', 'since=2', 'since=0&aggregateId=todo-2']) {
      const [a, b] = await Promise.all(
        servers.map(async (server) => (await server.request(`/v1/events?${query}`, { token: ALICE })).text()),
      );
      expect(b).toBe(a);
    }
    const past = await servers[1]!.request('/v1/events?since=3', { token: ALICE });
    await problemOf(past, 400, 'invalid_cursor');
  });

  it('says Vary: Accept-Encoding on JSON answers whether or not the client takes gzip (not on HEAD)', async () => {
    const server = testServer();
    await server.push([events().make('todo-1')]);
    for (const encoding of [undefined, 'identity', 'gzip']) {
      const headers: Record<string, string> = encoding === undefined ? {} : { 'Accept-Encoding': encoding };
      for (const path of ['/v1/events?since=0', '/v1/version', '/v1/health', '/v1/events?since=9']) {
        const response = await server.request(path, { token: ALICE, headers });
        expect(response.headers.get('Vary'), `${path} ${encoding}`).toBe('Accept-Encoding');
      }
      const head = await server.request('/v1/events?since=0', { method: 'HEAD', token: ALICE, headers });
      expect(head.headers.get('Vary')).toBeNull();
    }
    const off = testServer({ compression: false });
    expect((await off.request('/v1/events?since=0', { token: ALICE })).headers.get('Vary')).toBeNull();
  });

  it('uses defaultPullLimit when the pull gives no limit', async () => {
    const server = testServer({ limits: { defaultPullLimit: 2 } });
    await server.push(events().many(3));
    const page = (await (await server.request('/v1/events', { token: ALICE })).json()) as unknown;
    expect(page).toMatchObject({ next: '2', hasMore: true });
  });

  it('answers 404 and 405 as problem documents', async () => {
    const server = testServer();
    const missing = await problemOf(await server.request('/v2/events', { token: ALICE }), 404, 'not_found');
    expect(missing.detail).toContain('/v2/events');
    const wrong = await server.request('/v1/events', { method: 'DELETE', token: ALICE });
    await problemOf(wrong, 405, 'method_not_allowed');
    expect(wrong.headers.get('Allow')).toBe('GET, HEAD, POST');
    const posted = await server.request('/v1/health', { method: 'POST' });
    await problemOf(posted, 405, 'method_not_allowed');
    expect(posted.headers.get('Allow')).toBe('GET, HEAD');
  });

  it('serves under a basePath', async () => {
    const server = testServer({ basePath: '/sync' });
    expect((await server.request('/sync/v1/health')).status).toBe(200);
    await problemOf(await server.request('/v1/health'), 404, 'not_found');
    expect(() => createSyncHandler({ store: new MemoryServerEventLog(), basePath: 'sync/' })).toThrow(SyncError);
  });

  it('can be mounted in another Hono app', async () => {
    const store = new MemoryServerEventLog();
    const outer = new Hono();
    outer.get('/', (c) => c.text('home'));
    outer.route('/sync', createSyncHandler({ store, tokens: TOKENS }));
    const pushed = await outer.fetch(
      new Request('http://localhost/sync/v1/events', {
        method: 'POST',
        headers: { Authorization: `Bearer ${ALICE}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ events: [events().make('todo-1')] }),
      }),
    );
    expect(pushed.status).toBe(200);
    expect((await store.latestVersion('acme')).toString()).toBe('1');
    const refused = await outer.fetch(new Request('http://localhost/sync/v1/version'));
    await problemOf(refused, 401, 'unauthorized');
    expect(await (await outer.fetch(new Request('http://localhost/'))).text()).toBe('home');
  });
});

describe('createSyncHandler authentication', () => {
  const protectedRoutes: [string, string][] = [
    ['GET', '/v1/events'],
    ['POST', '/v1/events'],
    ['GET', '/v1/version'],
    ['GET', '/v1/stream'],
  ];

  it.each(protectedRoutes)('refuses %s %s without credentials with 401 and a challenge', async (method, path) => {
    const server = testServer();
    const response = await server.request(path, { method });
    await problemOf(response, 401, 'unauthorized');
    expect(response.headers.get('WWW-Authenticate')).toBe('Bearer realm="eventsync"');
  });

  it.each(protectedRoutes)('refuses %s %s with an invalid token', async (method, path) => {
    const server = testServer();
    const response = await server.request(path, { method, token: 'not-a-token' });
    await problemOf(response, 401, 'unauthorized');
    expect(response.headers.get('WWW-Authenticate')).toBe('Bearer realm="eventsync", error="invalid_token"');
    const malformed = await server.request(path, { method, headers: { Authorization: 'Basic YWxpY2U6c2VjcmV0' } });
    await problemOf(malformed, 401, 'unauthorized');
  });

  it('refuses everything but health when given neither tokens nor authenticate', async () => {
    const handler = createSyncHandler({ store: new MemoryServerEventLog() });
    const refused = await handler.fetch(
      new Request('http://localhost/v1/version', { headers: { Authorization: `Bearer ${ALICE}` } }),
    );
    await problemOf(refused, 401, 'unauthorized');
    expect((await handler.fetch(new Request('http://localhost/v1/health'))).status).toBe(200);
  });

  it('takes the identity from a custom authenticate hook', async () => {
    const seen: string[] = [];
    const server = testServer({
      tokens: undefined,
      authenticate: (request) => {
        seen.push(request.headers.get('X-Api-Key') ?? '');
        return request.headers.get('X-Api-Key') === 'k1' ? { principal: 'service', tenant: 'globex' } : null;
      },
      challenge: 'ApiKey realm="test"',
    });
    expect((await server.request('/v1/version', { headers: { 'X-Api-Key': 'k1' } })).status).toBe(200);
    const refused = await server.request('/v1/version', { headers: { 'X-Api-Key': 'k2' } });
    await problemOf(refused, 401, 'unauthorized');
    expect(refused.headers.get('WWW-Authenticate')).toBe('ApiKey realm="test"');
    expect(seen).toEqual(['k1', 'k2']);
  });

  it('answers 403 when authenticate throws forbidden, and a bare 500 when it breaks', async () => {
    const logs: RequestLogEntry[] = [];
    const forbidden = testServer({
      tokens: undefined,
      authenticate: () => {
        throw new SyncError('forbidden', 'Suspended account');
      },
    });
    await problemOf(await forbidden.request('/v1/version'), 403, 'forbidden');
    const broken = testServer({
      tokens: undefined,
      logger: (entry) => logs.push(entry),
      authenticate: () => {
        throw new Error('database password is hunter2');
      },
    });
    const failed = await problemOf(await broken.request('/v1/version'), 500, 'internal');
    expect(JSON.stringify(failed)).not.toContain('hunter2');
    expect(logs[0]).toMatchObject({ status: 500, code: 'internal', error: 'database password is hunter2' });
    const badTenant = testServer({ tokens: undefined, authenticate: () => ({ principal: 'x', tenant: '' }) });
    await problemOf(await badTenant.request('/v1/version'), 500, 'internal');
  });

  it('refuses authenticate and tokens together', () => {
    expect(() =>
      createSyncHandler({ store: new MemoryServerEventLog(), tokens: TOKENS, authenticate: () => null }),
    ).toThrow(/not both/);
  });
});

describe('createSyncHandler tenants', () => {
  it('shows a tenant none of another tenant’s events, whatever it asks', async () => {
    const server = testServer();
    const alice = events('alice');
    const acme = [alice.make('todo-1'), alice.make('todo-2')];
    await server.push(acme, ALICE);
    const before = await snapshot(server.store, ['acme']);

    const pulled = (await (await server.request('/v1/events?since=0', { token: BOB })).json()) as unknown;
    expect(pulled).toEqual({ events: [], next: '0', hasMore: false });
    const filtered = (await (
      await server.request('/v1/events?since=0&aggregateId=todo-1', { token: BOB })
    ).json()) as unknown;
    expect(filtered).toMatchObject({ events: [] });
    expect(await (await server.request('/v1/version', { token: BOB })).json()).toEqual({ latest: '0' });
    await problemOf(await server.request('/v1/events?since=0&tenant=acme', { token: BOB }), 400, 'invalid_request');

    // Bob pushes Alice's event and one claiming tenant acme: neither reaches acme's log.
    const bob = events('bob');
    const claimed = bob.make('todo-1', { metadata: { tenant: 'acme' } });
    const pushed = (await (await server.push([acme[0], claimed], BOB)).json()) as { results: unknown[] };
    expect(pushed.results[0]).toEqual({ id: acme[0]!.id, status: 'accepted', version: '1' });
    expect(pushed.results[1]).toMatchObject({ id: claimed.id, status: 'rejected', code: 'forbidden' });
    const globex = (await (await server.request('/v1/events?since=0', { token: BOB })).json()) as {
      events: { event: Event }[];
    };
    for (const { event } of globex.events) expect(event.metadata.tenant ?? 'globex').toBe('globex');
    expect(await snapshot(server.store, ['acme'])).toBe(before);
  });
});

describe('createSyncHandler authorize', () => {
  it('rejects the events authorize refuses, with its reason, and answers the rest', async () => {
    const calls: unknown[] = [];
    const server = testServer({
      authorize: (event, identity) => {
        calls.push([event.aggregateId, identity]);
        if (event.aggregateId === 'read-only') return 'read-only list';
        if (event.aggregateId === 'secret') return false;
        return true;
      },
    });
    const alice = events();
    const batch = [alice.make('todo-1'), alice.make('read-only'), alice.make('secret'), alice.make('todo-2')];
    const body = (await (await server.push(batch)).json()) as { results: unknown[] };
    expect(body.results).toEqual([
      { id: batch[0]!.id, status: 'accepted', version: '1' },
      { id: batch[1]!.id, status: 'rejected', code: 'forbidden', reason: 'read-only list' },
      { id: batch[2]!.id, status: 'rejected', code: 'forbidden', reason: 'Not allowed' },
      { id: batch[3]!.id, status: 'accepted', version: '2' },
    ]);
    expect(calls[0]).toEqual(['todo-1', { principal: 'alice', tenant: 'acme' }]);
  });

  it('stores each event as pushed and answers its retry duplicate, whatever authorize changed in it', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'eventsync-authorize-'));
    const sqlite = new SqliteEventStore({ path: join(folder, 'events.db') });
    try {
      for (const store of [new MemoryServerEventLog(), sqlite]) {
        const server = testServer({
          store,
          // Not what authorize is for, but a hook may do it: the log must stay idempotent all the same.
          authorize: (event, identity) => {
            (event.data as Record<string, unknown>)['by'] = identity.principal;
            (event.metadata as Record<string, unknown>)['stamped'] = true;
            return true;
          },
        });
        const alice = events();
        const batch = [alice.make('todo-1', { data: { title: 'Milk' } }), alice.make('todo-2')];
        const first = (await (await server.push(batch)).json()) as { results: { status: string }[] };
        expect(first.results.map((result) => result.status)).toEqual(['accepted', 'accepted']);
        // The answer was lost; the client pushes the same events again, and once more within one batch.
        const again = (await (await server.push([...batch, batch[0]!])).json()) as { results: unknown[] };
        expect(again.results).toEqual([
          { id: batch[0]!.id, status: 'duplicate', version: '1' },
          { id: batch[1]!.id, status: 'duplicate', version: '2' },
          { id: batch[0]!.id, status: 'duplicate', version: '1' },
        ]);
        const page = await store.read('acme', { since: CursorVersion.ZERO });
        expect(page.events.map((item) => item.event)).toEqual(batch);
      }
    } finally {
      await sqlite.close();
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('stores nothing when authorize throws', async () => {
    const server = testServer({
      authorize: (event) => {
        if (event.aggregateId === 'boom') throw new Error('policy service down');
        return true;
      },
    });
    const alice = events();
    await problemOf(await server.push([alice.make('todo-1'), alice.make('boom')]), 500, 'internal');
    expect((await server.store.latestVersion('acme')).toString()).toBe('0');
  });
});

describe('createSyncHandler validates each pushed event once', () => {
  /** A memory log that records the options of every append. */
  function spiedStore(): {
    store: MemoryServerEventLog;
    appends: { events: readonly Event[]; options?: AppendOptions }[];
  } {
    const store = new MemoryServerEventLog();
    const appends: { events: readonly Event[]; options?: AppendOptions }[] = [];
    const append = store.append.bind(store);
    store.append = (tenant, batch, options) => {
      appends.push({ events: batch, ...(options === undefined ? {} : { options }) });
      return append(tenant, batch, options);
    };
    return { store, appends };
  }

  it('hands the log the checks of the events it passes, with the JSON they were pushed as', async () => {
    const { store, appends } = spiedStore();
    const server = testServer({ store, authorize: (event) => event.aggregateId !== 'secret' });
    const alice = events();
    const batch = [
      alice.make('todo-1'),
      { ...alice.make('todo-2'), type: '' },
      alice.make('secret'),
      alice.make('todo-3'),
    ];
    const body = (await (await server.push(batch)).json()) as { results: { status: string }[] };
    expect(body.results.map((result) => result.status)).toEqual(['accepted', 'rejected', 'rejected', 'accepted']);
    const [{ events: appended, options }] = appends as [(typeof appends)[number]];
    expect(appended.map((event) => event.id)).toEqual([batch[0]!.id, batch[3]!.id]);
    const checked = options?.checked;
    expect(checked).toBeInstanceOf(CheckedEvents);
    expect(appended.map((event) => checked!.jsonFor(event))).toEqual(
      [batch[0], batch[3]].map((e) => JSON.stringify(e)),
    );
  });

  it('still rejects every malformed event, on SQLite as on memory', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'eventsync-validate-once-'));
    const sqlite = new SqliteEventStore({ path: join(folder, 'events.db') });
    try {
      for (const store of [new MemoryServerEventLog(), sqlite]) {
        const server = testServer({ store: store });
        const alice = events();
        const good = alice.make('todo-1');
        const bad = [
          { ...alice.make('todo-2'), data: { at: '2026' }, metadata: { clientId: 'alice' } },
          { ...alice.make('todo-3'), id: 'not-a-ulid' },
          { ...alice.make('todo-4'), aggregateId: 'a'.repeat(257) },
          { ...alice.make('todo-5'), metadata: { ...alice.make('todo-5').metadata, baseVersion: 7 } },
        ];
        const body = (await (await server.push([...bad, good])).json()) as { results: { status: string }[] };
        expect(body.results.map((result) => result.status)).toEqual([
          'rejected',
          'rejected',
          'rejected',
          'rejected',
          'accepted',
        ]);
        const page = await store.read('acme');
        expect(page.events.map((item) => item.event)).toEqual([good]);
      }
    } finally {
      await sqlite.close();
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('stores an event as it was pushed and checked, and checks again one that authorize changed', async () => {
    const server = testServer({
      authorize: (event) => {
        if (event.aggregateId === 'todo-1') (event.data as Record<string, unknown>).title = 'changed';
        if (event.aggregateId === 'todo-2') (event as { aggregateId: string }).aggregateId = '';
        return true;
      },
    });
    const alice = events();
    const batch = [alice.make('todo-1', { data: { title: 'pushed' } }), alice.make('todo-2')];
    const body = (await (await server.push(batch)).json()) as { results: { status: string; code?: string }[] };
    expect(body.results.map((result) => `${result.status}:${result.code ?? ''}`)).toEqual([
      'accepted:',
      'rejected:invalid_event',
    ]);
    const page = await server.store.read('acme');
    expect(page.events.map((item) => item.event)).toEqual([batch[0]]);
  });
});

describe('createSyncHandler bad input', () => {
  /** Runs `attempt` against a log holding two events; the log must be unchanged and health still ok. */
  async function refused(
    attempt: (server: TestServer) => Promise<Response>,
    status: number,
    code: string,
    options: Parameters<typeof testServer>[0] = {},
  ): Promise<Problem> {
    const server = testServer(options);
    await server.push(events('seed').many(2));
    const before = await snapshot(server.store);
    const problem = await problemOf(await attempt(server), status, code);
    expect(await snapshot(server.store)).toBe(before);
    expect((await server.request('/v1/health')).status).toBe(200);
    expect((await server.request('/v1/version', { token: ALICE })).status).toBe(200);
    return problem;
  }

  it('answers malformed JSON with 400 invalid_request', async () => {
    const problem = await refused((s) => rawPush(s, '{"events": [}'), 400, 'invalid_request');
    expect(problem.detail).toContain('not valid JSON');
    await refused((s) => rawPush(s, ''), 400, 'invalid_request');
    await refused((s) => rawPush(s, new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), 400, 'invalid_request');
  });

  it.each([
    ['an array', '[]'],
    ['null', 'null'],
    ['events not an array', '{"events":{}}'],
    ['no events', '{}'],
    ['an unknown field', '{"events":[],"extra":1}'],
    ['a __proto__ member', '{"events":[],"__proto__":{"polluted":true}}'],
    ['a constructor member', '{"events":[],"constructor":{"prototype":{"polluted":true}}}'],
  ])('answers an envelope with %s with 400 invalid_request', async (_name, body) => {
    await refused((s) => rawPush(s, body), 400, 'invalid_request');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each([
    ['text/plain', { 'Content-Type': 'text/plain' }],
    ['form data', { 'Content-Type': 'application/x-www-form-urlencoded' }],
    ['JSON in latin1', { 'Content-Type': 'application/json; charset=latin1' }],
    ['a br encoding', { 'Content-Encoding': 'br' }],
    ['a deflate encoding', { 'Content-Encoding': 'deflate' }],
  ])('answers %s with 415 unsupported_media_type', async (_name, headers) => {
    await refused((s) => rawPush(s, JSON.stringify({ events: [] }), headers), 415, 'unsupported_media_type');
  });

  it('answers a body without Content-Type with 415', async () => {
    await refused(
      async (s) =>
        s.handler.fetch(
          new Request('http://localhost/v1/events', {
            method: 'POST',
            headers: { Authorization: `Bearer ${ALICE}` },
            body: new Blob([JSON.stringify({ events: [] })]),
          }),
        ),
      415,
      'unsupported_media_type',
    );
  });

  it('answers a gzip bomb with 413 naming maxBodyBytes without inflating it all', async () => {
    // 16 MiB of spaces inflate from about 16 KiB: well under maxBodyBytes on the wire.
    const bomb = gzipSync(Buffer.alloc(16 * 1024 * 1024, 0x20), { level: 9 });
    expect(bomb.length).toBeLessThan(64 * 1024);
    const started = Date.now();
    const problem = await refused((s) => rawPush(s, bomb, { 'Content-Encoding': 'gzip' }), 413, 'limit_exceeded');
    expect(problem).toMatchObject({ limit: 'maxBodyBytes', max: 4 * 1024 * 1024 });
    expect(problem.detail).toContain('inflates');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('answers broken gzip with 400 invalid_request', async () => {
    const truncated = gzipSync(Buffer.from(JSON.stringify({ events: [] }))).subarray(0, 12);
    await refused((s) => rawPush(s, truncated, { 'Content-Encoding': 'gzip' }), 400, 'invalid_request');
    await refused((s) => rawPush(s, '{"events":[]}', { 'Content-Encoding': 'gzip' }), 400, 'invalid_request');
  });

  it('answers an oversized body with 413 naming maxBodyBytes, declared or streamed', async () => {
    const limits = { maxBodyBytes: 1024 };
    const big = JSON.stringify({ events: [], pad: 'x'.repeat(2000) });
    const declared = await refused(
      (s) => rawPush(s, big, { 'Content-Length': String(big.length) }),
      413,
      'limit_exceeded',
      { limits },
    );
    expect(declared).toMatchObject({ limit: 'maxBodyBytes', max: 1024, actual: big.length });
    const chunks = [big.slice(0, 600), big.slice(600, 1200), big.slice(1200)];
    const streamed = await refused(
      (s) =>
        rawPush(
          s,
          new ReadableStream<Uint8Array>({
            start(controller) {
              for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
              controller.close();
            },
          }),
        ),
      413,
      'limit_exceeded',
      { limits },
    );
    expect(streamed).toMatchObject({ limit: 'maxBodyBytes', max: 1024 });
  });

  it('answers a batch past maxEventsPerPush with 413 naming it', async () => {
    const problem = await refused((s) => s.push(events().many(6)), 413, 'limit_exceeded', {
      limits: { maxEventsPerPush: 5 },
    });
    expect(problem).toMatchObject({ limit: 'maxEventsPerPush', max: 5, actual: 6 });
  });

  it('refuses a whole push holding one event past maxEventBytes with 413 naming it', async () => {
    const alice = events();
    const big = alice.make('todo-1', { data: { text: 'x'.repeat(2000) } });
    const problem = await refused((s) => s.push([alice.make('todo-2'), big]), 413, 'limit_exceeded', {
      limits: { maxEventBytes: 1024 },
    });
    expect(problem).toMatchObject({ limit: 'maxEventBytes', max: 1024, eventId: big.id });
    expect(problem.actual).toBeGreaterThan(2000);
  });

  it.each(['abc', '-1', '01', '1.5', '99999999999999999999', ''])(
    'answers since=%j with 400 invalid_cursor',
    async (since) => {
      await refused((s) => s.request(`/v1/events?since=${since}`, { token: ALICE }), 400, 'invalid_cursor');
    },
  );

  it('answers a cursor past the tenant’s latest version with 400 invalid_cursor', async () => {
    const problem = await refused((s) => s.request('/v1/events?since=3', { token: ALICE }), 400, 'invalid_cursor');
    expect(problem.detail).toContain('past');
    // Another tenant's log is not longer for it: globex is empty.
    await refused((s) => s.request('/v1/events?since=1', { token: BOB }), 400, 'invalid_cursor');
    await refused((s) => s.request('/v1/stream?since=3', { token: ALICE }), 400, 'invalid_cursor');
    await refused(
      (s) => s.request('/v1/stream', { token: ALICE, headers: { 'Last-Event-ID': '3' } }),
      400,
      'invalid_cursor',
    );
  });

  it('answers a bad limit with 400 invalid_request and one past maxPullLimit with 400 limit_exceeded', async () => {
    for (const limit of ['0', 'abc', '-5', '2.5']) {
      await refused((s) => s.request(`/v1/events?limit=${limit}`, { token: ALICE }), 400, 'invalid_request');
    }
    const problem = await refused((s) => s.request('/v1/events?limit=1001', { token: ALICE }), 400, 'limit_exceeded');
    expect(problem).toMatchObject({ limit: 'maxPullLimit', max: 1000, actual: 1001 });
  });

  it('answers unknown query parameters with 400 invalid_request', async () => {
    await refused((s) => s.request('/v1/events?sinse=3', { token: ALICE }), 400, 'invalid_request');
    await refused((s) => s.request('/v1/stream?type=x', { token: ALICE }), 400, 'invalid_request');
  });

  it('answers a bad stream cursor with 400 invalid_cursor', async () => {
    await refused((s) => s.request('/v1/stream?since=x', { token: ALICE }), 400, 'invalid_cursor');
    await refused(
      (s) => s.request('/v1/stream', { token: ALICE, headers: { 'Last-Event-ID': 'abc' } }),
      400,
      'invalid_cursor',
    );
  });

  it('rejects malformed events one by one and stores the rest', async () => {
    const server = testServer();
    const alice = events();
    const good = alice.make('todo-1');
    const withField = { ...alice.make('todo-2'), version: 3 };
    const withProto = JSON.parse(
      `{"__proto__":{"polluted":true},${JSON.stringify(alice.make('todo-3')).slice(1)}`,
    ) as Event;
    const response = await rawPush(
      server,
      `{"events":[${JSON.stringify(withField)},"nope",${JSON.stringify(withProto)},{"id":"x"},${JSON.stringify(good)}]}`,
    );
    const body = (await response.json()) as { results: { status: string; code?: string; id: string }[] };
    expect(body.results.map((result) => `${result.status}:${result.code ?? ''}`)).toEqual([
      'rejected:invalid_event',
      'rejected:invalid_event',
      'rejected:invalid_event',
      'rejected:invalid_event',
      'accepted:',
    ]);
    expect(body.results[0]!.id).toBe(withField.id);
    expect(body.results[1]!.id).toBe('');
    expect((await server.store.latestVersion('acme')).toString()).toBe('1');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('stores __proto__ inside data as plain data', async () => {
    const server = testServer();
    const event = events().make('todo-1');
    const text = JSON.stringify(event).replace('"data":{"n":0}', '"data":{"__proto__":{"polluted":true},"n":0}');
    expect(text).toContain('__proto__');
    expect((await rawPush(server, `{"events":[${text}]}`)).status).toBe(200);
    const page = (await (await server.request('/v1/events', { token: ALICE })).json()) as {
      events: { event: Event }[];
    };
    const data = page.events[0]!.event.data as Record<string, unknown>;
    expect(Object.keys(data)).toEqual(['__proto__', 'n']);
    expect(Object.getPrototypeOf(data)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('createSyncHandler compression', () => {
  it('takes a gzip request body', async () => {
    const server = testServer();
    const batch = events().many(3);
    const response = await rawPush(server, gzipSync(JSON.stringify({ events: batch })), { 'Content-Encoding': 'gzip' });
    expect(response.status).toBe(200);
    expect((await server.store.latestVersion('acme')).toString()).toBe('3');
  });

  it('gzips large responses for clients that accept it, and only for them', async () => {
    const server = testServer();
    await server.push(events().many(50));
    const zipped = await server.request('/v1/events', { token: ALICE, headers: { 'Accept-Encoding': 'gzip' } });
    expect(zipped.headers.get('Content-Encoding')).toBe('gzip');
    const body = JSON.parse(gunzipSync(Buffer.from(await zipped.arrayBuffer())).toString()) as { events: unknown[] };
    expect(body.events).toHaveLength(50);
    const plain = await server.request('/v1/events', { token: ALICE });
    expect(plain.headers.get('Content-Encoding')).toBeNull();
    const off = testServer({ compression: false });
    await off.push(events().many(50));
    const unzipped = await off.request('/v1/events', { token: ALICE, headers: { 'Accept-Encoding': 'gzip' } });
    expect(unzipped.headers.get('Content-Encoding')).toBeNull();
  });
});

describe('createSyncHandler CORS', () => {
  it('answers a preflight and marks responses, errors included', async () => {
    const server = testServer({ cors: { origin: 'https://app.example' } });
    const preflight = await server.request('/v1/events', {
      method: 'OPTIONS',
      headers: {
        Origin: 'https://app.example',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'authorization, content-type, content-encoding',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('Access-Control-Allow-Origin')).toBe('https://app.example');
    expect(preflight.headers.get('Access-Control-Allow-Methods')).toContain('POST');
    expect(preflight.headers.get('Access-Control-Allow-Headers')).toBe('authorization,content-type,content-encoding');

    const refused = await server.request('/v1/version', { headers: { Origin: 'https://app.example' } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('Access-Control-Allow-Origin')).toBe('https://app.example');
    expect(refused.headers.get('Access-Control-Expose-Headers')).toBe('Retry-After,WWW-Authenticate');

    const other = await server.request('/v1/health', { headers: { Origin: 'https://evil.example' } });
    expect(other.headers.get('Access-Control-Allow-Origin')).toBeNull();
  });

  it('sends no CORS headers unless asked to', async () => {
    const server = testServer();
    const response = await server.request('/v1/health', { headers: { Origin: 'https://app.example' } });
    expect(response.headers.get('Access-Control-Allow-Origin')).toBeNull();
  });
});

describe('createSyncHandler request logs', () => {
  it('writes one structured entry per request', async () => {
    const logs: RequestLogEntry[] = [];
    const server = testServer({ logger: (entry) => logs.push(entry) });
    await server.push(events().many(1));
    await server.request('/v1/version');
    await server.request('/v1/health?x=1');
    expect(logs).toHaveLength(3);
    expect(logs[0]).toMatchObject({ method: 'POST', path: '/v1/events', status: 200, tenant: 'acme' });
    expect(logs[0]!.code).toBeUndefined();
    expect(logs[1]).toMatchObject({ method: 'GET', path: '/v1/version', status: 401, code: 'unauthorized' });
    expect(logs[1]!.tenant).toBeUndefined();
    expect(logs[2]).toMatchObject({ path: '/v1/health', status: 200 });
    for (const entry of logs) {
      expect(entry.ms).toBeGreaterThanOrEqual(0);
      expect(Date.parse(entry.time)).not.toBeNaN();
    }
  });

  it('keeps serving when the log sink throws', async () => {
    const server = testServer({
      logger: () => {
        throw new Error('disk full');
      },
    });
    expect((await server.request('/v1/health')).status).toBe(200);
  });
});

describe('createSyncHandler errors of the store', () => {
  it('answers 503 unavailable without the store’s message when the log fails', async () => {
    const store = new MemoryServerEventLog();
    store.read = () => Promise.reject(new SyncError('storage', 'SQLITE_IOERR at /secret/path.db'));
    const server = testServer({ store });
    const problem = await problemOf(await server.request('/v1/events', { token: ALICE }), 503, 'unavailable');
    expect(JSON.stringify(problem)).not.toContain('/secret');
  });

  it('answers, counts and logs a request whose store throws something that is not an Error', async () => {
    const store = new MemoryServerEventLog();
    store.read = () => Promise.reject('the client went away'); // e.g. an abort reason that is a string
    const logs: RequestLogEntry[] = [];
    const server = testServer({ store, logger: (entry) => logs.push(entry) });
    const response = await server.request('/v1/events', { token: ALICE });
    expect(response.headers.get('Content-Type')).toBe('application/problem+json');
    expect(logs).toEqual([expect.objectContaining({ path: '/v1/events', status: response.status })]);
  });

  it('answers 500 internal when the store answers the wrong number of results', async () => {
    const store = new MemoryServerEventLog();
    store.append = () => Promise.resolve([]);
    const server = testServer({ store });
    await problemOf(await server.push(events().many(2)), 500, 'internal');
  });
});

describe('createSyncHandler shutdown', () => {
  it('finishes requests in flight, then answers 503 to everything', async () => {
    const store = new MemoryServerEventLog();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const append = store.append.bind(store);
    store.append = async (tenant, batch, options) => {
      await gate;
      return append(tenant, batch, options);
    };
    const server = testServer({ store });
    const pending = server.push(events().many(2));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(server.handler.inFlight).toBe(1);
    let closed = false;
    const closing = server.handler.close().then(() => (closed = true));
    expect(server.handler.closing).toBe(true);
    await problemOf(await server.request('/v1/health'), 503, 'unavailable');
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(closed).toBe(false);
    release();
    expect((await pending).status).toBe(200);
    await closing;
    expect((await store.latestVersion('acme')).toString()).toBe('2');
  });

  it('gives up on requests in flight after timeoutMs', async () => {
    const store = new MemoryServerEventLog();
    store.latestVersion = () => new Promise<CursorVersion>(() => undefined);
    const server = testServer({ store });
    void server.request('/v1/version', { token: ALICE });
    await new Promise((resolve) => setTimeout(resolve, 10));
    const started = Date.now();
    await server.handler.close({ timeoutMs: 50 });
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
