import {
  backoffDelay,
  isSyncError,
  SubscriptionLifecycle,
  SyncError,
  type CursorVersion,
  type LiveBatch,
  type RetryOptions,
  type SubscribeOptions,
  type TransportSubscription,
} from '@eventsync/core';
import { decodeProblem, decodeStreamBatch, errorFromProblem } from '@eventsync/http';
import type { SubscribeMessage, UnsubscribeMessage } from '../protocol/messages.js';
import type { Connection, StreamMessage } from './connection.js';

/** What a {@link LiveSubscription} needs of its transport. */
export interface SubscriptionHost {
  /** The transport's connection, opened (or reopened) as needed; rejects with a `SyncError`. */
  connect(signal: AbortSignal): Promise<Connection>;
}

/** How a {@link LiveSubscription} waits before subscribing again. */
export interface LiveSubscriptionSettings {
  readonly retry: Required<RetryOptions>;
  readonly random: () => number;
}

/**
 * One subscription of `WebSocketTransport`: subscribes on the transport's connection, delivers batches
 * in order and none twice (whatever is at or before its cursor is dropped), one handler call at a
 * time, and when the connection goes (or the server ends the subscription) subscribes again, with
 * backoff, from the cursor of the last batch delivered.
 */
export class LiveSubscription implements TransportSubscription {
  readonly #host: SubscriptionHost;
  readonly #handler: (batch: LiveBatch) => void | Promise<void>;
  readonly #settings: LiveSubscriptionSettings;
  readonly #life: SubscriptionLifecycle;
  /** The cursor of the last batch delivered (or where the first subscription started): the resume point. */
  #cursor: CursorVersion | undefined;
  /** The handler calls, chained: a batch is handed over once the one before has been handled. */
  #delivery: Promise<void> = Promise.resolve();
  /** Ends the subscription on the current connection. */
  #stop: (() => void) | undefined;

  constructor(
    host: SubscriptionHost,
    handler: (batch: LiveBatch) => void | Promise<void>,
    options: SubscribeOptions,
    settings: LiveSubscriptionSettings,
    onClosed: () => void,
  ) {
    this.#host = host;
    this.#handler = handler;
    this.#settings = settings;
    this.#life = new SubscriptionLifecycle(options, () => {
      this.#stop?.();
      onClosed();
    });
    this.#cursor = options.since;
  }

  /** Starts subscribing, after `subscribe` has returned. */
  start(): void {
    this.#life.start(() => this.#run());
  }

  /** Stops delivery, unsubscribes, and says `'closed'`. Idempotent. */
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
      const progress = { delivered: false };
      let error: SyncError;
      try {
        const connection = await this.#host.connect(this.#life.signal);
        await this.#follow(connection, progress);
        return; // closed by the caller
      } catch (caught) {
        if (this.#closed) return;
        error = asSyncError(caught, 'The live subscription failed');
        // Refused for good (credentials, a cursor past the log): subscribing again cannot help.
        if (!error.retryable && error.code !== 'protocol') {
          this.#life.close(error);
          return;
        }
      }
      this.#life.setState('connecting', error);
      // A subscription that delivered was healthy: the backoff starts over.
      attempt = progress.delivered ? 1 : attempt + 1;
      const retryAfterMs = typeof error.details.retryAfterMs === 'number' ? error.details.retryAfterMs : 0;
      await this.#life.sleep(backoffDelay(attempt, this.#settings.retry, this.#settings.random, retryAfterMs));
    }
  }

  /**
   * Subscribes on `connection` from the cursor. Resolves when the caller closes the subscription;
   * rejects when the connection goes, the server ends the subscription or refuses it, or a batch is
   * malformed. Either way only once every batch received has been handled, so the handler never runs
   * for two connections at once.
   */
  #follow(connection: Connection, progress: { delivered: boolean }): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const id = connection.nextId();
      let opened = false;
      let finished = false;
      const finish = (error?: SyncError): void => {
        if (finished) return;
        finished = true;
        connection.unfollow(id);
        this.#stop = undefined;
        void this.#delivery.then(() => (error === undefined ? resolve() : reject(error)));
      };
      this.#stop = () => {
        if (connection.open) {
          const unsubscribe: UnsubscribeMessage = { type: 'unsubscribe', id };
          try {
            connection.send(JSON.stringify(unsubscribe), 'Unsubscribing');
          } catch {
            // The connection is going: the server ends the subscription with it.
          }
        }
        finish();
      };
      connection.follow(id, {
        message: (message: StreamMessage) => {
          if (finished) return;
          switch (message.type) {
            case 'events': {
              let batch: LiveBatch;
              try {
                batch = decodeStreamBatch(message.body, this.#cursor);
              } catch (error) {
                finish(asSyncError(error, 'The live subscription received a malformed batch'));
                return;
              }
              if (!opened) {
                // The opening message: the server now sends every event after its cursor.
                opened = true;
                this.#cursor ??= batch.cursor;
                this.#life.setState('live');
              }
              this.#delivery = this.#delivery.then(() => this.#deliver(batch, progress));
              return;
            }
            case 'heartbeat':
              return;
            case 'end':
              finish(
                new SyncError('unavailable', `The server ended the live subscription (${String(message.reason)})`),
              );
              return;
            case 'error':
              try {
                finish(errorFromProblem('The live subscription', decodeProblem(message.problem)));
              } catch (error) {
                finish(error as SyncError);
              }
          }
        },
        dropped: (error) => finish(error),
      });
      if (finished) return;
      const since = this.#cursor;
      const subscribe: SubscribeMessage = {
        type: 'subscribe',
        id,
        ...(since === undefined ? {} : { since: since.toString() }),
      };
      try {
        connection.send(JSON.stringify(subscribe), 'Subscribing');
      } catch (error) {
        finish(asSyncError(error, 'Subscribing failed'));
      }
    });
  }

  /** Hands one batch to the handler, without the events at or before the cursor. Never rejects. */
  async #deliver(batch: LiveBatch, progress: { delivered: boolean }): Promise<void> {
    if (this.#closed) return;
    const after = this.#cursor;
    const events = after === undefined ? batch.events : batch.events.filter((item) => item.version.value > after.value);
    if (events.length === 0) return;
    try {
      await this.#handler({ events, cursor: batch.cursor });
    } catch (error) {
      this.#life.close(asSyncError(error, 'The live batch handler failed; the subscription was closed'));
      return;
    }
    this.#cursor = batch.cursor;
    progress.delivered = true;
  }
}

function asSyncError(error: unknown, message: string): SyncError {
  return isSyncError(error) ? error : new SyncError('internal', message, { cause: error });
}
