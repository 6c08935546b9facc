import type { Pool, PoolConfig } from 'pg';
import { DEFAULT_EVENT_LIMITS, SyncError, type EventLimits, type RetryOptions } from '@eventsync/core';
import type { ListenerTimers } from './notification-listener.js';

/** Options of {@link PostgresEventStore}. Give `connectionString` or `pool`, not both. */
export interface PostgresEventStoreOptions {
  /**
   * Where the database is, e.g. `postgres://eventsync:secret@db.internal:5432/app`. The store makes
   * its own pool (see `poolOptions`) and ends it in `close()`.
   */
  readonly connectionString?: string;
  /**
   * A pool of yours to use instead of `connectionString`. The store borrows connections from it and
   * leaves it open on `close()`: whoever made it ends it. Handle its `'error'` event (pg's advice for
   * every pool): the store only does so for pools it made. The listener does not take a connection
   * from it: it opens one of its own with the pool's settings (`pool.options`).
   */
  readonly pool?: Pool;
  /**
   * Settings of the pool the store makes from `connectionString` (only with it): `max` connections
   * (pg's default: 10), `idleTimeoutMillis`, `connectionTimeoutMillis`, `statement_timeout`, `ssl`…
   * The listener's own connection comes on top of `max`.
   *
   * @defaultValue `{ application_name: applicationName }`
   */
  readonly poolOptions?: Omit<PoolConfig, 'connectionString'>;
  /**
   * The schema that holds the store's tables (`tenants`, `events`, `migrations`); created on start
   * when missing. Lowercase letters, digits and `_`, starting with a letter or `_`, at most 63.
   *
   * @defaultValue `'eventsync'`
   */
  readonly schema?: string;
  /**
   * The LISTEN/NOTIFY channel that carries append notices between the nodes sharing the database.
   * Every node of one deployment must use the same; the notices name the schema, so stores over other
   * schemas of the same database ignore each other's. Same characters as `schema`.
   *
   * @defaultValue `'eventsync_appends'`
   */
  readonly channel?: string;
  /**
   * The `application_name` of the store's connections (the listener's is this plus `:listener`), as
   * `pg_stat_activity` shows them. With a `pool` of yours it names only the listener's connection: the
   * pool's connections keep the pool's settings.
   *
   * @defaultValue `'eventsync'`
   */
  readonly applicationName?: string;
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
   * How the listener waits between attempts to reconnect after losing its connection: exponential
   * backoff with jitter, reset once it listens again.
   *
   * @defaultValue `{ initialDelayMs: 100, maxDelayMs: 5000, factor: 2, jitter: 0.5 }`
   */
  readonly reconnect?: RetryOptions;
  /**
   * Milliseconds between `SELECT 1`s on the listener's connection, so that a connection that died
   * without a word (a firewall dropping it) is noticed and remade; 0 turns the check off.
   *
   * @defaultValue `30000`
   */
  readonly heartbeatMs?: number;
  /**
   * Told when the listener loses its connection or fails to reconnect (it keeps trying): for logs.
   *
   * @defaultValue nothing
   */
  readonly onListenerError?: (error: SyncError) => void;
  /**
   * The timers the listener's reconnects and heartbeats wait on (a `FakeClock` in tests).
   *
   * @defaultValue the global `setTimeout` and `clearTimeout`
   */
  readonly timers?: ListenerTimers;
}

/** The defaults of {@link PostgresEventStoreOptions}. */
export const DEFAULT_POSTGRES_EVENT_STORE_OPTIONS = {
  /** The default {@link PostgresEventStoreOptions.schema}: the store's tables live in `eventsync`. */
  schema: 'eventsync',
  /** The default {@link PostgresEventStoreOptions.channel}: the LISTEN/NOTIFY channel `eventsync_appends`. */
  channel: 'eventsync_appends',
  /** The default {@link PostgresEventStoreOptions.applicationName} (`eventsync:listener` for the listener). */
  applicationName: 'eventsync',
  /** The default {@link PostgresEventStoreOptions.limits}: core's `DEFAULT_EVENT_LIMITS` (64 KiB per event). */
  limits: DEFAULT_EVENT_LIMITS,
  /** The default {@link PostgresEventStoreOptions.maxReadLimit}, in events: 10000. */
  maxReadLimit: 10_000,
  /**
   * The default {@link PostgresEventStoreOptions.reconnect}: waits of 100 ms up to 5 s, shorter than
   * core's `DEFAULT_RETRY_OPTIONS` (1 s up to 60 s). A field left out of the option keeps its value here.
   */
  reconnect: {
    /** The wait before the first reconnection attempt, in milliseconds. */
    initialDelayMs: 100,
    /** The longest wait between attempts, in milliseconds. */
    maxDelayMs: 5000,
    /** Each wait is twice the one before, up to `maxDelayMs`. */
    factor: 2,
    /** Each wait is shortened by a random share of up to half, so nodes that lost the database together do not retry together. */
    jitter: 0.5,
  },
  /** The default {@link PostgresEventStoreOptions.heartbeatMs}: a `SELECT 1` on the listener's connection every 30 s. */
  heartbeatMs: 30_000,
} as const satisfies Required<
  Omit<PostgresEventStoreOptions, 'connectionString' | 'pool' | 'poolOptions' | 'onListenerError' | 'timers'>
