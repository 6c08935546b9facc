import type { CursorVersion, VersionedEvent } from '@eventsync/core';

/**
 * Events of one tenant's log handed to a {@link Subscriber}: consecutive, in version order, never
 * empty. `cursor` is the version of the last one (where the subscriber resumes after it).
 *
 * Subscribers woken together at one cursor receive the same object, so a transport that encodes
 * batches can encode each once for all of them (keep the encoding in a `WeakMap` keyed by the batch).
 */
export interface EventBatch {
  /**
   * The events, each at the version after the one before, starting right after the subscriber's
   * cursor; at most the broker's `batchSize`.
   */
  readonly events: readonly VersionedEvent[];
  /** The version of the last event of `events`: the subscriber's cursor once the batch is handed over. */
  readonly cursor: CursorVersion;
}

/**
 * Why a subscription ended:
 * - `slow`: its transport left more than `maxQueuedBatches` batches unsent, so the broker cut it off
 *   (the client resumes from its cursor and misses nothing);
 * - `closed`: the client went away (the reader cancelled, the socket closed, the request was aborted)
 *   or the broker closed;
 * - `error`: reading the log for it failed, or its transport failed.
 */
export type DisconnectReason = 'slow' | 'closed' | 'error';

/** Every {@link DisconnectReason}, in a stable order. */
export const DISCONNECT_REASONS: readonly DisconnectReason[] = ['slow', 'closed', 'error'];

/** What a {@link Subscriber} tells its broker about its transport; given to {@link Subscriber.attach}. */
export interface SubscriberLink {
  /**
   * One batch handed over with `deliver` has been written to the transport (counted as delivered),
   * and the transport can take more.
   */
  delivered(): void;
  /**
   * The transport can take more without a batch having gone out (a reader asked for the next chunk
   * and found none, or took a heartbeat). While catching up on history the broker reads ahead only
   * when told so.
   */
  ready(): void;
  /** The client went away (reader cancelled, socket closed): the subscription ends as `closed`. */
  closed(): void;
  /** The transport failed: the subscription ends as `error` and the broker's `onError` is told. */
  failed(error: unknown): void;
}

/**
 * One client of the broker on some transport: Server-Sent Events ({@link SseSubscriber}), a
 * WebSocket, a test double. The broker owns the cursor, reads the log and decides what to send and
 * when to give up; a subscriber only writes to its transport, never blocks, and reports back through
 * its {@link SubscriberLink}.
 *
 * The broker calls, in this order: `attach` once; `open` once with the cursor the stream starts
 * after; then `deliver` and `heartbeat` any number of times; `close` exactly once at the end,
 * whatever ended it (also after the link reported `closed` or `failed`). A method that throws ends
 * the subscription as `error`.
 *
 * @example A WebSocket adapter (sockets of the ws package; eventsync takes no WebSocket dependency)
 * ```ts
 * class WebSocketSubscriber implements Subscriber {
 *   #link?: SubscriberLink;
 *   #sending = 0;
 *   constructor(readonly socket: WebSocket) {
 *     socket.on('close', () => this.#link?.closed());
 *     socket.on('error', (error) => this.#link?.failed(error));
 *   }
 *   get backlog() { return this.#sending; }
 *   attach(link: SubscriberLink) { this.#link = link; }
 *   open(cursor: CursorVersion) { this.#send({ events: [], cursor: cursor.toString() }, false); }
 *   deliver(batch: EventBatch) { this.#send(encodeStreamBatch(batch), true); }
 *   heartbeat() { this.socket.ping(); }
 *   close(reason: DisconnectReason) { this.socket.close(reason === 'slow' ? 4008 : 1001, reason); }
 *   #send(message: StreamBatch, isBatch: boolean) {
 *     this.#sending++;
 *     this.socket.send(JSON.stringify(message), (error) => {
 *       this.#sending--;
 *       if (error) this.#link?.failed(error);
 *       else if (isBatch) this.#link?.delivered();
 *       else this.#link?.ready();
 *     });
 *   }
 * }
 *
 * await handler.broker.subscribe(tenant, new WebSocketSubscriber(socket), { since });
 * ```
 */
export interface Subscriber {
  /**
   * Messages handed over and not yet written by the transport (batches, and the opening message or a
   * heartbeat if the transport queues them): the backpressure signal. Past the broker's
   * `maxQueuedBatches` the subscriber is cut off; a heartbeat is sent only when it is 0.
   */
  readonly backlog: number;
  /** Gives the subscriber its link to the broker; called first, once. */
  attach(link: SubscriberLink): void;
  /** The stream starts after `cursor`: send a message naming it, so a client that drops before the first batch knows where to resume. */
  open(cursor: CursorVersion): void;
  /** Sends one batch. Must not block: queue it and report `delivered` once it is written. */
  deliver(batch: EventBatch): void;
  /** Sends a keep-alive on a quiet stream. */
  heartbeat(): void;
  /** Ends the transport and drops whatever is unsent; the client resumes from its last cursor. */
  close(reason: DisconnectReason): void;
}
