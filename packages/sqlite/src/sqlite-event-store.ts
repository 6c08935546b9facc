import Database from 'better-sqlite3';
import {
  AppendListeners,
  checkTenant,
  CursorVersion,
  DEFAULT_EVENT_LIMITS,
  DEFAULT_READ_LIMIT,
  decideAppend,
  SyncError,
  ULID_PATTERN,
  type AppendDecision,
  type AppendLookup,
  type AppendNotice,
  type AppendOptions,
  type AppendResult,
  type CheckedEvents,
  type Event,
  type EventLimits,
  type EventPage,
  type Filter,
  type JsonEventPage,
  type ReadOptions,
  type ServerEventLog,
  type SignalOptions,
  type VersionedEvent,
} from '@eventsync/core';
import { migrate } from './schema.js';
import { toSyncError } from './sqlite-errors.js';

/** SQLite's `PRAGMA synchronous` levels; see https://sqlite.org/pragma.html#pragma_synchronous. */
export type SqliteSynchronous = 'OFF' | 'NORMAL' | 'FULL' | 'EXTRA';

const SYNCHRONOUS_LEVELS: readonly SqliteSynchronous[] = ['OFF', 'NORMAL', 'FULL', 'EXTRA'];

/** Options of {@link SqliteEventStore}. Give `path` or `database`, not both. */
export interface SqliteEventStoreOptions {
  /**
   * The database file, created with its folder's permissions when missing (`':memory:'` for a
   * database that dies with the store). The store opens it and closes it in {@link SqliteEventStore.close}.
   */
  readonly path?: string;
  /**
   * An open better-sqlite3 database to use instead of `path`. The store sets its pragmas and migrates
   * it, but leaves it open on `close`: whoever opened it closes it.
   */
  readonly database?: Database.Database;
  /**
   * `PRAGMA synchronous`. `FULL` syncs the write-ahead log to disk at every commit, so an acknowledged
   * append survives a power cut; `NORMAL` survives a crash of the process but may lose the last
   * commits on power loss.
   *
   * @defaultValue `'FULL'`
   */
  readonly synchronous?: SqliteSynchronous;
  /**
   * How long an append waits for another connection (another process on the same file) to release
   * the write lock before failing with a retryable `SyncError('storage')`, in milliseconds.
   *
   * @defaultValue `5000`
   */
  readonly busyTimeoutMs?: number;
  /**
   * Bounds every appended event must keep; an event past them is `rejected` with `invalid_event`.
   *
   * @defaultValue `DEFAULT_EVENT_LIMITS` of `@eventsync/core` (64 KiB per event)
   */
  readonly limits?: EventLimits;
  /**
   * The largest page a read returns: a larger `limit` is lowered to it (the page then says `hasMore`).
   *
   * @defaultValue `10000`
   */
  readonly maxReadLimit?: number;
}

/** The defaults of {@link SqliteEventStoreOptions}. */
export const DEFAULT_SQLITE_EVENT_STORE_OPTIONS = {
  /** The default {@link SqliteEventStoreOptions.synchronous}: every commit synced to disk. */
  synchronous: 'FULL',
  /** The default {@link SqliteEventStoreOptions.busyTimeoutMs}, in milliseconds: 5 s. */
  busyTimeoutMs: 5000,
  /** The default {@link SqliteEventStoreOptions.limits}: core's `DEFAULT_EVENT_LIMITS` (64 KiB per event). */
  limits: DEFAULT_EVENT_LIMITS,
  /** The default {@link SqliteEventStoreOptions.maxReadLimit}, in events: 10000. */
  maxReadLimit: 10_000,
} as const satisfies Required<Omit<SqliteEventStoreOptions, 'path' | 'database'>>;

interface EventRow {
  readonly seq: number;
  readonly json: string;
}

/** A stored event as a read returns it: `[seq, json]` (better-sqlite3's raw mode, no object per row). */
type PageRow = [seq: number, json: string];

/** A page of stored rows, before they become events or JSON rows. */
interface RowPage {
  readonly rows: readonly PageRow[];
  readonly next: CursorVersion;
  readonly hasMore: boolean;
}

interface FilterClause {
  readonly key: string;
  readonly sql: string;
  readonly values: readonly string[];
}

