import type { CursorVersion } from '@eventsync/core';
import { encodeStreamBatch, formatStreamMessage, formatStreamOpening, STREAM_HEARTBEAT } from '@eventsync/http';
import type { EventBatch, Subscriber, SubscriberLink } from './subscriber.js';

const encoder = new TextEncoder();
const HEARTBEAT = encoder.encode(STREAM_HEARTBEAT);
/** Each batch's `events` message, encoded once however many subscribers receive the batch. */
const messages = new WeakMap<EventBatch, Uint8Array>();

interface Chunk {
  readonly bytes: Uint8Array;
  /** Whether it carries a batch (rather than the opening message or a heartbeat). */
  readonly batch: boolean;
}

/**
 * The Server-Sent Events {@link Subscriber} of `/v1/stream`: writes the broker's batches to a
 * pull-based `ReadableStream` (the body of a `text/event-stream` response) as `retry:` and an opening
 * message naming the start cursor, then one `events` message per batch (`id:` its cursor), and
 * `: heartbeat` comments on a quiet stream.
 *
 * Messages wait in a queue until the reader pulls them; the queue's length is the `backlog` the
 * broker cuts slow readers off by. When the reader cancels, the link is told `closed`; when the
 * broker closes the subscriber, the queue is dropped and the stream ends, so the client reconnects
 * from the last id it processed and misses nothing.
 */
export class SseSubscriber implements Subscriber {
  /** The response body. */
  readonly stream: ReadableStream<Uint8Array>;
  readonly #retryMs: number;
  #link: SubscriberLink | undefined;
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  #queue: Chunk[] = [];
  /** A read is pending and the queue is empty: the next message goes straight to it. */
  #waiting = false;
  #ended = false;

  /** @param retryMs - the `retry:` sent first: how long an `EventSource` waits before reconnecting. */
  constructor(retryMs: number) {
    this.#retryMs = retryMs;
    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controller = controller;
        },
        pull: (controller) => {
          const next = this.#queue.shift();
          if (next) controller.enqueue(next.bytes);
          else this.#waiting = true;
          if (next?.batch) this.#link?.delivered();
          else this.#link?.ready();
        },
        cancel: () => {
          this.#end();
          this.#link?.closed();
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
  get backlog(): number {
    return this.#queue.length;
  }

  attach(link: SubscriberLink): void {
    this.#link = link;
  }

  open(cursor: CursorVersion): void {
    this.#send({ bytes: encoder.encode(formatStreamOpening(cursor, this.#retryMs)), batch: false });
  }

  deliver(batch: EventBatch): void {
    let bytes = messages.get(batch);
    if (!bytes) {
      bytes = encoder.encode(formatStreamMessage(encodeStreamBatch({ events: batch.events })));
      messages.set(batch, bytes);
    }
    this.#send({ bytes, batch: true });
  }

  heartbeat(): void {
    this.#send({ bytes: HEARTBEAT, batch: false });
  }

  close(): void {
    this.#end();
  }

  #send(chunk: Chunk): void {
    if (this.#ended) return;
    if (this.#waiting && this.#controller) {
      this.#waiting = false;
      this.#controller.enqueue(chunk.bytes);
      if (chunk.batch) this.#link?.delivered();
    } else {
      this.#queue.push(chunk);
    }
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#queue = [];
    try {
      this.#controller?.close();
    } catch {
      // Already closed or errored by the reader's side.
    }
  }
}
