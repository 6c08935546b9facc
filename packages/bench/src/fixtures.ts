import { EventFactory, type Event } from '@eventsync/core';

/** Options of {@link benchEvents}. */
export interface BenchEventsOptions {
  /**
   * How many aggregates the events go round.
   *
   * @defaultValue 1000
   */
  readonly aggregates?: number;
  /**
   * The client id of the events.
   *
   * @defaultValue `'bench-client'`
   */
  readonly clientId?: string;
  /** `metadata.tenant` of the events, when they should carry one. */
  readonly tenant?: string;
}

/**
 * `size` valid events of the same shape as an app's (`todo.added` with a few fields) on `aggregates`
 * aggregates, each with the `baseVersion` of its aggregate's previous event (event `i` lands at cursor
 * `i + 1` of an empty log): a log runs its conflict check on every one and finds none.
 */
export function benchEvents(size: number, options: BenchEventsOptions = {}): Event[] {
  const { aggregates = 1_000, clientId = 'bench-client', tenant } = options;
  const factory = new EventFactory({ clientId });
  return Array.from({ length: size }, (_, i) =>
    factory.create({
      type: 'todo.added',
      aggregateId: `todo-${i % aggregates}`,
      data: { title: `Buy milk #${i}`, done: false, tags: ['home', 'errand'], priority: i % 5 },
      metadata: {
        ...(tenant === undefined ? {} : { tenant }),
        baseVersion: String(i < aggregates ? 0 : i - aggregates + 1),
      },
    }),
  );
}

/** Splits `items` into batches of `size`, in order. */
export function batchesOf<T>(items: readonly T[], size: number): T[][] {
  const batches: T[][] = [];
  for (let i = 0; i < items.length; i += size) batches.push(items.slice(i, i + size));
  return batches;
}
