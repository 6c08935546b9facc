import pg, { type Client, type ClientConfig, type Pool, type PoolClient, type QueryResult } from 'pg';
import {
  AppendListeners,
  checkTenant,
  CursorVersion,
  DEFAULT_READ_LIMIT,
  decideAppend,
  SyncError,
  ULID_PATTERN,
  type AppendLookup,
  type AppendNotice,
  type AppendOptions,
  type AppendResult,
  type Event,
  type EventLimits,
  type EventPage,
  type Filter,
  type ReadOptions,
  type ServerEventLog,
  type SignalOptions,
  type VersionedEvent,
} from '@eventsync/core';
import { columnText } from './column-text.js';
import { NotificationListener, type ListenerState } from './notification-listener.js';
import { resolveOptions, type PostgresEventStoreOptions } from './postgres-event-store-options.js';
import { isConnectionError, sqlState, toSyncError } from './postgres-errors.js';
import { migrate, quoteIdentifier } from './schema.js';

interface EventRow {
  readonly seq: string;
  readonly json: string;
}

/**
 * One aggregate and writer of a batch: the writer's lowest base there, and once prefetched, the latest
 * write of another client after that base (`null`: none) and then the aggregate's latest write.
 */
interface WriterAnswer {
  readonly aggregateId: string;
  readonly clientId: string;
  base: number;
  foreign: number | null;
  latest: number | null;
}

/** A row of the append's prefetch: a stored id (kind 0) or a writer's foreign writes (kind 1). */
interface PrefetchRow {
  readonly kind: number;
  readonly id: string | null;
  readonly seq: string | null;
  readonly json: string | null;
  readonly i: string | null;
  readonly foreign: string | null;
  readonly latest: string | null;
}

interface PageRow {
  readonly latest: string;
  readonly seq: string | null;
  readonly json: string | null;
}

/** The NOTIFY payload of an append: which schema, which tenant, and its latest cursor after the append. */
interface NoticePayload {
  readonly schema: string;
  readonly tenant: string;
  readonly latest: number;
}

/**
 * A {@link ServerEventLog} in PostgreSQL, on `pg`: the server's log when one machine is not enough.
 * Any number of stateless server nodes can share one database, each with its own store.
 *
 * - **Appends** run in one transaction each, in four round trips. It first locks the tenant's row in
 *   `tenants` (`SELECT … FOR UPDATE`, sent with the `BEGIN`), so the appends of one tenant take turns
 *   from there to their commit, on every node; then it reads the aggregates' latest writes, runs the
 *   shared append rules (`decideAppend`) against them, inserts the accepted events in one multi-row
 *   INSERT (the JSON each event was checked as, when the caller passes `checked`), moves the tenant's
 *   cursor and sends a NOTIFY, and commits. The batch's ids are looked up only when the decision does
 *   not accept every event, or when the unique index on (tenant, id) refuses an insert (the
 *   transaction is then rolled back and made again): a pushed batch is almost always new.
 * - **Cursors readers never skip**: because the next append of a tenant waits for the previous one to
 *   commit before it reads the cursor, cursors become visible in their order. (A bare `BIGSERIAL`
 *   would not do: a transaction that took 7 may commit after one that took 8, and a reader that saw
 *   8 would never look at 7 again.)
 * - **Reads** are one statement, so a page, its `next` and `hasMore` come from one snapshot.
 * - **Notifications** come from LISTEN/NOTIFY, on a connection of the store's own that reconnects
 *   with backoff when lost; an append on any node reaches the listeners of every node, this one's
 *   included, after it committed. After a reconnection the store tells its listeners the latest cursor
 *   of every tenant it has dealt with, since notifications sent meanwhile are lost: a listener that
 *   reads from its own cursor misses nothing.
 * - **Migrations** are applied on start, under an advisory lock, each in a transaction.
 * - **Aborts**: `pg` cannot cancel a query half-way, so the signal is checked before a call starts,
 *   before an append writes (an aborted append then rolls back and stores nothing) and after a read
 *   (its result is dropped). An append whose signal fires after it committed resolves with its
 *   results: it happened.
 *
 * Start it with {@link PostgresEventStore.open}, or construct it and call {@link start} (or just use
 * it: the first call starts it).
 *
 * @example
 * ```ts
 * const store = await PostgresEventStore.open({ connectionString: process.env.DATABASE_URL });
 * const [result] = await store.append('acme', [event]);
 * const page = await store.read('acme', { since: CursorVersion.ZERO, limit: 500 });
 * await store.close();
 * ```
 */
