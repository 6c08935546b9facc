import type { DBSchema, IDBPDatabase, IDBPTransaction, StoreNames } from 'idb';
import { settled } from './requests.js';
import type { ConflictRecord, Event, RejectionRecord } from '@eventsync/core';

/**
 * The layout of an eventsync database. Every record type is written and read only through the modules
 * of this folder; `docs/idb.md` describes it for people.
 *
 * - `meta`: one record (`state`): the pull cursor, the counters, this database's client id.
 * - `segments`: the confirmed log, as runs of events in version order, keyed by their first version;
 *   no two segments overlap. A pulled page is one segment.
 * - `summaries`: one small record per segment (range, count, a Bloom filter of its aggregates, its
 *   types and tenants), indexed by write sequence so readers can cache them and catch up cheaply.
 * - `ids`: every event id the store knows (confirmed, pending or rejected), in sorted leaves of up to
 *   {@link ID_LEAF_MAX} ids, keyed by the lowest id a leaf may hold: a B-tree's leaf level, kept by hand.
 * - `outbox`: pending events, one chunk per append transaction, keyed by the chunk's first `localSeq`,
 *   with id and aggregate columns (no index by aggregate: see `docs/idb.md`).
 * - `rejections`, `conflicts`: the records of {@link LocalEventStore.reject} and `saveConflict`.
 */
export interface EventSyncSchema extends DBSchema {
  meta: { key: string; value: MetaRecord };
  segments: { key: number; value: SegmentRecord };
  summaries: { key: number; value: SummaryRecord; indexes: { seq: number } };
  ids: { key: string; value: IdLeafRecord };
  outbox: { key: number; value: OutboxChunkRecord };
  rejections: { key: string; value: RejectionEntry };
  conflicts: { key: string; value: ConflictEntry };
}

export type StoreName = StoreNames<EventSyncSchema>;
export type Database = IDBPDatabase<EventSyncSchema>;
export type ReadTransaction<S extends StoreName[] = StoreName[]> = IDBPTransaction<
  EventSyncSchema,
  S,
  'readonly' | 'readwrite'
>;
export type WriteTransaction<S extends StoreName[] = StoreName[]> = IDBPTransaction<EventSyncSchema, S, 'readwrite'>;
export type UpgradeTransaction = IDBPTransaction<EventSyncSchema, StoreName[], 'versionchange'>;

/** The key of the one `meta` record. */
export const META_KEY = 'state';

/** The state of the store that is not events. */
export interface MetaRecord {
  /** The pull cursor (a server version). */
  cursor: number;
  /** The `localSeq` of the next pending event. */
  nextLocalSeq: number;
  /** How many events are pending. */
  pendingCount: number;
  /** The write sequence of the next segment summary. */
  nextSummarySeq: number;
  /** The order of the next rejection or conflict record (they list oldest first). */
  nextRecordOrder: number;
  /** Bumped by every write: the change feed polls it where BroadcastChannel is missing. */
  changeSeq: number;
  /** Made once, when the database is created; shared by every tab on it. */
  clientId: string;
}

/**
 * A run of confirmed events in version order. Events are kept as JSON text (see `rows.ts`), all of a
 * segment's in one string, with their ids, aggregates, types and tenants in columns beside them, so
 * reads filter and look up without parsing the events they do not return. Few large values are what
 * IndexedDB writes fastest: a string or a typed array is stored as one copy of its bytes.
 */
export interface SegmentRecord {
  /** The first version; the key. */
  start: number;
  /** The write sequence of its summary: readers check they read the segment the summary describes. */
  seq: number;
  /** The events' versions, or `null` when they are `start, start + 1, …` (the usual case). */
  versions: Float64Array | null;
  /** The events' JSON texts, joined by commas: `[${events}]` is the JSON array of them. */
  events: string;
  /** Where each event's JSON starts in `events` (and, last, where the final one ends). */
  offsets: Uint32Array;
  /** The events' ids (26-character ULIDs), concatenated. */
  ids: string;
  /** The distinct aggregate ids, as a JSON array; event `i` is about `aggregates[aggregateOf[i]]`. */
  aggregates: string;
  aggregateOf: Uint16Array;
  /** The distinct types, as a JSON array; event `i` is of type `types[typeOf[i]]`. */
  types: string;
  typeOf: Uint16Array;
  /** The distinct tenants, as a JSON array; event `i` has `tenants[tenantOf[i]]`, or none where it is {@link NO_TENANT}. */
  tenants: string;
  tenantOf: Uint16Array;
}

/** The `tenantOf` of an event without `metadata.tenant`. */
export const NO_TENANT = 0xffff;

