import type { Event, Filter } from '@eventsync/core';
import { mightHave } from './bloom.js';
import { parseEvent } from './rows.js';
import { textAt } from './packed.js';
import { columnsOf, segmentSize, versionAt } from './segments.js';
import type { ReadTransaction, SegmentRecord, SummaryRecord } from './schema.js';

/**
 * The summaries of every segment, kept in memory by one store and brought up to date at the start of
 * each read (one request for what was written since, by this tab or another). Readers choose the
 * segments to read from it: a segment whose summary rules out the aggregate, type or tenant asked for
 * is never read. It costs about 2 KiB per thousand events' worth of aggregates.
 */
export class SegmentCache {
  /** Sorted by `start`; disjoint. */
  #summaries: SummaryRecord[] = [];
  #seq = 0;

  /** Catches up with the summaries written since the last call. */
  async sync(tx: ReadTransaction, ranges: typeof IDBKeyRange): Promise<void> {
    const fresh = await tx.objectStore('summaries').index('seq').getAll(ranges.lowerBound(this.#seq, true));
    for (const summary of fresh) this.#apply(summary);
  }

  /** The summaries, in version order. */
  get summaries(): readonly SummaryRecord[] {
    return this.#summaries;
  }

  /** The highest version stored, 0 when the log is empty. */
  get latest(): number {
    return this.#summaries.at(-1)?.end ?? 0;
  }

  /** Forgets everything, e.g. when the database was replaced. */
  clear(): void {
    this.#summaries = [];
    this.#seq = 0;
  }

  // Segments only ever replace the segments they overlap, with a higher write sequence, so the newest
  // summary wins wherever two overlap, whatever order concurrent reads bring them in.
  #apply(summary: SummaryRecord): void {
    this.#seq = Math.max(this.#seq, summary.seq);
    const list = this.#summaries;
    let lo = lowerIndex(list, summary.start);
    // A summary before `start` may still reach into the new one's range.
    if (lo > 0 && list[lo - 1]!.end >= summary.start) lo--;
    let hi = lo;
    while (hi < list.length && list[hi]!.start <= summary.end) {
      if (list[hi]!.seq >= summary.seq) return;
      hi++;
    }
    list.splice(lo, hi - lo, summary);
  }
}

/** The first index whose summary starts at or after `start`. */
function lowerIndex(list: readonly SummaryRecord[], start: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.start < start) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A confirmed event read from the log. */
export interface LogItem {
  readonly event: Event;
  readonly version: number;
}

/** What {@link readLog} reads. */
export interface LogQuery {
  /** Only versions after this. */
  readonly since: number;
  readonly filter: Filter | undefined;
  /** Only this aggregate's events. */
  readonly aggregateId: string | undefined;
  readonly limit: number;
}

/** Whether a segment may hold events the query wants, judging by its summary alone. */
export function mayMatch(summary: SummaryRecord, query: LogQuery): boolean {
  if (summary.end <= query.since) return false;
  const { filter, aggregateId } = query;
  if (aggregateId !== undefined && !mightHave(summary.aggregates, summary.hashes, aggregateId)) return false;
  if (!filter) return true;
  if (filter.type !== undefined && summary.types) {
    const wanted = typeof filter.type === 'string' ? [filter.type] : filter.type;
    if (!wanted.some((type) => summary.types!.includes(type))) return false;
  }
  if (filter.tenant !== undefined && summary.tenants && !summary.tenants.includes(filter.tenant)) return false;
  if (filter.aggregateId !== undefined) {
    const wanted = typeof filter.aggregateId === 'string' ? [filter.aggregateId] : filter.aggregateId;
    if (!wanted.some((id) => mightHave(summary.aggregates, summary.hashes, id))) return false;
  }
  return true;
}

/**
 * Thrown when a read finds segments other than the ones the cache described: a concurrent read of the
 * same store brought the cache past this transaction's snapshot. The caller reads again in a new
 * transaction.
 */
export class StaleCacheError extends Error {
  constructor() {
    super('internal: the segment cache is ahead of this transaction');
  }
}

/**
 * Reads confirmed events in version order: the segments the summaries leave in, a few at a time (as
 * many as the limit needs), filtered event by event.
 *
 * @throws StaleCacheError when the cache no longer matches the transaction; read again.
 */
export async function readLog(
  tx: ReadTransaction,
  ranges: typeof IDBKeyRange,
  cache: SegmentCache,
  query: LogQuery,
): Promise<LogItem[]> {
  const all = cache.summaries;
  const candidates = all.filter((summary) => mayMatch(summary, query));
  const result: LogItem[] = [];
  let next = 0;
  while (next < candidates.length && result.length < query.limit) {
    // Enough segments to fill the limit if every event matched, at least one.
    let wanted = query.limit - result.length;
    let end = next;
    while (end < candidates.length && wanted > 0) wanted -= candidates[end++]!.count;
    const batch = candidates.slice(next, end);
    next = end;
    for (const segment of await readSegments(tx, ranges, all, batch)) {
      collect(segment, query, result);
      if (result.length >= query.limit) break;
    }
  }
  return result;
}

/**
 * The segments `batch` describes, checked against their summaries: one `getAll` over a key range when
 * the batch is a run of neighbouring segments, else one `get` each.
 *
 * @throws StaleCacheError when a segment is missing or newer than its summary.
 */
export async function readSegments(
  tx: ReadTransaction,
  ranges: typeof IDBKeyRange,
  all: readonly SummaryRecord[],
  batch: readonly SummaryRecord[],
): Promise<SegmentRecord[]> {
  if (batch.length === 0) return [];
  const store = tx.objectStore('segments');
  const first = batch[0]!;
  const last = batch[batch.length - 1]!;
  const contiguous = batch.length > 1 && all[lowerIndex(all, first.start) + batch.length - 1] === last;
  const records = contiguous
    ? await store.getAll(ranges.bound(first.start, last.start))
    : await Promise.all(batch.map((summary) => store.get(summary.start)));
  if (records.length !== batch.length || records.some((record, i) => record?.seq !== batch[i]!.seq)) {
    throw new StaleCacheError();
  }
  return records as SegmentRecord[];
}

/** The positions in `distinct` of the wanted values; `undefined` when anything goes. */
function wantedPositions(
  distinct: readonly string[] | undefined,
  wanted: string | readonly string[] | undefined,
): Set<number> | undefined {
  if (wanted === undefined || distinct === undefined) return undefined;
  const list = typeof wanted === 'string' ? [wanted] : wanted;
  const positions = new Set<number>();
  distinct.forEach((value, i) => {
    if (list.includes(value)) positions.add(i);
  });
  return positions;
}

// Filters on the segment's columns; only the events it keeps are parsed.
function collect(segment: SegmentRecord, query: LogQuery, into: LogItem[]): void {
  const { aggregateOf, typeOf, tenantOf } = segment;
  const { filter } = query;
  const size = segmentSize(segment);
  const filtered =
    query.aggregateId !== undefined ||
    filter?.aggregateId !== undefined ||
    filter?.type !== undefined ||
    filter?.tenant !== undefined;
  const columns = filtered ? columnsOf(segment) : undefined;
  const aggregate = wantedPositions(columns?.aggregates, query.aggregateId);
  const aggregateFilter = wantedPositions(columns?.aggregates, filter?.aggregateId);
  const type = wantedPositions(columns?.types, filter?.type);
  const tenant = wantedPositions(columns?.tenants, filter?.tenant);
  if ([aggregate, aggregateFilter, type, tenant].some((set) => set?.size === 0)) return;
  const kept: number[] = [];
  for (let i = 0; i < size && into.length + kept.length < query.limit; i++) {
    if (versionAt(segment, i) <= query.since) continue;
    if (aggregate && !aggregate.has(aggregateOf[i]!)) continue;
    if (aggregateFilter && !aggregateFilter.has(aggregateOf[i]!)) continue;
    if (type && !type.has(typeOf[i]!)) continue;
    if (tenant && !tenant.has(tenantOf[i]!)) continue;
    kept.push(i);
  }
  if (kept.length === 0) return;
  // The whole segment parses as one JSON array; a few of its events, one by one.
  if (kept.length === size) {
    const events = JSON.parse(`[${segment.events}]`) as Event[];
    events.forEach((event, i) => into.push({ event, version: versionAt(segment, i) }));
  } else {
    for (const i of kept) {
      into.push({ event: parseEvent(textAt(segment.events, segment.offsets, i)), version: versionAt(segment, i) });
    }
  }
}
