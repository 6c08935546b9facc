import { ULID_PATTERN } from '@eventsync/core';
import { settled } from './requests.js';
import { ID_LEAF_MAX, type IdLeafRecord, type IdState, type ReadTransaction, type WriteTransaction } from './schema.js';

const ID_LENGTH = 26;

/** Where an id is. */
export interface IdEntry {
  readonly state: IdState;
  /** The version (confirmed) or the `localSeq` (pending); 0 for rejected ids. */
  readonly value: number;
  /** The outbox chunk of a pending id; 0 otherwise. */
  readonly chunk: number;
}

/** A leaf, decoded for changes: its ids in order and where each one is. */
interface Leaf {
  readonly fence: string;
  readonly entries: Map<string, IdEntry>;
  dirty: boolean;
}

/**
 * The `ids` store, within one transaction: every id the store knows, in sorted leaves (the leaf level
 * of a B-tree, keyed by the lowest id each may hold). Ids of one batch are mostly close in time, and
 * ULIDs sort by time, so a batch of a thousand ids reads and rewrites one or two leaves instead of a
 * thousand records.
 *
 * Call {@link IdIndex.load} for the ids of a step, then {@link IdIndex.get} and {@link IdIndex.set}
 * them, then {@link IdIndex.flush} once before the transaction ends.
 */
export class IdIndex {
  readonly #tx: ReadTransaction;
  readonly #ranges: typeof IDBKeyRange;
  readonly #leaves = new Map<string, Leaf>();
  /** The leaf each loaded id belongs to. */
  readonly #route = new Map<string, string>();

  constructor(tx: ReadTransaction, ranges: typeof IDBKeyRange) {
    this.#tx = tx;
    this.#ranges = ranges;
  }

  /** Reads the leaves that hold (or would hold) `ids`; ids that are not ULIDs are never stored and skipped. */
  async load(ids: Iterable<string>): Promise<void> {
    const wanted = [...new Set(ids)].filter((id) => !this.#route.has(id) && ULID_PATTERN.test(id)).sort();
    if (wanted.length === 0) return;
    const store = this.#tx.objectStore('ids');
    const first = wanted[0]!;
    const last = wanted[wanted.length - 1]!;
    const [below, inside] = await Promise.all([
      store.openKeyCursor(this.#ranges.upperBound(first), 'prev'),
      first === last ? Promise.resolve([]) : store.getAllKeys(this.#ranges.bound(first, last, true, false)),
    ]);
    // The first leaf has the fence '' and is never deleted, so `below` is missing only in an empty index.
    const fences = [below ? below.key : '', ...inside];
    const needed = new Set<string>();
    let f = 0;
    for (const id of wanted) {
      while (f + 1 < fences.length && fences[f + 1]! <= id) f++;
      const fence = fences[f]!;
      this.#route.set(id, fence);
      needed.add(fence);
    }
    const missing = [...needed].filter((fence) => !this.#leaves.has(fence));
    const records = await Promise.all(missing.map((fence) => store.get(fence)));
    missing.forEach((fence, i) => {
      this.#leaves.set(fence, { fence, entries: decode(records[i]), dirty: false });
    });
  }

  /** Where `id` is; `undefined` when the store does not know it. The id must have been loaded. */
  get(id: string): IdEntry | undefined {
    const fence = this.#route.get(id);
    return fence === undefined ? undefined : this.#leaves.get(fence)?.entries.get(id);
  }

  /** Records where `id` now is, or forgets it (`undefined`). The id must have been loaded. */
  set(id: string, entry: IdEntry | undefined): void {
    const fence = this.#route.get(id);
    const leaf = fence === undefined ? undefined : this.#leaves.get(fence);
    if (!leaf) throw new Error(`internal: id ${id} was not loaded before it was changed`);
    if (entry) leaf.entries.set(id, entry);
    else leaf.entries.delete(id);
    leaf.dirty = true;
  }

  /** Writes the changed leaves, splitting full ones; a write transaction must be given. */
  flush(): void {
    const dirty = [...this.#leaves.values()].filter((leaf) => leaf.dirty);
    if (dirty.length === 0) return;
    const store = (this.#tx as WriteTransaction).objectStore('ids');
    for (const leaf of dirty) {
      leaf.dirty = false;
      const ids = [...leaf.entries.keys()].sort();
      if (ids.length === 0 && leaf.fence !== '') {
        settled(store.delete(leaf.fence));
        continue;
      }
      // Split into leaves of at most three quarters of the maximum: room to grow on both sides.
      const size = ids.length > ID_LEAF_MAX ? Math.floor((ID_LEAF_MAX * 3) / 4) : ID_LEAF_MAX;
      for (let i = 0; i === 0 || i < ids.length; i += size) {
        const part = ids.slice(i, i + size);
        settled(store.put(encode(i === 0 ? leaf.fence : part[0]!, part, leaf.entries)));
      }
    }
  }
}

function decode(record: IdLeafRecord | undefined): Map<string, IdEntry> {
  const entries = new Map<string, IdEntry>();
  if (!record) return entries;
  const count = record.states.length;
  for (let i = 0; i < count; i++) {
    entries.set(record.ids.slice(i * ID_LENGTH, (i + 1) * ID_LENGTH), {
      state: record.states[i] as IdState,
      value: record.values[i]!,
      chunk: record.chunks[i]!,
    });
  }
  return entries;
}

function encode(fence: string, ids: readonly string[], entries: ReadonlyMap<string, IdEntry>): IdLeafRecord {
  const states = new Uint8Array(ids.length);
  const values = new Float64Array(ids.length);
  const chunks = new Float64Array(ids.length);
  ids.forEach((id, i) => {
    const entry = entries.get(id)!;
    states[i] = entry.state;
    values[i] = entry.value;
    chunks[i] = entry.chunk;
  });
  return { fence, ids: ids.join(''), states, values, chunks };
}
