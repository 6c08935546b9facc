import { CursorVersion, SyncError, type AppendNotice, type ServerEventLog, type SignalOptions } from '@eventsync/core';
import { encodeStreamBatch, formatStreamMessage } from '@eventsync/http';
import { SseSubscriber, type StreamPage } from './sse-subscriber.js';

const encoder = new TextEncoder();

/** Options of the `/v1/stream` broker. */
export interface SseOptions {
  /**
   * How often a quiet stream gets a `: heartbeat` comment, in milliseconds.
   *
   * @defaultValue 15000
   */
  readonly heartbeatMs?: number;
  /**
   * The `retry:` sent first: how long an `EventSource` waits before reconnecting, in milliseconds.
   *
   * @defaultValue 2000
   */
  readonly retryMs?: number;
  /**
   * How many messages may wait unsent for one subscriber before it is cut off (it then reconnects
   * from its last id and misses nothing).
   *
   * @defaultValue 64
   */
  readonly maxQueuedBatches?: number;
  /**
   * The most events in one `events` message.
   *
   * @defaultValue 500
   */
  readonly batchSize?: number;
}

/** The defaults of {@link SseOptions}. */
export const DEFAULT_SSE_OPTIONS: Required<SseOptions> = {
  heartbeatMs: 15_000,
  retryMs: 2_000,
  maxQueuedBatches: 64,
  batchSize: 500,
};

/** The broker's counters. */
export interface BrokerStats {
  /** Streams open now. */
  readonly subscribers: number;
  /** `events` messages queued to subscribers since the broker started (one per batch per subscriber). */
  readonly published: number;
  /** Subscribers cut off for falling behind. */
  readonly disconnected: number;
}

/**
 * Fans the server log's appends out to `/v1/stream` subscribers, per tenant.
 *
 * Driven by `store.subscribe` notices, never by polling: on a notice, each subscriber of the tenant
 * reads the events after its own cursor and queues them. Subscribers at the same cursor share one read
 * of the log and one encoded message. A subscriber that falls too far behind is cut off rather than
 * skipped (see {@link SseSubscriber}).
 *
 * @example
 * ```ts
 * const broker = new SseBroker(store, { heartbeatMs: 15_000 });
 * const body = await broker.open('acme', CursorVersion.parse('42'));
 * return new Response(body, { headers: { 'Content-Type': 'text/event-stream' } });
 * ```
 */
export class SseBroker {
  readonly #store: ServerEventLog;
  readonly #options: Required<SseOptions>;
  readonly #onError: (error: unknown) => void;
  readonly #tenants = new Map<string, Set<SseSubscriber>>();
  /** Reads in progress, by tenant and cursor, so subscribers woken together read the log once. */
  readonly #reads = new Map<string, Promise<StreamPage>>();
  #unsubscribe: (() => void) | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #subscribers = 0;
  #published = 0;
  #disconnected = 0;
  #closed = false;

  /**
   * @param onError - told when reading the log for a subscriber fails (the stream then ends).
   * @throws SyncError `invalid_input` for an option that is not a positive integer.
   */
  constructor(store: ServerEventLog, options: SseOptions = {}, onError: (error: unknown) => void = () => undefined) {
    this.#store = store;
    const resolved: { -readonly [K in keyof SseOptions]-?: number } = { ...DEFAULT_SSE_OPTIONS };
    for (const key of Object.keys(DEFAULT_SSE_OPTIONS) as (keyof SseOptions)[]) {
      const value = options[key];
      if (value === undefined) continue;
      if (!Number.isSafeInteger(value) || value < (key === 'retryMs' ? 0 : 1)) {
        throw new SyncError('invalid_input', `sse.${key} must be a positive integer, got ${String(value)}`, {
          details: { field: `sse.${key}` },
        });
      }
      resolved[key] = value;
    }
    this.#options = resolved;
    this.#onError = onError;
  }

