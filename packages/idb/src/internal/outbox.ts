import type { Event, OutboxEntry } from '@eventsync/core';
import { settled } from './requests.js';
import type { OutboxChunkRecord, ReadTransaction, WriteTransaction } from './schema.js';

interface Chunk {
  readonly record: OutboxChunkRecord;
  /** Where each id is in the record, built when first needed. */
  positions?: Map<string, number>;
  /** Ids to take out when the chunk is written. */
  readonly removed: Set<string>;
  dirty: boolean;
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
    const store = this.#tx.objectStore('outbox');
    const records = await Promise.all(missing.map((key) => store.get(key)));
    records.forEach((record, i) => {
      if (!record) throw new Error(`internal: outbox chunk ${missing[i]} is missing`);
      this.#chunks.set(record.key, { record, removed: new Set(), dirty: false });
    });
  }

  /** The pending event `id` of a loaded chunk. */
  event(chunk: number, id: string): Event {
    const loaded = this.#chunks.get(chunk);
    const index = loaded && this.#positions(loaded).get(id);
    if (!loaded || index === undefined || loaded.removed.has(id)) {
      throw new Error(`internal: event ${id} is not in outbox chunk ${chunk}`);
    }
    return loaded.record.events[index]!;
  }

  /** Takes the pending event `id` out of its (loaded) chunk. */
  remove(chunk: number, id: string): void {
    this.event(chunk, id);
    const loaded = this.#chunks.get(chunk)!;
    loaded.removed.add(id);
    loaded.dirty = true;
  }

  /** Adds a chunk of new pending events, `seqs` in increasing order. */
  add(seqs: number[], events: Event[]): void {
    this.#chunks.set(seqs[0]!, { record: { key: seqs[0]!, seqs, events }, removed: new Set(), dirty: true });
  }

  /** Writes the changed chunks; a write transaction must be given. */
  flush(): void {
    const dirty = [...this.#chunks.values()].filter((chunk) => chunk.dirty);
    if (dirty.length === 0) return;
    const store = (this.#tx as WriteTransaction).objectStore('outbox');
    for (const chunk of dirty) {
      chunk.dirty = false;
      const { record, removed } = chunk;
      const keep = removed.size === 0 ? undefined : record.events.map((event) => !removed.has(event.id));
      const events = keep ? record.events.filter((_, i) => keep[i]) : record.events;
      const seqs = keep ? record.seqs.filter((_, i) => keep[i]) : record.seqs;
      if (events.length === 0) settled(store.delete(record.key));
      else settled(store.put({ key: record.key, seqs, events }));
    }
  }

  #positions(chunk: Chunk): Map<string, number> {
    chunk.positions ??= new Map(chunk.record.events.map((event, i) => [event.id, i]));
    return chunk.positions;
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
  const take = (record: OutboxChunkRecord): void => {
    for (let i = 0; i < record.events.length && entries.length < query.limit; i++) {
      const localSeq = record.seqs[i]!;
      const event = record.events[i]!;
      if (query.afterSeq !== undefined && localSeq <= query.afterSeq) continue;
      if (query.aggregateId === undefined || event.aggregateId === query.aggregateId) entries.push({ event, localSeq });
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
