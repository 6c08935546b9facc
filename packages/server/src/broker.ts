import {
  CursorVersion,
  isSyncError,
  SyncError,
  type AppendNotice,
  type ServerEventLog,
  type SignalOptions,
} from '@eventsync/core';
import {
  DISCONNECT_REASONS,
  type DisconnectReason,
  type EventBatch,
  type Subscriber,
  type SubscriberLink,
} from './subscriber.js';

/** Options of a {@link Broker}. */
export interface BrokerOptions {
  /**
   * How often a quiet subscriber gets a heartbeat, in milliseconds.
   *
   * @defaultValue 15000
   */
  readonly heartbeatMs?: number;
  /**
   * How many messages may wait unsent for one subscriber before it is cut off (it then reconnects
   * from its last cursor and misses nothing).
   *
   * @defaultValue 64
   */
  readonly maxQueuedBatches?: number;
  /**
   * The most events in one batch.
   *
   * @defaultValue 500
   */
  readonly batchSize?: number;
}

/** The defaults of {@link BrokerOptions}. */
export const DEFAULT_BROKER_OPTIONS: Required<BrokerOptions> = {
  heartbeatMs: 15_000,
  maxQueuedBatches: 64,
  batchSize: 500,
};

/** Options of {@link Broker.subscribe}. */
export interface SubscribeOptions extends SignalOptions {
  /**
   * Start after this cursor.
   *
   * @defaultValue the tenant's latest version (only new events)
   */
  readonly since?: CursorVersion;
}

/** A broker's counters, for all tenants or for one. */
export interface BrokerStats {
  /** Subscribers open now. */
  readonly subscribers: number;
  /** Batches handed to subscribers (one per batch per subscriber). */
  readonly published: number;
  /** Events in those batches. */
  readonly publishedEvents: number;
  /** Batches the subscribers' transports have written out. */
  readonly delivered: number;
  /** Subscribers cut off for falling behind (the same as `disconnectedBy.slow`). */
  readonly disconnected: number;
  /** Subscriptions ended, by reason; see {@link DisconnectReason}. */
  readonly disconnectedBy: Readonly<Record<DisconnectReason, number>>;
}

/** While catching up on history, the log is read this many messages ahead of the transport, no more. */
const READ_AHEAD = 2;

/**
 * Fans the server log's appends out to subscribers, per tenant, whatever their transport: the
 * `/v1/stream` Server-Sent Events ({@link SseBroker}) or your own {@link Subscriber}, such as a
 * WebSocket.
 *
 * Driven by `store.subscribe` notices, never by polling. Each subscriber has its own cursor: history
 * (what the log already holds after the start) is read at the transport's pace; once caught up, each
 * notice for its tenant reads the events after its cursor and hands them over as batches of at most
 * `batchSize`. Subscribers at the same cursor share one read of the log and receive the same batch
 * object. A subscriber whose transport leaves more than `maxQueuedBatches` messages unsent is cut off
 * (`slow`) rather than skipped: it resumes from its cursor and misses nothing. Events are never
 * skipped, dropped or sent twice within a subscription.
 *
 * @example
 * ```ts
 * const broker = new Broker(store, { heartbeatMs: 15_000 });
 * await broker.subscribe('acme', new WebSocketSubscriber(socket), { since: CursorVersion.parse('42') });
 * broker.stats; // { subscribers, published, publishedEvents, delivered, disconnected, disconnectedBy }
 * ```
 */
export class Broker {
  readonly #store: ServerEventLog;
  readonly #options: Required<BrokerOptions>;
  readonly #onError: (error: unknown) => void;
  readonly #tenants = new Map<string, Set<Channel>>();
  /** Reads in progress, by tenant and cursor, so subscribers woken together read the log once. */
  readonly #reads = new Map<string, Promise<Page>>();
  readonly #total = new Counters();
  readonly #byTenant = new Map<string, Counters>();
  #unsubscribe: (() => void) | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  /**
   * @param onError - told when reading the log for a subscriber, or its transport, fails (that
   *   subscription then ends as `error`).
   * @throws SyncError `invalid_input` for an option that is not a positive integer.
   */
  constructor(store: ServerEventLog, options: BrokerOptions = {}, onError: (error: unknown) => void = () => undefined) {
    this.#store = store;
    this.#options = resolvePositiveIntegers(DEFAULT_BROKER_OPTIONS, options, 'broker');
    this.#onError = onError;
  }

  /** The counters over all tenants. */
  get stats(): BrokerStats {
    return this.#total.snapshot();
  }

