import Database from 'better-sqlite3';
import {
  AppendListeners,
  checkTenant,
  CursorVersion,
  DEFAULT_EVENT_LIMITS,
  DEFAULT_READ_LIMIT,
  SyncError,
  type AppendNotice,
  type AppendOptions,
  type AppendResult,
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
import { appendResults, prepareBatch, type AppendAnswer, type PreparedBatch } from './append-batch.js';
import { migrate } from './schema.js';
import { createAppendTransaction, type AppendTransaction } from './sqlite-append.js';
import { toSyncError } from './sqlite-errors.js';
import { abortReason, WriterThread } from './writer-thread.js';
import { configureConnection } from './connection.js';

/** SQLite's `PRAGMA synchronous` levels; see https://sqlite.org/pragma.html#pragma_synchronous. */
export type SqliteSynchronous = 'OFF' | 'NORMAL' | 'FULL' | 'EXTRA';

const SYNCHRONOUS_LEVELS: readonly SqliteSynchronous[] = ['OFF', 'NORMAL', 'FULL', 'EXTRA'];

/**
 * Where a {@link SqliteEventStore} runs its appends' transactions: `'thread'` on a worker thread of its
 * own, with a connection of its own, so the caller's event loop stays free while a batch is decided,
 * written and synced to disk; `'inline'` on the caller's thread, which each append blocks until it has
 * committed.
 */
export type SqliteWriter = 'thread' | 'inline';

const WRITERS: readonly SqliteWriter[] = ['thread', 'inline'];

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
  /**
   * Where appends run their transaction. `'thread'`: events are validated on the caller's thread,
   * then a worker thread with its own connection to the file (opened with the same pragmas) decides
   * the batch, writes it and commits, while the caller's event loop goes on (a sync server parses and
   * checks the next push meanwhile); several appends may be pending, and the thread runs them one
   * after another in call order. `'inline'`: each append runs its whole transaction on the caller's
   * thread, which blocks until the commit is on disk (about 9 ms for 1,000 events).
   *
   * Either way the results are the same, appends resolve in call order and listeners hear of them
   * after the commit, on the caller's thread. `'thread'` needs a file: it is refused with `':memory:'`
   * and with `database`. It runs `dist/sqlite-writer-thread.js` of this package, so a copy of the
   * package that was not built (`pnpm build`) fails to open with `SyncError('storage')` saying so.
   *
   * @defaultValue `'thread'` for a `path` other than `':memory:'`, `'inline'` for `':memory:'` and for `database`
   */
  readonly writer?: SqliteWriter;
}

/**
 * The defaults of {@link SqliteEventStoreOptions}. {@link SqliteEventStoreOptions.writer} is not here:
 * its default depends on `path` and `database`.
 */
export const DEFAULT_SQLITE_EVENT_STORE_OPTIONS = {
  /** The default {@link SqliteEventStoreOptions.synchronous}: every commit synced to disk. */
  synchronous: 'FULL',
  /** The default {@link SqliteEventStoreOptions.busyTimeoutMs}, in milliseconds: 5 s. */
  busyTimeoutMs: 5000,
  /** The default {@link SqliteEventStoreOptions.limits}: core's `DEFAULT_EVENT_LIMITS` (64 KiB per event). */
  limits: DEFAULT_EVENT_LIMITS,
  /** The default {@link SqliteEventStoreOptions.maxReadLimit}, in events: 10000. */
  maxReadLimit: 10_000,
} as const satisfies Required<Omit<SqliteEventStoreOptions, 'path' | 'database' | 'writer'>>;

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
 * With a file, appends run on a writer thread of the store's own (see
 * {@link SqliteEventStoreOptions.writer}): the events are validated on the caller's thread, the
 * transaction runs on the writer's connection, and reads stay on the caller's. Appends resolve in
 * call order. An append's `signal` counts until the append is handed to the writer thread (at once,
 * or when the appends before it leave it room): aborted before, the append rejects with the signal's
 * reason and writes nothing; after, it runs to its end.
 *
 * Listeners hear of appends made through this instance, after they committed, in append order.
 *
 * The writer thread starts with the store and opens its connection in the background; appends made
 * meanwhile wait for it. {@link SqliteEventStore.open} (or {@link start}) waits for it, so that a
 * server fails when it starts rather than on its first push, and the first push does not wait.
 *
 * @example
 * ```ts
 * const store = await SqliteEventStore.open({ path: './data/eventsync.db' });
 * const [result] = await store.append('acme', [event]);
 * const page = await store.read('acme', { since: CursorVersion.ZERO, limit: 500 });
 * await store.close();
 * ```
 */
export class SqliteEventStore implements ServerEventLog {
  /**
   * Constructs a store and waits until it can append at once (see {@link start}); on failure, closes
   * what it opened.
   *
   * @throws SyncError `invalid_input`, `storage`
   */
  static async open(options: SqliteEventStoreOptions): Promise<SqliteEventStore> {
    const store = new SqliteEventStore(options);
    try {
      await store.start();
    } catch (error) {
      await store.close().catch(() => undefined);
      throw error;
    }
    return store;
  }

  readonly #db: Database.Database;
  readonly #ownsDatabase: boolean;
  readonly #limits: EventLimits;
  readonly #maxReadLimit: number;
  readonly #listeners = new AppendListeners();
  readonly #statements: ReturnType<typeof prepareReadStatements>;
  readonly #filteredReads = new Map<string, Database.Statement<unknown[], PageRow>>();
  /** `writer: 'inline'`: the append's transaction, on this connection. */
  readonly #appendInline: AppendTransaction | undefined;
  /** `writer: 'thread'`: the thread that runs the appends' transactions. */
  readonly #writerThread: WriterThread | undefined;
  readonly #readTransaction: Database.Transaction<
    (tenant: string, since: number, limit: number, filter: readonly FilterClause[]) => RowPage
  >;
  #closed = false;
  #closing: Promise<void> | undefined;