export class PostgresEventStore implements ServerEventLog {
  /** Constructs a store and starts it: migrates the schema and starts listening. @throws SyncError */
  static async open(options: PostgresEventStoreOptions): Promise<PostgresEventStore> {
    const store = new PostgresEventStore(options);
    try {
      await store.start();
    } catch (error) {
      await store.close().catch(() => undefined);
      throw error;
    }
    return store;
  }

  readonly #pool: Pool;
  readonly #ownsPool: boolean;
  readonly #schema: string;
  readonly #channel: string;
  readonly #limits: EventLimits;
  readonly #maxReadLimit: number;
  readonly #sql: ReturnType<typeof statements>;
  readonly #listeners = new AppendListeners();
  readonly #listener: NotificationListener;
  /** The tenants this store has dealt with: told their latest cursor after the listener reconnects. */
  readonly #knownTenants = new Set<string>();
  #starting: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  /** Checks the options and makes the pool; connects nothing yet. @throws SyncError `invalid_input` */
  constructor(options: PostgresEventStoreOptions) {
    const settings = resolveOptions(options);
    this.#schema = settings.schema;
    this.#channel = settings.channel;
    this.#limits = settings.limits;
    this.#maxReadLimit = settings.maxReadLimit;
    this.#sql = statements(quoteIdentifier(settings.schema));
    this.#ownsPool = options.pool === undefined;
    let listenerConfig: ClientConfig;
    if (options.pool) {
      this.#pool = options.pool;
      listenerConfig = { ...(options.pool.options as ClientConfig) };
    } else {
      const poolConfig = {
        application_name: settings.applicationName,
        ...options.poolOptions,
        connectionString: options.connectionString,
      };
      this.#pool = new pg.Pool(poolConfig);
      // pg's advice: an idle connection that dies emits 'error' on the pool, which would crash the process.
      this.#pool.on('error', () => undefined);
      listenerConfig = poolConfig;
    }
    const onListenerError = options.onListenerError;
    this.#listener = new NotificationListener({
      client: (): Client =>
        new pg.Client({
          ...listenerConfig,
          application_name: `${settings.applicationName}:listener`,
          keepAlive: true,
          // The listener only runs LISTEN and its heartbeats: none may hang.
          query_timeout: Math.max(settings.heartbeatMs, 10_000),
        }),
      channel: settings.channel,
      reconnect: settings.reconnect,
      heartbeatMs: settings.heartbeatMs,
      timers: options.timers ?? {
        setTimeout: (callback, ms) => setTimeout(callback, ms),
        clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
      },
      onNotification: (payload) => this.#onNotification(payload),
      onReconnected: () => this.#catchUp(),
      onError: (error) => onListenerError?.(toSyncError(error, 'listen to')),
    });
  }

  /** The schema that holds the store's tables. */
  get schema(): string {
    return this.#schema;
  }

  /** Where the LISTEN connection is: `'listening'` when notifications flow. */
  get listenerState(): ListenerState {
    return this.#listener.state;
  }

  /**
   * Migrates the schema (creating it when missing) and starts listening; every other call does this
   * first when it has not been done. A failed start is tried again by the next call.
   *
   * @throws SyncError `unavailable` when the database cannot be reached, `storage`, `closed`
   */
  async start(options?: SignalOptions): Promise<void> {
    this.#checkOpen(options);
    await this.#started(options);
  }

  async append(tenant: string, events: readonly Event[], options?: AppendOptions): Promise<AppendResult[]> {
    this.#enter(tenant, options);
    if (!Array.isArray(events)) {
      throw new SyncError('invalid_input', 'append takes an array of events', { details: { field: 'events' } });
    }
    if (events.length === 0) return [];
    await this.#started(options);
    this.#knownTenants.add(tenant);
    const client = await this.#connect('append to');
    let broken = false;
    try {
      // First with the optimistic lookup of ids (see #appendOnce); again, looking every id up, when an
      // id turned out to be stored.
      for (let lookUpIds = false; ; lookUpIds = true) {
        let aborted = false;
        try {
          const results = await this.#appendOnce(client, tenant, events, options, lookUpIds);
          if (results === 'aborted') {
            aborted = true;
            throw abortReason(options!.signal!);
          }
          return results;
        } catch (error) {
          if (aborted) throw error;
          broken = isConnectionError(error);
          if (!broken) await client.query('ROLLBACK').catch(() => (broken = true));
          if (!broken && !lookUpIds && isStoredIdError(error)) continue;
          throw this.#failure(error, 'append to');
        }
      }
    } finally {
      // A connection that broke is dropped, not handed to the next caller.
      client.release(broken);
    }
  }

  /**
   * One try of an append's transaction, on `client`. Unless `lookUpIds`, the batch's ids are not
   * looked up first: a pushed batch is almost always new, and the unique index on (tenant, id)
   * checks each accepted event as it is inserted anyway. The decision made as if no id were stored is
   * the right one when none is. So a decision that does not accept every event (a stored id might have
   * made one a duplicate) is made again, before anything is written, with every id looked up; and an
   * accepted event whose id is stored fails the insert (`23505` on `events_tenant_id`): the caller
   * rolls back and tries again with `lookUpIds`.
   *
   * @returns the results, after the commit; `'aborted'` when the signal fired before anything was
   *   written (rolled back).
   */
  async #appendOnce(
    client: PoolClient,
    tenant: string,
    events: readonly Event[],
    options: AppendOptions | undefined,
    lookUpIds: boolean,
  ): Promise<AppendResult[] | 'aborted'> {
    const latest = await this.#beginLocked(client, tenant);
    const checked = options?.checked;
    let lookup = await this.#prefetch(client, tenant, events, latest, lookUpIds);
    let decision = decideAppend(tenant, events, latest, lookup, this.#limits, checked);
    if (!lookUpIds && latest > 0 && decision.results.some((result) => result.status !== 'accepted')) {
      lookup = await this.#prefetch(client, tenant, events, latest, true);
      decision = decideAppend(tenant, events, latest, lookup, this.#limits, checked);
    }
    if (options?.signal?.aborted) {
      await client.query('ROLLBACK');
      return 'aborted';
    }
    const { accepted } = decision;
    const last = accepted.at(-1);
    if (last) {
      const payload: NoticePayload = { schema: this.#schema, tenant, latest: last.version.value };
      await client.query(this.#sql.write, [
        columnText(tenant),
        latest,
        accepted.map(({ event }) => event.id),
        accepted.map(({ event }) => columnText(event.aggregateId)),
        accepted.map(({ event }) => columnText(event.type)),
        accepted.map(({ event }) => columnText(event.metadata.clientId)),
        `[${accepted.map(({ json }) => json).join(',')}]`,
        last.version.value,
        this.#channel,
        JSON.stringify(payload),
      ]);
    }
    await client.query('COMMIT');
    return decision.results;
  }

  async read(tenant: string, options: ReadOptions = {}): Promise<EventPage> {
    this.#enter(tenant, options);
    const since = options.since ?? CursorVersion.ZERO;
    if (!(since instanceof CursorVersion)) {
      throw new SyncError('invalid_input', 'since must be a CursorVersion', { details: { field: 'since' } });
    }
    const limit = Math.min(checkLimit(options.limit ?? DEFAULT_READ_LIMIT), this.#maxReadLimit);
    const filter = filterValues(options.filter);
    await this.#started(options);
    this.#knownTenants.add(tenant);
    let rows: PageRow[];
    try {
      ({ rows } = await this.#pool.query<PageRow>(this.#sql.page, [
        columnText(tenant),
        since.value,
        limit,
        filter.types,
        filter.aggregateIds,
      ]));
    } catch (error) {
      throw this.#failure(error, 'read');
    }
    throwIfAborted(options.signal);
    const latest = Number(rows[0]?.latest ?? 0);
    checkSince(since.value, latest);
    const events: VersionedEvent[] = [];
    for (const row of rows) {
      if (row.seq !== null) events.push(toVersionedEvent(row as EventRow));
    }
    // A full page stops at its last event; a short one read the log to its end, past what a filter skipped.
    const next = events.length === limit ? events.at(-1)!.version.value : Math.max(latest, since.value);
    return { events, next: CursorVersion.of(next), hasMore: next < latest };
  }

  async latestVersion(tenant: string, options?: SignalOptions): Promise<CursorVersion> {
    this.#enter(tenant, options);
    await this.#started(options);
    this.#knownTenants.add(tenant);
    let latest: number;
    try {
      const { rows } = await this.#pool.query<{ latest: string }>(this.#sql.latest, [columnText(tenant)]);
      latest = Number(rows[0]?.latest ?? 0);
    } catch (error) {
      throw this.#failure(error, 'read');
    }
    throwIfAborted(options?.signal);
    return CursorVersion.of(latest);
  }

  /**
   * Tells `listener` of every append that stored something, made through any store on this database
   * and schema (this node or another), once it committed. Subscribing starts the store when it has
   * not started yet.
   */
  subscribe(listener: (notice: AppendNotice) => void): () => void {
    this.#checkOpen(undefined);
    const stop = this.#listeners.add(listener);
    this.#started(undefined).catch(() => undefined); // a failure surfaces on the next call
    return stop;
  }

  /**
   * Stops listening and ends the pool the store made (a pool you gave it stays open). Calls under way
   * finish first. Idempotent; later calls fail with `SyncError('closed')`.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#listeners.clear();
    await this.#listener.close();
    if (this.#ownsPool && !this.#pool.ended) {
      try {
        await this.#pool.end();
      } catch (error) {
        throw toSyncError(error, 'close');
      }
    }
  }

  async #started(options: SignalOptions | undefined): Promise<void> {
    this.#starting ??= this.#start().catch((error: unknown) => {
      this.#starting = undefined;
      throw this.#failure(error, 'start');
    });
    await this.#starting;
    throwIfAborted(options?.signal);
  }

  async #start(): Promise<void> {
    const client = await this.#pool.connect();
    let failed = false;
    try {
      await migrate(client, this.#schema);
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      client.release(failed);
    }
    if (this.#closing) throw closedError();
    await this.#listener.start();
  }

  /**
   * Begins the append's transaction and locks the tenant's row until it ends, in one round trip (a
   * simple query of two statements, the tenant as an escaped literal), and reads the tenant's latest
   * cursor. READ COMMITTED whatever the pool's default: each statement after the lock must see what
   * committed before it.
   */
  async #beginLocked(client: PoolClient, tenant: string): Promise<number> {
    const key = columnText(tenant);
    // A function as the replacement: a string one would expand `$'`, `$&`, `$$`… inside the tenant's
    // escaped literal (an injection, or another tenant's lock).
    const results = (await client.query(
      `BEGIN ISOLATION LEVEL READ COMMITTED; ${this.#sql.lockTenant.replace('$1', () => client.escapeLiteral(key))}`,
    )) as unknown as [QueryResult, QueryResult<{ latest: string }>];
    let { rows } = results[1];
    if (rows.length === 0) {
      // A new tenant: make its row (or wait for a concurrent append that is making it), then lock it.
      await client.query(this.#sql.addTenant, [key]);
      ({ rows } = await client.query<{ latest: string }>(this.#sql.lockTenant, [key]));
    }
    return Number(rows[0]!.latest);
  }

  /**
   * Reads, inside the append's transaction and under the tenant's lock, what `decideAppend` will ask
   * about: the batch's ids already stored (when `lookUpIds`; otherwise none is), and per aggregate and
   * writer the latest write of another client after the writer's lowest `baseVersion` in the batch.
   */
  async #prefetch(
    client: PoolClient,
    tenant: string,
    events: readonly Event[],
    latest: number,
    lookUpIds: boolean,
  ): Promise<AppendLookup> {
    const key = columnText(tenant);
    const stored = new Map<string, EventRow>();
    // Per writer, then aggregate: the writer's lowest baseVersion there in the batch, and its answer.
    const writers = new Map<string, Map<string, WriterAnswer>>();
    const ids = new Set<string>();
    const pairs: WriterAnswer[] = [];
    for (const candidate of events as readonly unknown[]) {
      const event = candidate as Partial<Event> | null;
      if (lookUpIds && typeof event?.id === 'string' && ULID_PATTERN.test(event.id)) ids.add(event.id);
      const aggregateId = event?.aggregateId;
      const clientId = event?.metadata?.clientId;
      const base = Number(event?.metadata?.baseVersion);
      if (typeof aggregateId !== 'string' || typeof clientId !== 'string' || !Number.isFinite(base)) continue;
      // Clamped into the stored range: no stored event is after a base past the latest cursor.
      const clamped = Math.max(0, Math.min(Math.floor(base), latest));
      let aggregates = writers.get(clientId);
      if (!aggregates) writers.set(clientId, (aggregates = new Map<string, WriterAnswer>()));
      const known = aggregates.get(aggregateId);
      if (known) {
        if (clamped < known.base) known.base = clamped;
      } else {
        const pair: WriterAnswer = { aggregateId, clientId, base: clamped, foreign: null, latest: null };
        aggregates.set(aggregateId, pair);
        pairs.push(pair);
      }
    }
    if (latest > 0 && (ids.size > 0 || pairs.length > 0)) {
      // Both in one round trip: the stored ids (kind 0) and the writers' foreign writes (kind 1).
      const { rows } = await client.query<PrefetchRow>(this.#sql.prefetch, [
        key,
        [...ids],
        pairs.map((pair) => columnText(pair.aggregateId)),
        pairs.map((pair) => columnText(pair.clientId)),
        pairs.map((pair) => pair.base),
      ]);
      for (const row of rows) {
        if (row.kind === 0) {
          stored.set(row.id!, { seq: row.seq!, json: row.json! });
        } else {
          const pair = pairs[Number(row.i) - 1]!;
          pair.foreign = row.foreign === null ? null : Number(row.foreign);
          pair.latest = row.latest === null ? null : Number(row.latest);
        }
      }
    }
    return {
      existing: (id) => {
        const row = stored.get(id);
        return row && toVersionedEvent(row);
      },
      foreignAfter: (aggregateId, baseVersion, clientId) => {
        if (latest === 0) return undefined;
        const answer = writers.get(clientId)?.get(aggregateId);
        if (!answer || baseVersion < answer.base) {
          throw new SyncError('internal', `The append prefetched nothing for aggregate ${aggregateId} and ${clientId}`);
        }
        return answer.foreign !== null && answer.foreign > baseVersion ? (answer.latest ?? undefined) : undefined;
      },
    };
  }

  /** After a reconnection: tells the listeners the latest cursor of every tenant this store has dealt with. */
  async #catchUp(): Promise<void> {
    if (this.#knownTenants.size === 0) return;
    const tenants = new Map([...this.#knownTenants].map((tenant) => [columnText(tenant), tenant]));
    const { rows } = await this.#pool.query<{ tenant: string; latest: string }>(this.#sql.latestOf, [
      [...tenants.keys()],
    ]);
    for (const row of rows) {
      const tenant = tenants.get(row.tenant);
      const latest = Number(row.latest);
      if (tenant !== undefined && latest > 0) this.#listeners.notify({ tenant, latest: CursorVersion.of(latest) });
    }
  }

  #onNotification(payload: string): void {
    let notice: Partial<NoticePayload>;
    try {
      notice = JSON.parse(payload) as Partial<NoticePayload>;
    } catch {
      return; // not ours
    }
    const { schema, tenant, latest } = notice;
    if (schema !== this.#schema || typeof tenant !== 'string' || !Number.isSafeInteger(latest) || latest! < 1) return;
    this.#knownTenants.add(tenant);
    this.#listeners.notify({ tenant, latest: CursorVersion.of(latest!) });
  }

  async #connect(action: string): Promise<PoolClient> {
    try {
      return await this.#pool.connect();
    } catch (error) {
      throw this.#failure(error, action);
    }
  }

  /** A failure as a SyncError: `closed` when the store was closed meanwhile. */
  #failure(error: unknown, action: string): SyncError {
    if (this.#closing && !(error instanceof SyncError)) return closedError();
    return toSyncError(error, action);
  }

  #checkOpen(options: SignalOptions | undefined): void {
    if (this.#closing) throw closedError();
    throwIfAborted(options?.signal);
  }

  #enter(tenant: string, options: SignalOptions | undefined): void {
    this.#checkOpen(options);
    checkTenant(tenant);
  }
}

