// A browser's own EventSource (real Chromium, driven by playwright-core) follows /v1/stream, with a
// session cookie for credentials since an EventSource cannot send headers, and resumes with
// Last-Event-ID after the server cuts its stream: it gets exactly the events it missed.

import { CursorVersion, type Event } from '@eventsync/core';
import { HttpTransport } from '@eventsync/http';
import { SqliteEventStore } from '@eventsync/sqlite';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearerTokens, createSyncHandler, serve, type Authenticate, type RunningServer } from '../src/index.js';
import { ALICE, events, TOKENS } from './support.js';

const CHROMIUM = process.env.EVENTSYNC_CHROMIUM ?? '/usr/bin/chromium';
const IN_CI = process.env.CI === 'true' || process.env.CI === '1';
// Locally a missing Chromium skips with its reason; in CI the test runs anyway and fails.
const SKIP = !IN_CI && !existsSync(CHROMIUM);
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const SESSION = 'session-3f9c1d';
/** How long the EventSource waits before reconnecting (the stream's `retry:`). */
const RETRY_MS = 700;

/** The page: an EventSource on the stream from the start, keeping what it sees on `window`. */
const PAGE = `<!doctype html><meta charset="utf-8"><title>eventsync EventSource</title>
<script>
  window.received = [];
  window.messageIds = [];
  window.opens = 0;
  const source = new EventSource('/v1/stream?since=0');
  source.addEventListener('open', () => { window.opens++; });
  source.addEventListener('events', (message) => {
    window.messageIds.push(message.lastEventId);
    for (const item of JSON.parse(message.data).events) window.received.push(item.version + ' ' + item.event.id);
  });
</script>`;

/** Cookie sessions for the page, bearer tokens for Node clients. */
const bearer = bearerTokens(TOKENS);
const authenticate: Authenticate<string> = (request) => {
  const cookies = request.headers.get('Cookie') ?? '';
  if (cookies.split(/;\s*/).includes(`session=${SESSION}`)) return { principal: 'browser', tenant: 'acme' };
  return bearer(request);
};

let folder: string;
let store: SqliteEventStore;
let server: RunningServer;
let browser: Browser;
/** The `Last-Event-ID` of each stream request the server got (`null`: none). */
const streamRequests: (string | null)[] = [];
/** The sockets that carried stream requests, to drop them at the TCP level. */
const streamSockets = new Set<Socket>();
/** Ends every open stream response from the server's side, as a cut-off or a restart does. */
const openStreams = new Set<() => void>();

beforeAll(async () => {
  if (SKIP) return;
  folder = mkdtempSync(join(tmpdir(), 'eventsync-event-source-'));
  store = new SqliteEventStore({ path: join(folder, 'events.db') });
  const handler = createSyncHandler({ store, authenticate, sse: { retryMs: RETRY_MS } });
  server = await serve(
    {
      // The page comes from the same origin as the stream, and sets the session cookie.
      async fetch(request) {
        const url = new URL(request.url);
        if (url.pathname === '/') {
          return new Response(PAGE, {
            headers: {
              'Content-Type': 'text/html; charset=utf-8',
              'Cache-Control': 'no-store',
              'Set-Cookie': `session=${SESSION}; Path=/; HttpOnly; SameSite=Strict`,
            },
          });
        }
        if (url.pathname === '/favicon.ico') return new Response(null, { status: 404 });
        const response = await handler.fetch(request);
        if (url.pathname !== '/v1/stream' || response.status !== 200 || !response.body) return response;
        streamRequests.push(request.headers.get('Last-Event-ID'));
        return new Response(cuttable(response.body), response);
      },
      close: (options) => handler.close(options),
    },
    { port: 0, host: '127.0.0.1', shutdownTimeoutMs: 1_000 },
  );
  server.server.on('request', (request: IncomingMessage) => {
    if (request.url?.startsWith('/v1/stream')) streamSockets.add(request.socket);
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}, 30_000);

afterAll(async () => {
  if (SKIP) return;
  await browser?.close();
  await server?.close();
  await store?.close();
  rmSync(folder, { recursive: true, force: true });
});

/** The handler's stream, which the test can end from the server's side. */
function cuttable(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let cut!: () => void;
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      cut = () => {
        openStreams.delete(cut);
        void reader.cancel().catch(() => undefined);
        try {
          controller.close();
        } catch {
          // Already closed.
        }
      };
      openStreams.add(cut);
    },
    async pull(controller) {
      const { done, value } = await reader.read().catch(() => ({ done: true as const, value: undefined }));
      if (done) {
        openStreams.delete(cut);
        try {
          controller.close();
        } catch {
          // Cut meanwhile.
        }
      } else {
        controller.enqueue(value);
      }
    },
    cancel() {
      openStreams.delete(cut);
      return reader.cancel();
    },
  });
  return stream;
}