/** What readers need to know of a segment without reading it. */
export interface SummaryRecord {
  /** The segment's first version; the key. */
  start: number;
  /** The segment's last version. */
  end: number;
  count: number;
  /** Write sequence: readers fetch the summaries written since they last looked. */
  seq: number;
  /** A Bloom filter of the segment's aggregate ids. */
  aggregates: Uint8Array;
  /** Hash functions of the filter. */
  hashes: number;
  /** The distinct event types, or `null` when there are too many to list. */
  types: string[] | null;
  /** The distinct `metadata.tenant` values, or `null` when there are too many to list. */
  tenants: string[] | null;
}

/** Where an id is: the `state` codes of {@link IdLeafRecord}. */
export const ID_CONFIRMED = 1;
export const ID_PENDING = 2;
export const ID_REJECTED = 3;
export type IdState = typeof ID_CONFIRMED | typeof ID_PENDING | typeof ID_REJECTED;

/** The most ids in one leaf of the `ids` store; a fuller leaf is split. */
export const ID_LEAF_MAX = 1024;

/** A sorted run of event ids with where each one is. */
export interface IdLeafRecord {
  /** The lowest id this leaf may hold (`''` for the first leaf); the key. */
  fence: string;
  /** The ids, sorted, concatenated: event ids are 26-character ULIDs. */
  ids: string;
  /** Per id: {@link ID_CONFIRMED}, {@link ID_PENDING} or {@link ID_REJECTED}. */
  states: Uint8Array;
  /** Per id: the version (confirmed) or the `localSeq` (pending). */
  values: Float64Array;
  /** Per id: the key of the outbox chunk holding it (pending). */
  chunks: Float64Array;
}

/** The pending events of one append transaction, in `localSeq` order; events leave it as they are confirmed. */
export interface OutboxChunkRecord {
  /** The first `localSeq` given to the chunk; the key, never changed. */
  key: number;
  seqs: Float64Array;
  /** The events' ids, concatenated. */
  ids: string;
  /** The distinct aggregate ids, as a JSON array; event `i` is about `aggregates[aggregateOf[i]]`. */
  aggregates: string;
  aggregateOf: Uint32Array;
  /** The events' JSON texts, joined by commas. */
  events: string;
  /** Where each event's JSON starts in `events` (and, last, where the final one ends). */
  offsets: Uint32Array;
}

/** A rejection record with its place in the list. */
export interface RejectionEntry {
  order: number;
  record: RejectionRecord;
}

/** A conflict record with its place in the list; versions are kept as their strings. */
export interface ConflictEntry {
  order: number;
  record: StoredConflictRecord;
}

/** A {@link ConflictRecord} as stored: `conflict.remote[].version` as strings. */
export type StoredConflictRecord = Omit<ConflictRecord, 'conflict'> & {
  conflict: Omit<ConflictRecord['conflict'], 'remote'> & {
    remote: { event: Event; version: string }[];
  };
};

/** Moves a database from one schema version to the next, inside the upgrade transaction. */
export type Migration = (db: Database, tx: UpgradeTransaction) => void;

/** The schema version this code writes. */
export const SCHEMA_VERSION = 1;

/** `MIGRATIONS[n]` moves a database from version `n` to `n + 1`. */
export const MIGRATIONS: readonly Migration[] = [
  // 0 → 1: the first layout.
  (db, tx) => {
    db.createObjectStore('meta');
    db.createObjectStore('segments', { keyPath: 'start' });
    db.createObjectStore('summaries', { keyPath: 'start' }).createIndex('seq', 'seq', { unique: true });
    db.createObjectStore('ids', { keyPath: 'fence' });
    db.createObjectStore('outbox', { keyPath: 'key' });
    db.createObjectStore('rejections');
    db.createObjectStore('conflicts');
    settled(tx.objectStore('meta').put(initialMeta(), META_KEY));
  },
];

function initialMeta(): MetaRecord {
  return {
    cursor: 0,
    nextLocalSeq: 1,
    pendingCount: 0,
    nextSummarySeq: 1,
    nextRecordOrder: 1,
    changeSeq: 0,
    clientId: newClientId(),
  };
}

/** 20 random characters of [0-9a-z]: a client id that `EventFactory` and the server accept. */
function newClientId(): string {
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz';
  const bytes = new Uint8Array(20);
  globalThis.crypto.getRandomValues(bytes);
  let id = 'idb-';
  for (const byte of bytes) id += alphabet[byte % alphabet.length];
  return id;
}

/** A schema: its version and the migrations that lead to it. Tests pass their own to try upgrades. */
export interface Schema {
  readonly version: number;
  readonly migrations: readonly Migration[];
}

export const CURRENT_SCHEMA: Schema = { version: SCHEMA_VERSION, migrations: MIGRATIONS };

/** Every object store, for transactions that may touch any of them. */
export const ALL_STORES: StoreName[] = ['meta', 'segments', 'summaries', 'ids', 'outbox', 'rejections', 'conflicts'];