/**
 * A {@link ServerEventLog} in a SQLite file, on better-sqlite3: the server's embedded default.
 *
 * Every append is one `BEGIN IMMEDIATE` transaction that reads the tenant's latest cursor, runs the
 * shared append rules (`decideAppend`) with lookups answered inside it, stores the accepted events
 * and moves the cursor; the write lock it takes serialises appends across connections and
 * processes sharing the file, so cursors stay gapless. The database runs in WAL mode (readers never
 * wait for the writer) with `synchronous=FULL` by default, so an append that resolved is on disk.
 *
 * Listeners hear of appends made through this instance, after they committed.
 *
 * @example
 * ```ts
 * const store = new SqliteEventStore({ path: './data/eventsync.db' });
 * const [result] = await store.append('acme', [event]);
 * const page = await store.read('acme', { since: CursorVersion.ZERO, limit: 500 });
 * await store.close();
 * ```
 */
export class SqliteEventStore implements ServerEventLog {
  readonly #db: Database.Database;
  readonly #ownsDatabase: boolean;
  readonly #limits: EventLimits;
  readonly #maxReadLimit: number;
  readonly #listeners = new AppendListeners();
  readonly #statements: ReturnType<typeof prepareStatements>;
  readonly #filteredReads = new Map<string, Database.Statement<unknown[], PageRow>>();
  readonly #appendTransaction: Database.Transaction<
    (tenant: string, events: readonly Event[], checked: CheckedEvents | undefined) => AppendDecision
  >;
  readonly #readTransaction: Database.Transaction<
    (tenant: string, since: number, limit: number, filter: readonly FilterClause[]) => RowPage
  >;
  #closed = false;

