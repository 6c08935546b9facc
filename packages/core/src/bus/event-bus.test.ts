import { expectSyncError } from '@eventsync/testkit';
import { describe, expect, it } from 'vitest';
import { SyncError } from '../errors/sync-error.js';
import type { DropReason } from './backpressure.js';
import type { Envelope } from './envelope.js';
import { EventBus, type BusErrorContext, type Subscription } from './event-bus.js';

/** Lets every pending promise callback run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function take<T>(subscription: Subscription<T>, count: number): Promise<T[]> {
  const payloads: T[] = [];
  for (let i = 0; i < count; i++) {
    const step = await subscription.next();
    if (step.done) break;
    payloads.push(step.value.payload);
  }
  return payloads;
}

function counter(): { newId: () => string; now: () => number } {
  let id = 0;
  return { newId: () => `id-${++id}`, now: () => 1_000 + id };
}

describe('EventBus', () => {
  describe('delivery', () => {
    it('delivers each subscription its messages in publish order', async () => {
      const bus = new EventBus();
      const all = bus.subscribe<number>('n.>');
      const odd = bus.subscribe<number>('n.odd');
      const seen: number[] = [];
      bus.subscribe<number>('n.*', (envelope) => {
        seen.push(envelope.payload);
      });
      for (let i = 0; i < 100; i++) await bus.publish(i % 2 ? 'n.odd' : 'n.even', i);
      expect(await take(all, 100)).toEqual(Array.from({ length: 100 }, (_, i) => i));
      expect(await take(odd, 50)).toEqual(Array.from({ length: 50 }, (_, i) => 2 * i + 1));
      expect(seen).toEqual(Array.from({ length: 100 }, (_, i) => i));
    });

    it('keeps publish order for messages published without waiting', async () => {
      const bus = new EventBus();
      const subscription = bus.subscribe<number>('n', { bufferSize: 10 });
      const reading = take(subscription, 10);
      const publishes = Array.from({ length: 10 }, (_, i) => bus.publish('n', i));
      await Promise.all(publishes);
      expect(await reading).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });

    it('delivers a publish made inside a callback after the one being delivered, to everyone', async () => {
      const bus = new EventBus();
      const first: string[] = [];
      const second: string[] = [];
      bus.subscribe<string>('talk.>', (envelope) => {
        first.push(envelope.payload);
        if (envelope.payload === 'question') void bus.publish('talk.reply', 'answer');
      });
      bus.subscribe<string>('talk.>', (envelope) => {
        second.push(envelope.payload);
      });
      const late = bus.subscribe<string>('talk.*');
      await bus.publish('talk.ask', 'question');
      expect(first).toEqual(['question', 'answer']);
      expect(second).toEqual(['question', 'answer']);
      expect(await take(late, 2)).toEqual(['question', 'answer']);
    });

    it('calls an async callback one message at a time, in order, buffering the rest', async () => {
      const bus = new EventBus();
      const log: string[] = [];
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const subscription = bus.subscribe<number>('n', async (envelope) => {
        log.push(`start ${envelope.payload}`);
        if (envelope.payload === 0) await gate;
        log.push(`end ${envelope.payload}`);
      });
      for (let i = 0; i < 3; i++) await bus.publish('n', i);
      expect(log).toEqual(['start 0']);
      expect(subscription.stats.queued).toBe(2);
      release();
      await settle();
      expect(log).toEqual(['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
      expect(subscription.stats).toMatchObject({ delivered: 3, queued: 0 });
    });

    it('applies a filter after the pattern and counts nothing for messages it turns away', async () => {
      const bus = new EventBus();
      const errors: BusErrorContext[] = [];
      const bus2 = new EventBus({ onError: (_error, context) => errors.push(context) });
      const eu = bus.subscribe<{ region: string }>('orders.*', {
        filter: (envelope) => envelope.headers['region'] === 'eu',
      });
      await bus.publish('orders.created', { region: 'us' }, { headers: { region: 'us' } });
      await bus.publish('orders.created', { region: 'eu' }, { headers: { region: 'eu' } });
      expect(await take(eu, 1)).toEqual([{ region: 'eu' }]);
      expect(eu.stats).toMatchObject({ delivered: 1, dropped: 0, queued: 0 });
      const picky = bus2.subscribe('x', {
        filter: () => {
          throw new Error('bad filter');
        },
      });
      await bus2.publish('x', 1);
      expect(picky.stats).toMatchObject({ delivered: 0, queued: 0 });
      expect(errors).toEqual([{ source: 'filter', subscription: picky }]);
    });

    it('reports a callback that throws or rejects and keeps delivering', async () => {
      const errors: unknown[] = [];
      const bus = new EventBus({
        onError: (error, context) => errors.push([context.source, (error as Error).message]),
      });
      const seen: number[] = [];
      bus.subscribe<number>('n', (envelope) => {
        seen.push(envelope.payload);
        if (envelope.payload === 1) throw new Error('sync failure');
        if (envelope.payload === 2) return Promise.reject(new Error('async failure'));
        return undefined;
      });
      for (let i = 0; i < 4; i++) await bus.publish('n', i);
      await settle();
      expect(seen).toEqual([0, 1, 2, 3]);
      expect(errors).toEqual([
        ['handler', 'sync failure'],
        ['handler', 'async failure'],
      ]);
    });

    it('makes frozen envelopes with an id, a timestamp and copied headers', async () => {
      const bus = new EventBus(counter());
      const subscription = bus.subscribe('a.b');
      const headers = { tenant: 'acme' };
      const returned = await bus.publish('a.b', { n: 1 }, { headers });
      headers.tenant = 'changed';
      const step = await subscription.next();
      expect(step.value).toBe(returned);
      expect(returned).toEqual({
        id: 'id-1',
        subject: 'a.b',
        payload: { n: 1 },
        headers: { tenant: 'acme' },
        timestamp: 1_001,
      });
      expect(Object.isFrozen(returned)).toBe(true);
      expect(Object.isFrozen(returned.headers)).toBe(true);
      const plain = await bus.publish('a.b', null);
      expect(plain.headers).toEqual({});
      const ids = new Set((await Promise.all([1, 2, 3].map((n) => new EventBus().publish('a', n)))).map((e) => e.id));
      expect(ids.size).toBe(3);
    });

    it('rejects a malformed subject, pattern, headers or options with invalid_input', async () => {
      const bus = new EventBus();
      await expectSyncError(() => bus.publish('a..b', 1), 'invalid_input');
      await expectSyncError(() => bus.publish('a.*', 1), 'invalid_input');
      await expectSyncError(() => bus.publish('a', 1, { headers: { n: 1 as unknown as string } }), 'invalid_input');
      await expectSyncError(() => bus.subscribe('a.>.b'), 'invalid_input');
      await expectSyncError(() => bus.subscribe('a', { bufferSize: 0 }), 'invalid_input');
      await expectSyncError(() => bus.subscribe('a', { bufferSize: 1.5 }), 'invalid_input');
      await expectSyncError(() => bus.subscribe('a', { backpressure: 'wait' as 'block' }), 'invalid_input');
      await expectSyncError(() => bus.subscribe('a', { filter: 'yes' as never }), 'invalid_input');
      await expectSyncError(() => new EventBus({ routeCacheSize: -1 }), 'invalid_input');
      expect(bus.stats).toMatchObject({ published: 0, subscribers: 0 });
    });

    it('rejects next() on a subscription with a callback', async () => {
      const bus = new EventBus();
      const subscription = bus.subscribe('a', () => {});
      await expectSyncError(() => subscription.next(), 'invalid_input');
    });
  });

  describe('backpressure', () => {
    it('drops the newest message when the buffer is full, by default', async () => {
      const drops: [unknown, DropReason][] = [];
      const bus = new EventBus({
        observer: { onDrop: (envelope, _sub, reason) => drops.push([envelope.payload, reason]) },
      });
      const subscription = bus.subscribe<number>('n', { bufferSize: 2 });
      for (let i = 0; i < 5; i++) await bus.publish('n', i);
      expect(drops).toEqual([
        [2, 'buffer_full'],
        [3, 'buffer_full'],
        [4, 'buffer_full'],
      ]);
      expect(await take(subscription, 2)).toEqual([0, 1]);
      expect(bus.stats).toMatchObject({ published: 5, delivered: 2, dropped: 3, queueDepth: 0 });
      expect(bus.stats.droppedBy).toEqual({ buffer_full: 3, aborted: 0, unsubscribed: 0, closed: 0 });
    });

    it('drops the oldest message to make room with drop_oldest', async () => {
      const bus = new EventBus();
      const subscription = bus.subscribe<number>('n', { bufferSize: 2, backpressure: 'drop_oldest' });
      for (let i = 0; i < 5; i++) await bus.publish('n', i);
      expect(bus.stats).toMatchObject({ dropped: 3, queueDepth: 2 });
      expect(await take(subscription, 2)).toEqual([3, 4]);
    });

    it('applies the policy to an async callback that is still busy', async () => {
      const bus = new EventBus();
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const seen: number[] = [];
      bus.subscribe<number>(
        'n',
        async (envelope) => {
          seen.push(envelope.payload);
          await gate;
        },
        { bufferSize: 1, backpressure: 'drop_oldest' },
      );
      for (let i = 0; i < 4; i++) await bus.publish('n', i);
      release();
      await settle();
      expect(seen).toEqual([0, 3]);
      expect(bus.stats).toMatchObject({ delivered: 2, dropped: 2 });
    });

    it('makes a publisher wait for room with block, and lets later publishes queue behind it in order', async () => {
      const bus = new EventBus();
      const subscription = bus.subscribe<number>('n', { bufferSize: 1, backpressure: 'block' });
      const other = bus.subscribe<number>('n');
      await bus.publish('n', 0);
      let done = 0;
      const second = bus.publish('n', 1).then(() => done++);
      const third = bus.publish('n', 2).then(() => done++);
      await settle();
      expect(done).toBe(0);
      expect(bus.stats).toMatchObject({ queueDepth: 1 + 3, waiting: 2 });
      // The other subscription got every message at once: one slow subscriber holds up only the publisher.
      expect(await take(other, 3)).toEqual([0, 1, 2]);
      expect(await take(subscription, 1)).toEqual([0]);
      await second;
      expect(done).toBe(1);
      expect(await take(subscription, 2)).toEqual([1, 2]);
      await third;
      expect(done).toBe(2);
      expect(bus.stats).toMatchObject({ dropped: 0, waiting: 0, queueDepth: 0, delivered: 6 });
    });

    it('releases a blocked publisher when its signal aborts, dropping the waiting copies as aborted', async () => {
      const drops: [unknown, DropReason][] = [];
      const bus = new EventBus({
        observer: { onDrop: (envelope, _sub, reason) => drops.push([envelope.payload, reason]) },
      });
      const subscription = bus.subscribe<number>('n', { bufferSize: 1, backpressure: 'block' });
      await bus.publish('n', 0);
      const controller = new AbortController();
      const blocked = bus.publish('n', 1, { signal: controller.signal });
      const behind = bus.publish('n', 2);
      const reason = new Error('gave up');
      controller.abort(reason);
      await expect(blocked).rejects.toBe(reason);
      expect(drops).toEqual([[1, 'aborted']]);
      expect(await take(subscription, 2)).toEqual([0, 2]);
      await behind;
      await expect(bus.publish('n', 3, { signal: controller.signal })).rejects.toBe(reason);
      expect(bus.stats).toMatchObject({ published: 3, waiting: 0 });
    });

    it('releases a blocked publisher with SyncError closed when the bus closes', async () => {
      const bus = new EventBus();
      const subscription = bus.subscribe<number>('n', { bufferSize: 1, backpressure: 'block' });
      await bus.publish('n', 0);
      const blocked = bus.publish('n', 1);
      bus.close();
      await expectSyncError(() => blocked, 'closed');
      expect(await subscription.next()).toEqual({ value: undefined, done: true });
      expect(bus.stats.droppedBy).toMatchObject({ closed: 2 });
    });

    it('lets a blocked publisher go on when the full subscription unsubscribes', async () => {
      const bus = new EventBus();
      const subscription = bus.subscribe<number>('n', { bufferSize: 1, backpressure: 'block' });
      await bus.publish('n', 0);
      const blocked = bus.publish('n', 1);
      subscription.unsubscribe();
      await expect(blocked).resolves.toMatchObject({ payload: 1 });
      expect(bus.stats.droppedBy).toMatchObject({ unsubscribed: 2 });
    });
  });

  describe('unsubscribe and close', () => {
    it('unsubscribes idempotently, ends a pending next(), and drops what was buffered', async () => {
      const bus = new EventBus();
      const idle = bus.subscribe('a');
      const pending = idle.next();
      const full = bus.subscribe('b');
      await bus.publish('b', 1);
      idle.unsubscribe();
      idle.unsubscribe();
      full.unsubscribe();
      full.unsubscribe();
      expect(await pending).toEqual({ value: undefined, done: true });
      expect(await full.next()).toEqual({ value: undefined, done: true });
      expect(idle.closed && full.closed).toBe(true);
      await bus.publish('a', 2);
      expect(bus.stats).toMatchObject({ subscribers: 0, delivered: 0, dropped: 1, queueDepth: 0 });
      expect(bus.stats.droppedBy.unsubscribed).toBe(1);
    });

    it('unsubscribes when a for-await loop breaks, and when its signal aborts', async () => {
      const bus = new EventBus();
      const subscription = bus.subscribe<number>('n');
      await bus.publish('n', 1);
      await bus.publish('n', 2);
      for await (const envelope of subscription) {
        expect(envelope.payload).toBe(1);
        break;
      }
      expect(subscription.closed).toBe(true);
      const controller = new AbortController();
      const seen: unknown[] = [];
      const withSignal = bus.subscribe('n', (envelope) => void seen.push(envelope.payload), {
        signal: controller.signal,
      });
      controller.abort();
      await bus.publish('n', 3);
      expect(withSignal.closed).toBe(true);
      expect(seen).toEqual([]);
      expect(() => bus.subscribe('n', { signal: controller.signal })).toThrow();
      expect(bus.stats.subscribers).toBe(0);
    });

    it('stops calling a callback that unsubscribes itself', async () => {
      const bus = new EventBus();
      const seen: number[] = [];
      const subscription: Subscription<number> = bus.subscribe<number>('n', (envelope) => {
        seen.push(envelope.payload);
        subscription.unsubscribe();
      });
      await bus.publish('n', 1);
      await bus.publish('n', 2);
      expect(seen).toEqual([1]);
    });

    it('ends every subscription on close; later publishes and subscribes fail with closed; close is idempotent', async () => {
      const bus = new EventBus();
      const a = bus.subscribe('a.>');
      const pending = a.next();
      const b = bus.subscribe('b');
      await bus.publish('b', 1);
      bus.close();
      bus.close();
      expect(bus.closed).toBe(true);
      expect(await pending).toEqual({ value: undefined, done: true });
      expect(await b.next()).toEqual({ value: undefined, done: true });
      const published = await expectSyncError(() => bus.publish('a.b', 1), 'closed');
      expect(published).toBeInstanceOf(SyncError);
      await expectSyncError(() => bus.subscribe('a'), 'closed');
      expect(bus.stats).toMatchObject({ published: 1, subscribers: 0, queueDepth: 0, dropped: 1 });
      expect(bus.stats.droppedBy.closed).toBe(1);
    });

    it('rejects publishes made from a callback when the bus closes before they are delivered', async () => {
      const bus = new EventBus();
      let inner: Promise<unknown> | undefined;
      bus.subscribe('outer', () => {
        inner = bus.publish('inner', 1);
        bus.close();
      });
      await bus.publish('outer', 0);
      await expectSyncError(() => inner, 'closed');
    });
  });

  describe('observers and counters', () => {
    it('tells the observer of each publish, delivery and drop', async () => {
      const log: string[] = [];
      const bus = new EventBus({
        ...counter(),
        observer: {
          onPublish: (envelope) => log.push(`publish ${envelope.id}`),
          onDeliver: (envelope, subscription) => log.push(`deliver ${envelope.id} ${subscription.id}`),
          onDrop: (envelope, subscription, reason) => log.push(`drop ${envelope.id} ${subscription.id} ${reason}`),
        },
      });
      const a = bus.subscribe('x', { bufferSize: 1 });
      bus.subscribe('x', () => {});
      await bus.publish('x', 1);
      await bus.publish('x', 2);
      await a.next();
      expect(log).toEqual([
        `publish id-1`,
        `deliver id-1 ${'sub-2'}`,
        `publish id-2`,
        `drop id-2 sub-1 buffer_full`,
        `deliver id-2 sub-2`,
        `deliver id-1 sub-1`,
      ]);
    });

    it('stays correct when every observer hook throws, and reports each failure', async () => {
      const errors: string[] = [];
      const boom = (): never => {
        throw new Error('observer bug');
      };
      const bus = new EventBus({
        observer: { onPublish: boom, onDeliver: boom, onDrop: boom },
        onError: (_error, context) => {
          errors.push(context.source);
          throw new Error('and onError too');
        },
      });
      const seen: number[] = [];
      bus.subscribe<number>('n', (envelope) => void seen.push(envelope.payload));
      const small = bus.subscribe<number>('n', { bufferSize: 1 });
      for (let i = 0; i < 3; i++) await bus.publish('n', i);
      expect(seen).toEqual([0, 1, 2]);
      expect(await take(small, 1)).toEqual([0]);
      expect(bus.stats).toMatchObject({ published: 3, delivered: 4, dropped: 2, queueDepth: 0, subscribers: 2 });
      expect(errors.filter((source) => source === 'observer')).toHaveLength(3 + 4 + 2);
      small.unsubscribe();
      await bus.publish('n', 3);
      expect(seen).toEqual([0, 1, 2, 3]);
    });

    it('counts published, delivered, dropped, queue depth, waiting and subscribers, keeping totals of ended subscriptions', async () => {
      const bus = new EventBus();
      const a = bus.subscribe('n', { bufferSize: 2 });
      const b = bus.subscribe('n', { bufferSize: 1, backpressure: 'block' });
      bus.subscribe('other', () => {});
      await bus.publish('n', 1);
      const blocked = [bus.publish('n', 2), bus.publish('n', 3)];
      await bus.publish('other', 0);
      expect(bus.stats).toEqual({
        published: 4,
        delivered: 1,
        dropped: 1,
        droppedBy: { buffer_full: 1, aborted: 0, unsubscribed: 0, closed: 0 },
        queueDepth: 3,
        waiting: 2,
        subscribers: 3,
      });
      await a.next();
      a.unsubscribe();
      b.unsubscribe();
      await Promise.all(blocked);
      expect(bus.stats).toEqual({
        published: 4,
        delivered: 2,
        dropped: 5,
        droppedBy: { buffer_full: 1, aborted: 0, unsubscribed: 4, closed: 0 },
        queueDepth: 0,
        waiting: 0,
        subscribers: 1,
      });
    });
  });

  describe('route cache', () => {
    it.each([0, 1, 1024])(
      'routes correctly with a cache of %i subjects across subscribes and unsubscribes',
      async (size) => {
        const bus = new EventBus({ routeCacheSize: size });
        const got = new Map<string, string[]>();
        const listen = (pattern: string): Subscription =>
          bus.subscribe(pattern, (envelope: Envelope) => {
            got.set(pattern, [...(got.get(pattern) ?? []), envelope.subject]);
          });
        listen('a.*');
        await bus.publish('a.x', 1);
        await bus.publish('a.y', 1);
        const all = listen('>');
        await bus.publish('a.x', 2);
        all.unsubscribe();
        await bus.publish('a.x', 3);
        await bus.publish('b.x', 3);
        listen('b.>');
        await bus.publish('b.x', 4);
        expect(Object.fromEntries(got)).toEqual({
          'a.*': ['a.x', 'a.y', 'a.x', 'a.x'],
          '>': ['a.x'],
          'b.>': ['b.x'],
        });
      },
    );
  });
});
