import { CursorVersion, MemoryServerEventLog, SyncError } from '@eventsync/core';
import { describe, expect, it } from 'vitest';
import { Broker, type DisconnectReason, type EventBatch, type Subscriber, type SubscriberLink } from './index.js';
import { events, waitUntil } from '../test/support.js';

/**
 * A transport in memory. `auto` writes each batch at once; otherwise batches wait in `pending` until
 * `take` writes them, as a slow client would.
 */
class FakeSubscriber implements Subscriber {
  link!: SubscriberLink;
  opened: CursorVersion | undefined;
  readonly written: EventBatch[] = [];
  pending: EventBatch[] = [];
  heartbeats = 0;
  closedWith: DisconnectReason | undefined;
  /** The most batches that were ever waiting at once. */
  maxBacklog = 0;

  constructor(readonly auto = true) {}

  get backlog(): number {
    return this.pending.length;
  }

  attach(link: SubscriberLink): void {
    this.link = link;
  }

  open(cursor: CursorVersion): void {
    expect(this.opened).toBeUndefined();
    this.opened = cursor;
  }

  deliver(batch: EventBatch): void {
    expect(this.closedWith).toBeUndefined();
    if (this.auto) {
      this.written.push(batch);
      this.link.delivered();
    } else {
      this.pending.push(batch);
      this.maxBacklog = Math.max(this.maxBacklog, this.pending.length);
    }
  }

  /** Writes up to `count` waiting batches, or says it is ready when none wait. */
  take(count = Infinity): void {
    if (this.pending.length === 0) return this.link.ready();
    for (let i = 0; i < count && this.pending.length > 0; i++) {
      this.written.push(this.pending.shift()!);
      this.link.delivered();
    }
  }

  heartbeat(): void {
    this.heartbeats++;
  }

  close(reason: DisconnectReason): void {
    expect(this.closedWith).toBeUndefined();
    this.closedWith = reason;
    this.pending = [];
  }

  /** The versions written, in order. */
  get versions(): number[] {
    return this.written.flatMap((batch) => batch.events.map((item) => item.version.value));
  }

