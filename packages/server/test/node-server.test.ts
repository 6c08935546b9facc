import { MemoryServerEventLog, type Event } from '@eventsync/core';
import http from 'node:http';
import net from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import {
  closeGracefully,
  createSyncHandler,
  serve,
  type RunningServer,
  type SyncHandlerOptions,
} from '../src/index.js';
import { ALICE, batchOf, events, SseReader, TOKENS, waitUntil } from './support.js';

const running: RunningServer[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((server) => server.close()));
});

async function start(options: Partial<SyncHandlerOptions<string>> = {}) {
  const store = (options.store as MemoryServerEventLog | undefined) ?? new MemoryServerEventLog();
  const handler = createSyncHandler<string>({ tokens: TOKENS, ...options, store });
  const server = await serve(handler, { port: 0, host: '127.0.0.1', shutdownTimeoutMs: 2000 });
  running.push(server);
  const auth = { Authorization: `Bearer ${ALICE}` };
  return { store, handler, server, auth };
}

describe('serve', () => {
  it('serves the protocol over real HTTP on a free port', async () => {
    const { server, auth } = await start();
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    expect(server.port).toBeGreaterThan(0);
    const health = await fetch(`${server.url}/v1/health`);
    expect(await health.json()).toEqual({ status: 'ok', protocol: 1 });
    const batch = events().many(3);
    const pushed = await fetch(`${server.url}/v1/events`, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({ events: batch }),
    });
    expect(pushed.status).toBe(200);
    const page = (await (await fetch(`${server.url}/v1/events?since=0`, { headers: auth })).json()) as {
      events: { event: Event }[];
    };
    expect(page.events.map((item) => item.event.id)).toEqual(batch.map((event) => event.id));
  });

  it('refuses a body whose Content-Length passes maxBodyBytes before reading it', async () => {
    const { server, auth, store } = await start({ limits: { maxBodyBytes: 1000 } });
    const body = JSON.stringify({ events: events().many(20) });
    const response = await fetch(`${server.url}/v1/events`, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/json' },
      body,
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ code: 'limit_exceeded', limit: 'maxBodyBytes', actual: body.length });
    expect((await store.latestVersion('acme')).toString()).toBe('0');
    expect((await fetch(`${server.url}/v1/health`)).status).toBe(200);
  });

  it('takes gzip bodies and answers gzip to clients that accept it', async () => {
    const { server, auth } = await start();
    const pushed = await fetch(`${server.url}/v1/events`, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' },
      body: gzipSync(JSON.stringify({ events: events().many(40) })),
    });
    expect(pushed.status).toBe(200);
    const pulled = await fetch(`${server.url}/v1/events`, { headers: { ...auth, 'Accept-Encoding': 'gzip' } });
    expect(pulled.headers.get('Content-Encoding')).toBe('gzip');
    expect(((await pulled.json()) as { events: unknown[] }).events).toHaveLength(40);
  });

  it('brings a push to a stream subscriber promptly', async () => {
    const { server, auth } = await start();
    const response = await fetch(`${server.url}/v1/stream`, { headers: { ...auth, Accept: 'text/event-stream' } });
    const stream = new SseReader(response.body!);
    expect((await stream.next())?.id).toBe('0');
    const [event] = events().many(1);
    await fetch(`${server.url}/v1/events`, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({ events: [event] }),
    });
    const batch = batchOf(await stream.nextMessage(5000));
    expect(batch.events.map((item) => item.event.id)).toEqual([event!.id]);
    await stream.cancel();
  });

  it('cuts off a subscriber whose socket stops draining', async () => {
    const { server, auth, handler, store } = await start({ sse: { maxQueuedBatches: 4, batchSize: 1 } });
    const request = http.get(`${server.url}/v1/stream`, { headers: auth });
    const response = await new Promise<http.IncomingMessage>((resolve) => request.once('response', resolve));
    response.pause(); // never read: the socket's buffers fill, then the subscriber's queue
    await waitUntil(() => handler.broker.stats.subscribers === 1);
    const alice = events();
    const padding = 'x'.repeat(32 * 1024);
    for (let i = 0; i < 400 && handler.broker.stats.disconnected === 0; i++) {
      await store.append('acme', [alice.make(`todo-${i}`, { data: { padding } })]);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(handler.broker.stats.disconnected).toBe(1);
    expect(handler.broker.stats.subscribers).toBe(0);
    request.destroy();
    expect((await fetch(`${server.url}/v1/health`)).status).toBe(200);
  });

  it('shuts down gracefully: in-flight requests finish, streams end, new connections are refused', async () => {
    const store = new MemoryServerEventLog();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const append = store.append.bind(store);
    store.append = async (tenant, batch, options) => {
      await gate;
      return append(tenant, batch, options);
    };
    const { server, auth, handler } = await start({ store });
    const streamResponse = await fetch(`${server.url}/v1/stream`, { headers: auth });
    const stream = new SseReader(streamResponse.body!);
    await stream.next();
    const inFlight = fetch(`${server.url}/v1/events`, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({ events: events().many(2) }),
    });
    await waitUntil(() => handler.inFlight === 1);
    const closing = server.close();
    expect(await stream.next()).toBeUndefined();
    release();
    expect((await inFlight).status).toBe(200);
    await closing;
    await server.closed;
    await expect(fetch(`${server.url}/v1/health`)).rejects.toThrow();
    expect((await store.latestVersion('acme')).toString()).toBe('2');
  });

  it('shuts down when its signal fires or on a process signal it was given', async () => {
    const handler = createSyncHandler({ store: new MemoryServerEventLog(), tokens: TOKENS });
    const controller = new AbortController();
    const bySignal = await serve(handler, { port: 0, signal: controller.signal });
    controller.abort();
    await bySignal.closed;
    expect(handler.closing).toBe(true);

    const other = createSyncHandler({ store: new MemoryServerEventLog(), tokens: TOKENS });
    const before = process.listenerCount('SIGTERM');
    const byProcess = await serve(other, { port: 0, shutdownOn: ['SIGTERM'] });
    expect(process.listenerCount('SIGTERM')).toBe(before + 1);
    process.emit('SIGTERM');
    await byProcess.closed;
    expect(process.listenerCount('SIGTERM')).toBe(before);
  });

  it('closes an idle kept-alive connection after keepAliveTimeoutMs, and leaves the header timeout alone', async () => {
    const handler = createSyncHandler({ store: new MemoryServerEventLog(), tokens: TOKENS });
    const server = await serve(handler, { port: 0, keepAliveTimeoutMs: 200, shutdownTimeoutMs: 2000 });
    running.push(server);
    expect(server.server.keepAliveTimeout).toBe(200);
    const socket = net.connect(server.port, '127.0.0.1');
    const closedByServer = new Promise<string>((resolve) => {
      let answer = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
      socket.once('end', () => resolve(answer));
    });
    socket.write('GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n');
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bounded = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('still open after 3 s (node:http closes it after 5 s)')), 3_000);
    });
    const answer = await Promise.race([closedByServer, bounded]).finally(() => clearTimeout(timer));
    socket.destroy();
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer).toMatch(/keep-alive/i);

    const longer = await serve(handler, { port: 0, keepAliveTimeoutMs: 65_000 });
    running.push(longer);
    expect(longer.server.keepAliveTimeout).toBe(65_000);
    expect(longer.server.headersTimeout).toBe(server.server.headersTimeout); // a slow client's headers still time out
    const byDefault = await serve(handler, { port: 0, keepAliveTimeoutMs: undefined });
    running.push(byDefault);
    expect(byDefault.server.keepAliveTimeout).toBe(5_000);
    for (const keepAliveTimeoutMs of [0, -1, 1.5, Number.NaN, 2 ** 31]) {
      await expect(serve(handler, { port: 0, keepAliveTimeoutMs })).rejects.toMatchObject({
        code: 'invalid_input',
        details: { field: 'keepAliveTimeoutMs' },
      });
    }
  });

  it('says clearly that a port is in use', async () => {
    const { server } = await start();
    const second = createSyncHandler({ store: new MemoryServerEventLog(), tokens: TOKENS });
    await expect(serve(second, { port: server.port })).rejects.toMatchObject({
      code: 'unavailable',
      message: `Port ${server.port} on 127.0.0.1 is already in use (is another server running?)`,
    });
    await expect(serve(second, { port: 70_000 })).rejects.toMatchObject({ code: 'invalid_input' });
    await expect(serve(second, { port: 0, host: '203.0.113.7' })).rejects.toMatchObject({ code: 'invalid_input' });
  });
});

