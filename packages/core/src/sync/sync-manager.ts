import { monotonicFactory } from 'ulid';
import type { Conflict, ConflictResolver, ResolvedConflict } from '../conflict/conflict.js';
import { lastWriteWins } from '../conflict/last-write-wins.js';
import { resolveParked, type ParkedChoice } from '../conflict/resolve-parked.js';
import { EventFactory, type EventInput } from '../event/event-factory.js';
import type { Event, JsonValue, VersionedEvent } from '../event/event.js';
import type { EventLimits } from '../event/validate-event.js';
import { isSyncError, SyncError } from '../errors/sync-error.js';
import { abortReason, throwIfAborted, type SignalOptions } from '../internal/abort.js';
import { Emitter } from '../internal/emitter.js';
import type { ConflictRecord, LocalEventStore, OutboxEntry } from '../store/local-event-store.js';
import type { AppendResult } from '../server/server-event-log.js';
import type { Transport } from '../transport/transport.js';
import { CursorVersion } from '../version/cursor-version.js';
import { HybridLogicalClock } from '../version/hybrid-logical-clock.js';
import { AutoSync, type AutoSyncOptions, type SyncTimers } from './auto-sync.js';
import { resolveRetryOptions, type RetryOptions } from './backoff.js';
import { defaultConnectivity, type Connectivity } from './connectivity.js';
import type { EventState, SyncEventMap, SyncResult, SyncStatus } from './sync-types.js';

/** Options of {@link SyncManager}. */
export interface SyncManagerOptions {
  /** The local log: confirmed events, outbox, cursor, conflict and rejection records. Required. */
  readonly store: LocalEventStore;
  /** How to reach the server. Required. */
  readonly transport: Transport;
  /**
   * This client's id, stamped into its events. It must stay the same for the life of `store`: events
   * of another id look like other clients' events. Required.
   */
  readonly clientId: string;
  /**
   * Decides conflicts.
   *
   * @defaultValue `lastWriteWins()`
   */
  readonly resolver?: ConflictResolver;
  /**
   * The clock that stamps events; it takes in the timestamps of pulled events.
   *
   * @defaultValue a `HybridLogicalClock` for `clientId` on the wall clock of `timers`
   */
  readonly clock?: HybridLogicalClock;
  /** Bounds on the events `append` makes. @defaultValue `DEFAULT_EVENT_LIMITS` */
  readonly limits?: EventLimits;
  /**
   * The most events per push: per `transport.push` call, which a transport may send as several
   * requests (see `Transport.preferredPushSize`).
   *
   * @defaultValue the transport's `preferredPushSize` (`HttpTransport`: 8,000, sent as a push chain of
   *   requests of 1,000, up to 4 at once; 1,000 once the server showed it cannot keep chains), else 500
   */
  readonly pushBatchSize?: number;
  /**
   * The most events per pull request.
   *
   * @defaultValue 1000
   */
  readonly pullPageSize?: number;
  /**
   * The most pull–resolve–push rounds in one `sync()`; more rounds run only while pushes meet
   * conflicts.
   *
   * @defaultValue 5
   */
  readonly maxRounds?: number;
  /** When `start()` syncs on its own; see {@link AutoSyncOptions}. */
  readonly autoSync?: AutoSyncOptions;
  /** How auto sync backs off after retryable failures; see {@link RetryOptions}. */
  readonly retry?: RetryOptions;
  /**
   * Whether the device is online.
   *
   * @defaultValue `navigator.onLine` and its events where they exist, always online elsewhere
   */
  readonly connectivity?: Connectivity;
  /**
   * The clock and timers auto sync uses; a testkit `FakeClock` fits.
   *
   * @defaultValue `Date.now`, `setTimeout`, `clearTimeout`
   */
  readonly timers?: SyncTimers;
  /**
   * The source of randomness for backoff jitter.
   *
   * @defaultValue `Math.random`
   */
  readonly random?: () => number;
}

/** The defaults of the {@link SyncManagerOptions} sizes. */
export const DEFAULT_SYNC_MANAGER_OPTIONS = {
  /**
   * 500 events per push, for a transport without a `preferredPushSize`; see
   * {@link SyncManagerOptions.pushBatchSize}.
   */
  pushBatchSize: 500,
  /** 1000 events per pull request; see {@link SyncManagerOptions.pullPageSize}. */
  pullPageSize: 1000,
  /** 5 pull–resolve–push rounds per `sync()` at most; see {@link SyncManagerOptions.maxRounds}. */
  maxRounds: 5,
} as const;