  /** Opens (and creates or migrates) the database. @throws SyncError `invalid_input`, `storage` */
  constructor(options: SqliteEventStoreOptions) {
    const settings = resolveOptions(options);
    this.#limits = settings.limits;
    this.#maxReadLimit = settings.maxReadLimit;
    this.#ownsDatabase = options.database === undefined;
    let db: Database.Database | undefined;
    try {
      db = options.database ?? new Database(options.path, { timeout: settings.busyTimeoutMs });
      db.pragma(`busy_timeout = ${settings.busyTimeoutMs}`);
      const mode = db.pragma('journal_mode = WAL', { simple: true }) as string;
      if (mode !== 'wal' && !db.memory) {
        throw new SyncError('storage', `The SQLite database could not switch to WAL mode (it is in ${mode} mode)`);
      }
      db.pragma(`synchronous = ${settings.synchronous}`);
      migrate(db);
      this.#statements = prepareStatements(db);
    } catch (error) {
      if (this.#ownsDatabase && db?.open) db.close();
      const where = options.path === undefined ? 'the given database' : options.path;
      throw toSyncError(error, `open ${where} as`, 'storage');
    }
    this.#db = db;
    this.#appendTransaction = db.transaction((tenant, events, checked) =>
      this.#appendInTransaction(tenant, events, checked),
    );
    this.#readTransaction = db.transaction((tenant, since, limit, filter) =>
      this.#readInTransaction(tenant, since, limit, filter),
    );
  }

  async append(tenant: string, events: readonly Event[], options?: AppendOptions): Promise<AppendResult[]> {
    this.#enter(tenant, options);
    if (!Array.isArray(events)) {
      throw new SyncError('invalid_input', 'append takes an array of events', { details: { field: 'events' } });
    }
    if (events.length === 0) return [];
    let decision: AppendDecision;
    try {
      decision = this.#appendTransaction.immediate(tenant, events, options?.checked);
    } catch (error) {
      throw toSyncError(error, 'append to');
    }
    const last = decision.accepted.at(-1);
    if (last) this.#listeners.notify({ tenant, latest: last.version });
    return decision.results;
  }

  async read(tenant: string, options: ReadOptions = {}): Promise<EventPage> {
    const page = this.#readRows(tenant, options);
    return { events: page.rows.map(toVersionedEvent), next: page.next, hasMore: page.hasMore };
  }

  /**
   * The page {@link SqliteEventStore.read} returns, each event as the JSON text stored for it (what
   * `checkedEventJson` made when it was appended): no parse, for a server writing the page out as JSON.
   */
  async readJson(tenant: string, options: ReadOptions = {}): Promise<JsonEventPage> {
    const page = this.#readRows(tenant, options);
    return { rows: page.rows.map(toJsonRow), next: page.next, hasMore: page.hasMore };
  }

  #readRows(tenant: string, options: ReadOptions): RowPage {
    this.#enter(tenant, options);
    const since = options.since ?? CursorVersion.ZERO;
    if (!(since instanceof CursorVersion)) {
      throw new SyncError('invalid_input', 'since must be a CursorVersion', { details: { field: 'since' } });
    }
    const limit = Math.min(checkLimit(options.limit ?? DEFAULT_READ_LIMIT), this.#maxReadLimit);
    const filter = filterClauses(options.filter);
    try {
      return this.#readTransaction(tenant, since.value, limit, filter);
    } catch (error) {
      throw toSyncError(error, 'read');
    }
  }

  async latestVersion(tenant: string, options?: SignalOptions): Promise<CursorVersion> {
    this.#enter(tenant, options);
    try {
      return CursorVersion.of(this.#latest(tenant));
    } catch (error) {
      throw toSyncError(error, 'read');
    }
  }

  subscribe(listener: (notice: AppendNotice) => void): () => void {
    if (this.#closed) throw closedError();
    return this.#listeners.add(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    if (this.#ownsDatabase && this.#db.open) {
      try {
        this.#db.close();
      } catch (error) {
        throw toSyncError(error, 'close');
      }
    }
  }

  #appendInTransaction(tenant: string, events: readonly Event[], checked: CheckedEvents | undefined): AppendDecision {
    const statements = this.#statements;
    const latest = this.#latest(tenant);
    const lookup = latest === 0 ? EMPTY_LOG : this.#prefetch(tenant, events, latest);
    const decision = decideAppend(tenant, events, latest, lookup, this.#limits, checked);
    const { accepted } = decision;
    if (accepted.length === 0) return decision;
    const { insert } = statements;
    for (const { event, version, json } of accepted) {
      insert.run(tenant, version.value, event.id, event.aggregateId, event.type, event.metadata.clientId, json);
    }
    statements.setLatest.run(tenant, accepted.at(-1)!.version.value);
    return decision;
  }

  /**
   * Reads, inside the append's transaction, what `decideAppend` will ask about, in a few queries
   * whatever the batch's size: the batch's ids already stored, and for each writer (client) of the
   * batch, the aggregates it writes to that another client wrote to after the writer's base, with
   * their latest write. Nothing is written before `decideAppend` returns, so the answers hold for the
   * whole batch.
   *
   * A writer's base is its lowest `baseVersion` in the batch: another client's latest write to an
   * aggregate after that base is after an event's own (higher) base exactly when some other client
   * wrote there after it. When the log since that base is short next to the batch (a client pushing
   * what it just made), one scan of that stretch of the log answers for all of the writer's
   * aggregates; otherwise each aggregate is looked up in its index.
   */
  #prefetch(tenant: string, events: readonly Event[], latest: number): AppendLookup {
    const statements = this.#statements;
    const ids = new Set<string>();
    const writers = new Map<string, Writer>();
    for (const candidate of events as readonly unknown[]) {
      const event = candidate as Partial<Event> | null;
      if (typeof event !== 'object' || event === null) continue;
      const { id, aggregateId, metadata } = event;
      if (typeof id === 'string' && ULID_PATTERN.test(id)) ids.add(id);
      const clientId: unknown = metadata?.clientId;
      const base = Number(metadata?.baseVersion);
      if (typeof aggregateId !== 'string' || typeof clientId !== 'string' || !Number.isFinite(base)) continue;
      // Clamped into the stored range: no stored event is after a base past the latest cursor.
      const clamped = Math.max(0, Math.min(Math.floor(base), latest));
      let writer = writers.get(clientId);
      if (!writer) writers.set(clientId, (writer = { base: clamped, aggregates: new Map() }));
      else if (clamped < writer.base) writer.base = clamped;
      const known = writer.aggregates.get(aggregateId);
      if (known === undefined || clamped < known) writer.aggregates.set(aggregateId, clamped);
    }
    const stored = new Map<string, EventRow>();
    if (ids.size > 0) {
      for (const row of statements.byIds.all(JSON.stringify([...ids]), tenant)) stored.set(row.id, row);
    }
    // Per writer, then aggregate: the latest write of another client after the base the answer holds
    // from, and the aggregate's latest write. An aggregate without an entry has no such write.
    const answers = new Map<string, { readonly from: number; readonly foreign: Map<string, ForeignWrite> }>();
    const lookups: [aggregateId: string, clientId: string, base: number][] = [];
    for (const [clientId, writer] of writers) {
      const foreign = new Map<string, ForeignWrite>();
      if (writers.size <= MAX_SCANNED_WRITERS && latest - writer.base <= SCAN_PER_AGGREGATE * writer.aggregates.size) {
        for (const row of statements.foreignSince.all(tenant, writer.base, clientId)) {
          if (!writer.aggregates.has(row.aggregate_id)) continue;
          const last = statements.aggregateLatest.get(tenant, row.aggregate_id);
          foreign.set(row.aggregate_id, { foreign: row.foreign, latest: last?.latest ?? row.foreign });
        }
        answers.set(clientId, { from: writer.base, foreign });
      } else {
        for (const [aggregateId, base] of writer.aggregates) lookups.push([aggregateId, clientId, base]);
        answers.set(clientId, { from: -1, foreign });
      }
    }
    if (lookups.length > 0) {
      for (const row of statements.foreignWrites.all({ tenant, writers: JSON.stringify(lookups) })) {
        const [aggregateId, clientId] = lookups[row.i]!;
        answers.get(clientId)!.foreign.set(aggregateId, row);
      }
    }
    return {
      existing: (id) => {
        const row = stored.get(id);
        return row && { event: parseEvent(row.json), version: CursorVersion.of(row.seq) };
      },
      foreignAfter: (aggregateId, baseVersion, clientId) => {
        const answer = answers.get(clientId);
        const from = answer?.from === -1 ? writers.get(clientId)?.aggregates.get(aggregateId) : answer?.from;
        if (answer === undefined || from === undefined || baseVersion < from) {
          // Not foreseen by the prefetch (decideAppend asks only about valid events, which it saw): ask.
          const row = statements.foreignAfter.get(clientId, tenant, aggregateId, baseVersion);
          return row?.foreign ? (row.latest ?? undefined) : undefined;
        }
        const write = answer.foreign.get(aggregateId);
        return write !== undefined && write.foreign > baseVersion ? write.latest : undefined;
      },
    };
  }

  #readInTransaction(tenant: string, since: number, limit: number, filter: readonly FilterClause[]): RowPage {
    if (filter.length === 0) {
      // One more row than asked for says whether the log goes on.
      const rows = this.#statements.page.all(tenant, since, limit + 1);
      if (rows.length === 0) checkSince(since, this.#latest(tenant));
      const page = rows.length > limit ? rows.slice(0, limit) : rows;
      return { rows: page, next: CursorVersion.of(page.at(-1)?.[0] ?? since), hasMore: rows.length > limit };
    }
    const rows = this.#filteredRead(filter).all(tenant, since, ...filter.flatMap((clause) => clause.values), limit);
    if (rows.length === limit) {
      // A full page stops at its last event; the log may go on past it, matching or not.
      const last = rows.at(-1)![0];
      return { rows, next: CursorVersion.of(last), hasMore: this.#statements.after.get(tenant, last) !== undefined };
    }
    // A short page scanned the whole log: the next read starts at its end, past what the filter skipped.
    const latest = this.#latest(tenant);
    checkSince(since, latest);
    return { rows, next: CursorVersion.of(Math.max(latest, since)), hasMore: false };
  }

  #filteredRead(filter: readonly FilterClause[]): Database.Statement<unknown[], PageRow> {
    const key = filter.map((clause) => clause.key).join('&');
    let statement = this.#filteredReads.get(key);
    if (!statement) {
      const where = filter.map((clause) => ` AND ${clause.sql}`).join('');
      // Without statistics SQLite would scan the tenant's log even for one aggregate: name the index.
      const index = filter.some((clause) => clause.key.startsWith('aggregateId'))
        ? 'INDEXED BY events_tenant_aggregate'
        : '';
      statement = this.#db
        .prepare<unknown[], PageRow>(
          `SELECT seq, json FROM events ${index} WHERE tenant = ? AND seq > ?${where} ORDER BY seq LIMIT ?`,
        )
        .raw();
      this.#filteredReads.set(key, statement);
    }
    return statement;
  }

  #latest(tenant: string): number {
    return this.#statements.latest.get(tenant)?.latest ?? 0;
  }

  #enter(tenant: string, options: SignalOptions | undefined): void {
    if (this.#closed) throw closedError();
    const signal = options?.signal;
    if (signal?.aborted) {
      throw signal.reason === undefined ? new SyncError('aborted', 'The operation was aborted') : signal.reason;
    }
    checkTenant(tenant);
  }
}

