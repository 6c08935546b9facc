import {
  CursorVersion,
  SyncError,
  isSyncError,
  sameEventContent,
  type Acknowledgement,
  type ApplyPulledResult,
  type ConflictQueryOptions,
  type ConflictRecord,
  type Event,
  type EventLimits,
  type FoundEvent,
  type LoadOptions,
  type LocalEventStore,
  type OutboxChange,
  type OutboxEntry,
  type PendingOptions,
  type PulledPage,
  type Rejection,
  type RejectionRecord,
  type SignalOptions,
  type VersionedEvent,
} from '@eventsync/core';
import { abortReason, throwIfAborted } from './internal/abort.js';
import { ChangeFeed } from './internal/change-feed.js';
import { IdIndex, type IdEntry } from './internal/id-index.js';
import { deleteDatabase, openDatabase } from './internal/open-database.js';
import { Outbox, readPending } from './internal/outbox.js';
import { settled } from './internal/requests.js';
import {
  CURRENT_SCHEMA,
  ID_CONFIRMED,
  ID_PENDING,
  ID_REJECTED,
  META_KEY,
  type ConflictEntry,
  type Database,
  type MetaRecord,
  type ReadTransaction,
  type Schema,
  type SegmentRecord,
  type StoreName,
  type StoredConflictRecord,
  type WriteTransaction,
} from './internal/schema.js';
import { SegmentCache, StaleCacheError, mayMatch, readLog, readSegments } from './internal/segment-cache.js';
import { checkedRow, parseEvent, rowOfJson, type Row } from './internal/rows.js';
import {
  addToLog,
  columnsOf,
  neighbours,
  rowsAt,
  versionAt,
  type LogRow,
  type Neighbours,
} from './internal/segments.js';
import { errorName, toStorageError } from './internal/storage-error.js';
import {
  DEFAULT_INDEXED_DB_EVENT_STORE_OPTIONS,
  type IndexedDbEventStoreOptions,
} from './indexed-db-event-store-options.js';
import type { StoreChange } from './store-change.js';

/** The options once defaults are in. */
interface Settings {
  readonly name: string;
  readonly factory: IDBFactory;
  readonly ranges: typeof IDBKeyRange;
  readonly limits: EventLimits;
  readonly now: () => number;
  readonly durability: IDBTransactionDurability;
  readonly maxEventsPerCommit: number;
  readonly blockedTimeoutMs: number;
  readonly onVersionChange: IndexedDbEventStoreOptions['onVersionChange'];
  readonly onTerminated: IndexedDbEventStoreOptions['onTerminated'];
}

/** One write transaction's view: the meta record and the sessions on the ids and the outbox. */
interface Work {
  readonly tx: WriteTransaction;
  readonly meta: MetaRecord;
  readonly ids: IdIndex;
  readonly outbox: Outbox;
  /** What the step changed, for the change feed. */
  readonly changed: { outbox: boolean; log: boolean; records: boolean };
}

/** An `appendLocal` call waiting for, or in, a group commit. */
interface AppendCall {
  readonly events: readonly Event[];
  /** The events as stored, taken when the call was made. */
  readonly rows: readonly Row[];
  readonly signal: AbortSignal | undefined;
  readonly resolve: (entries: OutboxEntry[]) => void;
  readonly reject: (error: unknown) => void;
  started: boolean;
  onAbort?: () => void;
}

type Outcome = { readonly entries: OutboxEntry[] } | { readonly error: unknown };

/** Where a known event is, with its stored content. */
type Known =
  | { readonly state: 'confirmed'; readonly json: string; readonly version: number }
  | { readonly state: 'pending'; readonly json: string; readonly localSeq: number; readonly chunk: number }
  | { readonly state: 'rejected' };

const READ_RETRIES = 5;

/**
 * The {@link LocalEventStore} of the browser: the confirmed log, the outbox, the pull cursor and the
 * conflict and rejection records in IndexedDB (through `idb`), one transaction per step.
 *
 * Built for IndexedDB's cost model, where each record costs far more than each byte:
 *
 * - a pulled page is stored as **one segment record** (with a small summary the aggregate, type and
 *   tenant queries read instead of the events), so initial sync is not bound by per-record cost;
 * - event ids live in sorted leaves of about a thousand ids each, so the checks that keep ids unique
 *   read one or two records per page instead of one per event;
 * - concurrent `appendLocal` calls share transactions (**group commit**): each resolves once its
 *   events are committed, and fails alone if its own events are refused.
 *
 * Tabs may share a database: every write is one transaction, other tabs hear of changes through
 * {@link IndexedDbEventStore.subscribe}, and {@link TabLeader} picks the one tab that syncs. A newer
 * tab's upgrade closes this store (`onVersionChange`); storage failures are `SyncError('quota')` or
 * `SyncError('storage')` with the `DOMException` as `cause`. See `docs/idb.md`.
 *
 * Versions are the server's {@link CursorVersion}s.
 *
 * @example
 * ```ts
 * const store = await IndexedDbEventStore.open({ name: 'todos' });
 * const manager = new SyncManager({ store, transport, clientId: store.clientId });
 * await manager.append({ type: 'todo.added', aggregateId: 'todo-1', data: { title: 'Milk' } });
 * ```
 */
export class IndexedDbEventStore implements LocalEventStore {
  readonly #db: Database;
  readonly #settings: Settings;
  readonly #cache = new SegmentCache();
  readonly #feed: ChangeFeed;
  readonly #clientId: string;
  readonly #appends: AppendCall[] = [];
  #flushing: Promise<void> | undefined;
  /** Set once the store is closed: what later calls fail with. */
  #closed: SyncError | undefined;

