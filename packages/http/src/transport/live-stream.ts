import {
  backoffDelay,
  CallScope,
  isSyncError,
  SubscriptionLifecycle,
  SyncError,
  type CursorVersion,
  type LiveBatch,
  type RetryOptions,
  type SubscribeOptions,
  type TransportSubscription,
} from '@eventsync/core';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { decodeStreamBatch } from '../protocol/decode.js';
import { STREAM_EVENT_NAME } from '../protocol/wire.js';
import { requestFailure } from './http-error.js';

/** What a {@link LiveStream} needs of its transport. */
export interface StreamConnector {
  /**
   * Opens `GET /v1/stream` after `cursor` (with `Last-Event-ID`): resolves once a `200` event stream
   * answered, with the exchange that owns the connection, or rejects with a `SyncError`.
   */
  open(cursor: CursorVersion | undefined, signal: AbortSignal): Promise<{ response: Response; exchange: CallScope }>;
}

/** How a {@link LiveStream} reconnects and watches for silence. */
export interface LiveStreamSettings {
  readonly retry: Required<RetryOptions>;
  readonly idleTimeoutMs: number;
  readonly random: () => number;
}

/** The most characters of one unfinished SSE message the parser buffers (a stream without line breaks). */
const MAX_MESSAGE_CHARS = 64 * 1024 * 1024;

/** A handler's failure: it closes the subscription rather than reconnecting. */
class HandlerFailure extends Error {
  constructor(readonly error: unknown) {
    super('The live batch handler failed');
  }
}

/**
 * One subscription of `HttpTransport`: reads `/v1/stream` with fetch, delivers batches in order and
 * none twice (whatever is at or before the cursor is dropped), one handler call at a time, and
 * reconnects with backoff from the last cursor until closed or refused for good.
 */
export class LiveStream implements TransportSubscription {
  readonly #connector: StreamConnector;
  readonly #handler: (batch: LiveBatch) => void | Promise<void>;
  readonly #settings: LiveStreamSettings;
  readonly #life: SubscriptionLifecycle;
  /** The cursor of the last batch delivered (or where the stream started); the resume point. */
  #cursor: CursorVersion | undefined;
  /** The server's `retry:`, which replaces the first backoff step. */
  #serverRetryMs: number | undefined;

  constructor(
    connector: StreamConnector,
    handler: (batch: LiveBatch) => void | Promise<void>,
    options: SubscribeOptions,
    settings: LiveStreamSettings,
    onClosed: () => void,
  ) {
    this.#connector = connector;
    this.#handler = handler;
    this.#settings = settings;
    this.#life = new SubscriptionLifecycle(options, onClosed);
    this.#cursor = options.since;
  }

  /** Starts connecting, after `subscribe` has returned. */
  start(): void {
    this.#life.start(() => this.#run());
  }

  close(): void {
    this.#life.close();
  }

