import { SyncError, type Event } from '@eventsync/core';
import { HASHES, bloomOf } from './bloom.js';
import { settled } from './requests.js';
import type { MetaRecord, ReadTransaction, SegmentRecord, SummaryRecord, WriteTransaction } from './schema.js';

/** The most events in one segment; a pulled page of up to this many is one record. */
export const SEGMENT_MAX = 4096;
/** A segment with fewer events is merged into the next run written right after it. */
export const SEGMENT_SMALL = 256;
/** Past this many distinct types or tenants, a summary stops listing them. */
const LIST_MAX = 64;

/** A confirmed event and its version (a number: the server's cursor). */
export interface LogItem {
  readonly event: Event;
  readonly version: number;
}

/** The version of the `index`th event of a segment. */
export function versionAt(segment: SegmentRecord, index: number): number {
  return segment.versions ? segment.versions[index]! : segment.start + index;
}

/** The position of `version` in `segment`, or -1. */
export function indexOfVersion(segment: SegmentRecord, version: number): number {
  const { versions, start, events } = segment;
  if (!versions) return version >= start && version < start + events.length ? version - start : -1;
  let lo = 0;
  let hi = versions.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const at = versions[mid]!;
    if (at === version) return mid;
    if (at < version) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** Reads the events stored at `versions` (each must be stored). */
export async function eventsAt(
  tx: ReadTransaction,
  ranges: typeof IDBKeyRange,
  versions: Iterable<number>,
): Promise<Map<number, Event>> {
  const store = tx.objectStore('segments');
  const wanted = [...new Set(versions)].sort((a, b) => a - b);
  const found = new Map<number, Event>();
  const segments = new Map<number, SegmentRecord>();
  for (const version of wanted) {
    let segment = [...segments.values()].find((item) => indexOfVersion(item, version) >= 0);
    if (!segment) {
      const cursor = await store.openCursor(ranges.upperBound(version), 'prev');
      if (!cursor) continue;
      segment = cursor.value;
      segments.set(segment.start, segment);
    }
    const index = indexOfVersion(segment, version);
    if (index >= 0) found.set(version, segment.events[index]!);
  }
  return found;
}

/**
 * Adds events new to the confirmed log, keeping segments disjoint and in version order: the new
 * events become one segment (a pulled page) or a few; segments they overlap, and a small segment
 * right before them, are merged in, so acknowledging events one push at a time does not leave a
 * record per event.
 *
 * @throws SyncError `invalid_input` when a version already holds another event, or appears twice.
 */
export async function addToLog(
  tx: WriteTransaction,
  ranges: typeof IDBKeyRange,
  meta: MetaRecord,
  items: readonly LogItem[],
): Promise<void> {
  if (items.length === 0) return;
  const added = [...items].sort((a, b) => a.version - b.version);
  for (let i = 1; i < added.length; i++) {
    if (added[i]!.version === added[i - 1]!.version) throw versionTaken(added[i]!, added[i - 1]!.event.id);
  }
  const first = added[0]!.version;
  const last = added[added.length - 1]!.version;
  const summaries = tx.objectStore('summaries');
  const [before, inside] = await Promise.all([
    summaries.openCursor(ranges.upperBound(first, true), 'prev'),
    summaries.getAll(ranges.bound(first, last)),
  ]);
  const merged = [...inside];
  if (before && (before.value.end >= first || before.value.count < SEGMENT_SMALL)) merged.unshift(before.value);
  const segments = tx.objectStore('segments');
  const old = await Promise.all(merged.map((summary) => segments.get(summary.start)));

  let combined: LogItem[] = added;
  if (old.length > 0) {
    const existing: LogItem[] = [];
    for (const segment of old) {
      if (!segment) throw new Error('internal: a segment summary has no segment');
      segment.events.forEach((event, i) => existing.push({ event, version: versionAt(segment, i) }));
    }
    combined = mergeByVersion(existing, added);
    for (const summary of merged) {
      settled(segments.delete(summary.start));
      settled(summaries.delete(summary.start));
    }
  }
  for (let i = 0; i < combined.length; i += SEGMENT_MAX) {
    const part = combined.slice(i, i + SEGMENT_MAX);
    const { segment, summary } = makeSegment(part, meta.nextSummarySeq++);
    settled(segments.put(segment));
    settled(summaries.put(summary));
  }
}

function mergeByVersion(existing: readonly LogItem[], added: readonly LogItem[]): LogItem[] {
  const result: LogItem[] = [];
  let i = 0;
  let j = 0;
  while (i < existing.length || j < added.length) {
    const a = existing[i];
    const b = added[j];
    if (a && b && a.version === b.version) throw versionTaken(b, a.event.id);
    if (a && (!b || a.version < b.version)) {
      result.push(a);
      i++;
    } else {
      result.push(b!);
      j++;
    }
  }
  return result;
}

function versionTaken(item: LogItem, holder: string): SyncError {
  return new SyncError(
    'invalid_input',
    `Version ${item.version} already holds event ${holder}, so event ${item.event.id} cannot be stored there`,
    { details: { eventId: item.event.id, field: 'version' } },
  );
}

function makeSegment(items: readonly LogItem[], seq: number): { segment: SegmentRecord; summary: SummaryRecord } {
  const start = items[0]!.version;
  const end = items[items.length - 1]!.version;
  const contiguous = end - start + 1 === items.length;
  const aggregates = new Set<string>();
  const types = new Set<string>();
  const tenants = new Set<string>();
  for (const { event } of items) {
    aggregates.add(event.aggregateId);
    types.add(event.type);
    if (event.metadata.tenant !== undefined) tenants.add(event.metadata.tenant);
  }
  return {
    segment: {
      start,
      seq,
      versions: contiguous ? null : items.map((item) => item.version),
      events: items.map((item) => item.event),
    },
    summary: {
      start,
      end,
      count: items.length,
      seq,
      aggregates: bloomOf(aggregates, aggregates.size),
      hashes: HASHES,
      types: types.size > LIST_MAX ? null : [...types],
      tenants: tenants.size > LIST_MAX ? null : [...tenants],
    },
  };
}