  private constructor(db: Database, settings: Settings, meta: MetaRecord, options: IndexedDbEventStoreOptions) {
    this.#db = db;
    this.#settings = settings;
    this.#clientId = meta.clientId;
    const Channel =
      options.BroadcastChannel === undefined ? (globalThis.BroadcastChannel ?? null) : options.BroadcastChannel;
    this.#feed = new ChangeFeed({
      channelName: `eventsync:${settings.name}`,
      BroadcastChannel: Channel,
      pollIntervalMs: options.pollIntervalMs ?? DEFAULT_INDEXED_DB_EVENT_STORE_OPTIONS.pollIntervalMs,
      readChangeSeq: async () => (await this.#readMeta(undefined)).changeSeq,
      initialSeq: meta.changeSeq,
    });
    const raw = db as unknown as IDBDatabase;
    // Another tab opens a newer schema, or deletes the database: let go at once, or it stays blocked.
    db.addEventListener('versionchange', (event) => {
      this.#closed ??= new SyncError(
        'closed',
        `The database ${settings.name} was closed because another tab ` +
          (event.newVersion === null
            ? 'deleted it'
            : `opened it with a newer schema (version ${event.newVersion}); reload this tab`),
        { details: { reason: 'versionchange', oldVersion: event.oldVersion, newVersion: event.newVersion } },
      );
      raw.close();
      this.#feed.close();
      this.#settings.onVersionChange?.({ oldVersion: event.oldVersion, newVersion: event.newVersion });
    });
    db.addEventListener('close', () => {
      this.#closed ??= new SyncError(
        'storage',
        `The browser closed the database ${settings.name} (site data cleared or a disk failure)`,
        { details: { reason: 'terminated' } },
      );
      this.#feed.close();
      this.#settings.onTerminated?.();
    });
  }

  /**
   * Opens the store, creating or upgrading its database.
   *
   * @throws SyncError `timeout` when another tab blocks an upgrade for `blockedTimeoutMs`; `storage` when
   *   IndexedDB is missing or fails, or the database was written by a newer version of the app.
   *
   * @example
   * ```ts
   * const store = await IndexedDbEventStore.open({
   *   name: 'todos',
   *   onVersionChange: () => location.reload(),
   * });
   * ```
   */
  static open(options: IndexedDbEventStoreOptions = {}): Promise<IndexedDbEventStore> {
    return IndexedDbEventStore.openWithSchema(options, CURRENT_SCHEMA);
  }

  /** @internal Opens with another schema: for tests of upgrades. */
  static async openWithSchema(options: IndexedDbEventStoreOptions, schema: Schema): Promise<IndexedDbEventStore> {
    const settings = resolveSettings(options);
    const db = await openDatabase({
      name: settings.name,
      factory: settings.factory,
      schema,
      blockedTimeoutMs: settings.blockedTimeoutMs,
      onBlocked: options.onBlocked,
      signal: options.signal,
    });
    try {
      const meta = await db.get('meta', META_KEY);
      if (!meta) throw new SyncError('storage', `The database ${settings.name} has no eventsync state record`);
      return new IndexedDbEventStore(db, settings, meta, options);
    } catch (error) {
      db.close();
      throw toStorageError(error, `open the database ${settings.name}`);
    }
  }

  /**
   * Deletes a store's database and everything in it, e.g. when the user signs out. Close the stores
   * open on it first (other tabs' stores close themselves: their `onVersionChange` is told).
   *
   * @throws SyncError `timeout` when a connection that does not close blocks it for `blockedTimeoutMs`
   *   (the deletion still happens once that connection closes).
   */
  static async deleteDatabase(
    options: Pick<IndexedDbEventStoreOptions, 'name' | 'indexedDB' | 'blockedTimeoutMs' | 'signal'> = {},
  ): Promise<void> {
    const factory = options.indexedDB ?? globalThis.indexedDB;
    if (!factory) throw new SyncError('storage', 'IndexedDB is not available here');
    await deleteDatabase(
      options.name ?? DEFAULT_INDEXED_DB_EVENT_STORE_OPTIONS.name,
      factory,
      options.blockedTimeoutMs ?? DEFAULT_INDEXED_DB_EVENT_STORE_OPTIONS.blockedTimeoutMs,
      options.signal,
    );
  }

  /** The database's name. */
  get name(): string {
    return this.#settings.name;
  }

  /**
   * A client id made once for this database and shared by every tab on it: give it to the
   * `SyncManager` of each tab, so the server and the conflict checks see one client per device.
   */
  get clientId(): string {
    return this.#clientId;
  }

  /**
   * Tells `listener` of every committed change: this store's own (`origin: 'local'`) and, through a
   * `BroadcastChannel`, those of other tabs on the same database (`origin: 'remote'`). Returns the
   * function that stops it.
   */
  subscribe(listener: (change: StoreChange) => void): () => void {
    return this.#feed.subscribe(listener);
  }

  async store(event: Event, version: CursorVersion, options?: SignalOptions): Promise<void> {
    this.#enter(options?.signal);
    const row = checkedRow(event, this.#settings.limits);
    const at = checkVersion(version, event.id);
    await this.#write('store', ['meta', 'ids', 'outbox', 'segments', 'summaries'], options?.signal, async (work) => {
      await this.#confirm(work, [{ row, version: at }]);
    });
  }

  async load(since: CursorVersion, options: LoadOptions = {}): Promise<VersionedEvent[]> {
    this.#enter(options.signal);
    const after = checkSince(since);
    const limit = checkLimit(options.limit);
    return this.#readLog({ since: after, filter: options.filter, aggregateId: undefined, limit }, options.signal);
  }

  async loadByAggregate(
    aggregateId: string,
    since: CursorVersion,
    options: LoadOptions = {},
  ): Promise<VersionedEvent[]> {
    this.#enter(options.signal);
    if (typeof aggregateId !== 'string' || aggregateId === '') {
      throw new SyncError('invalid_input', 'aggregateId must be a non-empty string', {
        details: { field: 'aggregateId' },
      });
    }
    const after = checkSince(since);
    const limit = checkLimit(options.limit);
    return this.#readLog({ since: after, filter: options.filter, aggregateId, limit }, options.signal);
  }

  async latestVersion(options?: SignalOptions): Promise<CursorVersion> {
    this.#enter(options?.signal);
    return this.#read('latestVersion', ['summaries'], options?.signal, async (tx) => {
      await this.#cache.sync(tx, this.#settings.ranges);
      return CursorVersion.of(this.#cache.latest);
    });
  }

  parseVersion(value: string): CursorVersion {
    return CursorVersion.parse(value);
  }

  async appendLocal(events: readonly Event[], options?: SignalOptions): Promise<OutboxEntry[]> {
    const signal = options?.signal;
    this.#enter(signal);
    checkList(events, 'appendLocal takes a list of events');
    // The events as stored are taken now: what the caller does to its objects afterwards changes nothing.
    const rows = events.map((event) => checkedRow(event, this.#settings.limits));
    if (events.length === 0) return [];
    return new Promise<OutboxEntry[]>((resolve, reject) => {
      const call: AppendCall = { events, rows, signal, resolve, reject, started: false };
      if (signal) {
        // Until its transaction starts, an aborted call just leaves the queue; after, it runs to the end.
        call.onAbort = () => {
          const index = this.#appends.indexOf(call);
          if (index >= 0 && !call.started) {
            this.#appends.splice(index, 1);
            reject(abortReason(signal));
          }
        };
        signal.addEventListener('abort', call.onAbort, { once: true });
      }
      this.#appends.push(call);
      this.#flushing ??= this.#flushAppends();
    });
  }

  async pending(options: PendingOptions = {}): Promise<OutboxEntry[]> {
    this.#enter(options.signal);
    const limit = checkLimit(options.limit);
    const { afterSeq, aggregateId } = options;
    if (afterSeq !== undefined && !Number.isSafeInteger(afterSeq)) {
      throw new SyncError('invalid_input', `afterSeq must be an integer, got ${String(afterSeq)}`, {
        details: { field: 'afterSeq' },
      });
    }
    return this.#read('pending', ['outbox'], options.signal, (tx) =>
      readPending(tx, this.#settings.ranges, { afterSeq, aggregateId, limit }),
    );
  }

  async pendingCount(options?: SignalOptions): Promise<number> {
    this.#enter(options?.signal);
    return (await this.#readMeta(options?.signal)).pendingCount;
  }

  async find(id: string, options?: SignalOptions): Promise<FoundEvent | undefined> {
    this.#enter(options?.signal);
    if (typeof id !== 'string') return undefined;
    return this.#read('find', ['ids', 'outbox', 'segments'], options?.signal, async (tx) => {
      const known = (await this.#lookup(tx, [id])).get(id);
      if (known?.state === 'confirmed') {
        return {
          status: 'confirmed',
          event: parseEvent(known.json),
          version: CursorVersion.of(known.version),
        } as const;
      }
      if (known?.state === 'pending') {
        return { status: 'pending', event: parseEvent(known.json), localSeq: known.localSeq } as const;
      }
      return undefined;
    });
  }

  async aggregateVersion(aggregateId: string, options?: SignalOptions): Promise<CursorVersion> {
    this.#enter(options?.signal);
    if (typeof aggregateId !== 'string') return CursorVersion.ZERO;
    return this.#read('aggregateVersion', ['summaries', 'segments'], options?.signal, async (tx) => {
      const { ranges } = this.#settings;
      await this.#cache.sync(tx, ranges);
      const summaries = this.#cache.summaries;
      const query = { since: 0, filter: undefined, aggregateId, limit: 1 };
      // The newest segment that holds the aggregate has its last version: segments never overlap.
      for (let i = summaries.length - 1; i >= 0; i--) {
        const summary = summaries[i]!;
        if (!mayMatch(summary, query)) continue;
        const [segment] = (await readSegments(tx, ranges, summaries, [summary])) as [SegmentRecord];
        const position = columnsOf(segment).aggregates.indexOf(aggregateId);
        if (position < 0) continue; // the summary's filter said maybe
        for (let j = segment.aggregateOf.length - 1; j >= 0; j--) {
          if (segment.aggregateOf[j] === position) return CursorVersion.of(versionAt(segment, j));
        }
      }
      return CursorVersion.ZERO;
    });
  }

  async acknowledge(acks: readonly Acknowledgement[], options?: SignalOptions): Promise<void> {
    this.#enter(options?.signal);
    checkList(acks, 'acknowledge takes a list of acknowledgements');
    const wanted = acks.map((ack) => {
      if (typeof ack?.id !== 'string') throw invalid('An acknowledgement needs an event id');
      return { id: ack.id, version: ack.version };
    });
    if (wanted.length === 0) return;
    await this.#write(
      'acknowledge',
      ['meta', 'ids', 'outbox', 'segments', 'summaries'],
      options?.signal,
      async (work) => {
        await work.ids.load(wanted.map((ack) => ack.id));
        const moving: { id: string; version: number; entry: IdEntry }[] = [];
        const seen = new Set<string>();
        for (const { id, version } of wanted) {
          const entry = work.ids.get(id);
          if (entry?.state === ID_CONFIRMED) {
            if (!(version instanceof CursorVersion) || entry.value !== version.value) {
              throw invalid(`Event ${id} is confirmed at version ${entry.value}, not ${String(version)}`, id);
            }
            continue;
          }
          if (entry?.state !== ID_PENDING)
            throw invalid(`Event ${id} is not pending, so it cannot be acknowledged`, id);
          const at = checkVersion(version, id);
          if (seen.has(id)) throw invalid(`Event ${id} is acknowledged twice in one call`, id);
          seen.add(id);
          moving.push({ id, version: at, entry });
        }
        if (moving.length === 0) return;
        await work.outbox.load(moving.map((item) => item.entry.chunk));
        const items = moving.map(({ id, version, entry }) => ({
          row: rowOfJson(work.outbox.json(entry.chunk, id)),
          version,
        }));
        await addToLog(work.tx, this.#settings.ranges, work.meta, items);
        for (const { id, version, entry } of moving) {
          work.outbox.remove(entry.chunk, id);
          work.ids.set(id, { state: ID_CONFIRMED, value: version, chunk: 0 });
        }
        work.meta.pendingCount -= moving.length;
        work.changed.outbox = true;
        work.changed.log = true;
      },
    );
  }

  async applyPulled(page: PulledPage, options?: SignalOptions): Promise<ApplyPulledResult> {
    this.#enter(options?.signal);
    const cursor = checkVersion(page?.cursor, undefined, 'cursor', true);
    checkList(page.events, 'A pulled page needs a list of events');
    const versions = new Map<string, number>();
    const items: LogRow[] = [];
    for (const item of page.events) {
      const event = item?.event;
      const row = checkedRow(event, this.#settings.limits);
      const version = checkVersion(item.version, event.id);
      if (version > cursor) {
        throw invalid(`Event ${event.id} at version ${version} is after the page's cursor ${cursor}`, event.id);
      }
      const earlier = versions.get(event.id);
      if (earlier !== undefined && earlier !== version) {
        throw invalid(`Event ${event.id} appears twice in the page at different versions`, event.id);
      }
      if (earlier === undefined) items.push({ row, version });
      versions.set(event.id, version);
    }
    // The page's ids and the segments around its versions are read with the meta record, at once.
    let around: Promise<Neighbours> | undefined;
    const prefetch = async ({ tx, ids }: Pick<Work, 'tx' | 'ids'>): Promise<void> => {
      if (items.length === 0) return;
      const versions = items.map((item) => item.version);
      around = neighbours(tx, this.#settings.ranges, Math.min(...versions), Math.max(...versions));
      await Promise.all([ids.load(items.map((item) => item.row.id)), around]);
    };
    return this.#write(
      'applyPulled',
      ['meta', 'ids', 'outbox', 'segments', 'summaries'],
      options?.signal,
      async (work) => {
        if (cursor < work.meta.cursor) {
          throw invalid(`The cursor cannot go back from ${work.meta.cursor} to ${cursor}`);
        }
        const result = await this.#confirm(work, items, work.meta.cursor, around);
        if (cursor !== work.meta.cursor) work.changed.log = true;
        work.meta.cursor = cursor;
        return result;
      },
      prefetch,
    );
  }

  async cursor(options?: SignalOptions): Promise<CursorVersion> {
    this.#enter(options?.signal);
    return CursorVersion.of((await this.#readMeta(options?.signal)).cursor);
  }

  async reject(rejections: readonly Rejection[], options?: SignalOptions): Promise<void> {
    this.#enter(options?.signal);
    checkList(rejections, 'reject takes a list of rejections');
    for (const rejection of rejections) {
      if (typeof rejection?.id !== 'string') throw invalid('A rejection needs an event id');
      if (typeof rejection.code !== 'string' || typeof rejection.reason !== 'string') {
        throw invalid('A rejection needs a code and a reason', rejection.id);
      }
    }
    if (rejections.length === 0) return;
    await this.#write('reject', ['meta', 'ids', 'outbox', 'rejections'], options?.signal, async (work) => {
      await work.ids.load(rejections.map((rejection) => rejection.id));
      const chunks: number[] = [];
      for (const { id } of rejections) {
        const entry = work.ids.get(id);
        if (entry?.state !== ID_PENDING) throw invalid(`Event ${id} is not pending, so it cannot be rejected`, id);
        chunks.push(entry.chunk);
      }
      await work.outbox.load(chunks);
      const rejectedAt = this.#settings.now();
      const store = work.tx.objectStore('rejections');
      for (const { id, code, reason } of rejections) {
        const entry = work.ids.get(id);
        if (entry?.state !== ID_PENDING) continue; // named twice: the first one counts
        const record: RejectionRecord = {
          event: parseEvent(work.outbox.json(entry.chunk, id)),
          code,
          reason,
          rejectedAt,
        };
        work.outbox.remove(entry.chunk, id);
        work.ids.set(id, { state: ID_REJECTED, value: 0, chunk: 0 });
        settled(store.put({ order: work.meta.nextRecordOrder++, record }, id));
        work.meta.pendingCount--;
      }
      work.changed.outbox = true;
      work.changed.records = true;
    });
  }

  async rejections(options?: SignalOptions): Promise<RejectionRecord[]> {
    this.#enter(options?.signal);
    return this.#read('rejections', ['rejections'], options?.signal, async (tx) => {
      const entries = await tx.objectStore('rejections').getAll();
      return entries.sort((a, b) => a.order - b.order).map((entry) => entry.record);
    });
  }

  async saveConflict(record: ConflictRecord, options?: SignalOptions): Promise<void> {
    this.#enter(options?.signal);
    const stored = storableConflict(record);
    await this.#write('saveConflict', ['meta', 'conflicts'], options?.signal, async (work) => {
      await this.#putConflict(work, stored);
    });
  }

  async conflicts(options: ConflictQueryOptions = {}): Promise<ConflictRecord[]> {
    this.#enter(options.signal);
    return this.#read('conflicts', ['conflicts'], options.signal, async (tx) => {
      const entries = await tx.objectStore('conflicts').getAll();
      return entries
        .sort((a, b) => a.order - b.order)
        .map((entry) => restoreConflict(entry.record))
        .filter((record) => options.status === undefined || record.status === options.status);
    });
  }

  async updateOutbox(change: OutboxChange, options?: SignalOptions): Promise<OutboxEntry[]> {
    this.#enter(options?.signal);
    checkList(change?.remove, 'An outbox change needs a `remove` list');
    checkList(change.add, 'An outbox change needs an `add` list');
    for (const id of change.remove) if (typeof id !== 'string') throw invalid('`remove` holds event ids');
    const rows = change.add.map((event) => checkedRow(event, this.#settings.limits));
    const conflict = change.conflict === undefined ? undefined : storableConflict(change.conflict);
    const stores: StoreName[] = ['meta', 'ids', 'outbox', 'segments', 'conflicts'];
    return this.#write('updateOutbox', stores, options?.signal, async (work) => {
      const removing = new Set(change.remove);
      const known = await this.#lookupInWork(work, [...removing, ...change.add.map((event) => event.id)]);
      for (const id of removing) {
        if (known.get(id)?.state !== 'pending') {
          throw invalid(`Event ${id} is not pending, so it cannot be removed from the outbox`, id);
        }
      }
      const fresh = checkNewPending(rows, known, removing);
      if (conflict) await this.#putConflict(work, conflict);
      for (const id of removing) {
        const entry = known.get(id) as Extract<Known, { state: 'pending' }>;
        work.outbox.remove(entry.chunk, id);
        work.ids.set(id, undefined);
        work.meta.pendingCount--;
      }
      const added = this.#enqueue(work, change.add, rows, fresh, known);
      work.changed.outbox = true;
      return added;
    });
  }

  /**
   * Closes the store: appends already called are committed first, then the connection closes. Later
   * calls fail with `SyncError('closed')`. Idempotent.
   */
  async close(): Promise<void> {
    this.#closed ??= new SyncError('closed', 'The event store is closed', { details: { reason: 'closed' } });
    while (this.#flushing) await this.#flushing;
    this.#feed.close();
    (this.#db as unknown as IDBDatabase).close();
  }

  // ---- steps -------------------------------------------------------------------------------------

  /**
   * Stores confirmed events (ids unique within `items`): new ones go into the log, ones already there
   * at the same version with the same content are skipped, this client's pending ones leave the outbox.
   */
  async #confirm(
    work: Work,
    items: readonly LogRow[],
    cursor?: number,
    around?: Promise<Neighbours>,
  ): Promise<ApplyPulledResult> {
    const known = await this.#lookupInWork(
      work,
      items.map((item) => item.row.id),
    );
    const fresh: LogRow[] = [];
    const acknowledged: string[] = [];
    for (const item of items) {
      const { row, version } = item;
      const found = known.get(row.id);
      if (found?.state === 'confirmed') {
        if (found.version !== version) {
          throw invalid(`Event ${row.id} is already stored at version ${found.version}, not ${version}`, row.id);
        }
        if (!sameContent(found.json, row.json)) {
          throw invalid(`Event ${row.id} is already stored with other content`, row.id);
        }
        continue;
      }
      if (found?.state === 'pending') {
        if (!sameContent(found.json, row.json)) throw invalid(`Event ${row.id} is pending with other content`, row.id);
        acknowledged.push(row.id);
      }
      if (cursor !== undefined && version <= cursor) {
        throw invalid(`Event ${row.id} at version ${version} is new, but the cursor is already at ${cursor}`, row.id);
      }
      fresh.push(item);
    }
    await addToLog(work.tx, this.#settings.ranges, work.meta, fresh, around);
    for (const { row, version } of fresh) {
      const found = known.get(row.id);
      if (found?.state === 'pending') {
        work.outbox.remove(found.chunk, row.id);
        work.meta.pendingCount--;
        work.changed.outbox = true;
      }
      work.ids.set(row.id, { state: ID_CONFIRMED, value: version, chunk: 0 });
    }
    if (fresh.length > 0) work.changed.log = true;
    return { stored: fresh.length, acknowledged };
  }

  /**
   * Puts the fresh ones of `events` (and their `rows`) in a new outbox chunk; returns the entries of
   * `events` pending afterwards, in order.
   */
  #enqueue(
    work: Work,
    events: readonly Event[],
    rows: readonly Row[],
    fresh: ReadonlySet<string>,
    known: Map<string, Known>,
  ): OutboxEntry[] {
    const seqs: number[] = [];
    const added: Row[] = [];
    rows.forEach((row) => {
      if (!fresh.has(row.id)) return;
      seqs.push(work.meta.nextLocalSeq++);
      added.push(row);
    });
    if (added.length > 0) {
      const chunk = seqs[0]!;
      work.outbox.add(seqs, added);
      added.forEach((row, i) => {
        work.ids.set(row.id, { state: ID_PENDING, value: seqs[i]!, chunk });
        known.set(row.id, { state: 'pending', json: row.json, localSeq: seqs[i]!, chunk });
      });
      work.meta.pendingCount += added.length;
      work.changed.outbox = true;
    }
    const entries: OutboxEntry[] = [];
    for (const event of events) {
      const found = known.get(event.id);
      if (found?.state === 'pending') entries.push({ event, localSeq: found.localSeq });
    }
    return entries;
  }

  async #putConflict(work: Work, record: StoredConflictRecord): Promise<void> {
    const store = work.tx.objectStore('conflicts');
    const existing = await store.get(record.id);
    const entry: ConflictEntry = { order: existing?.order ?? work.meta.nextRecordOrder++, record };
    settled(store.put(entry, record.id));
    work.changed.records = true;
  }

  /** Group commit: runs queued appends, many calls per transaction, until the queue is empty. */
  async #flushAppends(): Promise<void> {
    // Let the calls made in this task join the first transaction.
    await Promise.resolve();
    try {
      while (this.#appends.length > 0) {
        const batch: AppendCall[] = [];
        let events = 0;
        while (this.#appends.length > 0) {
          const next = this.#appends[0]!;
          if (batch.length > 0 && events + next.events.length > this.#settings.maxEventsPerCommit) break;
          this.#appends.shift();
          next.started = true;
          batch.push(next);
          events += next.events.length;
        }
        await this.#commitAppends(batch);
      }
    } finally {
      this.#flushing = undefined;
    }
  }

  async #commitAppends(batch: readonly AppendCall[]): Promise<void> {
    let outcomes: Outcome[];
    try {
      outcomes = await this.#transact('appendLocal', ['meta', 'ids', 'outbox', 'segments'], undefined, (work) =>
        this.#appendCalls(work, batch),
      );
    } catch (error) {
      if (batch.length > 1 && !this.#closed) {
        // One call's events may be what the storage refused: give each call its own transaction.
        for (const call of batch) await this.#commitAppends([call]);
        return;
      }
      outcomes = batch.map(() => ({ error }));
    }
    batch.forEach((call, i) => {
      if (call.onAbort) call.signal?.removeEventListener('abort', call.onAbort);
      const outcome = outcomes[i]!;
      if ('error' in outcome) call.reject(outcome.error);
      else call.resolve(outcome.entries);
    });
  }

  async #appendCalls(work: Work, batch: readonly AppendCall[]): Promise<Outcome[]> {
    const known = await this.#lookupInWork(
      work,
      batch.flatMap((call) => call.rows.map((row) => row.id)),
    );
    const outcomes: Outcome[] = [];
    const events: Event[] = [];
    const rows: Row[] = [];
    const fresh = new Set<string>();
    for (const call of batch) {
      let ofCall: Set<string>;
      try {
        ofCall = checkNewPending(call.rows, known);
      } catch (error) {
        outcomes.push({ error });
        continue;
      }
      // Later calls of the batch must see this one's events as pending: mark them, seq to come.
      call.rows.forEach((row, i) => {
        if (!ofCall.has(row.id)) return;
        fresh.add(row.id);
        events.push(call.events[i]!);
        rows.push(row);
        known.set(row.id, { state: 'pending', json: row.json, localSeq: -1, chunk: -1 });
      });
      outcomes.push({ entries: [] });
    }
    this.#enqueue(work, events, rows, fresh, known);
    batch.forEach((call, i) => {
      const outcome = outcomes[i]!;
      if ('error' in outcome) return;
      outcomes[i] = {
        entries: call.events.flatMap((event) => {
          const found = known.get(event.id);
          return found?.state === 'pending' ? [{ event, localSeq: found.localSeq }] : [];
        }),
      };
    });
    return outcomes;
  }

  // ---- lookups -----------------------------------------------------------------------------------

  /** Where each of `ids` is, with the stored event, read in `tx`. */
  async #lookup(tx: ReadTransaction, ids: readonly string[]): Promise<Map<string, Known>> {
    const index = new IdIndex(tx, this.#settings.ranges);
    const outbox = new Outbox(tx);
    return this.#resolveKnown(tx, index, outbox, ids);
  }

  async #lookupInWork(work: Work, ids: readonly string[]): Promise<Map<string, Known>> {
    return this.#resolveKnown(work.tx, work.ids, work.outbox, ids);
  }

  async #resolveKnown(
    tx: ReadTransaction,
    index: IdIndex,
    outbox: Outbox,
    ids: readonly string[],
  ): Promise<Map<string, Known>> {
    await index.load(ids);
    const entries = new Map<string, IdEntry>();
    for (const id of ids) {
      const entry = index.get(id);
      if (entry) entries.set(id, entry);
    }
    const confirmed = [...entries.values()].filter((entry) => entry.state === ID_CONFIRMED);
    const pending = [...entries.values()].filter((entry) => entry.state === ID_PENDING);
    const [rows] = await Promise.all([
      confirmed.length > 0
        ? rowsAt(
            tx,
            this.#settings.ranges,
            confirmed.map((entry) => entry.value),
          )
        : new Map<number, Row>(),
      pending.length > 0 ? outbox.load(pending.map((entry) => entry.chunk)) : undefined,
    ]);
    const known = new Map<string, Known>();
    for (const [id, entry] of entries) {
      if (entry.state === ID_REJECTED) {
        known.set(id, { state: 'rejected' });
      } else if (entry.state === ID_PENDING) {
        known.set(id, {
          state: 'pending',
          json: outbox.json(entry.chunk, id),
          localSeq: entry.value,
          chunk: entry.chunk,
        });
      } else {
        const row = rows.get(entry.value);
        if (row?.id !== id) throw new Error(`internal: event ${id} is not at version ${entry.value}`);
        known.set(id, { state: 'confirmed', json: row.json, version: entry.value });
      }
    }
    return known;
  }

  async #readLog(query: Parameters<typeof readLog>[3], signal: AbortSignal | undefined): Promise<VersionedEvent[]> {
    const items = await this.#read('load', ['summaries', 'segments'], signal, async (tx) => {
      await this.#cache.sync(tx, this.#settings.ranges);
      return readLog(tx, this.#settings.ranges, this.#cache, query);
    });
    return items.map(({ event, version }) => ({ event, version: CursorVersion.of(version) }));
  }

  async #readMeta(signal: AbortSignal | undefined): Promise<MetaRecord> {
    return this.#read('read the state', ['meta'], signal, async (tx) => {
      const meta = await tx.objectStore('meta').get(META_KEY);
      if (!meta) throw new SyncError('storage', 'The eventsync state record is missing');
      return meta;
    });
  }

  // ---- transactions ------------------------------------------------------------------------------

  #enter(signal: AbortSignal | undefined): void {
    if (this.#closed) throw this.#closed;
    throwIfAborted(signal);
  }

  /** A readonly transaction; retried when a concurrent read moved the segment cache past it. */
  async #read<T>(
    action: string,
    stores: StoreName[],
    signal: AbortSignal | undefined,
    body: (tx: ReadTransaction) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#run(action, stores, 'readonly', signal, body);
      } catch (error) {
        if (!(error instanceof StaleCacheError)) throw error;
        if (attempt >= READ_RETRIES) throw new SyncError('internal', `${action}: the segment cache kept changing`);
        this.#cache.clear();
      }
    }
  }

  /** A write step in one transaction: `body` reads and changes, then the sessions are written out. */
  async #write<T>(
    action: string,
    stores: StoreName[],
    signal: AbortSignal | undefined,
    body: (work: Work) => Promise<T>,
    prefetch?: (work: Pick<Work, 'tx' | 'ids' | 'outbox'>) => Promise<unknown>,
  ): Promise<T> {
    this.#enter(signal);
    return this.#transact(action, stores, signal, body, prefetch);
  }

  /**
   * A write step: reads the meta record (and whatever `prefetch` starts, in the same round trip to
   * IndexedDB), runs `body`, then writes out the id leaves, outbox chunks and meta record it changed.
   */
  async #transact<T>(
    action: string,
    stores: StoreName[],
    signal: AbortSignal | undefined,
    body: (work: Work) => Promise<T>,
    prefetch?: (work: Pick<Work, 'tx' | 'ids' | 'outbox'>) => Promise<unknown>,
  ): Promise<T> {
    let seqBefore = 0;
    let seqAfter = 0;
    let changed: Work['changed'] | undefined;
    const result = await this.#run(action, stores, 'readwrite', signal, async (tx) => {
      const writable = tx as WriteTransaction;
      const ids = new IdIndex(tx, this.#settings.ranges);
      const outbox = new Outbox(tx);
      const [meta] = await Promise.all([
        writable.objectStore('meta').get(META_KEY),
        prefetch?.({ tx: writable, ids, outbox }),
      ]);
      if (!meta) throw new SyncError('storage', 'The eventsync state record is missing');
      const work: Work = { tx: writable, meta, ids, outbox, changed: { outbox: false, log: false, records: false } };
      const value = await body(work);
      seqBefore = meta.changeSeq;
      if (work.changed.outbox || work.changed.log || work.changed.records) meta.changeSeq++;
      seqAfter = meta.changeSeq;
      work.ids.flush();
      work.outbox.flush();
      settled(writable.objectStore('meta').put(meta, META_KEY));
      changed = work.changed;
      return value;
    });
    if (changed && seqAfter !== seqBefore) this.#feed.published(changed, seqBefore, seqAfter);
    return result;
  }

  /**
   * Runs `body` in a transaction and waits for the commit. An error in `body` or an aborted signal
   * aborts the transaction, so nothing of the step is stored.
   */
  async #run<T>(
    action: string,
    stores: StoreName[],
    mode: IDBTransactionMode,
    signal: AbortSignal | undefined,
    body: (tx: ReadTransaction) => Promise<T>,
  ): Promise<T> {
    let tx: ReadTransaction;
    try {
      tx = this.#db.transaction(stores, mode as 'readonly', { durability: this.#settings.durability });
    } catch (error) {
      throw this.#failure(error, action);
    }
    const done = tx.done;
    done.catch(() => {});
    const abort = (): void => {
      try {
        tx.abort();
      } catch {
        // Already committed or aborted.
      }
    };
    signal?.addEventListener('abort', abort, { once: true });
    try {
      const value = await body(tx);
      await done;
      return value;
    } catch (error) {
      abort();
      if (signal?.aborted) throw abortReason(signal);
      if (error instanceof StaleCacheError) throw error;
      throw this.#failure(error, action);
    } finally {
      signal?.removeEventListener('abort', abort);
    }
  }

  #failure(error: unknown, action: string): unknown {
    if (isSyncError(error)) return error;
    // The connection went away under the call (another tab's upgrade, a close): say so.
    if (this.#closed && errorName(error) === 'InvalidStateError') return this.#closed;
    if (error instanceof Error && !isDomError(error)) {
      return new SyncError('internal', `${action} failed: ${error.message}`, { cause: error });
    }
    return toStorageError(error, action);
  }
}

