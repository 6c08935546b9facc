import { CursorVersion } from '@eventsync/core';
import { SqliteEventStore } from '@eventsync/sqlite';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSyncHandler, serve, type RunningServer } from '../src/index.js';
import { ALICE, BOB, batchOf, events, snapshot, SseReader, TOKENS } from './support.js';

let folder: string;
let store: SqliteEventStore;
let server: RunningServer;

beforeEach(async () => {
  folder = mkdtempSync(join(tmpdir(), 'eventsync-server-sqlite-'));
  store = new SqliteEventStore({ path: join(folder, 'events.db') });
  server = await serve(createSyncHandler({ store, tokens: TOKENS }), { port: 0 });
});

afterEach(async () => {
  await server.close();
  await store.close();
  rmSync(folder, { recursive: true, force: true });
});

function call(path: string, token: string | undefined, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (token) headers.set('Authorization', `Bearer ${token}`);
  return fetch(`${server.url}${path}`, { ...init, headers });
}

function push(body: BodyInit, token = ALICE, headers: Record<string, string> = {}): Promise<Response> {
  return call('/v1/events', token, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body,
  });
}

describe('the sync server on a SQLite file, over HTTP', () => {
  it('pushes, answers duplicates, pulls, and streams a push to a subscriber', async () => {
    const stream = new SseReader((await call('/v1/stream', ALICE)).body!);
    expect((await stream.next())?.id).toBe('0');
    const batch = events().many(3, 2);
    const pushed = await push(JSON.stringify({ events: batch }));
    expect(((await pushed.json()) as { results: { status: string }[] }).results.map((r) => r.status)).toEqual([
      'accepted',
      'accepted',
      'accepted',
    ]);
    const again = (await (await push(JSON.stringify({ events: batch.slice(0, 1) }))).json()) as unknown;
    expect(again).toEqual({ results: [{ id: batch[0]!.id, status: 'duplicate', version: '1' }] });
    const seen: string[] = [];
    while (seen.length < 3) seen.push(...batchOf(await stream.nextMessage()).events.map((item) => item.version));
    expect(seen).toEqual(['1', '2', '3']);
    await stream.cancel();
    const page = (await (await call('/v1/events?since=1&aggregateId=agg-0', ALICE)).json()) as unknown;
    expect(page).toMatchObject({ events: [{ version: '3' }], next: '3', hasMore: false });
    expect(await (await call('/v1/version', BOB)).json()).toEqual({ latest: '0' });
  });

  it('changes nothing stored on bad input and keeps serving', async () => {
    await push(JSON.stringify({ events: events().many(2) }));
    const before = await snapshot(store);
    const bomb = gzipSync(Buffer.alloc(16 * 1024 * 1024, 0x20), { level: 9 });
    const big = { ...events().make('x'), data: { t: 'x'.repeat(70_000) } };
    const attempts: [() => Promise<Response>, number][] = [
      [() => push('{"events":['), 400],
      [() => push(JSON.stringify({ events: [] }), ALICE, { 'Content-Type': 'text/plain' }), 415],
      [() => push(bomb, ALICE, { 'Content-Encoding': 'gzip' }), 413],
      [() => push(JSON.stringify({ events: events().many(1001) })), 413],
      [() => push(JSON.stringify({ events: [big] })), 413],
      [() => push(JSON.stringify({ events: [], unknown: true })), 400],
      [() => push('{"events":[],"__proto__":{"polluted":1}}'), 400],
      [() => push(JSON.stringify({ events: events().many(1) }), 'wrong-token'), 401],
      [() => push(JSON.stringify({ events: events().many(1) }), ''), 401],
      [() => call('/v1/events?since=x', ALICE), 400],
      [() => call('/v1/events?since=5', ALICE), 400],
      [() => call('/v1/events?limit=5000', ALICE), 400],
    ];
    for (const [attempt, status] of attempts) {
      const response = await attempt();
      expect(response.status).toBe(status);
      expect(response.headers.get('Content-Type')).toBe('application/problem+json');
      expect((await call('/v1/health', undefined)).status).toBe(200);
    }
    expect(await snapshot(store)).toBe(before);
    expect((await store.latestVersion('acme')).equals(CursorVersion.of(2))).toBe(true);
  });
});
