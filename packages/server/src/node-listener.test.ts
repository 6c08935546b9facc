// nodeListener, the bridge from node:http to a web-standard handler, over real HTTP on 127.0.0.1.

import { MemoryServerEventLog } from '@eventsync/core';
import { Agent, createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createSyncHandler, nodeListener, type FetchHandler, type SyncHandler } from './index.js';
import { ALICE, batchOf, events, SseReader, TOKENS, waitUntil } from '../test/support.js';

let server: Server | undefined;
let agent: Agent | undefined;
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  agent?.destroy();
  agent = undefined;
  if (server) {
    server.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  }
  server = undefined;
});

async function listen(
  handler: FetchHandler | { readonly fetch: FetchHandler },
  onError?: (error: unknown) => void,
): Promise<string> {
  server = createServer(nodeListener(handler, onError ? { onError } : {}));
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly reusedSocket: boolean;
}

/** A request by node:http (which sends what it is told: any path, any body), answered in full. */
function send(
  url: string,
  options: { method?: string; path?: string; headers?: Record<string, string | string[]>; body?: Buffer | string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(url);
    const req = request(
      {
        hostname,
        port,
        path: options.path ?? '/',
        method: options.method ?? 'GET',
        headers: options.headers,
        ...(agent ? { agent } : { agent: false }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.once('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            reusedSocket: req.reusedSocket,
          }),
        );
        res.once('error', reject);
      },
    );
    req.once('error', reject);
    req.end(options.body);
  });
}

