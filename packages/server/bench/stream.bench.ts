import { EventFactory, type Event, type LiveBatch, type TransportSubscription } from '@eventsync/core';
import { defineBenchmark } from '@eventsync/bench';
import { HttpTransport } from '@eventsync/http';
import {
  BENCH_TOKEN,
  openRawStream,
  percentile,
  startBenchServer,
  workspace,
  type BenchServer,
} from './bench-support.js';

const SUBSCRIBERS = 100;
/** The longest one push may take to reach every subscriber before the sample fails. */
const DELIVERY_TIMEOUT_MS = 10_000;

/**
 * Pushes waiting for their deliveries, by event id: when each started (performance.now()) and how
 * many subscribers are still to get it. Every arrival's latency goes to `latencies`.
 */
class Deliveries {
  readonly latencies: number[] = [];
  readonly #waiting = new Map<string, { started: number; left: number; done: () => void }>();

  /** Starts the clock for `id`; resolves once all `SUBSCRIBERS` got it. */
  expect(id: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        reject(new Error(`event ${id} did not reach every subscriber within ${DELIVERY_TIMEOUT_MS} ms`));
      }, DELIVERY_TIMEOUT_MS);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.#waiting.set(id, { started: performance.now(), left: SUBSCRIBERS, done });
    });
  }

  arrived(id: string): void {
    const waiting = this.#waiting.get(id);
    if (!waiting) return;
    this.latencies.push(performance.now() - waiting.started);
    if (--waiting.left === 0) {
      this.#waiting.delete(id);
      waiting.done();
    }
  }

  reset(): void {
    this.latencies.length = 0;
  }
}

function latencyMetrics(latencies: readonly number[], size: number): Record<string, number> {
  if (latencies.length !== size * SUBSCRIBERS) {
    throw new Error(`expected ${size * SUBSCRIBERS} deliveries, got ${latencies.length}`);
  }
  return { 'p50 ms': percentile(latencies, 0.5), 'p99 ms': percentile(latencies, 0.99) };
}

function freshEvents(size: number, factory: EventFactory): Event[] {
  return Array.from({ length: size }, (_, i) =>
    factory.create({
      type: 'todo.added',
      aggregateId: `todo-${i % 100}`,
      data: { title: `Buy milk #${i}`, done: false },
    }),
  );
}

interface Fixture {
  readonly server: BenchServer;
  readonly files: ReturnType<typeof workspace>;
  readonly factory: EventFactory;
  readonly pusher: HttpTransport;
  /** One client per subscriber, as on separate devices. */
  readonly followers: HttpTransport[];
  readonly subscriptions: TransportSubscription[];
  readonly subject: Deliveries;
  readonly raw: Deliveries;
  readonly rawStreams: AbortController[];
}

const fanOut = defineBenchmark<Fixture, { events: Event[] }, { events: Event[] }>({
  name: 'server/stream.fan-out',
  description:
    `one event pushed at a time to the sync server on SQLite (its own process), delivered to ${SUBSCRIBERS} ` +
    `HttpTransport live subscriptions (fetch + SSE parser + batch checks, all in this process); the next push ` +
    `starts once every subscriber has the event; p50/p99 of push-to-delivery latency; vs a raw node:http SSE ` +
    `fan-out (POST the event, written to ${SUBSCRIBERS} bare fetch readers) in the same server process`,
  units: 'events',
  size: 200,
  repeat: 5,
  warmup: 1,
  async setup() {
    const files = workspace('stream');
    const server = await startBenchServer();
    await server.open(files.newPath());
    const subject = new Deliveries();
    const raw = new Deliveries();
    const followers: HttpTransport[] = [];
    const subscriptions: TransportSubscription[] = [];
    const live = new Set<number>();
    for (let i = 0; i < SUBSCRIBERS; i++) {
      const follower = new HttpTransport({ baseUrl: server.syncUrl, token: () => BENCH_TOKEN });
      followers.push(follower);
      subscriptions.push(
        follower.subscribe(
          (batch: LiveBatch) => {
            for (const item of batch.events) subject.arrived(item.event.id);
          },
          { onStateChange: (state) => (state === 'live' ? live.add(i) : live.delete(i)) },
        ),
      );
    }
    const rawStreams: AbortController[] = [];
    for (let i = 0; i < SUBSCRIBERS; i++) {
      const controller = new AbortController();
      rawStreams.push(controller);
      await openRawStream(
        `${server.rawUrl}/raw/stream`,
        (data) => {
          for (const item of (JSON.parse(data) as { events: { event: Event }[] }).events) raw.arrived(item.event.id);
        },
        controller.signal,
      );
    }
    const deadline = Date.now() + 10_000;
    while ((live.size < SUBSCRIBERS || (await server.memory(false)).streams < SUBSCRIBERS) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    if (live.size < SUBSCRIBERS) throw new Error(`only ${live.size} of ${SUBSCRIBERS} subscriptions are live`);
    const pusher = new HttpTransport({ baseUrl: server.syncUrl, token: () => BENCH_TOKEN });
    const factory = new EventFactory({ clientId: 'bench-pusher' });
    return { server, files, factory, pusher, followers, subscriptions, subject, raw, rawStreams };
  },
  baseline: {
    name: `raw SSE fan-out × ${SUBSCRIBERS}`,
    setup: ({ size, fixture }) => {
      fixture.raw.reset();
      return { events: freshEvents(size, fixture.factory) };
    },
    async run({ fixture }, { events }) {
      for (const event of events) {
        const delivered = fixture.raw.expect(event.id);
        const response = await fetch(`${fixture.server.rawUrl}/raw/publish`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ events: [event] }),
        });
        await response.text();
        await delivered;
      }
    },
    after: ({ size, fixture }) => latencyMetrics(fixture.raw.latencies, size),
  },
  subject: {
    name: `push → ${SUBSCRIBERS} subscriptions`,
    setup: ({ size, fixture }) => {
      fixture.subject.reset();
      return { events: freshEvents(size, fixture.factory) };
    },
    async run({ fixture }, { events }) {
      for (const event of events) {
        const delivered = fixture.subject.expect(event.id);
        const [result] = await fixture.pusher.push([event]);
        if (result?.status !== 'accepted') throw new Error(`push answered ${JSON.stringify(result)}`);
        await delivered;
      }
    },
    after: ({ size, fixture }) => latencyMetrics(fixture.subject.latencies, size),
  },
  async teardown({ server, files, pusher, followers, subscriptions, rawStreams }) {
    for (const subscription of subscriptions) subscription.close();
    for (const controller of rawStreams) controller.abort();
    await pusher.close();
    for (const follower of followers) await follower.close();
    await server.stop();
    files.remove();
  },
});

export default fanOut;