function prepareStatements(db: Database.Database) {
  return {
    latest: db.prepare<[string], { latest: number }>('SELECT latest FROM tenants WHERE tenant = ?'),
    setLatest: db.prepare<[string, number]>(
      'INSERT INTO tenants (tenant, latest) VALUES (?, ?) ON CONFLICT (tenant) DO UPDATE SET latest = excluded.latest',
    ),
    // The batch's ids drive the loop; each is one seek in the (tenant, id) index.
    byIds: db.prepare<[string, string], EventRow & { id: string }>(
      `SELECT e.id, e.seq, e.json FROM json_each(?) AS j CROSS JOIN events AS e INDEXED BY events_tenant_id
        WHERE e.tenant = ? AND e.id = j.value`,
    ),
    // Per aggregate written to by another client than the given one after a cursor: its latest such write.
    // A range of the primary key, whatever the statistics say: `+aggregate_id` keeps the planner from
    // walking the tenant's whole (tenant, aggregate_id) index to save the GROUP BY's sort, which it
    // chose once ANALYZE had run.
    foreignSince: db.prepare<[string, number, string], { aggregate_id: string; foreign: number }>(
      `SELECT aggregate_id, MAX(seq) AS "foreign" FROM events
        WHERE tenant = ? AND seq > ? AND client_id <> ? GROUP BY +aggregate_id`,
    ),
    aggregateLatest: db.prepare<[string, string], { latest: number | null }>(
      'SELECT MAX(seq) AS latest FROM events INDEXED BY events_tenant_aggregate WHERE tenant = ? AND aggregate_id = ?',
    ),
    // Per [aggregate, writer, base] of the JSON array `writers` (numbered from 0) that another client
    // wrote to after the base: the latest such write, and the aggregate's latest write. Writers with
    // no such write (the usual case) make no row.
    foreignWrites: db.prepare<[{ tenant: string; writers: string }], { i: number; foreign: number; latest: number }>(
      `WITH w AS MATERIALIZED (
         SELECT p.key AS i, p.value ->> 0 AS aggregate_id,
                (SELECT MAX(e.seq) FROM events AS e INDEXED BY events_tenant_aggregate
                  WHERE e.tenant = @tenant AND e.aggregate_id = p.value ->> 0 AND e.seq > p.value ->> 2
                    AND e.client_id <> p.value ->> 1) AS "foreign"
           FROM json_each(@writers) AS p)
       SELECT i, "foreign",
              (SELECT MAX(seq) FROM events INDEXED BY events_tenant_aggregate
                WHERE tenant = @tenant AND aggregate_id = w.aggregate_id) AS latest
         FROM w WHERE "foreign" IS NOT NULL`,
    ),
    foreignAfter: db.prepare<[string, string, string, number], { latest: number | null; foreign: number | null }>(
      `SELECT MAX(seq) AS latest, MAX(client_id <> ?) AS "foreign"
         FROM events INDEXED BY events_tenant_aggregate WHERE tenant = ? AND aggregate_id = ? AND seq > ?`,
    ),
    insert: db.prepare<[string, number, string, string, string, string, string]>(
      'INSERT INTO events (tenant, seq, id, aggregate_id, type, client_id, json) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    page: db
      .prepare<[string, number, number], PageRow>(
        'SELECT seq, json FROM events WHERE tenant = ? AND seq > ? ORDER BY seq LIMIT ?',
      )
      .raw(),
    after: db.prepare<[string, number], { one: number }>(
      'SELECT 1 AS one FROM events WHERE tenant = ? AND seq > ? LIMIT 1',
    ),
  };
}

function resolveOptions(options: SqliteEventStoreOptions) {
  if (typeof options !== 'object' || options === null) {
    throw new SyncError('invalid_input', 'SqliteEventStore takes an options object with a path or a database');
  }
  const settings = { ...DEFAULT_SQLITE_EVENT_STORE_OPTIONS, ...definedOnly(options) };
  if ((options.path === undefined) === (options.database === undefined)) {
    throw new SyncError('invalid_input', 'Give SqliteEventStore either a path or an open database, not both', {
      details: { field: options.path === undefined ? 'path' : 'database' },
    });
  }
  if (options.path !== undefined && (typeof options.path !== 'string' || options.path === '')) {
    throw new SyncError('invalid_input', 'path must be a non-empty string', { details: { field: 'path' } });
  }
  if (!SYNCHRONOUS_LEVELS.includes(settings.synchronous)) {
    throw new SyncError('invalid_input', `synchronous must be one of ${SYNCHRONOUS_LEVELS.join(', ')}`, {
      details: { field: 'synchronous' },
    });
  }
  if (!Number.isSafeInteger(settings.busyTimeoutMs) || settings.busyTimeoutMs < 0) {
    throw new SyncError('invalid_input', 'busyTimeoutMs must be a non-negative integer', {
      details: { field: 'busyTimeoutMs' },
    });
  }
  checkLimit(settings.maxReadLimit, 'maxReadLimit');
  return settings;
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) as Partial<T>;
}