  /** The counters: subscribers now, batches published, subscribers cut off. */
  get stats(): BrokerStats {
    return { subscribers: this.#subscribers, published: this.#published, disconnected: this.#disconnected };
  }

  /** The options in force, defaults filled in. */
  get options(): Required<SseOptions> {
    return this.#options;
  }

  /**
   * Opens a stream of the tenant's log after `since` (after its latest version when absent): the body
   * of a `text/event-stream` response. The stream ends when the reader cancels it, when it falls
   * behind, when `signal` fires (the client went away), or when the broker closes.
   *
   * @throws SyncError `closed` once the broker is closed; the store's errors reading the latest version.
   */
  async open(tenant: string, since?: CursorVersion, options: SignalOptions = {}): Promise<ReadableStream<Uint8Array>> {
    if (this.#closed) throw new SyncError('closed', 'The stream broker is closed');
    this.#listen();
    const subscriber = new SseSubscriber({
      tenant,
      read: (since) => this.#read(tenant, since),
      maxQueuedBatches: this.#options.maxQueuedBatches,
      published: () => {
        this.#published++;
      },
      ended: (ended, cutOff) => {
        options.signal?.removeEventListener('abort', onAbort);
        this.#remove(ended, cutOff);
      },
      failed: (error) => this.#onError(error),
    });
    const onAbort = (): void => subscriber.close();
    options.signal?.addEventListener('abort', onAbort);
    // Registered before the start is read, so no append between the two goes unnoticed.
    let subscribers = this.#tenants.get(tenant);
    if (!subscribers) this.#tenants.set(tenant, (subscribers = new Set()));
    subscribers.add(subscriber);
    this.#subscribers++;
    this.#startHeartbeat();
    try {
      if (options.signal?.aborted) throw options.signal.reason;
      const start = since ?? (await this.#store.latestVersion(tenant));
      if (this.#closed) throw new SyncError('closed', 'The stream broker is closed');
      subscriber.start(start, this.#options.retryMs);
    } catch (error) {
      subscriber.close();
      throw error;
    }
    return subscriber.stream;
  }

  /** Ends every stream and stops listening to the log. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    for (const subscribers of [...this.#tenants.values()]) {
      for (const subscriber of [...subscribers]) subscriber.close();
    }
    this.#stopHeartbeat();
  }

  #read(tenant: string, since: number): Promise<StreamPage> {
    const key = `${since} ${tenant}`;
    let read = this.#reads.get(key);
    if (!read) {
      read = this.#store
        .read(tenant, { since: CursorVersion.of(since), limit: this.#options.batchSize })
        .then((page): StreamPage => {
          const last = page.events.at(-1);
          return last
            ? {
                message: encoder.encode(formatStreamMessage(encodeStreamBatch({ events: page.events }))),
                last: last.version.value,
                next: page.next.value,
                hasMore: page.hasMore,
              }
            : { next: page.next.value, hasMore: page.hasMore };
        })
        .finally(() => this.#reads.delete(key));
      this.#reads.set(key, read);
    }
    return read;
  }

  #listen(): void {
    this.#unsubscribe ??= this.#store.subscribe((notice: AppendNotice) => {
      const subscribers = this.#tenants.get(notice.tenant);
      if (!subscribers) return;
      for (const subscriber of subscribers) subscriber.notify(notice.latest.value);
    });
  }

  #remove(subscriber: SseSubscriber, cutOff: boolean): void {
    const subscribers = this.#tenants.get(subscriber.tenant);
    if (!subscribers?.delete(subscriber)) return;
    if (subscribers.size === 0) this.#tenants.delete(subscriber.tenant);
    this.#subscribers--;
    if (cutOff) this.#disconnected++;
    if (this.#subscribers === 0) this.#stopHeartbeat();
  }

  #startHeartbeat(): void {
    if (this.#heartbeat !== undefined) return;
    this.#heartbeat = setInterval(() => {
      for (const subscribers of this.#tenants.values()) {
        for (const subscriber of subscribers) subscriber.heartbeat();
      }
    }, this.#options.heartbeatMs);
    // A quiet stream must not keep a Node process alive on its own.
    (this.#heartbeat as { unref?: () => void }).unref?.();
  }

  #stopHeartbeat(): void {
    if (this.#heartbeat === undefined) return;
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
  }
}
