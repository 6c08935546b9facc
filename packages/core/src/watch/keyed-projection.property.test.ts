import { propertyOptions } from '@eventsync/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JsonValue } from '../event/event.js';
import { createWorld } from '../sync/test-support.js';
import type { Change } from './change.js';
import { jsonEquals } from './json-equals.js';
import { KeyedProjection, type KeyedProjectionOptions, type WatchOptions } from './keyed-projection.js';

const reducers: KeyedProjectionOptions<JsonValue>['reducers'] = {
  'entry.set': (state, event) => {
    const { kind, value } = event.data as { kind: string; value: JsonValue };
    return state.set(kind, event.aggregateId, value);
  },
  'entry.deleted': (state, event) => state.delete((event.data as { kind: string }).kind, event.aggregateId),
};

type Step =
  | { readonly append: 'a' | 'b'; readonly kind: string; readonly key: string; readonly value: number | null }
  | { readonly sync: 'a' | 'b' }
  | { readonly refresh: true }
  | { readonly pause: number };

const kinds = fc.constantFrom('todos', 'tags');
const keys = fc.constantFrom('k0', 'k1', 'k2', 'k3');
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      append: fc.constantFrom('a' as const, 'b' as const),
      kind: kinds,
      key: keys,
      // Few values, so that rewriting an entry with the value it has is common; null deletes.
      value: fc.option(fc.integer({ min: 0, max: 2 }), { freq: 4 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ sync: fc.constantFrom('a' as const, 'b' as const) }) },
  { weight: 1, arbitrary: fc.constant({ refresh: true as const }) },
  { weight: 2, arbitrary: fc.record({ pause: fc.integer({ min: 0, max: 5 }) }) },
);

type Consumer = 'iterator' | 'callback' | 'async callback';

const watchOptions: fc.Arbitrary<WatchOptions & { consumer: Consumer }> = fc
  .record({
    consumer: fc.constantFrom<Consumer>('iterator', 'callback', 'async callback'),
    kind: fc.option(kinds, { nil: undefined }),
    // Either room for everything (then nothing may be dropped) or a tiny buffer under `block`.
    bufferSize: fc.constant(10_000),
    backpressure: fc.constant('drop_newest' as const),
  })
  .chain((options) =>
    fc.oneof(
      fc.constant(options),
      fc.integer({ min: 1, max: 3 }).map((bufferSize) => ({ ...options, bufferSize, backpressure: 'block' as const })),
    ),
  );

const ticks = async (count: number): Promise<void> => {
  for (let i = 0; i < count; i++) await Promise.resolve();
};
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('KeyedProjection watch with replay', () => {
  it('gives a consumer exactly the current state, then every change after it, with no gap and no duplicate', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { maxLength: 20 }),
        fc.array(step, { maxLength: 20 }),
        watchOptions,
        fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 8 }),
        async (before, after, { consumer, ...options }, readerPauses) => {
          const world = createWorld();
          try {
            const a = world.client('a');
            const b = world.client('b');
            const clients = { a, b };
            const view = new KeyedProjection<JsonValue>({ store: b.store, manager: b.manager, reducers });
            const run = async (steps: readonly Step[]): Promise<void> => {
              for (const item of steps) {
                if ('append' in item) {
                  const { manager } = clients[item.append];
                  await manager.append(
                    item.value === null
                      ? { type: 'entry.deleted', aggregateId: item.key, data: { kind: item.kind } }
                      : { type: 'entry.set', aggregateId: item.key, data: { kind: item.kind, value: item.value } },
                  );
                } else if ('sync' in item) await clients[item.sync].manager.sync();
                else if ('refresh' in item) await view.refresh();
                else await ticks(item.pause);
              }
            };
            await run(before);

            // The consumer's copy of the watched entries, built only from the changes it receives.
            const mirror = new Map<string, JsonValue>();
            const violations: string[] = [];
            const apply = (change: Change<JsonValue>): void => {
              const id = `${change.kind}/${change.key}`;
              if (options.kind !== undefined && change.kind !== options.kind) violations.push(`unwanted ${id}`);
              if (change.type === 'create') {
                if (mirror.has(id)) violations.push(`create of present ${id}`);
                mirror.set(id, change.value);
                return;
              }
              if (!mirror.has(id)) violations.push(`${change.type} of absent ${id}`);
              else if (!jsonEquals(mirror.get(id), change.previous)) violations.push(`wrong previous for ${id}`);
              if (change.type === 'update') {
                if (jsonEquals(change.previous, change.value)) violations.push(`update without change of ${id}`);
                mirror.set(id, change.value);
              } else mirror.delete(id);
            };

            const watchWith = { ...options, replay: true };
            let stop: () => void;
            let reading: Promise<void> = Promise.resolve();
            let pause = 0;
            if (consumer === 'iterator') {
              const watcher = view.watch(watchWith);
              stop = () => watcher.cancel();
              reading = (async () => {
                for await (const change of watcher) {
                  apply(change);
                  await ticks(readerPauses[pause++ % readerPauses.length] as number);
                }
              })();
            } else {
              stop = view.onChange(
                consumer === 'callback'
                  ? apply
                  : async (change) => {
                      apply(change);
                      await ticks(readerPauses[pause++ % readerPauses.length] as number);
                    },
                watchWith,
              );
            }

            await run(after);
            for (const name of ['a', 'b', 'b'] as const) await clients[name].manager.sync();
            await view.refresh();
            await settle();
            await settle();

            const expected = new Map<string, JsonValue>();
            for (const { kind, key, value } of view.state.entries(options.kind)) expected.set(`${kind}/${key}`, value);
            expect(violations).toEqual([]);
            expect(new Map([...mirror].sort())).toEqual(new Map([...expected].sort()));
            stop();
            await reading;
          } finally {
            await world.close();
          }
        },
      ),
      // Seeded; EVENTSYNC_PROPERTY_RUNS (200 by default) and EVENTSYNC_PROPERTY_SEED override.
      propertyOptions(),
    );
  }, 120_000);
});