// ---- checks --------------------------------------------------------------------------------------

// Not a type guard: `Array.isArray` would narrow a readonly list to `any[]`.
function checkList(value: unknown, message: string): void {
  if (!Array.isArray(value)) throw invalid(message);
}

function invalid(message: string, eventId?: string): SyncError {
  return new SyncError('invalid_input', message, { details: eventId === undefined ? {} : { eventId } });
}

/** A version's number: a `CursorVersion` after zero (or at zero, where `zeroOk`). */
function checkVersion(version: unknown, eventId?: string, field = 'version', zeroOk = false): number {
  if (!(version instanceof CursorVersion)) {
    throw new SyncError('invalid_input', `${field} is not a version of this store's kind (a CursorVersion)`, {
      details: eventId === undefined ? { field } : { field, eventId },
    });
  }
  if (version.value === 0 && !zeroOk) {
    throw invalid(`A stored event needs a version after zero, got ${version.toString()}`, eventId);
  }
  return version.value;
}

function checkSince(since: unknown): number {
  return checkVersion(since, undefined, 'since', true);
}

function checkLimit(limit: number | undefined): number {
  if (limit === undefined) return Number.POSITIVE_INFINITY;
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new SyncError('invalid_input', `limit must be a positive integer, got ${String(limit)}`, {
      details: { field: 'limit' },
    });
  }
  return limit;
}

