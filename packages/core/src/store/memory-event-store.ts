import type { Event, VersionedEvent } from '../event/event.js';
import { sameEventContent } from '../event/canonical-json.js';
import { validateEvent, type EventLimits } from '../event/validate-event.js';
import { SyncError } from '../errors/sync-error.js';
import { throwIfAborted, type SignalOptions } from '../internal/abort.js';
import { checkLimit } from '../internal/limit.js';
import { frozenCopy } from '../internal/freeze.js';
import { firstIndexWhere, insertionIndex } from '../internal/sorted.js';
import { cursorVersionCodec, type CursorVersion } from '../version/cursor-version.js';
import type { Version, VersionCodec } from '../version/version.js';
import type { LoadOptions } from './event-store.js';
import { matchesFilter } from './filter.js';
import type {
  Acknowledgement,
  ApplyPulledResult,
  ConflictQueryOptions,
  ConflictRecord,
  FoundEvent,
  LocalEventStore,
  OutboxChange,
  OutboxEntry,
  PendingOptions,
  PulledPage,
  Rejection,
  RejectionRecord,
} from './local-event-store.js';

/** Options of {@link MemoryEventStore}. */
export interface MemoryEventStoreOptions<V extends Version = CursorVersion> {
  /**
   * The version space of the confirmed log.
   *
   * @defaultValue the server's cursor versions
   */
  readonly versions?: VersionCodec<V>;
  /**
   * Bounds checked on every event stored.
   *
   * @defaultValue `DEFAULT_EVENT_LIMITS`
   */
  readonly limits?: EventLimits;
  /**
   * The clock for `rejectedAt`, in milliseconds since the epoch.
   *
   * @defaultValue `Date.now`
   */
  readonly now?: () => number;
}

/**
 * A {@link LocalEventStore} in memory: for tests, for Node processes that sync as clients and keep
 * nothing across restarts, and as the reference the contract suites are written against.
 *
 * Every method validates its whole input before it changes anything, so each call is atomic.
 *
 * @example
 * ```ts
 * const store = new MemoryEventStore();
 * await store.appendLocal([events.create({ type: 'todo.added', aggregateId: 't1', data: { title: 'Milk' } })]);
 * (await store.pending()).length; // 1
 * ```
 */
export class MemoryEventStore<V extends Version = CursorVersion> implements LocalEventStore<V> {
  readonly #versions: VersionCodec<V>;
  readonly #limits: EventLimits;
  readonly #now: () => number;
  readonly #log: VersionedEvent<V>[] = [];
  readonly #confirmed = new Map<string, VersionedEvent<V>>();
  /** Each aggregate's confirmed events, in version order. */
  readonly #byAggregate = new Map<string, VersionedEvent<V>[]>();
  /** Which event holds each version: a version holds one event. */
  readonly #byVersion = new Map<string, string>();
  readonly #outbox = new Map<string, OutboxEntry>();
  readonly #rejections = new Map<string, RejectionRecord>();
  readonly #conflicts = new Map<string, ConflictRecord>();
  #cursor: V;
  #nextLocalSeq = 1;
  #closed = false;

  constructor(options: MemoryEventStoreOptions<V> = {}) {
    this.#versions = options.versions ?? (cursorVersionCodec as unknown as VersionCodec<V>);
    this.#limits = options.limits ?? {};
    this.#now = options.now ?? Date.now;
    this.#cursor = this.#versions.zero;
  }

  async store(event: Event, version: V, options?: SignalOptions): Promise<void> {
    this.#enter(options);
    this.#checkConfirmable(event, version);
    this.#confirm(event, version);
  }

  async load(since: V, options: LoadOptions = {}): Promise<VersionedEvent<V>[]> {
    this.#enter(options);
    return this.#read(since, options, undefined);
  }

  async loadByAggregate(aggregateId: string, since: V, options: LoadOptions = {}): Promise<VersionedEvent<V>[]> {
    this.#enter(options);
    if (typeof aggregateId !== 'string' || aggregateId === '') {
      throw new SyncError('invalid_input', 'aggregateId must be a non-empty string', {
        details: { field: 'aggregateId' },
      });
    }
    return this.#read(since, options, aggregateId);
  }

