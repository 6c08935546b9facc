// The app's own routes beside the mounted sync endpoint: public pages, a tenant-scoped API on the same
// tokens, and the prefix the sync endpoint lives under.

import { SyncError, type AppendResult, type CursorVersion, type Event, type SignalOptions } from '@eventsync/core';
import { SqliteEventStore } from '@eventsync/sqlite';
import { TestEvents } from '@eventsync/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { ACME, GLOBEX, startApp, type Running } from './support.js';

let running: Running | undefined;

afterEach(async () => {
  await running?.close();
  running = undefined;
});

async function push(server: Running, token: string, events: readonly Event[]): Promise<AppendResult[]> {
  const response = await server.call(`${server.app.syncPath}/v1/events`, token, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ events }),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { results: AppendResult[] }).results;
}

/** A SQLite store whose reads of the latest version fail while `failing` is set. */
class FlakyStore extends SqliteEventStore {
  failing = false;

  override async latestVersion(tenant: string, options?: SignalOptions): Promise<CursorVersion> {
    if (this.failing) throw new SyncError('storage', 'disk I/O error');
    return super.latestVersion(tenant, options);
  }
}

describe("the app's own routes", () => {
  it('serves the home page and the health check without credentials', async () => {
    const server = (running = await startApp());
    const home = await server.call('/');
    expect(home.status).toBe(200);
    expect(home.headers.get('Content-Type')).toBe('text/html; charset=utf-8');
    const page = await home.text();
    expect(page).toContain('/sync/v1/events');
    expect(page).toContain('<code>acme</code>, <code>globex</code>');
    expect(page).not.toContain(ACME);

    const health = await server.call('/health');
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const head = await server.call('/health', undefined, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('answers 503 on /health while the store fails, and 200 again once it answers', async () => {
    let store: FlakyStore | undefined;
    const server = (running = await startApp({ store: (path) => (store = new FlakyStore({ path })) }));
    store!.failing = true;
    const failing = await server.call('/health');
    expect(failing.status).toBe(503);
    expect(await failing.json()).toEqual({ status: 'unavailable' });
    store!.failing = false;
    expect((await server.call('/health')).status).toBe(200);
  });

  it("answers /api/stats with the caller's tenant only, and 401 without a valid token", async () => {
    const server = (running = await startApp());
    await push(server, ACME, new TestEvents({ clientId: 'acme-1' }).many(3, 2));
    await push(server, GLOBEX, new TestEvents({ clientId: 'globex-1' }).many(1));
    const stream = await server.call(`${server.app.syncPath}/v1/stream`, ACME);
    const reader = stream.body!.getReader();
    await reader.read(); // the opening message: the subscriber is registered by now

    expect(await (await server.call('/api/stats', ACME)).json()).toEqual({
      tenant: 'acme',
      events: 3,
      latestVersion: '3',
      streams: 1,
    });
    expect(await (await server.call('/api/stats', GLOBEX)).json()).toEqual({
      tenant: 'globex',
      events: 1,
      latestVersion: '1',
      streams: 0,
    });
    await reader.cancel();

    for (const [token, challenge] of [
      [undefined, 'Bearer realm="eventsync"'],
      ['not-a-token-of-ours', 'Bearer realm="eventsync", error="invalid_token"'],
    ] as const) {
      const refused = await server.call('/api/stats', token);
      expect(refused.status).toBe(401);
      expect(refused.headers.get('Content-Type')).toBe('application/problem+json');
      expect(refused.headers.get('WWW-Authenticate')).toBe(challenge);
      expect(await refused.json()).toMatchObject({ status: 401, code: 'unauthorized' });
    }
  });

  it('serves the protocol under the sync path only, and answers unknown paths and methods with problems', async () => {
    const server = (running = await startApp());
    const expectProblem = async (response: Response, status: number, code: string): Promise<void> => {
      expect(response.status).toBe(status);
      expect(response.headers.get('Content-Type')).toBe('application/problem+json');
      expect(((await response.json()) as { code: string }).code).toBe(code);
    };
    expect((await server.call('/sync/v1/version', ACME)).status).toBe(200);
    // Outside the prefix the protocol's paths are the app's, which has none of them.
    await expectProblem(await server.call('/v1/version', ACME), 404, 'not_found');
    await expectProblem(await server.call('/sync/v2/version', ACME), 404, 'not_found');
    await expectProblem(await server.call('/nothing-here'), 404, 'not_found');
    const post = await server.call('/health', undefined, { method: 'POST' });
    expect(post.headers.get('Allow')).toBe('GET, HEAD');
    await expectProblem(post, 405, 'method_not_allowed');
    const syncPost = await server.call('/sync/v1/version', ACME, { method: 'POST' });
    expect(syncPost.headers.get('Allow')).toBe('GET, HEAD');
    await expectProblem(syncPost, 405, 'method_not_allowed');
  });

  it('mounts the sync endpoint at another path when told to', async () => {
    const server = (running = await startApp({ syncPath: '/api/eventsync' }));
    expect(server.syncUrl).toBe(`${server.url}/api/eventsync`);
    expect(await (await server.call('/api/eventsync/v1/version', ACME)).json()).toEqual({ latest: '0' });
    expect((await server.call('/sync/v1/version', ACME)).status).toBe(404);
    expect((await server.call('/api/stats', ACME)).status).toBe(200);
  });
});