/**
 * The ids among `rows` that are new to the store (as `MemoryEventStore` decides): an id already
 * pending or confirmed with the same content is skipped, with other content refused; a rejected id or
 * one named twice is refused. Ids in `removing` count as new, but must keep their content.
 */
function checkNewPending(
  rows: readonly Row[],
  known: ReadonlyMap<string, Known>,
  removing: ReadonlySet<string> = new Set(),
): Set<string> {
  const fresh = new Set<string>();
  for (const row of rows) {
    const found = known.get(row.id);
    if (found && found.state !== 'rejected') {
      // Even a rebase that re-adds an event it removes keeps the id's content: the server may already
      // hold it (a lost push answer), and would refuse other content under that id.
      if (!sameContent(found.json, row.json))
        throw invalid(`Event id ${row.id} is already used by another event`, row.id);
      if (!removing.has(row.id)) continue;
    }
    if (found?.state === 'rejected') throw invalid(`Event ${row.id} was rejected and cannot be appended again`, row.id);
    if (fresh.has(row.id)) throw invalid(`Event ${row.id} appears twice`, row.id);
    fresh.add(row.id);
  }
  return fresh;
}

/** Whether two stored JSON forms carry the same event content (see `sameEventContent`). */
function sameContent(a: string, b: string): boolean {
  return a === b || sameEventContent(parseEvent(a), parseEvent(b));
}

