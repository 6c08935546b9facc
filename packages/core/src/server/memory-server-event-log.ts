import type { Event, EventPage, VersionedEvent } from '../event/event.js';
import type { EventLimits } from '../event/validate-event.js';
import { SyncError } from '../errors/sync-error.js';
import { throwIfAborted, type SignalOptions } from '../internal/abort.js';
import { checkLimit } from '../internal/limit.js';
import { deepFreeze } from '../internal/freeze.js';
import { matchesFilter } from '../store/filter.js';
import { CursorVersion } from '../version/cursor-version.js';
import { AppendListeners } from './append-listeners.js';
import type { AppendNotice, AppendOptions, AppendResult, ReadOptions, ServerEventLog } from './server-event-log.js';
import { checkTenant, DEFAULT_READ_LIMIT, decideAppend, type AppendLookup } from './decide-append.js';

/** Options of {@link MemoryServerEventLog}. */
export interface MemoryServerEventLogOptions {
  /**
   * Bounds every appended event must keep; an event past them is `rejected` with `invalid_event`.
   *
   * @defaultValue `DEFAULT_EVENT_LIMITS`
   */
  readonly limits?: EventLimits;
}

interface TenantLog {
  readonly events: VersionedEvent[];
  readonly byId: Map<string, VersionedEvent>;
  /** Per aggregate, its events' versions and client ids, in cursor order. */
  readonly byAggregate: Map<string, { version: number; clientId: string }[]>;
}

/**
 * A {@link ServerEventLog} in memory: the reference implementation of the server log contract, and
 * the server of the testkit's `MemoryNetwork`. Nothing survives the process.
 *
 * @example
 * ```ts
 * const log = new MemoryServerEventLog();
 * const [result] = await log.append('acme', [event]);
 * result.status; // 'accepted'
 * ```
 */
export class MemoryServerEventLog implements ServerEventLog {
  readonly #limits: EventLimits;
  readonly #tenants = new Map<string, TenantLog>();
  readonly #listeners = new AppendListeners();
  #closed = false;

  constructor(options: MemoryServerEventLogOptions = {}) {
    this.#limits = options.limits ?? {};
  }

  async append(tenant: string, events: readonly Event[], options?: AppendOptions): Promise<AppendResult[]> {
    this.#enter(tenant, options);
    if (!Array.isArray(events))
      throw new SyncError('invalid_input', 'append takes an array of events', { details: { field: 'events' } });
    const log = this.#tenant(tenant);
    const lookup: AppendLookup = {
      existing: (id) => {
        const stored = log.byId.get(id);
        return stored && { event: stored.event, version: stored.version };
      },
      foreignAfter: (aggregateId, baseVersion, clientId) => {
        const versions = log.byAggregate.get(aggregateId) ?? [];
        let latest = 0;
        let foreign = false;
        for (let i = versions.length - 1; i >= 0; i--) {
          const item = versions[i] as { version: number; clientId: string };
          if (item.version <= baseVersion) break;
          latest = Math.max(latest, item.version);
          if (item.clientId !== clientId) foreign = true;
        }
        return foreign ? latest : undefined;
      },
    };
    const { results, accepted } = decideAppend(
      tenant,
      events,
      log.events.length,
      lookup,
      this.#limits,
      options?.checked,
    );
    for (const { event, version, json } of accepted) {
      // Stored from its JSON, exactly as it was pushed (and checked), frozen so that nobody can change it.
      const item: VersionedEvent = { event: frozenParse(json), version };
      log.events.push(item);
      log.byId.set(event.id, item);
      let versions = log.byAggregate.get(event.aggregateId);
      if (!versions) log.byAggregate.set(event.aggregateId, (versions = []));
      versions.push({ version: version.value, clientId: event.metadata.clientId });
    }
    if (accepted.length > 0) this.#listeners.notify({ tenant, latest: CursorVersion.of(log.events.length) });
    return results;
  }

  async read(tenant: string, options: ReadOptions = {}): Promise<EventPage> {
    this.#enter(tenant, options);
    const since = options.since ?? CursorVersion.ZERO;
    if (!(since instanceof CursorVersion))
      throw new SyncError('invalid_input', 'since must be a CursorVersion', { details: { field: 'since' } });
    const limit = checkLimit(options.limit ?? DEFAULT_READ_LIMIT);
    const log = this.#tenants.get(tenant);
    const all = log?.events ?? [];
    if (since.value > all.length) {
      throw new SyncError(
        'invalid_input',
        `Cursor ${since.toString()} is past the log's latest version ${all.length}: this log is behind the reader (restored from a backup?)`,
        { details: { field: 'since', max: all.length, actual: since.value } },
      );
    }
    const events: VersionedEvent[] = [];
    let position = Math.min(since.value, all.length);
    // The log is already scoped to the tenant: a tenant in the filter must not narrow it further.
    const filter = options.filter && { ...options.filter, tenant: undefined };
    while (position < all.length && events.length < limit) {
      const item = all[position] as VersionedEvent;
      position++;
      if (!filter || matchesFilter(item.event, filter)) events.push(item);
    }
    const next = CursorVersion.of(Math.max(position, since.value));
    return { events, next, hasMore: position < all.length };
  }

  async latestVersion(tenant: string, options?: SignalOptions): Promise<CursorVersion> {
    this.#enter(tenant, options);
    return CursorVersion.of(this.#tenants.get(tenant)?.events.length ?? 0);
  }

  subscribe(listener: (notice: AppendNotice) => void): () => void {
    if (this.#closed) throw new SyncError('closed', 'The server log is closed');
    return this.#listeners.add(listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
  }

  #enter(tenant: string, options: SignalOptions | undefined): void {
    if (this.#closed) throw new SyncError('closed', 'The server log is closed');
    throwIfAborted(options?.signal);
    checkTenant(tenant);
  }

  #tenant(tenant: string): TenantLog {
    let log = this.#tenants.get(tenant);
    if (!log) {
      log = { events: [], byId: new Map(), byAggregate: new Map() };
      this.#tenants.set(tenant, log);
    }
    return log;
  }
}

/**
 * A stored event from its JSON: a fresh tree, frozen at every level (`JSON.parse` makes a `__proto__`
 * key an own property, never a prototype).
 */
function frozenParse(json: string): Event {
  return deepFreeze(JSON.parse(json) as Event);
}
