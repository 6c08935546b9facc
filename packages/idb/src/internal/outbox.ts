import type { OutboxEntry } from '@eventsync/core';
import { packTexts, textAt, unpackIds, unpackTexts } from './packed.js';
import { settled } from './requests.js';
import { parseEvent, type Row } from './rows.js';
import type { OutboxChunkRecord, ReadTransaction, WriteTransaction } from './schema.js';

/** A chunk as this transaction sees it: unpacked, with the ids to take out. */
interface Chunk {
  readonly key: number;
  readonly seqs: readonly number[];
  readonly ids: readonly string[];
  /** Each event's aggregate. */
  readonly aggregates: readonly string[];
  readonly events: readonly string[];
  /** Where each id is. */
  readonly positions: Map<string, number>;
  /** Ids to take out when the chunk is written. */
  readonly removed: Set<string>;
  dirty: boolean;
}

function unpack(record: OutboxChunkRecord): Chunk {
  const ids = unpackIds(record.ids);
  const distinct = JSON.parse(record.aggregates) as string[];
  return {
    key: record.key,
    seqs: [...record.seqs],
    ids,
    aggregates: Array.from(record.aggregateOf, (position) => distinct[position]!),
    events: unpackTexts(record.events, record.offsets),
    positions: new Map(ids.map((id, i) => [id, i])),
    removed: new Set(),
    dirty: false,
  };
}

function pack(
  key: number,
  seqs: readonly number[],
  ids: readonly string[],
  aggregates: readonly string[],
  events: readonly string[],
): OutboxChunkRecord {
  const texts = packTexts(events);
  const positions = new Map<string, number>();
  const aggregateOf = Uint32Array.from(aggregates, (aggregate) => {
    let position = positions.get(aggregate);
    if (position === undefined) positions.set(aggregate, (position = positions.size));
    return position;
  });
  return {
    key,
    seqs: Float64Array.from(seqs),
    ids: ids.join(''),
    aggregates: JSON.stringify([...positions.keys()]),
    aggregateOf,
    events: texts.text,
    offsets: texts.offsets,
  };
}

/**
 * The `outbox` store within one transaction. Pending events live in chunks, one per append
 * transaction, so a batch of appends is one record; events leave their chunk as they are confirmed,
 * rejected or rebased away, and an empty chunk is deleted. Chunks are keyed by the first `localSeq`
 * they were given, so reading them in key order lists the outbox in `localSeq` order.
 */
export class Outbox {
  readonly #tx: ReadTransaction;
  readonly #chunks = new Map<number, Chunk>();

  constructor(tx: ReadTransaction) {
    this.#tx = tx;
  }

  /** Reads the chunks with these keys. */
  async load(keys: Iterable<number>): Promise<void> {
    const missing = [...new Set(keys)].filter((key) => !this.#chunks.has(key));
    if (missing.length === 0) return;
    const store = this.#tx.objectStore('outbox');
    const records = await Promise.all(missing.map((key) => store.get(key)));
    records.forEach((record, i) => {
      if (!record) throw new Error(`internal: outbox chunk ${missing[i]} is missing`);
      this.#chunks.set(record.key, unpack(record));
    });
  }

  /** The JSON of the pending event `id` of a loaded chunk. */
  json(chunk: number, id: string): string {
    const loaded = this.#chunks.get(chunk);
    const index = loaded?.positions.get(id);
    if (!loaded || index === undefined || loaded.removed.has(id)) {
      throw new Error(`internal: event ${id} is not in outbox chunk ${chunk}`);
    }
    return loaded.events[index]!;
  }

  /** Takes the pending event `id` out of its (loaded) chunk. */
  remove(chunk: number, id: string): void {
    this.json(chunk, id);
    const loaded = this.#chunks.get(chunk)!;
    loaded.removed.add(id);
    loaded.dirty = true;
  }

  /** Adds a chunk of new pending events, `seqs` in increasing order. */
  add(seqs: number[], rows: readonly Row[]): void {
    const ids = rows.map((row) => row.id);
    this.#chunks.set(seqs[0]!, {
      key: seqs[0]!,
      seqs,
      ids,
      aggregates: rows.map((row) => row.aggregateId),
      events: rows.map((row) => row.json),
      positions: new Map(ids.map((id, i) => [id, i])),
      removed: new Set(),
      dirty: true,
    });
  }

  /** Writes the changed chunks; a write transaction must be given. */
  flush(): void {
    const dirty = [...this.#chunks.values()].filter((chunk) => chunk.dirty);
    if (dirty.length === 0) return;
    const store = (this.#tx as WriteTransaction).objectStore('outbox');
    for (const chunk of dirty) {
      chunk.dirty = false;
      const { key, seqs, ids, aggregates, events, removed } = chunk;
      if (removed.size === 0) {
        settled(store.put(pack(key, seqs, ids, aggregates, events)));
        continue;
      }
      const keep = ids.map((id) => !removed.has(id));
      const kept = <T>(list: readonly T[]): T[] => list.filter((_, i) => keep[i]);
      if (!keep.includes(true)) settled(store.delete(key));
      else settled(store.put(pack(key, kept(seqs), kept(ids), kept(aggregates), kept(events))));
    }
  }
}

/** Options of {@link readPending}. */
export interface PendingQuery {
  readonly afterSeq: number | undefined;
  readonly aggregateId: string | undefined;
  readonly limit: number;
}

/** The pending events in `localSeq` order, as {@link LocalEventStore.pending} lists them. */
export async function readPending(
  tx: ReadTransaction,
  ranges: typeof IDBKeyRange,
  query: PendingQuery,
): Promise<OutboxEntry[]> {
  const store = tx.objectStore('outbox');
  const entries: OutboxEntry[] = [];
  // The aggregate column says which events to parse: a query for one aggregate parses only its events.
  const take = (record: OutboxChunkRecord): void => {
    const wanted =
      query.aggregateId === undefined
        ? undefined
        : (JSON.parse(record.aggregates) as string[]).indexOf(query.aggregateId);
    if (wanted === -1) return;
    for (let i = 0; i < record.seqs.length && entries.length < query.limit; i++) {
      const localSeq = record.seqs[i]!;
      if (query.afterSeq !== undefined && localSeq <= query.afterSeq) continue;
      if (wanted !== undefined && record.aggregateOf[i] !== wanted) continue;
      entries.push({ event: parseEvent(textAt(record.events, record.offsets, i)), localSeq });
    }
  };
  let from: IDBKeyRange | undefined;
  if (query.afterSeq !== undefined) {
    // The chunk holding afterSeq + 1 may start at or before afterSeq.
    const holder = await store.openCursor(ranges.upperBound(query.afterSeq), 'prev');
    if (holder) take(holder.value);
    from = ranges.lowerBound(query.afterSeq, true);
  }
  // A few chunks at a time: a limited read of a long outbox reads little more than it returns.
  let batch = query.limit === Number.POSITIVE_INFINITY ? undefined : 4;
  while (entries.length < query.limit) {
    const records = await store.getAll(from, batch);
    for (const record of records) take(record);
    if (batch === undefined || records.length < batch) break;
    from = ranges.lowerBound(records[records.length - 1]!.key, true);
    batch *= 2;
  }
  return entries;
}
