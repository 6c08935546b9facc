import { describe, expect, it } from 'vitest';
import { isSyncError } from '../errors/sync-error.js';
import { DROP_REASONS, type Backpressure, type DropReason } from './backpressure.js';
import type { Envelope } from './envelope.js';
import { EventBus, type Subscription } from './event-bus.js';

/** A small seeded generator (mulberry32), so every run interleaves the same way. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Message {
  readonly publisher: number;
  readonly sequence: number;
}

interface Watched {
  readonly subscription: Subscription<Message>;
  /** Set right after `unsubscribe()` returned (or the bus closed): nothing may arrive after. */
  ended: boolean;
  readonly received: Message[];
  lateDeliveries: number;
}

const SEEDS = 30;
const PUBLISHERS = 4;
const MESSAGES_PER_PUBLISHER = 40;
const SUBSCRIPTIONS = 8;
const SUBJECTS = ['s.a', 's.b', 's.a.deep', 'other'];
const PATTERNS = ['s.*', 's.>', '>', 's.a', '*.a.>', 'other'];
const POLICIES: Backpressure[] = ['drop_newest', 'drop_oldest', 'block'];

describe('EventBus under concurrent publish, unsubscribe and close', () => {
  const exercised: Record<DropReason, number> = { buffer_full: 0, aborted: 0, unsubscribed: 0, closed: 0 };

  it.each(Array.from({ length: SEEDS }, (_, seed) => seed + 1))(
    'delivers nothing after unsubscribe or close, keeps order, settles every publish, and counts right (seed %i)',
    async (seed) => {
      const random = seeded(seed);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
      const ticks = async (max: number): Promise<void> => {
        for (let n = Math.floor(random() * max); n > 0; n--) await Promise.resolve();
      };
      let observed = 0;
      const byId = new Map<string, Watched>();
      // The moment of delivery is when the bus hands a message over (a callback call, a `next()`
      // answered), which the observer sees; a reader may run its continuation later.
      const bus = new EventBus({
        observer: {
          onDeliver: (_envelope, subscription) => {
            observed++;
            if (byId.get(subscription.id)?.ended) (byId.get(subscription.id) as Watched).lateDeliveries++;
          },
        },
      });
      const watched: Watched[] = [];
      const consumers: Promise<void>[] = [];

      for (let i = 0; i < SUBSCRIPTIONS; i++) {
        const options = { bufferSize: 1 + Math.floor(random() * 4), backpressure: pick(POLICIES) };
        const mode = pick(['iterator', 'sync callback', 'async callback'] as const);
        const entry = { ended: false, received: [] as Message[], lateDeliveries: 0 } as Omit<Watched, 'subscription'>;
        const receive = (envelope: Envelope<Message>, viaCallback: boolean): void => {
          if (viaCallback && entry.ended) entry.lateDeliveries++;
          entry.received.push(envelope.payload);
        };
        let subscription: Subscription<Message>;
        if (mode === 'iterator') {
          subscription = bus.subscribe<Message>(pick(PATTERNS), options);
          consumers.push(
            (async () => {
              for (;;) {
                await ticks(6);
                const step = await subscription.next();
                if (step.done) return;
                receive(step.value, false);
              }
            })(),
          );
        } else {
          const slow = mode === 'async callback';
          subscription = bus.subscribe<Message>(
            pick(PATTERNS),
            (envelope) => {
              receive(envelope, true);
              if (random() < 0.05) end(watchedEntry);
              return slow ? ticks(4) : undefined;
            },
            options,
          );
        }
        const watchedEntry = Object.assign(entry, { subscription }) as Watched;
        watched.push(watchedEntry);
        byId.set(subscription.id, watchedEntry);
      }

      function end(entry: Watched): void {
        entry.subscription.unsubscribe();
        entry.ended = true;
      }

      const publishes: Promise<unknown>[] = [];
      const publishers = Array.from({ length: PUBLISHERS }, async (_, publisher) => {
        for (let sequence = 0; sequence < MESSAGES_PER_PUBLISHER; sequence++) {
          await ticks(3);
          if (bus.closed) return;
          const controller = random() < 0.2 ? new AbortController() : undefined;
          const publish = bus.publish<Message>(pick(SUBJECTS), { publisher, sequence }, { signal: controller?.signal });
          publishes.push(publish);
          if (controller && random() < 0.5) {
            void ticks(5).then(() => controller.abort(new Error('publisher gave up')));
          }
          // Most publishers wait for their message to be placed; some fire and forget.
          if (random() < 0.7) await publish.catch(() => {});
        }
      });

      const chaos = (async () => {
        for (let step = 0; step < 60 && !bus.closed; step++) {
          await ticks(8);
          if (random() < 0.1) end(pick(watched));
          if (random() < 0.01) bus.close();
        }
      })();

      await Promise.all([...publishers, chaos]);
      bus.close();
      for (const entry of watched) entry.ended = true;
      const outcomes = await Promise.allSettled(publishes);
      await Promise.all(consumers);

      for (const outcome of outcomes) {
        if (outcome.status === 'rejected') {
          const error = outcome.reason as Error;
          expect(isSyncError(error, 'closed') || error.message === 'publisher gave up').toBe(true);
        }
      }
      for (const entry of watched) {
        expect(entry.lateDeliveries).toBe(0);
        expect(entry.subscription.closed).toBe(true);
        expect(entry.subscription.stats.delivered).toBe(entry.received.length);
        for (let publisher = 0; publisher < PUBLISHERS; publisher++) {
          const sequences = entry.received.filter((m) => m.publisher === publisher).map((m) => m.sequence);
          expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
          expect(new Set(sequences).size).toBe(sequences.length);
        }
      }
      const stats = bus.stats;
      const received = watched.reduce((sum, entry) => sum + entry.received.length, 0);
      expect(stats.delivered).toBe(received);
      expect(observed).toBe(received);
      expect(stats).toMatchObject({ queueDepth: 0, waiting: 0, subscribers: 0 });
      expect(stats.published).toBe(publishes.length);
      for (const reason of DROP_REASONS) exercised[reason] += stats.droppedBy[reason];
    },
  );

  it('exercised every way of dropping across the seeds', () => {
    for (const reason of DROP_REASONS) expect(exercised[reason], reason).toBeGreaterThan(0);
  });
});