function checkLimit(limit: number, field = 'limit'): number {
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new SyncError('invalid_input', `${field} must be a positive integer, got ${String(limit)}`, {
      details: { field },
    });
  }
  return limit;
}

/** The SQL conditions of a filter; `tenant` in it is ignored, the store is scoped already. */
function filterClauses(filter: Filter | undefined): FilterClause[] {
  if (filter === undefined) return [];
  if (typeof filter !== 'object' || filter === null) {
    throw new SyncError('invalid_input', 'filter must be an object', { details: { field: 'filter' } });
  }
  const clauses: FilterClause[] = [];
  for (const [field, column] of [
    ['type', 'type'],
    ['aggregateId', 'aggregate_id'],
  ] as const) {
    const wanted: unknown = filter[field];
    if (wanted === undefined) continue;
    if (typeof wanted === 'string') {
      clauses.push({ key: `${field}=`, sql: `${column} = ?`, values: [wanted] });
    } else if (Array.isArray(wanted) && wanted.every((item) => typeof item === 'string')) {
      clauses.push({
        key: `${field}[]`,
        sql: `${column} IN (SELECT value FROM json_each(?))`,
        values: [JSON.stringify(wanted)],
      });
    } else {
      throw new SyncError('invalid_input', `filter.${field} must be a string or a list of strings`, {
        details: { field: `filter.${field}` },
      });
    }
  }
  return clauses;
}

