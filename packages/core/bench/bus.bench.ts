import { EventEmitter } from 'node:events';
import { defineBenchmark } from '../../bench/src/index.js';
import { EventBus } from '@eventsync/core';

const SUBSCRIPTIONS = 1_000;
const REGIONS = ['eu', 'us', 'ap', 'sa', 'af', 'me', 'oc', 'an'];
const SUBJECTS = REGIONS.map((region) => `orders.${region}.created`);
// Every pattern matches every subject above, each in its own way: each publish fans out to all 1,000.
const PATTERNS = ['orders.*.created', 'orders.>', '*.*.created', '>', '*.>', 'orders.*.*', '*.*.*', 'orders.*.>'];

interface Queues {
  readonly queues: unknown[][];
}

function checkQueues({ queues }: Queues, publishes: number): void {
  if (queues.length !== SUBSCRIPTIONS) throw new Error(`expected ${SUBSCRIPTIONS} queues`);
  for (const queue of queues) {
    if (queue.length !== publishes) throw new Error(`a queue got ${queue.length} messages, expected ${publishes}`);
  }
}

export default defineBenchmark({
  name: 'core/bus.fan-out',
  description: `EventBus.publish to ${SUBSCRIPTIONS.toLocaleString('en')} pattern subscriptions (callbacks, each feeding its own queue) vs EventEmitter.emit to as many listeners`,
  units: 'events',
  // Deliveries per sample: 2,000 publishes × 1,000 subscriptions.
  size: 2_000 * SUBSCRIPTIONS,
  target: { min: 0.5, note: 'issue #6: at least half the deliveries/s of an EventEmitter' },
  baseline: {
    name: 'EventEmitter + one array per listener',
    setup: (): Queues & { emitter: EventEmitter } => {
      const emitter = new EventEmitter();
      emitter.setMaxListeners(0);
      const queues = Array.from({ length: SUBSCRIPTIONS }, () => [] as unknown[]);
      for (const queue of queues) emitter.on('order', (payload: unknown) => void queue.push(payload));
      return { emitter, queues };
    },
    run: ({ size }, { emitter }) => {
      const publishes = size / SUBSCRIPTIONS;
      for (let i = 0; i < publishes; i++) emitter.emit('order', { orderId: i });
    },
    after: ({ size }, state) => checkQueues(state, size / SUBSCRIPTIONS),
  },
  subject: {
    name: 'EventBus, pattern subscriptions',
    setup: (): Queues & { bus: EventBus } => {
      const bus = new EventBus();
      const queues = Array.from({ length: SUBSCRIPTIONS }, () => [] as unknown[]);
      queues.forEach((queue, i) => {
        bus.subscribe(PATTERNS[i % PATTERNS.length] as string, (envelope) => void queue.push(envelope));
      });
      return { bus, queues };
    },
    run: async ({ size }, { bus }) => {
      const publishes = size / SUBSCRIPTIONS;
      for (let i = 0; i < publishes; i++) await bus.publish(SUBJECTS[i % SUBJECTS.length] as string, { orderId: i });
    },
    after: ({ size }, state) => {
      checkQueues(state, size / SUBSCRIPTIONS);
      const { delivered, dropped } = state.bus.stats;
      if (delivered !== size || dropped !== 0) throw new Error(`delivered ${delivered}, dropped ${dropped}`);
    },
  },
});