  /**
   * Opens (and creates or migrates) the database, then in `writer: 'thread'` starts the writer thread.
   *
   * @throws SyncError `invalid_input`, `storage`
   */
  constructor(options: SqliteEventStoreOptions) {
    const settings = resolveOptions(options);
    this.#limits = settings.limits;
    this.#maxReadLimit = settings.maxReadLimit;
    this.#ownsDatabase = options.database === undefined;
    let db: Database.Database | undefined;
    try {
      db = options.database ?? new Database(options.path, { timeout: settings.busyTimeoutMs });
      configureConnection(db, settings);
      migrate(db);
      this.#statements = prepareReadStatements(db);
      if (settings.writer === 'thread') {
        this.#writerThread = new WriterThread({
          path: options.path!,
          synchronous: settings.synchronous,
          busyTimeoutMs: settings.busyTimeoutMs,
        });
      } else {
        this.#appendInline = createAppendTransaction(db);
      }
    } catch (error) {
      if (this.#ownsDatabase && db?.open) db.close();
      const where = options.path === undefined ? 'the given database' : options.path;
      throw toSyncError(error, `open ${where} as`, 'storage');
    }
    this.#db = db;
    this.#readTransaction = db.transaction((tenant, since, limit, filter) =>
      this.#readInTransaction(tenant, since, limit, filter),
    );
  }

  /** Where this store's appends run their transaction: see {@link SqliteEventStoreOptions.writer}. */
  get writer(): SqliteWriter {
    return this.#writerThread === undefined ? 'inline' : 'thread';
  }

  /**
   * Waits until appends can run at once: with `writer: 'thread'`, until the writer thread has opened
   * its connection to the file; at once with `writer: 'inline'`. Appends do not need it (they wait
   * for the thread themselves); a server calls it to fail at start, not on its first push. The
   * signal ends the wait, not the thread's start.
   *
   * @throws SyncError `storage` when the writer thread could not open its connection, or stopped
   *   since (appends then fail too); `closed` when the store is closed, or was closed meanwhile; the
   *   signal's reason when it fired
   */
  async start(options?: SignalOptions): Promise<void> {
    this.#checkOpen(options);
    const thread = this.#writerThread;
    if (thread === undefined) return;
    const signal = options?.signal;
    if (signal === undefined) {
      await thread.ready();
    } else {
      let onAbort: (() => void) | undefined;
      try {
        await Promise.race([
          thread.ready(),
          new Promise<never>((_, reject) => {
            onAbort = () => reject(abortReason(signal));
            signal.addEventListener('abort', onAbort, { once: true });
          }),
        ]);
      } finally {
        signal.removeEventListener('abort', onAbort!);
      }
    }
    if (this.#closed) throw closedError();
  }

  async append(tenant: string, events: readonly Event[], options?: AppendOptions): Promise<AppendResult[]> {
    this.#enter(tenant, options);
    if (!Array.isArray(events)) {
      throw new SyncError('invalid_input', 'append takes an array of events', { details: { field: 'events' } });
    }
    if (events.length === 0) return [];
    let batch: PreparedBatch;
    let answer: AppendAnswer;
    try {
      batch = prepareBatch(events, this.#limits, options?.checked);
      answer =
        this.#writerThread === undefined
          ? this.#appendInline!(tenant, batch.fields)
          : await this.#writerThread.append(tenant, batch.fields, options?.signal);
    } catch (error) {
      if (options?.signal?.aborted && error === options.signal.reason) throw error;
      throw toSyncError(error, 'append to');
    }
    const { results, latest } = appendResults(batch, answer);
    if (latest > 0) this.#listeners.notify({ tenant, latest: CursorVersion.of(latest) });
    return results;
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

  /**
   * Waits for the appends in flight, closes the writer thread's connection and ends the thread, then
   * closes the store's connection (unless it was given as `database`). Calls after the first wait
   * for it; every call but `close` then fails with `SyncError('closed')`.
   */
  async close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing.catch(() => {});
    this.#closed = true;
    this.#closing = this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    let failure: SyncError | undefined;
    try {
      await this.#writerThread?.close();
    } catch (error) {
      failure = toSyncError(error, 'close');
    }
    this.#listeners.clear();
    if (this.#ownsDatabase && this.#db.open) {
      try {
        this.#db.close();
      } catch (error) {
        failure ??= toSyncError(error, 'close');
      }
    }
    if (failure !== undefined) throw failure;
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
    this.#checkOpen(options);
    checkTenant(tenant);
  }

  #checkOpen(options: SignalOptions | undefined): void {
    if (this.#closed) throw closedError();
    if (options?.signal?.aborted) throw abortReason(options.signal);
  }
}

function prepareReadStatements(db: Database.Database) {
  return {
    latest: db.prepare<[string], { latest: number }>('SELECT latest FROM tenants WHERE tenant = ?'),
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
  // A writer thread opens the file again: a database in memory or given open has no file it could open.
  const fileless = options.database !== undefined || options.path === ':memory:';
  const writer = options.writer ?? (fileless ? 'inline' : 'thread');
  if (!WRITERS.includes(writer)) {
    throw new SyncError('invalid_input', `writer must be one of ${WRITERS.join(', ')}`, {
      details: { field: 'writer' },
    });
  }
  if (writer === 'thread' && fileless) {
    throw new SyncError(
      'invalid_input',
      `writer: 'thread' needs a path to a file: a writer thread cannot share ${options.database === undefined ? "a ':memory:' database" : 'a database given open'}`,
      { details: { field: 'writer' } },
    );
  }
  return { ...settings, writer };
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