/** One writer (client) of a batch: its lowest base, and per aggregate it writes to, its lowest base there. */
interface Writer {
  base: number;
  readonly aggregates: Map<string, number>;
}

/** Another client's latest write to an aggregate after a base, and the aggregate's latest write. */
interface ForeignWrite {
  readonly foreign: number;
  readonly latest: number;
}

/**
 * A scan of the log since a writer's base reads about 20 times as many events per millisecond as
 * lookups of an aggregate each: scan when the stretch holds at most this many events per aggregate.
 */
const SCAN_PER_AGGREGATE = 8;

/** Past this many writers (clients) in one batch, aggregates are looked up one by one. */
const MAX_SCANNED_WRITERS = 4;

/** The lookup of a tenant with no events yet: nothing is stored, nobody wrote anything. */
const EMPTY_LOG: AppendLookup = { existing: () => undefined, foreignAfter: () => undefined };

/** Stored events are plain JSON: `JSON.parse` makes a `__proto__` key an own property, never a prototype. */
function parseEvent(json: string): Event {
  return JSON.parse(json) as Event;
}

function toVersionedEvent(row: PageRow): VersionedEvent {
  return { event: parseEvent(row[1]), version: CursorVersion.of(row[0]) };
}

function toJsonRow(row: PageRow): { json: string; version: CursorVersion } {
  return { json: row[1], version: CursorVersion.of(row[0]) };
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

function closedError(): SyncError {
  return new SyncError('closed', 'The SQLite event store is closed');
}