  /** The counters of each tenant that has had a subscriber since the broker started. */
  get statsByTenant(): Readonly<Record<string, BrokerStats>> {
    const stats: Record<string, BrokerStats> = {};
    for (const [tenant, counters] of this.#byTenant) stats[tenant] = counters.snapshot();
    return stats;
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Subscribes `subscriber` to the tenant's log after `since` (after its latest version when absent).
   * Resolves once the subscriber was opened at its start cursor; from then on it receives every
   * event after it, in order, until the client goes away, it falls behind, `signal` fires or the
   * broker closes.
   *
   * @throws SyncError `closed` once the broker is closed; the store's errors reading the latest
   *   version; `signal.reason` when aborted. The subscriber is then closed.
   */
  async subscribe(tenant: string, subscriber: Subscriber, options: SubscribeOptions = {}): Promise<void> {
    if (this.#closed) throw new SyncError('closed', 'The stream broker is closed');
    this.#listen();
    let counters = this.#byTenant.get(tenant);
    if (!counters) this.#byTenant.set(tenant, (counters = new Counters()));
    const channel = new Channel(tenant, subscriber, counters);
    const { signal } = options;
    const onAbort = (): void => this.#end(channel, 'closed');
    channel.release = () => signal?.removeEventListener('abort', onAbort);
    subscriber.attach(this.#linkOf(channel));
    signal?.addEventListener('abort', onAbort);
    // Registered before the start is read, so no append between the two goes unnoticed.
    let channels = this.#tenants.get(tenant);
    if (!channels) this.#tenants.set(tenant, (channels = new Set()));
    channels.add(channel);
    this.#total.subscribers++;
    counters.subscribers++;
    this.#startHeartbeat();
    try {
      signal?.throwIfAborted();
      const start = options.since ?? (await this.#store.latestVersion(tenant));
      if (this.#closed) throw new SyncError('closed', 'The stream broker is closed');
      if (channel.ended) return;
      channel.cursor = start.value;
      subscriber.open(start);
      this.#wake(channel);
    } catch (error) {
      this.#end(channel, signal?.aborted || isSyncError(error, 'closed') ? 'closed' : 'error');
      throw error;
    }
  }

  /** Ends every subscription (as `closed`) and stops listening to the log. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    for (const channels of [...this.#tenants.values()]) {
      for (const channel of [...channels]) this.#end(channel, 'closed');
    }
    this.#stopHeartbeat();
  }

  #linkOf(channel: Channel): SubscriberLink {
    const readAhead = (): void => {
      // A running pump checks the backlog itself before each read.
      if (channel.catchingUp && !channel.pumping && channel.subscriber.backlog < READ_AHEAD) this.#wake(channel);
    };
    return {
      delivered: () => {
        if (channel.ended) return;
        this.#total.delivered++;
        channel.counters.delivered++;
        readAhead();
      },
      ready: readAhead,
      closed: () => this.#end(channel, 'closed'),
      failed: (error) => {
        if (channel.ended) return;
        this.#report(error);
        this.#end(channel, 'error');
      },
    };
  }

  #wake(channel: Channel): void {
    if (channel.ended || channel.cursor < 0) return;
    if (channel.pumping) {
      channel.again = true;
      return;
    }
    void this.#pump(channel);
  }

  async #pump(channel: Channel): Promise<void> {
    channel.pumping = true;
    const { subscriber } = channel;
    try {
      do {
        channel.again = false;
        while (!channel.ended) {
          if (channel.catchingUp && subscriber.backlog >= READ_AHEAD) break; // the transport's next pull resumes
          const page = await this.#read(channel.tenant, channel.cursor);
          if (channel.ended) return;
          const { batch } = page;
          if (batch) {
            channel.cursor = batch.cursor.value;
            this.#total.published++;
            this.#total.publishedEvents += batch.events.length;
            channel.counters.published++;
            channel.counters.publishedEvents += batch.events.length;
            subscriber.deliver(batch);
            if (channel.ended) return;
            if (subscriber.backlog > this.#options.maxQueuedBatches) {
              this.#end(channel, 'slow');
              return;
            }
          } else if (page.hasMore && page.next > channel.cursor) {
            channel.cursor = page.next;
            continue;
          }
          if (!page.hasMore || !batch) {
            channel.catchingUp = false;
            break;
          }
        }
      } while (channel.again && !channel.ended);
    } catch (error) {
      if (!channel.ended) {
        this.#report(error);
        this.#end(channel, 'error');
      }
    } finally {
      channel.pumping = false;
    }
  }

  #read(tenant: string, since: number): Promise<Page> {
    const key = `${since} ${tenant}`;
    let read = this.#reads.get(key);
    if (!read) {
      read = this.#store
        .read(tenant, { since: CursorVersion.of(since), limit: this.#options.batchSize })
        .then((page): Page => {
          const last = page.events.at(-1);
          return last
            ? { batch: { events: page.events, cursor: last.version }, next: page.next.value, hasMore: page.hasMore }
            : { next: page.next.value, hasMore: page.hasMore };
        })
        .finally(() => this.#reads.delete(key));
      this.#reads.set(key, read);
    }
    return read;
  }

  #listen(): void {
    this.#unsubscribe ??= this.#store.subscribe((notice: AppendNotice) => {
      const channels = this.#tenants.get(notice.tenant);
      if (!channels) return;
      const latest = notice.latest.value;
      for (const channel of channels) {
        if (channel.cursor >= 0 && latest > channel.cursor) this.#wake(channel);
      }
    });
  }

  #end(channel: Channel, reason: DisconnectReason): void {
    if (channel.ended) return;
    channel.ended = true;
    channel.release();
    const channels = this.#tenants.get(channel.tenant);
    if (channels?.delete(channel) && channels.size === 0) this.#tenants.delete(channel.tenant);
    this.#total.ended(reason);
    channel.counters.ended(reason);
    if (this.#total.subscribers === 0) this.#stopHeartbeat();
    try {
      channel.subscriber.close(reason);
    } catch (error) {
      this.#report(error);
    }
  }

  #report(error: unknown): void {
    try {
      this.#onError(error);
    } catch {
      // A throwing onError must not break the broker.
    }
  }

  #startHeartbeat(): void {
    if (this.#heartbeat !== undefined) return;
    this.#heartbeat = setInterval(() => {
      for (const channels of this.#tenants.values()) {
        for (const channel of channels) this.#beat(channel);
      }
    }, this.#options.heartbeatMs);
    // A quiet stream must not keep a Node process alive on its own.
    (this.#heartbeat as { unref?: () => void }).unref?.();
  }

  #beat(channel: Channel): void {
    if (channel.ended || channel.cursor < 0 || channel.subscriber.backlog > 0) return;
    try {
      channel.subscriber.heartbeat();
    } catch (error) {
      this.#report(error);
      this.#end(channel, 'error');
    }
  }

  #stopHeartbeat(): void {
    if (this.#heartbeat === undefined) return;
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
  }
}

/** A page of the tenant's log after a cursor. */
interface Page {
  /** The page's events, when it has some. */
  readonly batch?: EventBatch;
  /** Where the next read starts. */
  readonly next: number;
  /** Whether the log goes on after `next`. */
  readonly hasMore: boolean;
}

/** One subscriber's place in the log. */
class Channel {
  /** The version of the last event handed over; -1 until the subscriber is opened. */
  cursor = -1;
  catchingUp = true;
  pumping = false;
  again = false;
  ended = false;
  release: () => void = () => undefined;

  constructor(
    readonly tenant: string,
    readonly subscriber: Subscriber,
    readonly counters: Counters,
  ) {}
}

class Counters {
  subscribers = 0;
  published = 0;
  publishedEvents = 0;
  delivered = 0;
  readonly disconnectedBy: Record<DisconnectReason, number> = { slow: 0, closed: 0, error: 0 };

  ended(reason: DisconnectReason): void {
    this.subscribers--;
    this.disconnectedBy[reason]++;
  }

  snapshot(): BrokerStats {
    const disconnectedBy = {} as Record<DisconnectReason, number>;
    for (const reason of DISCONNECT_REASONS) disconnectedBy[reason] = this.disconnectedBy[reason];
    return {
      subscribers: this.subscribers,
      published: this.published,
      publishedEvents: this.publishedEvents,
      delivered: this.delivered,
      disconnected: disconnectedBy.slow,
      disconnectedBy,
    };
  }
}

/**
 * Merges `options` over `defaults`, each a positive integer (`retryMs` may be 0).
 *
 * @throws SyncError `invalid_input` naming `<prefix>.<key>`.
 */
export function resolvePositiveIntegers<T extends object>(
  defaults: Required<T>,
  options: T,
  prefix: string,
): Required<T> {
  const resolved = { ...defaults } as Record<string, unknown>;
  for (const key of Object.keys(defaults)) {
    const value = (options as Record<string, unknown>)[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < (key === 'retryMs' ? 0 : 1)) {
      throw new SyncError(
        'invalid_input',
        `${prefix}.${key} must be a positive integer, got ${typeof value === 'number' ? value : JSON.stringify(value)}`,
        {
          details: { field: `${prefix}.${key}` },
        },
      );
    }
    resolved[key] = value;
  }
  return resolved as Required<T>;
}
