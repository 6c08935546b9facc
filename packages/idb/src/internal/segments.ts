import { SyncError } from '@eventsync/core';
import { HASHES, bloomOf } from './bloom.js';
import { idAt, packTexts, textAt } from './packed.js';
import { settled } from './requests.js';
import type { Row } from './rows.js';
import {
  NO_TENANT,
  type MetaRecord,
  type ReadTransaction,
  type SegmentRecord,
  type SummaryRecord,
  type WriteTransaction,
} from './schema.js';

/** The most events in one segment; a pulled page of up to this many is one record. */
export const SEGMENT_MAX = 4096;
/** A segment with fewer events is merged into the next run written right after it. */
export const SEGMENT_SMALL = 256;
/** Past this many distinct types or tenants, a summary stops listing them. */
const LIST_MAX = 64;

/** A confirmed event (as a row) and its version (a number: the server's cursor). */
export interface LogRow {
  readonly row: Row;
  readonly version: number;
}

/** The version of the `index`th event of a segment. */
export function versionAt(segment: SegmentRecord, index: number): number {
  return segment.versions ? segment.versions[index]! : segment.start + index;
}

/** How many events a segment holds. */
export function segmentSize(segment: SegmentRecord): number {
  return segment.offsets.length - 1;
}

/** The position of `version` in `segment`, or -1. */
export function indexOfVersion(segment: SegmentRecord, version: number): number {
  const { versions, start } = segment;
  if (!versions) return version >= start && version < start + segmentSize(segment) ? version - start : -1;
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

/** A segment's columns of distinct values, parsed. */
export interface SegmentColumns {
  readonly aggregates: readonly string[];
  readonly types: readonly string[];
  readonly tenants: readonly string[];
}

/** Parses a segment's columns of distinct values. */
export function columnsOf(segment: SegmentRecord): SegmentColumns {
  return {
    aggregates: JSON.parse(segment.aggregates) as string[],
    types: JSON.parse(segment.types) as string[],
    tenants: JSON.parse(segment.tenants) as string[],
  };
}

/** The row of the `index`th event of a segment. */
export function rowAt(segment: SegmentRecord, columns: SegmentColumns, index: number): Row {
  const tenant = segment.tenantOf[index]!;
  return {
    id: idAt(segment.ids, index),
    aggregateId: columns.aggregates[segment.aggregateOf[index]!]!,
    type: columns.types[segment.typeOf[index]!]!,
    tenant: tenant === NO_TENANT ? undefined : columns.tenants[tenant],
    json: textAt(segment.events, segment.offsets, index),
  };
}

/** Reads the rows stored at `versions`; versions not stored are left out. */
export async function rowsAt(
  tx: ReadTransaction,
  ranges: typeof IDBKeyRange,
  versions: Iterable<number>,
): Promise<Map<number, Row>> {
  const store = tx.objectStore('segments');
  const wanted = [...new Set(versions)].sort((a, b) => a - b);
  const found = new Map<number, Row>();
  let segment: SegmentRecord | undefined;
  let columns: SegmentColumns | undefined;
  for (const version of wanted) {
    // Sorted, so the segment of the last version is the only one that may hold the next.
    if (!segment || indexOfVersion(segment, version) < 0) {
      segment = (await store.openCursor(ranges.upperBound(version), 'prev'))?.value;
      if (!segment) continue;
      columns = columnsOf(segment);
    }
    const index = indexOfVersion(segment, version);
    if (index >= 0) found.set(version, rowAt(segment, columns!, index));
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
  items: readonly LogRow[],
  around?: Promise<Neighbours>,
): Promise<void> {
  if (items.length === 0) return;
  let added = items as LogRow[];
  for (let i = 1; i < added.length; i++) {
    if (added[i]!.version <= added[i - 1]!.version) {
      added = [...items].sort((a, b) => a.version - b.version);
      break;
    }
  }
  for (let i = 1; i < added.length; i++) {
    if (added[i]!.version === added[i - 1]!.version) throw versionTaken(added[i]!, added[i - 1]!.row.id);
  }
  const first = added[0]!.version;
  const last = added[added.length - 1]!.version;
  const summaries = tx.objectStore('summaries');
  const { before, inside } = await (around ?? neighbours(tx, ranges, first, last));
  const merged = [...inside];
  if (before && (before.end >= first || before.count < SEGMENT_SMALL)) merged.unshift(before);
  const segments = tx.objectStore('segments');
  const old = await Promise.all(merged.map((summary) => segments.get(summary.start)));

  let combined: readonly LogRow[] = added;
  if (old.length > 0) {
    const existing: LogRow[] = [];
    for (const segment of old) {
      if (!segment) throw new Error('internal: a segment summary has no segment');
      const columns = columnsOf(segment);
      for (let i = 0; i < segmentSize(segment); i++) {
        existing.push({ row: rowAt(segment, columns, i), version: versionAt(segment, i) });
      }
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

/** The summaries of the segments starting in a version range, and of the one before it. */
export interface Neighbours {
  readonly before: SummaryRecord | undefined;
  readonly inside: readonly SummaryRecord[];
}

/**
 * Reads {@link Neighbours} of `first..last`. A step may read them early, for a range that contains the
 * versions it ends up adding: {@link addToLog} merges any segment they name, which is harmless.
 */
export async function neighbours(
  tx: ReadTransaction,
  ranges: typeof IDBKeyRange,
  first: number,
  last: number,
): Promise<Neighbours> {
  const summaries = tx.objectStore('summaries');
  const [before, inside] = await Promise.all([
    summaries.openCursor(ranges.upperBound(first, true), 'prev'),
    summaries.getAll(ranges.bound(first, last)),
  ]);
  return { before: before?.value, inside };
}

function mergeByVersion(existing: readonly LogRow[], added: readonly LogRow[]): LogRow[] {
  const result: LogRow[] = [];
  let i = 0;
  let j = 0;
  while (i < existing.length || j < added.length) {
    const a = existing[i];
    const b = added[j];
    if (a && b && a.version === b.version) throw versionTaken(b, a.row.id);
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

function versionTaken(item: LogRow, holder: string): SyncError {
  return new SyncError(
    'invalid_input',
    `Version ${item.version} already holds event ${holder}, so event ${item.row.id} cannot be stored there`,
    { details: { eventId: item.row.id, field: 'version' } },
  );
}

/** Distinct values in first-seen order, and each item's index among them. */
function column(values: readonly (string | undefined)[]): { distinct: string[]; of: Uint16Array } {
  const positions = new Map<string, number>();
  const distinct: string[] = [];
  const of = new Uint16Array(values.length);
  values.forEach((value, i) => {
    if (value === undefined) {
      of[i] = NO_TENANT;
      return;
    }
    let position = positions.get(value);
    if (position === undefined) {
      position = distinct.length;
      positions.set(value, position);
      distinct.push(value);
    }
    of[i] = position;
  });
  return { distinct, of };
}

function makeSegment(items: readonly LogRow[], seq: number): { segment: SegmentRecord; summary: SummaryRecord } {
  const start = items[0]!.version;
  const end = items[items.length - 1]!.version;
  const contiguous = end - start + 1 === items.length;
  const aggregates = column(items.map((item) => item.row.aggregateId));
  const types = column(items.map((item) => item.row.type));
  const tenants = column(items.map((item) => item.row.tenant));
  const events = packTexts(items.map((item) => item.row.json));
  return {
    segment: {
      start,
      seq,
      versions: contiguous ? null : Float64Array.from(items, (item) => item.version),
      events: events.text,
      offsets: events.offsets,
      ids: items.map((item) => item.row.id).join(''),
      aggregates: JSON.stringify(aggregates.distinct),
      aggregateOf: aggregates.of,
      types: JSON.stringify(types.distinct),
      typeOf: types.of,
      tenants: JSON.stringify(tenants.distinct),
      tenantOf: tenants.of,
    },
    summary: {
      start,
      end,
      count: items.length,
      seq,
      aggregates: bloomOf(aggregates.distinct, aggregates.distinct.length),
      hashes: HASHES,
      types: types.distinct.length > LIST_MAX ? null : types.distinct,
      tenants: tenants.distinct.length > LIST_MAX ? null : tenants.distinct,
    },
  };
}