describe('closeGracefully', () => {
  /** A plain node:http server whose `/slow` answers after `slowMs`, and whose `/never` never ends. */
  async function plainServer(slowMs: number) {
    const server = http.createServer((request, response) => {
      if (request.url === '/slow') setTimeout(() => response.end('done'), slowMs);
      else if (request.url === '/never') response.writeHead(200).write('started');
      else response.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    return { server, url: `http://127.0.0.1:${port}` };
  }

  /** GET over its own connection, resolving with the body or the error's code. */
  function get(url: string): Promise<string> {
    return new Promise((resolve) => {
      http
        .get(url, { agent: new http.Agent({ keepAlive: true }) }, (response) => {
          let body = '';
          response.on('data', (chunk: Buffer) => (body += chunk.toString()));
          response.on('end', () => resolve(body));
          response.on('error', () => resolve(`cut after ${JSON.stringify(body)}`));
        })
        .on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    });
  }

  it('lets a response in flight finish, closes idle kept-alive connections, and refuses new ones', async () => {
    const { server, url } = await plainServer(150);
    expect(await get(`${url}/`)).toBe('ok'); // leaves an idle kept-alive connection
    const slow = get(`${url}/slow`);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const drained: string[] = [];
    const closing = closeGracefully(server, { timeoutMs: 2_000, drain: async () => void drained.push('drain') });
    expect(await get(`${url}/`)).toBe('ECONNREFUSED');
    expect(await slow).toBe('done');
    const started = Date.now();
    await closing;
    expect(Date.now() - started).toBeLessThan(1_000); // not the deadline: nothing was left to cut
    expect(drained).toEqual(['drain']);
    expect(server.listening).toBe(false);
  });

  it('cuts what is still busy at the deadline, and closes even when drain fails', async () => {
    const { server, url } = await plainServer(0);
    const never = get(`${url}/never`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const failure = new Error('drain failed');
    const started = Date.now();
    await expect(closeGracefully(server, { timeoutMs: 200, drain: () => Promise.reject(failure) })).rejects.toBe(
      failure,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(await never).toBe('cut after "started"');
    expect(server.listening).toBe(false);
  });

  it('does not wait for a drain that hangs past the deadline', async () => {
    const { server } = await plainServer(0);
    const started = Date.now();
    await closeGracefully(server, { timeoutMs: 100, drain: () => new Promise<void>(() => {}) });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(server.listening).toBe(false);
  });

  it('refuses a negative timeout', async () => {
    const { server } = await plainServer(0);
    await expect(closeGracefully(server, { timeoutMs: -1 })).rejects.toMatchObject({ code: 'invalid_input' });
    await closeGracefully(server, { timeoutMs: 0 });
  });
});