  async latestVersion(options?: SignalOptions): Promise<V> {
    this.#enter(options);
    return this.#log.at(-1)?.version ?? this.#versions.zero;
  }

  parseVersion(value: string): V {
    return this.#versions.parse(value);
  }

  async appendLocal(events: readonly Event[], options?: SignalOptions): Promise<OutboxEntry[]> {
    this.#enter(options);
    const fresh = this.#checkNewPending(events);
    return this.#enqueueAll(events, fresh);
  }

  async pending(options: PendingOptions = {}): Promise<OutboxEntry[]> {
    this.#enter(options);
    const limit = checkLimit(options.limit);
    const entries: OutboxEntry[] = [];
    for (const entry of this.#outbox.values()) {
      if (entries.length >= limit) break;
      if (options.afterSeq !== undefined && entry.localSeq <= options.afterSeq) continue;
      if (options.aggregateId === undefined || entry.event.aggregateId === options.aggregateId) entries.push(entry);
    }
    return entries;
  }

  async pendingCount(options?: SignalOptions): Promise<number> {
    this.#enter(options);
    return this.#outbox.size;
  }

  async find(id: string, options?: SignalOptions): Promise<FoundEvent<V> | undefined> {
    this.#enter(options);
    const confirmed = this.#confirmed.get(id);
    if (confirmed) return { status: 'confirmed', event: confirmed.event, version: confirmed.version };
    const entry = this.#outbox.get(id);
    return entry && { status: 'pending', event: entry.event, localSeq: entry.localSeq };
  }

  async aggregateVersion(aggregateId: string, options?: SignalOptions): Promise<V> {
    this.#enter(options);
    return this.#byAggregate.get(aggregateId)?.at(-1)?.version ?? this.#versions.zero;
  }

  async acknowledge(acks: readonly Acknowledgement<V>[], options?: SignalOptions): Promise<void> {
    this.#enter(options);
    const seen = new Set<string>();
    for (const { id, version } of acks) {
      const confirmed = this.#confirmed.get(id);
      if (confirmed) {
        if (confirmed.version.compare(version) !== 0) {
          throw invalid(
            `Event ${id} is confirmed at version ${confirmed.version.toString()}, not ${version.toString()}`,
            id,
          );
        }
        continue;
      }
      const entry = this.#outbox.get(id);
      if (!entry) throw invalid(`Event ${id} is not pending, so it cannot be acknowledged`, id);
      this.#checkConfirmable(entry.event, version);
      if (seen.has(id)) throw invalid(`Event ${id} is acknowledged twice in one call`, id);
      if (seen.has(version.toString()))
        throw invalid(`Two events are acknowledged at version ${version.toString()}`, id);
      seen.add(id);
      seen.add(version.toString());
    }
    for (const { id, version } of acks) {
      const entry = this.#outbox.get(id);
      if (entry) this.#confirm(entry.event, version);
    }
  }