/** How the application decides a parked conflict; see {@link SyncManager.resolveConflict}. */
export type ConflictChoice =
  /** Push the parked local events on top of the remote ones. */
  | 'keep_local'
  /** Drop the parked local events. */
  | 'keep_remote'
  /** Push these events instead. */
  | {
      /**
       * The events to push instead of the parked ones, made like `append`'s (new ids and timestamps),
       * all on the conflict's aggregate; empty drops the parked events. Recorded as decision `merge`.
       */
      readonly events: readonly EventInput[];
      /**
       * Why, for the record.
       *
       * @defaultValue one reason naming the parked events and how many replace them
       */
      readonly reasons?: readonly string[];
    };

interface AppendRequest {
  readonly inputs: readonly EventInput[];
  readonly signal: AbortSignal | undefined;
  resolve(events: Event[]): void;
  reject(error: unknown): void;
}

interface Run {
  readonly controller: AbortController;
  readonly promise: Promise<SyncResult>;
  waiters: number;
}

interface Totals {
  pushed: number;
  pulled: number;
  acknowledged: number;
  conflicts: number;
  resolved: number;
  parked: number;
  rejected: number;
}

const realTimers: SyncTimers = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * Syncs a {@link LocalEventStore} with a server through a {@link Transport}: appends go to the outbox at
 * once, `sync()` pulls what others wrote, resolves conflicts, and pushes the outbox. `start()` keeps it
 * in sync on its own: on an interval, soon after appends, on live batches, with backoff on failures.
 *
 * Guarantees: no event is lost (each local event ends acknowledged, or rejected or resolved away with a
 * recorded decision), none is duplicated (pushes are idempotent by id), one client's events keep their
 * order, and every replica that has synced holds the server's order. Failures reach the caller as
 * `SyncError`s.
 *
 * @example
 * ```ts
 * const manager = new SyncManager({ store, transport, clientId: 'phone-1', resolver: lastWriteWins() });
 * await manager.append({ type: 'todo.added', aggregateId: 'todo-1', data: { title: 'Milk' } });
 * const result = await manager.sync();
 * manager.start(); // and from now on on its own
 * ```
 */
export class SyncManager {
  /** The id stamped into this client's events. */
  readonly clientId: string;
  readonly #store: LocalEventStore;
  readonly #transport: Transport;
  readonly #resolver: ConflictResolver;
  readonly #factory: EventFactory;
  /** `options.pushBatchSize`; without it, each push asks the transport (see #pushSize). */
  readonly #pushBatchSize: number | undefined;
  readonly #pullPageSize: number;
  readonly #maxRounds: number;
  readonly #timers: SyncTimers;
  readonly #emitter = new Emitter<SyncEventMap>();
  readonly #auto: AutoSync;
  readonly #nextRecordId = monotonicFactory();
  #status: SyncStatus;
  #run: Run | undefined;
  #closed = false;
  /** Aggregates to check for conflicts: every pending one after a (re)start, then those that changed. */
  #checkAll = true;
  readonly #suspects = new Set<string>();
  /** Appends and conflict decisions take turns at the outbox; see `#exclusive`. */
  #outboxLock: Promise<void> = Promise.resolve();
  /** Appends waiting for the outbox lock; they go to the store together. */
  readonly #appendQueue: AppendRequest[] = [];
  #clockResumed = false;