/** Settles `ms` milliseconds from now. */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('nodeListener', () => {
  it('hands the handler the method, the path and query as sent, every header, and the body', async () => {
    const url = await listen(async (req, env) => {
      const body = await req.text();
      return Response.json({
        remote: env.incoming.socket.remoteAddress,
        method: req.method,
        url: req.url,
        accept: req.headers.get('Accept'),
        custom: req.headers.get('X-Custom'),
        bytes: body.length,
        last: body.at(-1),
      });
    });
    const body = `${'x'.repeat(3 * 1024 * 1024)}!`;
    const answer = await send(url, {
      method: 'POST',
      path: '//other.example/v1/events?since=4&type=a&type=b',
      headers: { Host: 'sync.example:8080', Accept: 'application/json', 'X-Custom': ['one', 'two'] },
      body,
    });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({
      remote: '127.0.0.1',
      method: 'POST',
      // `//other.example` is part of the path, never a host.
      url: 'http://sync.example:8080//other.example/v1/events?since=4&type=a&type=b',
      accept: 'application/json',
      custom: 'one, two',
      bytes: body.length,
      last: '!',
    });

    const badHost = await send(url, { path: '/', headers: { Host: 'bad host\\name' } });
    expect(JSON.parse(badHost.body)).toMatchObject({ method: 'GET', url: 'http://localhost/' });
    // An absolute-form target (meant for a proxy) is read as its path and query, on the Host named.
    const absolute = await send(url, {
      path: 'http://elsewhere.example/v1/events?since=2',
      headers: { Host: 'sync.example' },
    });
    expect(JSON.parse(absolute.body)).toMatchObject({ url: 'http://sync.example/v1/events?since=2' });
  });

  it('writes the status, every header (each Set-Cookie on its own) and a large body intact', async () => {
    const payload = 'abcdefghij'.repeat(500_000);
    const url = await listen(() => {
      const headers = new Headers({ 'Content-Type': 'text/plain', 'X-Served-By': 'test' });
      headers.append('Set-Cookie', 'a=1; Path=/');
      headers.append('Set-Cookie', 'b=2; Path=/');
      return new Response(payload, { status: 202, headers });
    });
    const answer = await send(url);
    expect(answer.status).toBe(202);
    expect(answer.headers['content-type']).toBe('text/plain');
    expect(answer.headers['x-served-by']).toBe('test');
    expect(answer.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/']);
    expect(answer.body.length).toBe(payload.length);
    expect(answer.body === payload).toBe(true);
  });

  it("fires the request's signal and cancels the response body when the client goes away", async () => {
    let aborted!: () => void;
    const signalFired = new Promise<void>((resolve) => (aborted = resolve));
    let cancelled!: () => void;
    const bodyCancelled = new Promise<void>((resolve) => (cancelled = resolve));
    const url = await listen((req) => {
      req.signal.addEventListener('abort', () => aborted(), { once: true });
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(': opened\n\n'));
        },
        cancel() {
          cancelled();
        },
      });
      return new Response(body, { headers: { 'Content-Type': 'text/event-stream' } });
    });
    const client = new AbortController();
    const response = await fetch(url, { signal: client.signal });
    expect(response.headers.get('Content-Type')).toBe('text/event-stream');
    const reader = response.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe(': opened\n\n');
    client.abort();
    await Promise.all([signalFired, bodyCancelled]);
  });

  it('sends the headers of an event stream at once, before its first event', async () => {
    const url = await listen(
      () => new Response(new ReadableStream<Uint8Array>(), { headers: { 'Content-Type': 'text/event-stream' } }),
    );
    const client = new AbortController();
    // The body never yields: only headers sent at once let fetch resolve.
    const response = await fetch(url, { signal: AbortSignal.any([client.signal, AbortSignal.timeout(3000)]) });
    expect(response.status).toBe(200);
    expect(response.headers.get('Content-Type')).toBe('text/event-stream');
    client.abort();
  });

  it('reads a response body only as fast as the client takes it', async () => {
    const chunk = new Uint8Array(64 * 1024);
    let pulled = 0;
    let cancelled = false;
    const url = await listen(
      () =>
        new Response(
          new ReadableStream<Uint8Array>(
            {
              async pull(controller) {
                await new Promise((resolve) => setImmediate(resolve)); // a source that takes its time
                pulled++;
                controller.enqueue(chunk);
              },
              cancel() {
                cancelled = true;
              },
            },
            { highWaterMark: 0 },
          ),
          { headers: { 'Content-Type': 'application/octet-stream' } },
        ),
    );
    const req = request(url, { agent: false });
    const paused = new Promise<void>((resolve, reject) => {
      req.once('response', (res) => {
        res.pause(); // a client that stops reading: the socket's buffers fill up
        resolve();
      });
      req.once('error', reject);
    });
    req.end();
    await paused;
    // An endless body: the pulls stop once the buffers between the handler and the client are full.
    const bound = 64 * 1024 * 1024;
    let seen = -1;
    for (let round = 0; round < 100 && pulled !== seen && pulled * chunk.byteLength < bound; round++) {
      seen = pulled;
      await sleep(50);
    }
    expect(pulled).toBe(seen);
    expect(pulled * chunk.byteLength).toBeLessThan(bound);
    req.destroy();
    await waitUntil(() => cancelled, 3000, 'the body to be cancelled');
  });

  it('keeps a connection usable after an answer that left the request body unread', async () => {
    const url = await listen(async (req) => {
      if (req.method !== 'POST') return new Response('ok');
      if (req.headers.get('X-Read') === 'one') {
        const reader = req.body!.getReader();
        await reader.read(); // one chunk, then a refusal, as a body limit does
        await reader.cancel();
        return new Response('too large', { status: 413 });
      }
      return new Response('who are you?', { status: 401 }); // as authentication does, reading nothing
    });
    agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const body = Buffer.alloc(2 * 1024 * 1024, 1);
    const partly = await send(url, { method: 'POST', headers: { 'X-Read': 'one' }, body });
    expect(partly.status).toBe(413);
    const unread = await send(url, { method: 'POST', body });
    expect(unread).toMatchObject({ status: 401, reusedSocket: true });
    const next = await send(url);
    expect(next).toMatchObject({ status: 200, body: 'ok', reusedSocket: true });
  });

  it('answers 500 problem+json when the handler throws, and tells onError', async () => {
    const errors: unknown[] = [];
    const url = await listen(
      () => {
        throw new Error('boom');
      },
      (error) => errors.push(error),
    );
    const answer = await send(url);
    expect(answer.status).toBe(500);
    expect(answer.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(answer.body)).toMatchObject({
      type: 'urn:eventsync:problem:internal',
      status: 500,
      code: 'internal',
    });
    expect(errors).toEqual([new Error('boom')]);
  });

  it('cuts the connection when the response body fails midway, tells onError, and goes on serving', async () => {
    const errors: unknown[] = [];
    const url = await listen(
      (req) => {
        if (new URL(req.url).pathname === '/ok') return new Response('ok');
        return new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(new TextEncoder().encode('part of it'));
            },
            pull(controller) {
              controller.error(new Error('the source failed'));
            },
          }),
        );
      },
      (error) => {
        errors.push(error);
        throw new Error('a report that fails changes nothing');
      },
    );
    await expect(send(url)).rejects.toThrow();
    expect(errors).toEqual([new Error('the source failed')]);
    expect(await send(url, { path: '/ok' })).toMatchObject({ status: 200, body: 'ok' });
  });

  it('answers 400 problem+json for a request fetch cannot express, without asking the handler', async () => {
    let asked = 0;
    const url = await listen(() => {
      asked++;
      return new Response('ok');
    });
    const answer = await send(url, { method: 'TRACE' });
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toMatchObject({
      type: 'urn:eventsync:problem:invalid_request',
      status: 400,
      code: 'invalid_request',
    });
    expect(asked).toBe(0);
    expect((await send(url)).status).toBe(200);
  });

  it('serves a sync handler: pushes, pulls, and a stream that ends its subscription when the client leaves', async () => {
    const handler: SyncHandler = createSyncHandler({
      store: new MemoryServerEventLog(),
      tokens: TOKENS,
      basePath: '/sync',
    });
    cleanups.push(() => handler.close({ timeoutMs: 1000 }));
    const url = await listen(handler);
    const auth = { Authorization: `Bearer ${ALICE}` };

    const client = new AbortController();
    const stream = await fetch(`${url}/sync/v1/stream?since=0`, { headers: auth, signal: client.signal });
    expect(stream.status).toBe(200);
    const reader = new SseReader(stream.body!);
    expect((await reader.next())?.id).toBe('0');
    expect(handler.broker.stats.subscribers).toBe(1);

    const batch = events().many(3);
    const pushed = await fetch(`${url}/sync/v1/events`, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({ events: batch }),
    });
    expect(pushed.status).toBe(200);
    const live = batchOf(await reader.nextMessage());
    expect(live.events.map((item) => item.event.id)).toEqual(batch.map((event) => event.id));

    const page = (await (await fetch(`${url}/sync/v1/events?since=1`, { headers: auth })).json()) as {
      events: unknown[];
      next: string;
    };
    expect(page).toMatchObject({ next: '3' });
    expect(page.events).toHaveLength(2);
    expect((await fetch(`${url}/sync/v1/events?since=0`)).status).toBe(401);

    client.abort();
    await waitUntil(() => handler.broker.stats.subscribers === 0, 3000, 'the subscription to end');
  });
});