  async applyPulled(page: PulledPage<V>, options?: SignalOptions): Promise<ApplyPulledResult> {
    this.#enter(options);
    const { events, cursor } = page;
    this.#checkVersion(cursor, undefined, 'cursor');
    if (cursor.compare(this.#cursor) < 0) {
      throw invalid(`The cursor cannot go back from ${this.#cursor.toString()} to ${cursor.toString()}`);
    }
    const inPage = new Map<string, V>();
    const versionsInPage = new Map<string, string>();
    for (const { event, version } of events) {
      this.#checkConfirmable(event, version);
      if (version.compare(cursor) > 0) {
        throw invalid(
          `Event ${event.id} at version ${version.toString()} is after the page's cursor ${cursor.toString()}`,
          event.id,
        );
      }
      const earlier = inPage.get(event.id);
      if (earlier !== undefined && earlier.compare(version) !== 0) {
        throw invalid(`Event ${event.id} appears twice in the page at different versions`, event.id);
      }
      const sharer = versionsInPage.get(version.toString());
      if (sharer !== undefined && sharer !== event.id) {
        throw invalid(`Events ${sharer} and ${event.id} share version ${version.toString()} in the page`, event.id);
      }
      if (!this.#confirmed.has(event.id) && version.compare(this.#cursor) <= 0) {
        throw invalid(
          `Event ${event.id} at version ${version.toString()} is new, but the cursor is already at ${this.#cursor.toString()}`,
          event.id,
        );
      }
      inPage.set(event.id, version);
      versionsInPage.set(version.toString(), event.id);
    }
    let stored = 0;
    const acknowledged: string[] = [];
    for (const { event, version } of events) {
      if (this.#confirmed.has(event.id)) continue;
      if (this.#outbox.has(event.id)) acknowledged.push(event.id);
      this.#confirm(event, version);
      stored++;
    }
    this.#cursor = cursor;
    return { stored, acknowledged };
  }

  async cursor(options?: SignalOptions): Promise<V> {
    this.#enter(options);
    return this.#cursor;
  }

  async reject(rejections: readonly Rejection[], options?: SignalOptions): Promise<void> {
    this.#enter(options);
    for (const { id, code, reason } of rejections) {
      if (!this.#outbox.has(id)) throw invalid(`Event ${id} is not pending, so it cannot be rejected`, id);
      if (typeof code !== 'string' || typeof reason !== 'string')
        throw invalid('A rejection needs a code and a reason', id);
    }
    const rejectedAt = this.#now();
    for (const { id, code, reason } of rejections) {
      const entry = this.#outbox.get(id);
      if (!entry) continue;
      this.#outbox.delete(id);
      this.#rejections.set(id, { event: entry.event, code, reason, rejectedAt });
    }
  }

  async rejections(options?: SignalOptions): Promise<RejectionRecord[]> {
    this.#enter(options);
    return [...this.#rejections.values()];
  }

  async saveConflict(record: ConflictRecord, options?: SignalOptions): Promise<void> {
    this.#enter(options);
    checkConflictRecord(record);
    this.#conflicts.set(record.id, record);
  }

  async conflicts(options: ConflictQueryOptions = {}): Promise<ConflictRecord[]> {
    this.#enter(options);
    const records = [...this.#conflicts.values()];
    return options.status === undefined ? records : records.filter((record) => record.status === options.status);
  }

  async updateOutbox(change: OutboxChange, options?: SignalOptions): Promise<OutboxEntry[]> {
    this.#enter(options);
    for (const id of change.remove) {
      if (!this.#outbox.has(id))
        throw invalid(`Event ${id} is not pending, so it cannot be removed from the outbox`, id);
    }
    const removing = new Set(change.remove);
    const fresh = this.#checkNewPending(change.add, removing);
    if (change.conflict) checkConflictRecord(change.conflict);
    for (const id of removing) this.#outbox.delete(id);
    if (change.conflict) this.#conflicts.set(change.conflict.id, change.conflict);
    return this.#enqueueAll(change.add, fresh);
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #enter(options: SignalOptions | undefined): void {
    if (this.#closed) throw new SyncError('closed', 'The event store is closed');
    throwIfAborted(options?.signal);
  }

  #read(since: V, options: LoadOptions, aggregateId: string | undefined): VersionedEvent<V>[] {
    this.#checkVersion(since, undefined, 'since');
    const limit = checkLimit(options.limit);
    const source = aggregateId === undefined ? this.#log : (this.#byAggregate.get(aggregateId) ?? []);
    const result: VersionedEvent<V>[] = [];
    const start = firstIndexWhere(source, (item) => item.version.compare(since) > 0);
    for (let i = start; i < source.length && result.length < limit; i++) {
      const item = source[i] as VersionedEvent<V>;
      if (matchesFilter(item.event, options.filter)) result.push(item);
    }
    return result;
  }

  #checkVersion(version: V, eventId?: string, field = 'version'): void {
    try {
      version.compare(this.#versions.zero);
    } catch (cause) {
      throw new SyncError('invalid_input', `${field} is not a version of this store's kind`, {
        cause,
        details: eventId === undefined ? { field } : { field, eventId },
      });
    }
    if (version.compare(this.#versions.zero) <= 0 && field === 'version') {
      throw invalid(`A stored event needs a version after zero, got ${version.toString()}`, eventId);
    }
  }

  // A confirmed event: well formed, and not already stored under another version or content.
  #checkConfirmable(event: Event, version: V): void {
    validateEvent(event, this.#limits);
    this.#checkVersion(version, event.id);
    const existing = this.#confirmed.get(event.id);
    if (existing) {
      if (existing.version.compare(version) !== 0) {
        throw invalid(
          `Event ${event.id} is already stored at version ${existing.version.toString()}, not ${version.toString()}`,
          event.id,
        );
      }
      if (!sameEventContent(existing.event, event)) {
        throw invalid(`Event ${event.id} is already stored with other content`, event.id);
      }
      return;
    }
    const holder = this.#byVersion.get(version.toString());
    if (holder !== undefined && holder !== event.id) {
      throw invalid(`Version ${version.toString()} already holds event ${holder}, not ${event.id}`, event.id);
    }
    const pending = this.#outbox.get(event.id);
    if (pending && !sameEventContent(pending.event, event)) {
      throw invalid(`Event ${event.id} is pending with other content`, event.id);
    }
  }

  // The ids among `events` that are new to the store; throws on malformed events and reused ids.
  #checkNewPending(events: readonly Event[], removing: ReadonlySet<string> = new Set()): Set<string> {
    const fresh = new Set<string>();
    for (const event of events) {
      validateEvent(event, this.#limits);
      const existing = this.#confirmed.get(event.id)?.event ?? this.#outbox.get(event.id)?.event;
      if (existing) {
        // Even when a rebase re-adds an event it removed, the id must keep its content: the server may
        // already hold it (a lost push answer), and would refuse other content under that id.
        if (!sameEventContent(existing, event))
          throw invalid(`Event id ${event.id} is already used by another event`, event.id);
        if (!removing.has(event.id)) continue;
      }
      if (this.#rejections.has(event.id))
        throw invalid(`Event ${event.id} was rejected and cannot be appended again`, event.id);
      if (fresh.has(event.id)) throw invalid(`Event ${event.id} appears twice`, event.id);
      fresh.add(event.id);
    }
    return fresh;
  }

  // Enqueues the fresh events; returns the entries of all `events` that are pending afterwards.
  #enqueueAll(events: readonly Event[], fresh: ReadonlySet<string>): OutboxEntry[] {
    const entries: OutboxEntry[] = [];
    for (const event of events) {
      if (fresh.has(event.id)) this.#outbox.set(event.id, { event: frozenCopy(event), localSeq: this.#nextLocalSeq++ });
      const entry = this.#outbox.get(event.id);
      if (entry) entries.push(entry);
    }
    return entries;
  }

  #confirm(event: Event, version: V): void {
    if (this.#confirmed.has(event.id)) return;
    // Our own outbox entries are frozen copies already; anything else is copied before it is kept.
    const kept = this.#outbox.get(event.id)?.event === event ? event : frozenCopy(event);
    const item: VersionedEvent<V> = { event: kept, version };
    this.#byVersion.set(version.toString(), event.id);
    insertSorted(this.#log, item);
    let ofAggregate = this.#byAggregate.get(event.aggregateId);
    if (!ofAggregate) this.#byAggregate.set(event.aggregateId, (ofAggregate = []));
    insertSorted(ofAggregate, item);
    this.#confirmed.set(event.id, item);
    this.#outbox.delete(event.id);
  }
}

// Events mostly arrive in version order: appending is the common case, a binary insert the rest.
function insertSorted<V extends Version>(items: VersionedEvent<V>[], item: VersionedEvent<V>): void {
  const last = items.at(-1);
  if (!last || last.version.compare(item.version) < 0) items.push(item);
  else
    items.splice(
      insertionIndex(items, item, (a, b) => a.version.compare(b.version)),
      0,
      item,
    );
}

function invalid(message: string, eventId?: string): SyncError {
  return new SyncError('invalid_input', message, { details: eventId === undefined ? {} : { eventId } });
}

function checkConflictRecord(record: ConflictRecord): void {
  if (typeof record?.id !== 'string' || record.id === '') throw invalid('A conflict record needs a non-empty id');
  if (record.status !== 'open' && record.status !== 'resolved') {
    throw invalid(`A conflict record's status is 'open' or 'resolved', got ${String(record.status)}`);
  }
  if (record.status === 'resolved' && !record.resolution)
    throw invalid('A resolved conflict record needs its resolution');
}