  /** @throws SyncError `invalid_input` for missing or impossible options. */
  constructor(options: SyncManagerOptions) {
    const { store, transport, clientId, resolver = lastWriteWins() } = options ?? ({} as SyncManagerOptions);
    if (!store || !transport) throw invalidOption('store', 'A SyncManager needs a store and a transport');
    if (typeof resolver?.resolve !== 'function') {
      throw invalidOption('resolver', 'The resolver must have a resolve(conflict, context) method');
    }
    this.clientId = clientId;
    this.#store = store;
    this.#transport = transport;
    this.#resolver = resolver;
    this.#timers = options.timers ?? realTimers;
    const clock = options.clock ?? new HybridLogicalClock({ node: clientId, now: () => this.#timers.now() });
    this.#factory = new EventFactory({ clientId, clock, ...(options.limits ? { limits: options.limits } : {}) });
    this.#pushBatchSize =
      options.pushBatchSize === undefined ? undefined : positive(options.pushBatchSize, 'pushBatchSize');
    this.#pushSize(); // a transport's preferredPushSize that is not a positive integer fails here, not at the first sync
    this.#pullPageSize = positive(options.pullPageSize ?? DEFAULT_SYNC_MANAGER_OPTIONS.pullPageSize, 'pullPageSize');
    this.#maxRounds = positive(options.maxRounds ?? DEFAULT_SYNC_MANAGER_OPTIONS.maxRounds, 'maxRounds');
    const connectivity = options.connectivity ?? defaultConnectivity();
    this.#status = {
      online: connectivity.isOnline(),
      syncing: false,
      live: 'closed',
      pending: 0,
      parked: 0,
      cursor: CursorVersion.ZERO,
    };
    this.#auto = new AutoSync({
      options: options.autoSync ?? {},
      retry: resolveRetryOptions(options.retry),
      connectivity,
      timers: this.#timers,
      random: options.random ?? Math.random,
      transport,
      sync: () => this.sync(),
      cursor: () => this.#store.cursor(),
      onChange: (change) => {
        const before = this.#status;
        this.#setStatus(change);
        const after = this.#status;
        if (before.online !== after.online || before.live !== after.live) {
          this.#emitter.emit('connection.changed', { online: after.online, live: after.live });
        }
      },
    });
  }

  /** Where the manager stands: online, syncing, pending count, cursor, last sync and error. */
  get status(): SyncStatus {
    return this.#status;
  }

  /** The clock that stamps this client's events. */
  get clock(): HybridLogicalClock {
    return this.#factory.clock;
  }

  /**
   * Listens to a lifecycle notification (`sync.started`, `sync.completed`, `sync.failed`,
   * `sync.pulled`, `event.appended`, `event.acknowledged`, `event.rejected`, `conflict.detected`,
   * `conflict.resolved`, `outbox.rebased`, `connection.changed`, `status.changed`). Listeners run after
   * the change is committed; one that throws does not disturb the manager.
   *
   * @returns the function that stops listening.
   */
  on<K extends keyof SyncEventMap>(type: K, listener: (payload: SyncEventMap[K]) => void): () => void {
    return this.#emitter.on(type, listener);
  }

  /**
   * Records events: each gets an id, a timestamp and the `baseVersion` of its aggregate, and lands in
   * the outbox, all or none. Projections show them at once; auto sync pushes them soon.
   *
   * @throws SyncError `invalid_input` or `limit_exceeded` for a malformed event; storage errors as they come.
   */
  async append(input: EventInput | readonly EventInput[], options: SignalOptions = {}): Promise<Event[]> {
    this.#enter(options.signal);
    const inputs: readonly EventInput[] = Array.isArray(input) ? input : [input as EventInput];
    if (inputs.length === 0) return [];
    const events = await new Promise<Event[]>((resolve, reject) => {
      this.#appendQueue.push({ inputs, signal: options.signal, resolve, reject });
      // The first append of a burst schedules a drain; the others join it while it waits for the lock.
      if (this.#appendQueue.length === 1) void this.#exclusive(() => this.#drainAppends());
    });
    this.#emitter.emit('event.appended', { events });
    await this.#refreshCounts();
    this.#auto.appended();
    return events;
  }

  /**
   * Appends everything queued, under the outbox lock (no conflict decision rewrites the outbox between
   * reading the base versions and appending), in one `appendLocal` call, so concurrent appends share a
   * store transaction. Each caller's events are still all or none: a caller whose input is malformed
   * fails alone, and when the store refuses the shared call, each caller is tried on its own.
   */
  async #drainAppends(): Promise<void> {
    const requests = this.#appendQueue.splice(0);
    try {
      await this.#resumeClock(undefined);
    } catch (error) {
      for (const request of requests) request.reject(error);
      return;
    }
    const bases = new Map<string, string>();
    const ready: { request: AppendRequest; events: Event[] }[] = [];
    for (const request of requests) {
      try {
        throwIfAborted(request.signal);
        const events: Event[] = [];
        for (const item of request.inputs) {
          if (!item || typeof item !== 'object') {
            throw new SyncError('invalid_input', 'append takes an event input or a list of them');
          }
          let base = item.metadata?.baseVersion ?? bases.get(item.aggregateId);
          if (base === undefined && typeof item.aggregateId === 'string') {
            base = (await this.#store.aggregateVersion(item.aggregateId)).toString();
            bases.set(item.aggregateId, base);
          }
          events.push(
            this.#factory.create({
              ...item,
              metadata: { ...item.metadata, ...(base === undefined ? {} : { baseVersion: base }) },
            }),
          );
        }
        ready.push({ request, events });
      } catch (error) {
        request.reject(error);
      }
    }
    if (ready.length === 0) return;
    try {
      await this.#store.appendLocal(
        ready.flatMap(({ events }) => events),
        ready.length === 1 ? { signal: ready[0]?.request.signal } : {},
      );
      for (const { request, events } of ready) request.resolve(events);
    } catch (error) {
      if (ready.length === 1) {
        ready[0]?.request.reject(error);
        return;
      }
      for (const { request, events } of ready) {
        try {
          await this.#store.appendLocal(events, { signal: request.signal });
          request.resolve(events);
        } catch (alone) {
          request.reject(alone);
        }
      }
    }
  }

  /**
   * Pulls, resolves conflicts, and pushes, again while a push meets a conflict (at most `maxRounds`
   * times). A call while a sync runs joins it. Aborting `signal` stops waiting; the run itself stops
   * once every caller waiting on it has aborted, or on `close()`.
   *
   * @throws SyncError on failure (`network`, `timeout` and `unavailable` are retryable); the progress
   *   made before the failure is kept.
   */
  sync(options: SignalOptions = {}): Promise<SyncResult> {
    try {
      this.#enter(options.signal);
    } catch (error) {
      return Promise.reject(error);
    }
    if (!this.#run) {
      const controller = new AbortController();
      const run: Run = {
        controller,
        waiters: 0,
        promise: this.#runSync(controller.signal).finally(() => {
          if (this.#run === run) this.#run = undefined;
        }),
      };
      this.#run = run;
    }
    const run = this.#run;
    run.waiters++;
    const { signal } = options;
    if (!signal) {
      return run.promise.finally(() => {
        run.waiters--;
      });
    }
    return new Promise<SyncResult>((resolve, reject) => {
      const onAbort = (): void => {
        run.waiters--;
        if (run.waiters === 0) run.controller.abort(signal.reason);
        reject(abortReason(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      run.promise.then(
        (result) => {
          signal.removeEventListener('abort', onAbort);
          run.waiters--;
          resolve(result);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          run.waiters--;
          reject(error);
        },
      );
    });
  }

  /**
   * Starts auto sync: a sync now, then on an interval, soon after appends, and on live batches from
   * `transport.subscribe`, polling while the subscription is down, backing off after retryable
   * failures, and pausing while offline. Idempotent.
   */
  start(): void {
    this.#enter(undefined);
    this.#auto.start();
  }

  /** Stops auto sync (a running sync finishes). Idempotent; `start()` resumes. */
  stop(): void {
    this.#auto.stop();
  }

  /** The state of a local event: pending, acknowledged, rejected, conflicted, resolved, or unknown. */
  async eventState(id: string, options: SignalOptions = {}): Promise<EventState> {
    this.#enter(options.signal);
    const found = await this.#store.find(id, options);
    if (found?.status === 'pending') return { status: 'pending' };
    if (found?.status === 'confirmed') return { status: 'acknowledged', version: found.version };
    const rejection = (await this.#store.rejections(options)).find((record) => record.event.id === id);
    if (rejection) return { status: 'rejected', code: rejection.code, reason: rejection.reason };
    const records = await this.#store.conflicts(options);
    for (let i = records.length - 1; i >= 0; i--) {
      const record = records[i] as ConflictRecord;
      if (!record.conflict.local.some((event) => event.id === id)) continue;
      if (record.status === 'open') return { status: 'conflicted', conflictId: record.id };
      if (record.resolution) {
        return {
          status: 'resolved',
          conflictId: record.id,
          decision: record.resolution.decision,
          reasons: record.resolution.reasons,
        };
      }
    }
    return { status: 'unknown' };
  }

  /**
   * Calls `listener` with the event's state now and after every change of it, until the returned
   * function is called.
   */
  watchEvent(id: string, listener: (state: EventState) => void): () => void {
    this.#enter(undefined);
    let last: string | undefined;
    let stopped = false;
    const check = (): void => {
      this.eventState(id).then(
        (state) => {
          const key = JSON.stringify(state);
          if (stopped || key === last) return;
          last = key;
          listener(state);
        },
        () => {},
      );
    };
    const involves = (ids: readonly string[]): void => {
      if (ids.includes(id)) check();
    };
    const stops = [
      this.on('event.appended', ({ events }) => involves(events.map((event) => event.id))),
      this.on('event.acknowledged', ({ acks }) => involves(acks.map((ack) => ack.id))),
      this.on('event.rejected', ({ rejections }) => involves(rejections.map((item) => item.event.id))),
      this.on('conflict.detected', ({ record }) => involves(record.conflict.local.map((event) => event.id))),
      this.on('conflict.resolved', ({ record }) => involves(record.conflict.local.map((event) => event.id))),
    ];
    check();
    return () => {
      stopped = true;
      for (const stop of stops) stop();
    };
  }

  /** The conflict records: `open` ones are the inbox of parked conflicts. */
  async conflicts(options: SignalOptions & { status?: ConflictRecord['status'] } = {}): Promise<ConflictRecord[]> {
    this.#enter(options.signal);
    return this.#store.conflicts(options);
  }

  /**
   * Decides a parked conflict: its local events are pushed again (`keep_local`), dropped
   * (`keep_remote`), or replaced by new events; the decision is recorded and published.
   *
   * @throws SyncError `not_found` for an unknown record, `conflict` for one already resolved.
   */
  async resolveConflict(id: string, choice: ConflictChoice, options: SignalOptions = {}): Promise<ConflictRecord> {
    this.#enter(options.signal);
    const record = (await this.#store.conflicts(options)).find((item) => item.id === id);
    if (!record) throw new SyncError('not_found', `No conflict record ${id}`, { details: { field: 'id' } });
    if (record.status !== 'open') throw new SyncError('conflict', `Conflict ${id} is already resolved`);
    let parked: ParkedChoice;
    if (choice === 'keep_local' || choice === 'keep_remote') parked = choice;
    else if (typeof choice === 'object' && choice !== null && Array.isArray(choice.events)) {
      const inputs: readonly EventInput[] = choice.events;
      parked = {
        events: inputs.map((input) => this.#factory.create(input)),
        ...(choice.reasons ? { reasons: choice.reasons } : {}),
      };
    } else {
      throw new SyncError('invalid_input', "A choice is 'keep_local', 'keep_remote' or { events }", {
        details: { field: 'choice' },
      });
    }
    const resolution = resolveParked(record.conflict, parked);
    const resolved = await this.#applyResolution(record, resolution, [], options.signal);
    await this.#refreshCounts();
    this.#auto.appended();
    return resolved;
  }

  /**
   * Stops auto sync, aborts a running sync and waits for it, and drops every listener. The store and
   * the transport stay open: they are the caller's. Idempotent; later calls fail with `closed`.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#auto.stop();
    const run = this.#run;
    if (run) {
      run.controller.abort(new SyncError('closed', 'The sync manager was closed'));
      await run.promise.catch(() => {});
    }
    this.#emitter.clear();
  }

  #enter(signal: AbortSignal | undefined): void {
    if (this.#closed) throw new SyncError('closed', 'The sync manager is closed');
    throwIfAborted(signal);
  }

  async #runSync(signal: AbortSignal): Promise<SyncResult> {
    const startedAt = this.#timers.now();
    this.#setStatus({ syncing: true });
    this.#emitter.emit('sync.started', { at: startedAt });
    const totals: Totals = { pushed: 0, pulled: 0, acknowledged: 0, conflicts: 0, resolved: 0, parked: 0, rejected: 0 };
    const timings = { pullMs: 0, resolveMs: 0, pushMs: 0 };
    let rounds = 0;
    await this.#resumeClock(signal).catch(() => {});
    let settled = false;
    try {
      while (rounds < this.#maxRounds && !settled) {
        rounds++;
        let mark = this.#timers.now();
        await this.#pullAll(totals, signal);
        timings.pullMs += this.#timers.now() - mark;
        mark = this.#timers.now();
        await this.#resolveConflicts(totals, signal);
        timings.resolveMs += this.#timers.now() - mark;
        mark = this.#timers.now();
        settled = (await this.#pushAll(totals, signal)) === 0;
        timings.pushMs += this.#timers.now() - mark;
      }
      const finishedAt = this.#timers.now();
      const result: SyncResult = {
        ...totals,
        rounds,
        settled,
        cursor: await this.#store.cursor({ signal }),
        timings: { totalMs: finishedAt - startedAt, ...timings },
        startedAt,
        finishedAt,
      };
      await this.#refreshCounts();
      this.#setStatus({ syncing: false, lastSyncAt: finishedAt, lastError: undefined });
      this.#emitter.emit('sync.completed', { result });
      return result;
    } catch (thrown) {
      const error = signal.aborted ? thrown : toSyncError(thrown);
      const reported = isSyncError(error) ? error : new SyncError('aborted', 'The sync was aborted', { cause: error });
      await this.#refreshCounts().catch(() => {});
      this.#setStatus({ syncing: false, lastError: reported });
      this.#emitter.emit('sync.failed', { error: reported, at: this.#timers.now() });
      throw error;
    }
  }

  /** Pulls pages after the cursor until caught up; each page and its cursor are applied in one step. */
  async #pullAll(totals: Totals, signal: AbortSignal): Promise<void> {
    const pending = await this.#store.pending({ signal });
    // For each aggregate with pending events, the lowest baseVersion among them: a foreign event after
    // it is a concurrent edit.
    const bases = new Map<string, number>();
    for (const { event } of pending) {
      const base = baseOf(event);
      if (base === undefined) continue;
      bases.set(event.aggregateId, Math.min(base, bases.get(event.aggregateId) ?? base));
    }
    let cursor = await this.#store.cursor({ signal });
    for (;;) {
      const page = await this.#transport.pull(cursor, { limit: this.#pullPageSize, signal });
      if (
        page.next.compare(cursor) < 0 ||
        (page.hasMore && page.next.compare(cursor) === 0 && page.events.length === 0)
      ) {
        throw new SyncError('protocol', `The server's page does not move on from cursor ${cursor.toString()}`);
      }
      const applied = await this.#store.applyPulled({ events: page.events, cursor: page.next }, { signal });
      totals.pulled += applied.stored;
      let latestTimestamp: string | undefined;
      for (const { event, version } of page.events) {
        if (event.metadata.clientId !== this.clientId) {
          const base = bases.get(event.aggregateId);
          if (base !== undefined && version.value > base) this.#suspects.add(event.aggregateId);
        }
        // HLC strings sort in time order, so the greatest string is the latest timestamp.
        if (latestTimestamp === undefined || event.metadata.timestamp > latestTimestamp)
          latestTimestamp = event.metadata.timestamp;
      }
      if (latestTimestamp !== undefined) this.#factory.clock.receive(latestTimestamp);
      if (applied.acknowledged.length > 0) {
        const versions = new Map(page.events.map((item) => [item.event.id, item.version]));
        const acks = applied.acknowledged.map((id) => ({ id, version: versions.get(id) as CursorVersion }));
        totals.acknowledged += acks.length;
        this.#emitter.emit('event.acknowledged', { acks });
      }
      cursor = page.next;
      this.#setStatus({ cursor });
      if (page.events.length > 0 || applied.acknowledged.length > 0)
        this.#emitter.emit('sync.pulled', { events: page.events, cursor });
      if (!page.hasMore) return;
    }
  }

  /** Finds the aggregates where foreign events landed after this client's pending events' base, and resolves each. */
  async #resolveConflicts(totals: Totals, signal: AbortSignal): Promise<void> {
    if (!this.#checkAll && this.#suspects.size === 0) return;
    const pending = await this.#store.pending({ signal });
    const byAggregate = new Map<string, OutboxEntry[]>();
    for (const entry of pending) {
      const { aggregateId } = entry.event;
      if (!this.#checkAll && !this.#suspects.has(aggregateId)) continue;
      let list = byAggregate.get(aggregateId);
      if (!list) byAggregate.set(aggregateId, (list = []));
      list.push(entry);
    }
    for (const [aggregateId, entries] of byAggregate) {
      const local = entries.map((entry) => entry.event);
      const bases = local.map(baseOf).filter((base): base is number => base !== undefined);
      if (bases.length === 0) continue;
      const since = CursorVersion.of(Math.min(...bases));
      const remote = (await this.#store.loadByAggregate(aggregateId, since, { signal })).filter(
        (item) => item.event.metadata.clientId !== this.clientId,
      );
      if (remote.length === 0) continue;
      totals.conflicts++;
      const conflict: Conflict = {
        aggregateId,
        eventType: (local[0] as Event).type,
        changedFields: changedFields(local, remote),
        metadata: { clientId: this.clientId, baseVersion: since.toString() },
        local,
        remote,
      };
      const record: ConflictRecord = {
        id: this.#nextRecordId(),
        conflict,
        status: 'open',
        detectedAt: this.#timers.now(),
      };
      this.#emitter.emit('conflict.detected', { record });
      throwIfAborted(signal);
      const resolution = checkResolution(
        await this.#resolver.resolve(conflict, { signal, createEvent: (input) => this.#factory.create(input) }),
      );
      throwIfAborted(signal);
      if (resolution.decision === 'park') {
        const parked: ConflictRecord = { ...record, resolution };
        await this.#store.updateOutbox(
          { remove: local.map((event) => event.id), add: [], conflict: parked },
          { signal },
        );
        totals.parked++;
        this.#emitter.emit('outbox.rebased', { removed: local.map((event) => event.id), added: [] });
      } else {
        await this.#applyResolution(
          record,
          resolution,
          local.map((event) => event.id),
          signal,
        );
        totals.resolved++;
      }
    }
    this.#checkAll = false;
    this.#suspects.clear();
  }

  /** Rebases the resolved events onto their aggregates' latest versions and swaps them into the outbox. */
  async #applyResolution(
    record: ConflictRecord,
    resolution: ResolvedConflict,
    remove: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<ConflictRecord> {
    const resolved = await this.#exclusive(async () => {
      const bases = new Map<string, string>();
      const rebased: Event[] = [];
      for (const event of resolution.resolvedEvents) {
        let base = bases.get(event.aggregateId);
        if (base === undefined) {
          base = (await this.#store.aggregateVersion(event.aggregateId, { signal })).toString();
          bases.set(event.aggregateId, base);
        }
        rebased.push({ ...event, metadata: { ...event.metadata, baseVersion: base } });
      }
      // Events of the aggregate appended while the resolver decided (or while the conflict was parked)
      // came after the events it decided on: they move behind the resolved events, so this client's
      // events keep their order.
      const removing = new Set(remove);
      const late =
        rebased.length === 0
          ? []
          : (await this.#store.pending({ aggregateId: record.conflict.aggregateId, signal }))
              .map((entry) => entry.event)
              .filter((event) => !removing.has(event.id));
      const decided: ConflictRecord = {
        ...record,
        status: 'resolved',
        resolution: { ...resolution, resolvedEvents: rebased },
        resolvedAt: this.#timers.now(),
      };
      await this.#store.updateOutbox(
        {
          remove: [...remove, ...late.map((event) => event.id)],
          add: [...rebased, ...late],
          conflict: decided,
        },
        { signal },
      );
      return decided;
    });
    const rebased = resolved.resolution?.resolvedEvents ?? [];
    this.#emitter.emit('outbox.rebased', { removed: remove, added: rebased });
    this.#emitter.emit('conflict.resolved', { record: resolved });
    return resolved;
  }

  /** Runs `task` alone among the outbox's appends and rewrites (an async mutex). */
  async #exclusive<T>(task: () => Promise<T>): Promise<T> {
    const previous = this.#outboxLock;
    let release!: () => void;
    this.#outboxLock = new Promise<void>((resolve) => (release = resolve));
    try {
      await previous;
      return await task();
    } finally {
      release();
    }
  }

  /**
   * Pushes the outbox in local order and batches. Accepted and duplicate events are acknowledged,
   * rejected ones recorded; after a conflict, the aggregate's later events wait for the next round.
   *
   * @returns how many events met a conflict.
   */
  async #pushAll(totals: Totals, signal: AbortSignal): Promise<number> {
    // A parked conflict holds back its aggregate's later events too: they go after the decision.
    const parked = await this.#store.conflicts({ status: 'open', signal });
    const blocked = new Set<string>(parked.map((record) => record.conflict.aggregateId));
    let conflicts = 0;
    let afterSeq = 0;
    for (;;) {
      const entries = await this.#store.pending({ afterSeq, limit: this.#pushSize(), signal });
      if (entries.length === 0) return conflicts;
      const startSeq = afterSeq;
      afterSeq = (entries.at(-1) as OutboxEntry).localSeq;
      const batch = entries.map((entry) => entry.event).filter((event) => !blocked.has(event.aggregateId));
      if (batch.length === 0) continue;
      let results: AppendResult[];
      try {
        results = await this.#transport.push(batch, { signal });
      } catch (error) {
        // The events answered before the failure (a transport that sent the batch in parts says which)
        // are settled first: they are stored or refused already, so nothing sends them again.
        const answered = answeredBefore(error, batch);
        if (answered.length > 0) {
          try {
            conflicts += await this.#settlePushed(batch.slice(0, answered.length), answered, totals, blocked, signal);
          } catch (settling) {
            // The push's failure is what the caller acts on (retry or not); those events come back
            // `duplicate` next time, and a store that keeps failing fails that sync on its own.
            if (signal.aborted) throw settling;
            throw error;
          }
        }
        // One event the server will never take (too large for its limit) must not block the outbox for
        // ever: it is rejected with the server's reason, and the push goes on without it.
        const tooLarge = isSyncError(error, 'limit_exceeded') ? error.details.eventId : undefined;
        const event = typeof tooLarge === 'string' ? batch.find((item) => item.id === tooLarge) : undefined;
        if (event === undefined) throw error;
        const { message: reason } = error as SyncError;
        await this.#store.reject([{ id: event.id, code: 'too_large', reason }], { signal });
        totals.rejected++;
        this.#emitter.emit('event.rejected', { rejections: [{ event, code: 'too_large', reason }] });
        afterSeq = startSeq;
        continue;
      }
      if (results.length !== batch.length || results.some((result, i) => result.id !== (batch[i] as Event).id)) {
        throw new SyncError('protocol', 'The server answered a push with results that do not match the batch');
      }
      conflicts += await this.#settlePushed(batch, results, totals, blocked, signal);
    }
  }

  /** How many outbox events one push takes: `pushBatchSize`, else the transport's preferred size now, else 500. */
  #pushSize(): number {
    if (this.#pushBatchSize !== undefined) return this.#pushBatchSize;
    const preferred = this.#transport.preferredPushSize;
    return preferred === undefined
      ? DEFAULT_SYNC_MANAGER_OPTIONS.pushBatchSize
      : positive(preferred, 'transport.preferredPushSize');
  }

  /**
   * Records the server's answers to pushed events (`results[i]` answers `pushed[i]`): accepted and
   * duplicate ones acknowledged, rejected ones recorded, and the aggregates that met a conflict
   * added to `blocked` (their later events wait for the next round).
   *
   * @returns how many events met a conflict.
   */
  async #settlePushed(
    pushed: readonly Event[],
    results: readonly AppendResult[],
    totals: Totals,
    blocked: Set<string>,
    signal: AbortSignal,
  ): Promise<number> {
    let conflicts = 0;
    const acks: { id: string; version: CursorVersion }[] = [];
    const rejections: { id: string; code: string; reason: string }[] = [];
    for (const [i, result] of results.entries()) {
      const event = pushed[i] as Event;
      if (result.status === 'accepted' || result.status === 'duplicate')
        acks.push({ id: result.id, version: result.version });
      else if (result.status === 'rejected')
        rejections.push({ id: result.id, code: result.code, reason: result.reason });
      else {
        conflicts++;
        blocked.add(event.aggregateId);
        this.#suspects.add(event.aggregateId);
      }
    }
    if (acks.length > 0) {
      await this.#store.acknowledge(acks, { signal });
      totals.pushed += acks.length;
      totals.acknowledged += acks.length;
      this.#emitter.emit('event.acknowledged', { acks });
    }
    if (rejections.length > 0) {
      await this.#store.reject(rejections, { signal });
      totals.rejected += rejections.length;
      const byId = new Map(pushed.map((event) => [event.id, event]));
      this.#emitter.emit('event.rejected', {
        rejections: rejections.map((item) => ({ ...item, event: byId.get(item.id) as Event })),
      });
    }
    await this.#refreshCounts();
    return conflicts;
  }

  /**
   * Once per manager: moves the clock past the timestamps already in the store (the outbox and the
   * log's last event), so that a client rebuilt after a crash never stamps an event earlier than the
   * ones it made before, even if its wall clock went back meanwhile.
   */
  async #resumeClock(signal: AbortSignal | undefined): Promise<void> {
    if (this.#clockResumed) return;
    const pending = await this.#store.pending({ signal });
    const latest = await this.#store.latestVersion({ signal });
    const tail = latest.isZero()
      ? []
      : await this.#store.load(CursorVersion.of(latest.value - 1), { limit: 1, signal });
    let newest: string | undefined;
    for (const event of [...pending.map((entry) => entry.event), ...tail.map((item) => item.event)]) {
      if (newest === undefined || event.metadata.timestamp > newest) newest = event.metadata.timestamp;
    }
    if (newest !== undefined) this.#factory.clock.receive(newest);
    this.#clockResumed = true;
  }

  async #refreshCounts(): Promise<void> {
    if (this.#closed) return;
    const [pending, parked] = await Promise.all([
      this.#store.pendingCount(),
      this.#store.conflicts({ status: 'open' }),
    ]);
    this.#setStatus({ pending, parked: parked.length });
  }

  #setStatus(change: Partial<{ -readonly [K in keyof SyncStatus]: SyncStatus[K] | undefined }>): void {
    const next = { ...this.#status, ...change } as SyncStatus & Record<string, unknown>;
    for (const key of ['lastError', 'nextSyncAt', 'lastSyncAt'] as const) if (next[key] === undefined) delete next[key];
    const before = this.#status;
    const changed =
      (Object.keys(next) as (keyof SyncStatus)[]).some((key) => !sameValue(before[key], next[key])) ||
      Object.keys(before).length !== Object.keys(next).length;
    if (!changed) return;
    this.#status = next;
    this.#emitter.emit('status.changed', { status: next });
  }
}