/** Whether `error` is the unique index on (tenant, id) refusing an insert: the id is stored already. */
function isStoredIdError(error: unknown): boolean {
  return sqlState(error) === '23505' && (error as { constraint?: unknown }).constraint === 'events_tenant_id';
}

/** The store's SQL, for the schema `s` (quoted). */
function statements(s: string) {
  return {
    latest: `SELECT latest FROM ${s}.tenants WHERE tenant = $1`,
    latestOf: `SELECT tenant, latest FROM ${s}.tenants WHERE tenant = ANY($1::text[])`,
    lockTenant: `SELECT latest FROM ${s}.tenants WHERE tenant = $1 FOR UPDATE`,
    addTenant: `INSERT INTO ${s}.tenants (tenant, latest) VALUES ($1, 0) ON CONFLICT (tenant) DO NOTHING`,
    // What an append's decision needs, in one statement: rows of kind 0 are the batch's ids ($2)
    // already stored; rows of kind 1, per (aggregate, writer, lowest base) of the batch ($3, $4, $5,
    // numbered from 1), the latest write of another client after the base and, only when there is
    // one, the aggregate's latest write.
    // Ids: one probe of the unique index per id, whatever the statistics say: `OFFSET 0` keeps the
    // planner from flattening the lateral subquery into a join, which on a young table (no statistics
    // yet) it planned as a hash of the tenant's whole log, as it did `id = ANY(…)`. Writers: both are
    // backward index-only scans.
    prefetch: `
      SELECT 0 AS kind, e.id, e.seq, e.json, NULL::bigint AS i, NULL::bigint AS foreign, NULL::bigint AS latest
        FROM unnest($2::text[]) AS x (id)
        CROSS JOIN LATERAL (SELECT id, seq, json FROM ${s}.events WHERE tenant = $1 AND id = x.id OFFSET 0) AS e
      UNION ALL
      SELECT 1, NULL, NULL, NULL, p.i, f.foreign,
             CASE WHEN f.foreign IS NOT NULL THEN
               (SELECT MAX(e.seq) FROM ${s}.events AS e WHERE e.tenant = $1 AND e.aggregate_id = p.aggregate_id)
             END
        FROM unnest($3::text[], $4::text[], $5::bigint[]) WITH ORDINALITY AS p (aggregate_id, client_id, base, i)
        CROSS JOIN LATERAL (
          SELECT MAX(e.seq) AS foreign FROM ${s}.events AS e
           WHERE e.tenant = $1 AND e.aggregate_id = p.aggregate_id AND e.seq > p.base AND e.client_id <> p.client_id
        ) AS f`,
    // The accepted events in one INSERT (at the cursors after $2, which decideAppend gives them in
    // order), the cursor moved, and the notice sent at commit. The events
    // come as one JSON array (of the type json, which keeps its text as it is) and are split by
    // PostgreSQL: a text[] parameter would make pg escape every quote of every event first.
    write: `
      WITH inserted AS (
        INSERT INTO ${s}.events (tenant, seq, id, aggregate_id, type, client_id, json)
        SELECT $1, $2::bigint + r.n, r.id, r.aggregate_id, r.type, r.client_id, j.event::text
          FROM unnest($3::text[], $4::text[], $5::text[], $6::text[])
               WITH ORDINALITY AS r (id, aggregate_id, type, client_id, n)
          JOIN json_array_elements($7::json) WITH ORDINALITY AS j (event, n) USING (n)
      ), moved AS (
        UPDATE ${s}.tenants SET latest = $8 WHERE tenant = $1
      )
      SELECT pg_notify($9, $10)`,
    // The tenant's latest cursor and the page, from one snapshot. A NULL filter keeps everything.
    page: `
      SELECT h.latest, e.seq, e.json
        FROM (SELECT COALESCE((SELECT latest FROM ${s}.tenants WHERE tenant = $1), 0) AS latest) AS h
        LEFT JOIN LATERAL (
          SELECT seq, json FROM ${s}.events
           WHERE tenant = $1 AND seq > $2
             AND ($4::text[] IS NULL OR type = ANY($4::text[]))
             AND ($5::text[] IS NULL OR aggregate_id = ANY($5::text[]))
           ORDER BY seq
           LIMIT $3
        ) AS e ON true
       ORDER BY e.seq`,
  };
}

