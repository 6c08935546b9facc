import type { CursorVersion } from '@eventsync/core';
import { formatStreamOpening, STREAM_HEARTBEAT } from '@eventsync/http';

/** A page of the tenant's log after a cursor, as the stream sends it. */
export interface StreamPage {
  /** The `events` message of the page, when it has events. */
  readonly message?: Uint8Array;
  /** The version of the page's last event, when it has events. */
  readonly last?: number;
  /** Where the next read starts. */
  readonly next: number;
  /** Whether the log goes on after `next`. */
  readonly hasMore: boolean;
}

/** What an {@link SseSubscriber} needs from its broker. */
export interface SseSubscriberContext {
  readonly tenant: string;
  /** Reads a page of the tenant's log after `since` (the broker shares one read among subscribers). */
  read(since: number): Promise<StreamPage>;
  /** Unsent messages past which the subscriber is cut off. */
  readonly maxQueuedBatches: number;
  /** Told of every batch queued. */
  published(): void;
  /** Told once when the stream ends, with whether it was cut off for falling behind. */
  ended(subscriber: SseSubscriber, cutOff: boolean): void;
  /** Told when reading the log failed; the stream then ends and the client resumes elsewhere. */
  failed(error: unknown): void;
}

const encoder = new TextEncoder();
const HEARTBEAT = encoder.encode(STREAM_HEARTBEAT);
/** While catching up on history, the log is read this many messages ahead of the reader, no more. */
const READ_AHEAD = 2;

/**
 * One `/v1/stream` connection: a cursor and a queue of unsent messages behind a pull-based
 * `ReadableStream`.
 *
 * History (everything after the start cursor that is already in the log) is read at the reader's
 * pace. Once caught up the subscriber is live: each append notice reads the new events after the
 * cursor and queues them as one message per `batchSize` events. A reader that leaves more than
 * `maxQueuedBatches` messages unsent is cut off: its queue is dropped and its stream ends, so it
 * reconnects from the last id it processed and misses nothing. Events are never skipped.
 */
export class SseSubscriber {
  readonly tenant: string;
  readonly stream: ReadableStream<Uint8Array>;
  readonly #context: SseSubscriberContext;
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  #queue: Uint8Array[] = [];
  /** A read is pending and the queue is empty: the next message goes straight to it. */
  #waiting = false;
  /** The version of the last event queued; -1 until the stream has started. */
  #cursor = -1;
  #catchingUp = true;
  #pumping = false;
  #again = false;
  #ended = false;

  constructor(context: SseSubscriberContext) {
    this.#context = context;
    this.tenant = context.tenant;
    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controller = controller;
        },
        pull: (controller) => {
          const next = this.#queue.shift();
          if (next) controller.enqueue(next);
          else this.#waiting = true;
          if (this.#catchingUp && this.#queue.length < READ_AHEAD) this.#wake();
        },
        cancel: () => {
          this.#end(false);
        },
      },
      { highWaterMark: 0 },
    );
  }

  /** Whether the stream has ended (closed, cancelled or cut off). */
  get ended(): boolean {
    return this.#ended;
  }

  /** Unsent messages. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Opens the stream after `cursor`: `retry:`, an opening message naming the cursor, then history. */
  start(cursor: CursorVersion, retryMs: number): void {
    if (this.#ended) return;
    this.#cursor = cursor.value;
    this.#send(encoder.encode(formatStreamOpening(cursor, retryMs)));
    this.#wake();
  }

  /** An append committed for this subscriber's tenant, up to `latest`. */
  notify(latest: number): void {
    if (this.#cursor >= 0 && latest > this.#cursor) this.#wake();
  }

  /** Sends a heartbeat comment unless messages are already waiting to go out. */
  heartbeat(): void {
    if (!this.#ended && this.#cursor >= 0 && this.#queue.length === 0) this.#send(HEARTBEAT);
  }

  /** Ends the stream (server shutdown); unsent messages are dropped, the client resumes from its last id. */
  close(): void {
    this.#end(false);
  }

  #wake(): void {
    if (this.#ended || this.#cursor < 0) return;
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    void this.#pump();
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    const { maxQueuedBatches } = this.#context;
    try {
      do {
        this.#again = false;
        while (!this.#ended) {
          if (this.#catchingUp && this.#queue.length >= READ_AHEAD) break; // the next pull resumes
          const page = await this.#context.read(this.#cursor);
          if (this.#ended) return;
          const { last, message } = page;
          if (last !== undefined && message !== undefined) {
            this.#cursor = last;
            this.#send(message);
            this.#context.published();
            if (this.#queue.length > maxQueuedBatches) {
              this.#end(true);
              return;
            }
          } else if (page.hasMore && page.next > this.#cursor) {
            this.#cursor = page.next;
            continue;
          }
          if (!page.hasMore || last === undefined) {
            this.#catchingUp = false;
            break;
          }
        }
      } while (this.#again && !this.#ended);
    } catch (error) {
      if (!this.#ended) {
        this.#context.failed(error);
        this.#end(false);
      }
    } finally {
      this.#pumping = false;
    }
  }

  #send(chunk: Uint8Array): void {
    if (this.#waiting && this.#controller) {
      this.#waiting = false;
      this.#controller.enqueue(chunk);
    } else {
      this.#queue.push(chunk);
    }
  }

  #end(cutOff: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#queue = [];
    try {
      this.#controller?.close();
    } catch {
      // Already closed or errored by the reader's side.
    }
    this.#context.ended(this, cutOff);
  }
}