  get cursor(): number {
    return this.written.at(-1)?.cursor.value ?? this.opened?.value ?? 0;
  }
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const tick = (ms = 0): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('Broker', () => {
  it('hands every append to the tenant’s subscribers in order, each event once', async () => {
    const store = new MemoryServerEventLog();
    const broker = new Broker(store, { batchSize: 7 });
    const early = new FakeSubscriber();
    await broker.subscribe('acme', early);
    expect(early.opened?.value).toBe(0);
    const writers = ['a', 'b', 'c', 'd'].map((client) => events(client));
    let late: FakeSubscriber | undefined;
    await Promise.all(
      writers.map(async (writer, w) => {
        for (let round = 0; round < 15; round++) {
          await store.append('acme', writer.many(1 + ((round + w) % 4)));
          if (w === 0 && round === 5) {
            late = new FakeSubscriber();
            await broker.subscribe('acme', late);
          }
          if (round % 3 === 0) await tick();
        }
      }),
    );
    const latest = (await store.latestVersion('acme')).value;
    await waitUntil(() => early.cursor === latest && late?.cursor === latest, 5000, 'both to catch up');
    expect(early.versions).toEqual(range(1, latest));
    expect(late!.versions).toEqual(range(late!.opened!.value + 1, latest));
    for (const batch of early.written) {
      expect(batch.events.length).toBeGreaterThan(0);
      expect(batch.events.length).toBeLessThanOrEqual(7);
      expect(batch.cursor).toBe(batch.events.at(-1)!.version);
    }
    await store.append('globex', events('bob').many(3));
    await tick(10);
    expect(early.cursor).toBe(latest);
    await broker.close();
    expect(early.closedWith).toBe('closed');
  });

  it('resumes after a cursor: history first, then live, no gap and no duplicate', async () => {
    const store = new MemoryServerEventLog();
    const alice = events();
    await store.append('acme', alice.many(10));
    const broker = new Broker(store, { batchSize: 3 });
    const subscriber = new FakeSubscriber();
    await broker.subscribe('acme', subscriber, { since: CursorVersion.of(4) });
    expect(subscriber.opened?.value).toBe(4);
    await store.append('acme', alice.many(2));
    await waitUntil(() => subscriber.cursor === 12);
    expect(subscriber.versions).toEqual(range(5, 12));
    await broker.close();
  });

  it('reads history at the transport’s pace, a couple of batches ahead, without cutting it off', async () => {
    const store = new MemoryServerEventLog();
    await store.append('acme', events().many(40));
    const broker = new Broker(store, { batchSize: 1, maxQueuedBatches: 3 });
    const reader = new FakeSubscriber(false);
    await broker.subscribe('acme', reader, { since: CursorVersion.ZERO });
    while (reader.cursor < 40) {
      await tick();
      reader.take(1);
    }
    expect(reader.versions).toEqual(range(1, 40));
    expect(reader.maxBacklog).toBeLessThanOrEqual(2);
    expect(reader.closedWith).toBeUndefined();
    expect(broker.stats).toMatchObject({ subscribers: 1, disconnected: 0, published: 40, delivered: 40 });
    await broker.close();
  });

  it('cuts off a live subscriber that falls behind, counts it, and never skips its events', async () => {
    const store = new MemoryServerEventLog();
    const broker = new Broker(store, { maxQueuedBatches: 3 });
    const slow = new FakeSubscriber(false);
    const fast = new FakeSubscriber();
    await broker.subscribe('acme', slow);
    await broker.subscribe('acme', fast);
    const alice = events();
    for (let i = 1; i <= 8; i++) {
      await store.append('acme', [alice.make(`todo-${i}`)]);
      await waitUntil(() => fast.cursor === i);
      if (i === 2) slow.take(1); // it writes the first batch, then stalls
    }
    expect(slow.closedWith).toBe('slow');
    expect(slow.versions).toEqual([1]);
    expect(fast.versions).toEqual(range(1, 8));
    expect(fast.closedWith).toBeUndefined();
    expect(broker.stats).toMatchObject({
      subscribers: 1,
      disconnected: 1,
      disconnectedBy: { slow: 1, closed: 0, error: 0 },
    });
    expect(broker.statsByTenant.acme).toMatchObject({ subscribers: 1, disconnected: 1 });

    // It resumes from the last cursor it wrote and gets the rest, once each.
    const resumed = new FakeSubscriber();
    await broker.subscribe('acme', resumed, { since: CursorVersion.of(slow.cursor) });
    await waitUntil(() => resumed.cursor === 8);
    expect([...slow.versions, ...resumed.versions]).toEqual(range(1, 8));
    await broker.close();
  });

  it('hands subscribers woken together at one cursor the same batch from one read', async () => {
    const store = new MemoryServerEventLog();
    const broker = new Broker(store);
    const subscribers = [new FakeSubscriber(), new FakeSubscriber(), new FakeSubscriber()];
    for (const subscriber of subscribers) await broker.subscribe('acme', subscriber);
    await tick(10);
    let reads = 0;
    const read = store.read.bind(store);
    store.read = (tenant, options) => {
      reads++;
      return read(tenant, options);
    };
    await store.append('acme', events().many(3));
    await waitUntil(() => subscribers.every((subscriber) => subscriber.cursor === 3));
    expect(reads).toBe(1);
    const [first, ...rest] = subscribers.map((subscriber) => subscriber.written[0]);
    for (const batch of rest) expect(batch).toBe(first);
    expect(broker.stats).toMatchObject({ published: 3, publishedEvents: 9, delivered: 3 });
    await broker.close();
  });

  it('counts per tenant and ends subscriptions by reason: closed, error, slow', async () => {
    const store = new MemoryServerEventLog();
    const errors: unknown[] = [];
    const broker = new Broker(store, {}, (error) => errors.push(error));
    const gone = new FakeSubscriber();
    const broken = new FakeSubscriber();
    const bob = new FakeSubscriber();
    await broker.subscribe('acme', gone);
    await broker.subscribe('acme', broken);
    await broker.subscribe('globex', bob);
    expect(broker.stats.subscribers).toBe(3);

    gone.link.closed(); // the client went away
    expect(gone.closedWith).toBe('closed');
    broken.link.failed(new Error('socket reset'));
    expect(broken.closedWith).toBe('error');
    expect(errors).toEqual([new Error('socket reset')]);

    await store.append('globex', events('bob').many(2));
    await waitUntil(() => bob.cursor === 2);
    expect(broker.statsByTenant).toEqual({
      acme: {
        subscribers: 0,
        published: 0,
        publishedEvents: 0,
        delivered: 0,
        disconnected: 0,
        disconnectedBy: { slow: 0, closed: 1, error: 1 },
      },
      globex: {
        subscribers: 1,
        published: 1,
        publishedEvents: 2,
        delivered: 1,
        disconnected: 0,
        disconnectedBy: { slow: 0, closed: 0, error: 0 },
      },
    });
    expect(broker.stats).toMatchObject({ subscribers: 1, disconnectedBy: { slow: 0, closed: 1, error: 1 } });
    await broker.close();
    expect(broker.stats).toMatchObject({ subscribers: 0, disconnectedBy: { slow: 0, closed: 2, error: 1 } });
  });

  it('ends a subscription whose transport throws or whose log read fails, and reports it', async () => {
    const store = new MemoryServerEventLog();
    const errors: unknown[] = [];
    const broker = new Broker(store, {}, (error) => errors.push(error));
    const throwing = new FakeSubscriber();
    throwing.deliver = () => {
      throw new Error('write after end');
    };
    await broker.subscribe('acme', throwing);
    await store.append('acme', events().many(1));
    await waitUntil(() => throwing.closedWith !== undefined);
    expect(throwing.closedWith).toBe('error');

    const reader = new FakeSubscriber();
    await broker.subscribe('acme', reader);
    store.read = () => Promise.reject(new SyncError('storage', 'disk gone'));
    await store.append('acme', events().many(1));
    await waitUntil(() => reader.closedWith !== undefined);
    expect(reader.closedWith).toBe('error');
    expect(errors.map((error) => (error as Error).message)).toEqual(['write after end', 'disk gone']);
    expect(broker.stats.disconnectedBy.error).toBe(2);
    await broker.close();
  });

  it('closes the subscriber when the signal aborts, before or after it opened, and refuses it once closed', async () => {
    const store = new MemoryServerEventLog();
    const broker = new Broker(store);
    const controller = new AbortController();
    const subscriber = new FakeSubscriber();
    await broker.subscribe('acme', subscriber, { signal: controller.signal });
    controller.abort();
    expect(subscriber.closedWith).toBe('closed');
    expect(broker.stats.subscribers).toBe(0);

    const early = new FakeSubscriber();
    await expect(broker.subscribe('acme', early, { signal: AbortSignal.abort() })).rejects.toMatchObject({
      name: 'AbortError',
    });
    expect(early.closedWith).toBe('closed');
    expect(early.opened).toBeUndefined();

    await broker.close();
    const late = new FakeSubscriber();
    await expect(broker.subscribe('acme', late)).rejects.toMatchObject({ code: 'closed' });
    expect(broker.closed).toBe(true);
  });

  it('sends heartbeats only to subscribers with nothing waiting', async () => {
    const store = new MemoryServerEventLog();
    const broker = new Broker(store, { heartbeatMs: 10 });
    const idle = new FakeSubscriber();
    const stuck = new FakeSubscriber(false);
    await broker.subscribe('acme', idle);
    await broker.subscribe('acme', stuck);
    await store.append('acme', events().many(1));
    await waitUntil(() => idle.heartbeats >= 2);
    expect(stuck.backlog).toBe(1);
    expect(stuck.heartbeats).toBe(0);
    await broker.close();
  });

  it('refuses options that are not positive integers', () => {
    const store = new MemoryServerEventLog();
    expect(() => new Broker(store, { batchSize: 0 })).toThrow(/broker\.batchSize/);
    expect(() => new Broker(store, { heartbeatMs: Number.NaN })).toThrow(SyncError);
  });
});