  get #closed(): boolean {
    return this.#life.closed;
  }

  async #run(): Promise<void> {
    if (this.#closed) return;
    this.#life.setState('connecting');
    let attempt = 0;
    while (!this.#closed) {
      const openedAt = Date.now();
      const progress = { delivered: false };
      let error: SyncError;
      try {
        await this.#connectOnce(progress);
        error = new SyncError('network', 'The live stream ended; reconnecting');
      } catch (caught) {
        if (this.#closed) return;
        if (caught instanceof HandlerFailure) {
          this.#life.close(asSyncError(caught.error, 'The live batch handler failed; the subscription was closed'));
          return;
        }
        error = asSyncError(caught, 'The live stream failed');
        // Refused for good (401 after a refresh, 403, 404, a bad cursor): reconnecting cannot help.
        if (!error.retryable && error.code !== 'protocol') {
          this.#life.close(error);
          return;
        }
      }
      if (this.#closed) return;
      this.#life.setState('connecting', error);
      // A connection that moved the cursor, or lasted, was healthy: start the backoff over.
      if (progress.delivered || Date.now() - openedAt >= this.#settings.retry.maxDelayMs) attempt = 0;
      attempt++;
      const retry = this.#settings.retry;
      const initialDelayMs = Math.min(retry.maxDelayMs, Math.max(1, this.#serverRetryMs ?? retry.initialDelayMs));
      const retryAfterMs = typeof error.details.retryAfterMs === 'number' ? error.details.retryAfterMs : 0;
      await this.#life.sleep(backoffDelay(attempt, { ...retry, initialDelayMs }, this.#settings.random, retryAfterMs));
    }
  }

  /** One connection: reads messages until the stream ends (resolves) or fails (rejects). */
  async #connectOnce(progress: { delivered: boolean }): Promise<void> {
    const { response, exchange } = await this.#connector.open(this.#cursor, this.#life.signal);
    const body = response.body as ReadableStream<Uint8Array>;
    const reader = body.getReader();
    const decoder = new TextDecoder();
    const queue: EventSourceMessage[] = [];
    let broken: SyncError | undefined;
    const parser = createParser({
      onEvent: (message) => queue.push(message),
      onRetry: (ms) => (this.#serverRetryMs = ms),
      onError: (error) => {
        // Unknown fields and bad `retry:` values are ignored, as SSE says; an endless message is not.
        if (error.type === 'max-buffer-size-exceeded') {
          broken = new SyncError(
            'protocol',
            `The live stream sent a message longer than ${MAX_MESSAGE_CHARS} characters`,
          );
        }
      },
      maxBufferSize: MAX_MESSAGE_CHARS,
    });
    const silent = new SyncError('timeout', `The live stream was silent for ${this.#settings.idleTimeoutMs} ms`);
    const goneSilent = (): void => exchange.abort(silent);
    let idle: CallScope | undefined;
    try {
      if (this.#closed) return;
      this.#life.setState('live');
      for (;;) {
        // CallScope's timer, not a bare setTimeout: an idleTimeoutMs past 2^31 - 1 ms (Infinity) sets
        // none, where Node would fire it after 1 ms and reconnect in a loop.
        idle = new CallScope({ timeoutMs: this.#settings.idleTimeoutMs });
        idle.signal.addEventListener('abort', goneSilent, { once: true });
        const { done, value } = await exchange.race(reader.read());
        idle.dispose();
        if (done) return;
        parser.feed(decoder.decode(value, { stream: true }));
        if (broken) throw broken;
        while (queue.length > 0) await this.#deliver(queue.shift() as EventSourceMessage, progress);
      }
    } catch (error) {
      if (error instanceof HandlerFailure) throw error;
      throw requestFailure(exchange, error, 'The live stream');
    } finally {
      idle?.dispose();
      // Aborting the fetch (not only cancelling the reader) is what releases the connection everywhere.
      exchange.abort(new SyncError('closed', 'The live stream connection was released'));
      exchange.dispose();
      reader.cancel().catch(() => undefined);
    }
  }

  async #deliver(message: EventSourceMessage, progress: { delivered: boolean }): Promise<void> {
    if (message.event !== STREAM_EVENT_NAME || this.#closed) return;
    let json: unknown;
    try {
      json = JSON.parse(message.data);
    } catch (error) {
      throw new SyncError('protocol', 'The live stream sent a batch that is not JSON', { cause: error });
    }
    const batch = decodeStreamBatch(json, this.#cursor);
    if (message.id !== undefined && message.id !== batch.cursor.toString()) {
      throw new SyncError(
        'protocol',
        `The live stream sent a message whose id (${message.id}) is not its cursor (${batch.cursor.toString()})`,
      );
    }
    const after = this.#cursor;
    const events = after === undefined ? batch.events : batch.events.filter((item) => item.version.value > after.value);
    if (events.length === 0) {
      // The opening message says where a stream without `since` starts; with a cursor, old news.
      this.#cursor ??= batch.cursor;
      return;
    }
    try {
      await this.#handler({ events, cursor: batch.cursor });
    } catch (error) {
      throw new HandlerFailure(error);
    }
    this.#cursor = batch.cursor;
    progress.delivered = true;
  }
}

function asSyncError(error: unknown, message: string): SyncError {
  return isSyncError(error) ? error : new SyncError('internal', message, { cause: error });
}
