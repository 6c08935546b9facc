import type { Event, EventPage, VersionedEvent } from '../event/event.js';
import type { SyncError } from '../errors/sync-error.js';
import type { SignalOptions } from '../internal/abort.js';
import type { AppendResult } from '../server/server-event-log.js';
import type { Filter } from '../store/filter.js';
import type { CursorVersion } from '../version/cursor-version.js';

/** Options of {@link Transport.pull}. */
export interface PullOptions extends SignalOptions {
  /** The most events in the page; the server may send fewer. */
  readonly limit?: number;
  /** Keeps only matching events. */
  readonly filter?: Filter;
}

/** A batch of newly appended events delivered live. */
export interface LiveBatch {
  /** The events, in server order, each after the last batch's `cursor`. */
  readonly events: readonly VersionedEvent[];
  /** The cursor after the batch. */
  readonly cursor: CursorVersion;
}

/** The state of a live subscription. */
export type SubscriptionState =
  /** Connecting or reconnecting; batches may be missed meanwhile, so the caller should poll. */
  | 'connecting'
  /** Delivering batches. */
  | 'live'
  /** Given up or closed; the caller must poll or subscribe again. */
  | 'closed';

/** Options of {@link Transport.subscribe}. */
export interface SubscribeOptions extends SignalOptions {
  /** Deliver events after this cursor (resume point). @defaultValue the server's latest cursor */
  readonly since?: CursorVersion;
  /** Told whenever the subscription changes state, with the error that caused it where there is one. */
  readonly onStateChange?: (state: SubscriptionState, error?: SyncError) => void;
}

/** A live subscription; see {@link Transport.subscribe}. */
export interface TransportSubscription {
  /** Stops delivery and releases the stream. Idempotent. */
  close(): void;
}

/**
 * How a client talks to the server (go-sync-kit's `Transport`): push, pull, latest version, live
 * batches. Implementations: `HttpTransport` (HTTP + Server-Sent Events), `MemoryNetwork` transports in
 * the testkit, and yours (WebSocket, BroadcastChannel, a queue…).
 *
 * Errors are `SyncError`s: `network`, `timeout` and `unavailable` are retryable; `unauthorized`,
 * `forbidden`, `invalid_input` and `protocol` are not. Every call rejects with `SyncError('closed')`
 * after {@link Transport.close}.
 */
export interface Transport {
  /**
   * How many events this transport takes best in one {@link Transport.push} call, when it splits a
   * push into several requests of its own (`HttpTransport`: `maxBatchSize` × `pushWindow` × 2, sent as
   * a push chain whose requests overlap). A `SyncManager` given no `pushBatchSize` pushes batches of
   * this size. Leave it out when each push is one request, which the server bounds
   * (`maxEventsPerPush`): the manager then pushes batches of 500.
   */
  readonly preferredPushSize?: number;

  /** Pushes a batch; the server answers per event, in the batch's order. */
  push(events: readonly Event[], options?: SignalOptions): Promise<AppendResult[]>;

  /** Pulls a page of events strictly after `since`. */
  pull(since: CursorVersion, options?: PullOptions): Promise<EventPage>;

  /** The server's latest cursor, without pulling events. */
  latestVersion(options?: SignalOptions): Promise<CursorVersion>;

  /**
   * Delivers batches of new events as the server gets them, in order, none twice, reconnecting as
   * needed. `handler` runs one batch at a time: the next waits for the promise it returns.
   */
  subscribe(handler: (batch: LiveBatch) => void | Promise<void>, options?: SubscribeOptions): TransportSubscription;

  /** Closes open streams and releases resources. Idempotent. */
  close(): Promise<void>;
}