/** Checks a conflict record and turns its versions into strings, ready to store. */
function storableConflict(record: ConflictRecord): StoredConflictRecord {
  if (typeof record?.id !== 'string' || record.id === '') throw invalid('A conflict record needs a non-empty id');
  if (record.status !== 'open' && record.status !== 'resolved') {
    throw invalid(`A conflict record's status is 'open' or 'resolved', got ${String(record.status)}`);
  }
  if (record.status === 'resolved' && !record.resolution)
    throw invalid('A resolved conflict record needs its resolution');
  checkList(record.conflict?.remote, 'A conflict record needs its conflict, with remote events');
  checkList(record.conflict.local, 'A conflict record needs its conflict, with local events');
  return {
    ...record,
    conflict: {
      ...record.conflict,
      remote: record.conflict.remote.map(({ event, version }) => ({
        event,
        version: String(checkVersion(version, event?.id, 'conflict.remote.version')),
      })),
    },
  };
}

function restoreConflict(record: StoredConflictRecord): ConflictRecord {
  return {
    ...record,
    conflict: {
      ...record.conflict,
      remote: record.conflict.remote.map(({ event, version }) => ({ event, version: CursorVersion.parse(version) })),
    },
  };
}

function isDomError(error: Error): boolean {
  return typeof DOMException !== 'undefined' && error instanceof DOMException;
}

