// nodeListener, the bridge from node:http to a web-standard handler, over real HTTP on 127.0.0.1.

import { Agent, createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeListener, type FetchHandler } from '../src/node-listener.js';

let server: Server | undefined;
let agent: Agent | undefined;

afterEach(async () => {
  agent?.destroy();
  agent = undefined;
  if (server) {
    server.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  }
  server = undefined;
});

async function listen(handler: FetchHandler, onError?: (error: unknown) => void): Promise<string> {
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
    const req = request(
      `${url}${options.path ?? '/'}`,
      { method: options.method ?? 'GET', headers: options.headers, ...(agent ? { agent } : { agent: false }) },
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

describe('nodeListener', () => {
  it('hands the handler the method, the path and query as sent, every header, and the body', async () => {
    const url = await listen(async (req) => {
      const body = await req.text();
      return Response.json({
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
    expect(JSON.parse(answer.body)).toMatchObject({ status: 500, code: 'internal' });
    expect(errors).toEqual([new Error('boom')]);
  });

  it('answers 400 problem+json for a request fetch cannot express, without asking the handler', async () => {
    let asked = 0;
    const url = await listen(() => {
      asked++;
      return new Response('ok');
    });
    const answer = await send(url, { method: 'TRACE' });
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toMatchObject({ status: 400, code: 'invalid_request' });
    expect(asked).toBe(0);
    expect((await send(url)).status).toBe(200);
  });
});