>;

/** The options with the defaults filled in and checked. */
export interface ResolvedPostgresEventStoreOptions {
  readonly schema: string;
  readonly channel: string;
  readonly applicationName: string;
  readonly limits: EventLimits;
  readonly maxReadLimit: number;
  readonly reconnect: Required<RetryOptions>;
  readonly heartbeatMs: number;
}

const NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Fills in the defaults and refuses impossible combinations. @throws SyncError `invalid_input` */
export function resolveOptions(options: PostgresEventStoreOptions): ResolvedPostgresEventStoreOptions {
  if (typeof options !== 'object' || options === null) {
    throw invalid('options', 'PostgresEventStore takes an options object with a connectionString or a pool');
  }
  const given = definedOnly(options);
  if ((given.connectionString === undefined) === (given.pool === undefined)) {
    throw invalid(
      given.pool === undefined ? 'connectionString' : 'pool',
      'Give PostgresEventStore either a connectionString or a pool, not both',
    );
  }
  if (given.connectionString !== undefined && (typeof given.connectionString !== 'string' || !given.connectionString)) {
    throw invalid('connectionString', 'connectionString must be a non-empty string');
  }
  if (given.pool !== undefined && given.poolOptions !== undefined) {
    throw invalid(
      'poolOptions',
      'poolOptions configure the pool made from connectionString; set them on your own pool',
    );
  }
  const settings = { ...DEFAULT_POSTGRES_EVENT_STORE_OPTIONS, ...given };
  for (const field of ['schema', 'channel'] as const) {
    const value: unknown = settings[field];
    if (typeof value !== 'string' || !NAME.test(value)) {
      throw invalid(
        field,
        `${field} must be 1 to 63 lowercase letters, digits or _, not starting with a digit, got ${JSON.stringify(value)}`,
      );
    }
  }
  if (typeof settings.applicationName !== 'string' || settings.applicationName.length > 54) {
    throw invalid('applicationName', 'applicationName must be a string of at most 54 characters');
  }
  if (!Number.isSafeInteger(settings.maxReadLimit) || settings.maxReadLimit < 1) {
    throw invalid('maxReadLimit', `maxReadLimit must be a positive integer, got ${String(settings.maxReadLimit)}`);
  }
  if (!Number.isSafeInteger(settings.heartbeatMs) || settings.heartbeatMs < 0) {
    throw invalid('heartbeatMs', `heartbeatMs must be a non-negative integer, got ${String(settings.heartbeatMs)}`);
  }
  const reconnect = { ...DEFAULT_POSTGRES_EVENT_STORE_OPTIONS.reconnect, ...definedOnly(given.reconnect ?? {}) };
  const { initialDelayMs, maxDelayMs, factor, jitter } = reconnect;
  if (!(initialDelayMs > 0) || !(maxDelayMs >= initialDelayMs) || !(factor >= 1) || !(jitter >= 0 && jitter <= 1)) {
    throw invalid(
      'reconnect',
      `reconnect needs 0 < initialDelayMs <= maxDelayMs, factor >= 1 and 0 <= jitter <= 1, got ${JSON.stringify(given.reconnect)}`,
    );
  }
  return {
    schema: settings.schema,
    channel: settings.channel,
    applicationName: settings.applicationName,
    limits: settings.limits,
    maxReadLimit: settings.maxReadLimit,
    reconnect,
    heartbeatMs: settings.heartbeatMs,
  };
}

function invalid(field: string, message: string): SyncError {
  return new SyncError('invalid_input', message, { details: { field } });
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) as Partial<T>;
}