/** A filter as query parameters: a list per field, or null; `tenant` in it is ignored, the store is scoped already. */
function filterValues(filter: Filter | undefined): { types: string[] | null; aggregateIds: string[] | null } {
  if (filter === undefined) return { types: null, aggregateIds: null };
  if (typeof filter !== 'object' || filter === null) {
    throw new SyncError('invalid_input', 'filter must be an object', { details: { field: 'filter' } });
  }
  const values = (field: 'type' | 'aggregateId'): string[] | null => {
    const wanted: unknown = filter[field];
    if (wanted === undefined) return null;
    if (typeof wanted === 'string') return [columnText(wanted)];
    if (Array.isArray(wanted) && wanted.every((item) => typeof item === 'string')) return wanted.map(columnText);
    throw new SyncError('invalid_input', `filter.${field} must be a string or a list of strings`, {
      details: { field: `filter.${field}` },
    });
  };
  return { types: values('type'), aggregateIds: values('aggregateId') };
}

function checkLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new SyncError('invalid_input', `limit must be a positive integer, got ${String(limit)}`, {
      details: { field: 'limit' },
    });
  }
  return limit;
}

/** Stored events are plain JSON: `JSON.parse` makes a `__proto__` key an own property, never a prototype. */
function toVersionedEvent(row: EventRow): VersionedEvent {
  return { event: JSON.parse(row.json) as Event, version: CursorVersion.of(Number(row.seq)) };
}

/** A reader ahead of the log has a cursor from another log, or from before a restore: refuse it. */
function checkSince(since: number, latest: number): void {
  if (since > latest) {
    throw new SyncError(
      'invalid_input',
      `Cursor ${since} is past the log's latest version ${latest}: this log is behind the reader (restored from a backup?)`,
      { details: { field: 'since', max: latest, actual: since } },
    );
  }
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason === undefined ? new SyncError('aborted', 'The operation was aborted') : signal.reason;
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}

function closedError(): SyncError {
  return new SyncError('closed', 'The PostgreSQL event store is closed');
}
