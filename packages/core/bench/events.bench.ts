import { monotonicFactory } from 'ulid';
import { defineBenchmark } from '../../bench/src/index.js';
import { EventFactory, type Event, type EventInput, type JsonValue } from '@eventsync/core';

const CLIENT_ID = 'bench-client';

export default defineBenchmark({
  name: 'core/events.create',
  description: 'EventFactory.create (monotonic ULID, HLC, validation, copy) vs a bare ULID and a JSON copy of data',
  units: 'events',
  size: 100_000,
  setup: (size): EventInput[] =>
    Array.from({ length: size }, (_, i) => ({
      type: 'todo.added',
      aggregateId: `todo-${i % 1_000}`,
      data: { title: `Buy milk #${i}`, done: false, tags: ['home', 'errand'], priority: i % 5 },
    })),
  baseline: {
    // `monotonicFactory()`, the generator EventFactory uses: plain `ulid()` looks up a PRNG and draws a
    // crypto random byte per character on every call (about 30 µs an id), a baseline nobody would ship.
    name: 'monotonic ULID + JSON copy',
    setup: ({ size }) => ({ nextId: monotonicFactory(), created: new Array<Event>(size) }),
    run({ fixture }, { nextId, created }) {
      for (let i = 0; i < fixture.length; i++) {
        const input = fixture[i] as EventInput;
        created[i] = {
          id: nextId(),
          type: input.type,
          aggregateId: input.aggregateId,
          data: JSON.parse(JSON.stringify(input.data)) as JsonValue,
          metadata: { timestamp: String(Date.now()), clientId: CLIENT_ID },
        };
      }
    },
    after: ({ size }, { created }) => checkCreated(size, created),
  },
  subject: {
    name: 'EventFactory.create',
    setup: ({ size }) => ({ factory: new EventFactory({ clientId: CLIENT_ID }), created: new Array<Event>(size) }),
    run({ fixture }, { factory, created }) {
      for (let i = 0; i < fixture.length; i++) created[i] = factory.create(fixture[i] as EventInput);
    },
    after: ({ size }, { created }) => checkCreated(size, created),
  },
});

function checkCreated(size: number, created: readonly Event[]): void {
  if (created.length !== size || created[size - 1]?.id === undefined) throw new Error(`expected ${size} events`);
}
