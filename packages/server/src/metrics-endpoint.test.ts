import { MemoryServerEventLog } from '@eventsync/core';
import { register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createSyncHandler, type SyncMetricsSnapshot } from './index.js';
import { ALICE, BOB, CAROL, events, SseReader, testServer, TOKENS, waitUntil } from '../test/support.js';

const METRICS_TOKEN = 'scraper-s3cret';

/** The samples of a Prometheus text, by name and labels (in any order): `name{a="1",b="2"}`. */
function samplesOf(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`Not a sample line: ${line}`);
    const labels = [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)]
      .map(([, name, value]) => `${name}="${value}"`)
      .sort();
    samples.set(labels.length ? `${match[1]}{${labels.join(',')}}` : match[1]!, Number(match[3]));
  }
  return samples;
}

describe('the metrics endpoint', () => {
  it('does not exist unless told who may read it', async () => {
    const server = testServer();
    for (const path of ['/v1/metrics', '/metrics']) {
      expect((await server.request(path, { token: ALICE })).status).toBe(404);
    }
    const off = testServer({ metrics: false });
    expect((await off.request('/metrics')).status).toBe(404);
    const store = new MemoryServerEventLog();
    expect(() => createSyncHandler({ store, metrics: {} })).toThrow(/token or an allow/);
    expect(() => createSyncHandler({ store, metrics: { token: 'not a token' } })).toThrow(/metrics\.token/);
  });

  it('lets in the metrics token, and the identities allow accepts, and no one else', async () => {
    const server = testServer({ metrics: { token: METRICS_TOKEN, allow: ({ principal }) => principal === 'carol' } });
    expect((await server.request('/v1/metrics', { token: METRICS_TOKEN })).status).toBe(200);
    expect((await server.request('/metrics', { token: CAROL })).status).toBe(200);
    const tenant = await server.request('/v1/metrics', { token: ALICE });
    expect(tenant.status).toBe(403);
    expect(await tenant.json()).toMatchObject({ code: 'forbidden' });
    const anonymous = await server.request('/metrics');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('WWW-Authenticate')).toBe('Bearer realm="eventsync"');
    expect((await server.request('/v1/metrics', { token: 'wrong-token' })).status).toBe(401);
    const posted = await server.request('/v1/metrics', { method: 'POST', token: METRICS_TOKEN });
    expect(posted.status).toBe(405);
    expect(posted.headers.get('Allow')).toBe('GET, HEAD');

    // With a token alone, a tenant's valid credentials are not enough.
    const tokenOnly = testServer({ metrics: { token: METRICS_TOKEN } });
    expect((await tokenOnly.request('/v1/metrics', { token: ALICE })).status).toBe(401);
    expect((await tokenOnly.request('/v1/metrics', { token: METRICS_TOKEN })).status).toBe(200);
  });

  it('answers JSON: stream counters per tenant, requests by route and status, store calls', async () => {
    const server = testServer({ metrics: { token: METRICS_TOKEN } });
    const alice = events();
    await server.push(alice.many(3));
    await server.push(alice.many(2));
    await server.request('/v1/events?since=0', { token: ALICE });
    await server.request('/v1/version');
    await server.request('/nowhere');
    const stream = await server.request('/v1/stream', { token: BOB });
    const reader = new SseReader(stream.body!);
    await reader.next();
    await server.push(events('bob').many(4), BOB);
    await reader.nextMessage();

    const response = await server.request('/v1/metrics', { token: METRICS_TOKEN });
    expect(response.headers.get('Content-Type')).toBe('application/json');
    expect(response.headers.get('Cache-Control')).toBe('no-store');
    const snapshot = (await response.json()) as SyncMetricsSnapshot;
    expect(snapshot.requests).toEqual({
      'POST /v1/events': { '200': 3 },
      'GET /v1/events': { '200': 1 },
      'GET /v1/version': { '401': 1 },
      'GET /v1/stream': { '200': 1 },
      'GET other': { '404': 1 },
    });
    expect(snapshot.stream).toMatchObject({ subscribers: 1, published: 1, publishedEvents: 4, delivered: 1 });
    expect(snapshot.stream.tenants).toEqual({ globex: snapshot.stream.tenants.globex });
    expect(snapshot.stream.tenants.globex).toMatchObject({ subscribers: 1, publishedEvents: 4 });
    expect(snapshot.store.append).toEqual({ calls: 3, failures: 0, events: 9 });
    expect(snapshot.store.read.events).toBe(5 + 4);
    expect(snapshot.store.latestVersion.calls).toBeGreaterThanOrEqual(1);

    await reader.cancel();
    const after = server.handler.metrics.snapshot();
    expect(after.stream).toMatchObject({ subscribers: 0, disconnectedBy: { slow: 0, closed: 1, error: 0 } });
    expect(after.requests['GET /v1/metrics']).toEqual({ '200': 1 });
  });

  it('answers the Prometheus text at /metrics, and at /v1/metrics for Accept: text/plain', async () => {
    const server = testServer({ metrics: { token: METRICS_TOKEN } });
    await server.push(events().many(2));
    await server.request('/v1/events', { token: 'bad' });

    const scraped = await server.request('/metrics', { token: METRICS_TOKEN });
    expect(scraped.status).toBe(200);
    expect(scraped.headers.get('Content-Type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await scraped.text();
    expect(text).toContain('# TYPE eventsync_stream_subscribers gauge');
    expect(text).toContain('# TYPE eventsync_http_requests_total counter');
    const samples = samplesOf(text);
    expect(samples.get('eventsync_http_requests_total{method="POST",route="/v1/events",status="200"}')).toBe(1);
    expect(samples.get('eventsync_http_requests_total{method="GET",route="/v1/events",status="401"}')).toBe(1);
    expect(samples.get('eventsync_stream_subscribers')).toBe(0);
    expect(samples.get('eventsync_stream_disconnected_total{reason="slow"}')).toBe(0);
    expect(samples.get('eventsync_store_calls_total{operation="append"}')).toBe(1);
    expect(samples.get('eventsync_store_events_total{operation="append"}')).toBe(2);

    // A Prometheus scraper's own Accept header asks for OpenMetrics first: it gets the same text.
    const negotiated = await server.request('/v1/metrics', {
      token: METRICS_TOKEN,
      headers: {
        Accept: 'application/openmetrics-text;version=1.0.0;q=0.9,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
      },
    });
    expect(negotiated.headers.get('Content-Type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const plain = await server.request('/v1/metrics', { token: METRICS_TOKEN, headers: { Accept: 'text/plain' } });
    const counted = samplesOf(await plain.text());
    expect(counted.get('eventsync_http_requests_total{method="GET",route="/metrics",status="200"}')).toBe(1);
    expect(counted.get('eventsync_http_requests_total{method="GET",route="/v1/metrics",status="200"}')).toBe(1);
  });

  it('labels the stream series by tenant when asked to', async () => {
    const server = testServer({ metrics: { token: METRICS_TOKEN, tenantLabels: true } });
    const stream = await server.request('/v1/stream', { token: ALICE });
    const reader = new SseReader(stream.body!);
    await reader.next();
    await server.push(events().many(3));
    await reader.nextMessage();
    const samples = samplesOf(await (await server.request('/metrics', { token: METRICS_TOKEN })).text());
    expect(samples.get('eventsync_stream_subscribers{tenant="acme"}')).toBe(1);
    expect(samples.get('eventsync_stream_published_events_total{tenant="acme"}')).toBe(3);
    expect(samples.get('eventsync_stream_disconnected_total{reason="closed",tenant="acme"}')).toBe(0);
    expect(samples.has('eventsync_stream_subscribers')).toBe(false);
    await reader.cancel();
  });

  it('gives each handler its own registry, never the global one', async () => {
    const first = testServer({ metrics: { token: METRICS_TOKEN } });
    const second = testServer({ metrics: { token: METRICS_TOKEN } });
    await first.push(events().many(1));
    await first.push(events().many(1));
    await second.push(events().many(1));
    const scrape = async (server: typeof first) =>
      samplesOf(await (await server.request('/metrics', { token: METRICS_TOKEN })).text());
    const [a, b] = await Promise.all([scrape(first), scrape(second)]);
    const pushes = 'eventsync_http_requests_total{method="POST",route="/v1/events",status="200"}';
    expect(a.get(pushes)).toBe(2);
    expect(b.get(pushes)).toBe(1);
    expect(await first.handler.metrics.registry()).not.toBe(await second.handler.metrics.registry());
    expect(globalRegistry.getSingleMetric('eventsync_http_requests_total')).toBeUndefined();
    // Counters are kept without the endpoint too.
    const quiet = createSyncHandler({ store: new MemoryServerEventLog(), tokens: TOKENS });
    await quiet.fetch(new Request('http://localhost/v1/health'));
    expect(quiet.metrics.snapshot().requests).toEqual({ 'GET /v1/health': { '200': 1 } });
    expect(samplesOf((await quiet.metrics.prometheus()).text).get('eventsync_stream_subscribers')).toBe(0);
  });

  it('counts a subscriber cut off for falling behind', async () => {
    const server = testServer({ metrics: { token: METRICS_TOKEN }, sse: { maxQueuedBatches: 2 } });
    await server.request('/v1/stream', { token: ALICE }); // never read
    await waitUntil(() => server.handler.broker.stats.subscribers === 1);
    const alice = events();
    for (let i = 0; i < 6 && server.handler.broker.stats.disconnected === 0; i++) {
      await server.push([alice.make(`todo-${i}`)]);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await waitUntil(() => server.handler.broker.stats.disconnected === 1);
    const samples = samplesOf(await (await server.request('/metrics', { token: METRICS_TOKEN })).text());
    expect(samples.get('eventsync_stream_disconnected_total{reason="slow"}')).toBe(1);
    expect(samples.get('eventsync_stream_subscribers')).toBe(0);
  });
});