async function until<T>(page: Page, expression: string, accept: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = (await page.evaluate(expression)) as T;
    if (accept(value)) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}; last ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function expected(pushed: readonly Event[]): string[] {
  return pushed.map((event, i) => `${i + 1} ${event.id}`);
}

describe.skipIf(SKIP)(
  `a browser's native EventSource in Chromium${SKIP ? ` (skipped: no Chromium at ${CHROMIUM})` : ''}`,
  () => {
    it(
      'follows the stream with cookie credentials and resumes with Last-Event-ID after cuts, missing nothing and seeing nothing twice',
      { timeout: 45_000 },
      async () => {
        const pusher = new HttpTransport({ baseUrl: server.url, token: () => ALICE });
        const alice = events('alice');
        const pushed: Event[] = [];
        const push = async (count: number): Promise<void> => {
          const batch = alice.many(count, 2);
          pushed.push(...batch);
          const results = await pusher.push(batch);
          expect(results.every((result) => result.status === 'accepted')).toBe(true);
        };
        const page = await browser.newPage();
        try {
          // History first: three events before the page opens its stream from 0.
          await push(3);
          await page.goto(server.url);
          await until<number>(page, 'window.received.length', (n) => n === 3, 'the history');
          expect(streamRequests).toEqual([null]);

          // Live: pushes from Node reach the page.
          await push(2);
          await until<number>(page, 'window.received.length', (n) => n === 5, 'the live pushes');
          expect(await page.evaluate('window.received')).toEqual(expected(pushed));
          expect(await page.evaluate('window.messageIds.at(-1)')).toBe('5');

          // Cut 1: the server ends the response (as when it cuts off a slow reader or shuts down).
          expect(openStreams.size).toBe(1);
          for (const cut of [...openStreams]) cut();
          await push(3); // while the page is waiting to reconnect
          await until<number>(page, 'window.received.length', (n) => n >= 8, 'the events missed during cut 1');
          expect(streamRequests).toEqual([null, '5']);

          // Cut 2: the stream's connection dropped at the TCP level (a crash, a proxy restart).
          for (const socket of streamSockets) socket.destroy();
          await push(2);
          await until<number>(page, 'window.received.length', (n) => n >= 10, 'the events missed during cut 2');
          expect(streamRequests).toEqual([null, '5', '8']);

          // Still live after both resumptions, and every event exactly once, in order.
          await push(1);
          await until<number>(page, 'window.received.length', (n) => n >= 11, 'a push after the cuts');
          await new Promise((resolve) => setTimeout(resolve, 100));
          expect(await page.evaluate('window.received')).toEqual(expected(pushed));
          expect((await store.latestVersion('acme')).equals(CursorVersion.of(11))).toBe(true);
          expect(await page.evaluate('window.opens')).toBe(3);

          // The cookie is what lets it in: the same stream without it is refused.
          expect((await fetch(`${server.url}/v1/stream?since=0`)).status).toBe(401);
        } finally {
          await page.close();
          await pusher.close();
        }
      },
    );
  },
);