function baseOf(event: Event): number | undefined {
  const base = event.metadata.baseVersion;
  return base === undefined ? undefined : Number(base);
}

/** The top-level data fields that both sides changed. */
function changedFields(local: readonly Event[], remote: readonly VersionedEvent[]): string[] {
  const fields = (data: JsonValue): string[] =>
    data !== null && typeof data === 'object' && !Array.isArray(data) ? Object.keys(data) : [];
  const theirs = new Set(remote.flatMap((item) => fields(item.event.data)));
  return [...new Set(local.flatMap((event) => fields(event.data)))].filter((field) => theirs.has(field));
}

function checkResolution(value: ResolvedConflict): ResolvedConflict {
  if (
    !value ||
    typeof value.decision !== 'string' ||
    !Array.isArray(value.resolvedEvents) ||
    !Array.isArray(value.reasons)
  ) {
    throw new SyncError('internal', 'The conflict resolver returned something that is not a ResolvedConflict');
  }
  return value;
}

function toSyncError(error: unknown): SyncError {
  if (isSyncError(error)) return error;
  return new SyncError('internal', `Sync failed: ${error instanceof Error ? error.message : String(error)}`, {
    cause: error,
  });
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a instanceof CursorVersion && b instanceof CursorVersion) return a.equals(b);
  return Object.is(a, b);
}

/**
 * The results a failed push carries for the first events of `batch` (`partialPushError`'s
 * `details.results`), when they are well-formed and answer those events in order; otherwise none.
 */
function answeredBefore(error: unknown, batch: readonly Event[]): AppendResult[] {
  const results = isSyncError(error) ? error.details.results : undefined;
  if (!Array.isArray(results) || results.length === 0 || results.length > batch.length) return [];
  const wellFormed = results.every((result: unknown, i) => {
    const item = result as Partial<Record<string, unknown>> | null;
    if (typeof item !== 'object' || item === null || item.id !== (batch[i] as Event).id) return false;
    switch (item.status) {
      case 'accepted':
      case 'duplicate':
        return item.version instanceof CursorVersion;
      case 'rejected':
        return typeof item.code === 'string' && typeof item.reason === 'string';
      case 'conflict':
        return true;
      default:
        return false;
    }
  });
  return wellFormed ? (results as AppendResult[]) : [];
}

function positive(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 1)
    throw invalidOption(field, `${field} must be a positive integer, got ${String(value)}`);
  return value;
}

function invalidOption(field: string, message: string): SyncError {
  return new SyncError('invalid_input', message, { details: { field } });
}
