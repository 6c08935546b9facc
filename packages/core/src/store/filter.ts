import type { Event } from '../event/event.js';

/**
 * Which events a read returns (go-sync-kit's `type`, `aggregate_id` and `tenant` filter keys). Every
 * given field must match; a list matches any of its values.
 *
 * @example
 * ```ts
 * await store.load(CursorVersion.ZERO, { filter: { type: ['todo.added', 'todo.renamed'] } });
 * ```
 */
export interface Filter {
  /** Event types to keep. */
  readonly type?: string | readonly string[];
  /** Aggregate ids to keep. */
  readonly aggregateId?: string | readonly string[];
  /** The tenant to keep (`metadata.tenant`); server logs scope by tenant themselves. */
  readonly tenant?: string;
}

/** Whether `event` passes `filter` (an absent filter passes everything). */
export function matchesFilter(event: Event, filter: Filter | undefined): boolean {
  if (!filter) return true;
  if (filter.type !== undefined && !matchesOne(event.type, filter.type)) return false;
  if (filter.aggregateId !== undefined && !matchesOne(event.aggregateId, filter.aggregateId)) return false;
  if (filter.tenant !== undefined && event.metadata.tenant !== filter.tenant) return false;
  return true;
}

function matchesOne(value: string, wanted: string | readonly string[]): boolean {
  return typeof wanted === 'string' ? value === wanted : wanted.includes(value);
}
