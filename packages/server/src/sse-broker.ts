import type { CursorVersion, ServerEventLog, SignalOptions } from '@eventsync/core';
import { Broker, DEFAULT_BROKER_OPTIONS, resolvePositiveIntegers, type BrokerOptions } from './broker.js';
import { SseSubscriber } from './sse-subscriber.js';

/** Options of the `/v1/stream` broker: the {@link BrokerOptions} and the `retry:` hint. */
export interface SseOptions extends BrokerOptions {
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
  heartbeatMs: DEFAULT_BROKER_OPTIONS.heartbeatMs,
  retryMs: 2_000,
  maxQueuedBatches: DEFAULT_BROKER_OPTIONS.maxQueuedBatches,
  batchSize: DEFAULT_BROKER_OPTIONS.batchSize,
};

/**
 * The {@link Broker} of a sync handler, with `open` for `/v1/stream`: each stream is an
 * {@link SseSubscriber}. Other transports subscribe to the same broker with `subscribe` and their own
 * {@link Subscriber}, and share its reads and counters.
 *
 * @example
 * ```ts
 * const broker = new SseBroker(store, { heartbeatMs: 15_000 });
 * const body = await broker.open('acme', CursorVersion.parse('42'));
 * return new Response(body, { headers: { 'Content-Type': 'text/event-stream' } });
 * ```
 */
export class SseBroker extends Broker {
  readonly #sseOptions: Required<SseOptions>;

  /**
   * @param onError - told when reading the log for a subscriber fails (the stream then ends).
   * @throws SyncError `invalid_input` for an option that is not a positive integer.
   */
  constructor(store: ServerEventLog, options: SseOptions = {}, onError?: (error: unknown) => void) {
    const resolved = resolvePositiveIntegers(DEFAULT_SSE_OPTIONS, options, 'sse');
    super(store, resolved, onError);
    this.#sseOptions = resolved;
  }

  /** The options in force, defaults filled in. */
  get options(): Required<SseOptions> {
    return this.#sseOptions;
  }

  /**
   * Opens a stream of the tenant's log after `since` (after its latest version when absent): the body
   * of a `text/event-stream` response. The stream ends when the reader cancels it, when it falls
   * behind, when `signal` fires (the client went away), or when the broker closes.
   *
   * @throws SyncError `closed` once the broker is closed; the store's errors reading the latest version.
   */
  async open(tenant: string, since?: CursorVersion, options: SignalOptions = {}): Promise<ReadableStream<Uint8Array>> {
    const subscriber = new SseSubscriber(this.#sseOptions.retryMs);
    await this.subscribe(tenant, subscriber, { ...options, ...(since === undefined ? {} : { since }) });
    return subscriber.stream;
  }
}