function resolveSettings(options: IndexedDbEventStoreOptions): Settings {
  const defaults = DEFAULT_INDEXED_DB_EVENT_STORE_OPTIONS;
  const factory = options.indexedDB ?? globalThis.indexedDB;
  const ranges = options.IDBKeyRange ?? globalThis.IDBKeyRange;
  if (!factory || !ranges) {
    throw new SyncError('storage', 'IndexedDB is not available here: pass `indexedDB` and `IDBKeyRange`');
  }
  const name = options.name ?? defaults.name;
  if (typeof name !== 'string' || name === '') throw new SyncError('invalid_input', 'name must be a non-empty string');
  const maxEventsPerCommit = options.maxEventsPerCommit ?? defaults.maxEventsPerCommit;
  const blockedTimeoutMs = options.blockedTimeoutMs ?? defaults.blockedTimeoutMs;
  for (const [field, value] of [
    ['maxEventsPerCommit', maxEventsPerCommit],
    ['blockedTimeoutMs', blockedTimeoutMs],
    ['pollIntervalMs', options.pollIntervalMs ?? defaults.pollIntervalMs],
  ] as const) {
    if (!Number.isFinite(value) || value < 0 || (field === 'maxEventsPerCommit' && value < 1)) {
      throw new SyncError(
        'invalid_input',
        `${field} must be a ${field === 'maxEventsPerCommit' ? 'positive' : 'non-negative'} number, got ${String(value)}`,
        {
          details: { field },
        },
      );
    }
  }
  return {
    name,
    factory,
    ranges,
    limits: options.limits ?? {},
    now: options.now ?? Date.now,
    durability: options.durability ?? defaults.durability,
    maxEventsPerCommit,
    blockedTimeoutMs,
    onVersionChange: options.onVersionChange,
    onTerminated: options.onTerminated,
  };
}
