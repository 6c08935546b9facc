import { SyncError } from '../errors/sync-error.js';
import type { Backpressure, DropReason, SubscriptionStats } from './backpressure.js';
import { Queue } from './queue.js';

/**
 * What {@link Mailbox.offer} did with an item:
 * `skipped` (ended, or the filter said no), `delivered` (straight to a waiting consumer), `queued`,
 * `dropped` (`drop_newest` on a full buffer), or `full` (`block` on a full buffer: the caller decides,
 * e.g. with {@link Mailbox.wait}).
 */
export type OfferResult = 'skipped' | 'delivered' | 'queued' | 'dropped' | 'full';

/**
 * Where a failure a mailbox caught came from.
 *
 * @inline
 */
export type MailboxErrorSource = 'handler' | 'filter' | 'observer';

/** A producer's stake in items waiting for room under `block`. */
export interface Ticket {
  /** One waiting item entered the buffer. */
  admitted(): void;
  /** One waiting item left without entering, because the mailbox ended for `reason`. */
  released(reason: DropReason): void;
}

/** Options of {@link Mailbox}. */
export interface MailboxOptions<T> {
  readonly bufferSize: number;
  readonly backpressure: Backpressure;
  /** A callback consumer; without one, the mailbox is read with `next()`. */
  readonly handler?: ((item: T) => unknown) | undefined;
  /** Items for which it returns false are skipped (not counted). */
  readonly filter?: ((item: T) => boolean) | undefined;
  /** Items delivered before anything offered, read lazily (a watch's replay); never dropped. */
  readonly prelude?: Iterator<T> | undefined;
  /** Told about each delivery and drop. */
  readonly observer?: { deliver(item: T): void; drop(item: T, reason: DropReason): void } | undefined;
  /** Told about failures of the handler, the filter and the observer, which never escape. */
  readonly onError: (error: unknown, source: MailboxErrorSource) => void;
  /**
   * Runs the handler deliveries that resume after an async handler settled (the bus uses it to defer
   * publishes made from handlers).
   */
  readonly enter?: ((run: () => void) => void) | undefined;
  /** Called after an item left the buffer, with how many are left. */
  readonly onTake?: ((queued: number) => void) | undefined;
}

const NOTHING = Symbol('nothing');

interface Waiter<T> {
  readonly item: T;
  readonly ticket: Ticket;
}

/**
 * One consumer's buffer: bounded, with a backpressure policy, read by a callback (called in order, one
 * at a time; an async callback holds the next item back until it settles) or by `next()` (an async
 * iterator). Everything offered after `end()` is skipped and nothing more is delivered.
 */
export class Mailbox<T> {
  readonly #capacity: number;
  readonly #backpressure: Backpressure;
  readonly #handler: ((item: T) => unknown) | undefined;
  readonly #filter: ((item: T) => boolean) | undefined;
  readonly #observer: MailboxOptions<T>['observer'];
  readonly #onError: MailboxOptions<T>['onError'];
  readonly #enter: (run: () => void) => void;
  readonly #onTake: ((queued: number) => void) | undefined;
  readonly #buffer = new Queue<T>();
  readonly #waiters = new Queue<Waiter<T>>();
  readonly #readers = new Queue<(result: IteratorResult<T, undefined>) => void>();
  #prelude: Iterator<T> | undefined;
  /** A callback is running (or an async one has not settled): offered items queue up behind it. */
  #busy = false;
  #ended = false;
  #delivered = 0;
  readonly #droppedBy: Record<DropReason, number> = { buffer_full: 0, aborted: 0, unsubscribed: 0, closed: 0 };

  constructor(options: MailboxOptions<T>) {
    this.#capacity = options.bufferSize;
    this.#backpressure = options.backpressure;
    this.#handler = options.handler;
    this.#filter = options.filter;
    this.#observer = options.observer;
    this.#onError = options.onError;
    this.#enter = options.enter ?? ((run) => run());
    this.#onTake = options.onTake;
    this.#prelude = options.prelude;
    if (this.#prelude && this.#handler) {
      // The prelude goes to the callback soon, not before the caller holds the handle to stop it.
      queueMicrotask(() => this.#resume());
    }
  }

  get ended(): boolean {
    return this.#ended;
  }

  get isCallback(): boolean {
    return this.#handler !== undefined;
  }

  get counts(): SubscriptionStats {
    const { buffer_full, aborted, unsubscribed, closed } = this.#droppedBy;
    return {
      delivered: this.#delivered,
      dropped: buffer_full + aborted + unsubscribed + closed,
      droppedBy: { ...this.#droppedBy },
      queued: this.#buffer.length,
      waiting: this.#waiters.length,
    };
  }

  /** Items in the buffer. */
  get queued(): number {
    return this.#buffer.length;
  }

  /** Items waiting for room. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** Hands `item` on, queues it, or applies the backpressure policy; see {@link OfferResult}. */
  offer(item: T): OfferResult {
    if (this.#ended) return 'skipped';
    if (this.#filter !== undefined && !this.#accepts(item)) return 'skipped';
    const handler = this.#handler;
    if (handler !== undefined) {
      if (!this.#busy && this.#prelude === undefined && this.#buffer.length === 0) {
        // The hot path of a callback that keeps up: straight to it, no buffer.
        this.#deliver(item);
        this.#busy = true;
        let result: unknown;
        try {
          result = handler(item);
        } catch (error) {
          this.#onError(error, 'handler');
        }
        if (result !== undefined && isThenable(result)) {
          this.#await(result);
        } else {
          this.#busy = false;
          // The callback may have caused more offers here, which queued up behind it.
          if (this.#buffer.length > 0 && !this.#ended) this.#dispatch(NOTHING);
        }
        return 'delivered';
      }
    } else if (this.#readers.length > 0) {
      // A reader waits only when nothing is buffered, so `item` is next in line.
      this.#deliver(item);
      (this.#readers.shift() as (result: IteratorResult<T, undefined>) => void)({ value: item, done: false });
      return 'delivered';
    }
    if (this.#waiters.length === 0 && this.#buffer.length < this.#capacity) {
      this.#buffer.push(item);
      return 'queued';
    }
    switch (this.#backpressure) {
      case 'drop_newest':
        this.#drop(item, 'buffer_full');
        return 'dropped';
      case 'drop_oldest':
        this.#drop(this.#buffer.shift() as T, 'buffer_full');
        this.#buffer.push(item);
        return 'queued';
      case 'block':
        return 'full';
    }
  }

  /** Parks `item` until there is room (after the items already waiting), on behalf of `ticket`. */
  wait(item: T, ticket: Ticket): void {
    if (this.#ended) {
      ticket.released('closed');
      return;
    }
    this.#waiters.push({ item, ticket });
  }

  /** Takes back the items `ticket` has waiting, dropping them for `reason`. */
  withdraw(ticket: Ticket, reason: DropReason): void {
    for (const waiter of this.#waiters.remove((entry) => entry.ticket === ticket)) this.#drop(waiter.item, reason);
  }

  /** The next item, for an iterator consumer; `done` once the mailbox has ended. */
  next(): Promise<IteratorResult<T, undefined>> {
    if (this.#handler !== undefined) {
      return Promise.reject(
        new SyncError('invalid_input', 'A subscription with a callback cannot also be iterated', {
          details: { field: 'handler' },
        }),
      );
    }
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    const item = this.#take();
    if (item !== NOTHING) {
      this.#deliver(item);
      return Promise.resolve({ value: item, done: false });
    }
    return new Promise((resolve) => this.#readers.push(resolve));
  }

  /**
   * Ends the mailbox: buffered and waiting items are dropped for `reason`, pending `next()` calls end,
   * and nothing is delivered any more. Idempotent.
   */
  end(reason: DropReason): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#prelude = undefined;
    for (const item of this.#buffer.clear()) this.#drop(item, reason);
    for (const waiter of this.#waiters.clear()) {
      this.#drop(waiter.item, reason);
      waiter.ticket.released(reason);
    }
    for (const reader of this.#readers.clear()) reader({ value: undefined, done: true });
  }

  #accepts(item: T): boolean {
    try {
      return (this.#filter as (item: T) => boolean)(item);
    } catch (error) {
      this.#onError(error, 'filter');
      return false;
    }
  }

  #take(): T | typeof NOTHING {
    if (this.#prelude !== undefined) {
      const step = this.#prelude.next();
      if (!step.done) return step.value;
      this.#prelude = undefined;
    }
    if (this.#buffer.length === 0) return NOTHING;
    const item = this.#buffer.shift() as T;
    while (this.#waiters.length > 0 && this.#buffer.length < this.#capacity) {
      const waiter = this.#waiters.shift() as Waiter<T>;
      this.#buffer.push(waiter.item);
      waiter.ticket.admitted();
    }
    if (this.#onTake !== undefined) this.#onTake(this.#buffer.length);
    return item;
  }

  /** Calls the handler with what is buffered, until empty or an async call is pending. */
  #dispatch(first: T | typeof NOTHING): void {
    this.#busy = true;
    let item = first === NOTHING ? this.#take() : first;
    while (item !== NOTHING && !this.#ended) {
      this.#deliver(item);
      let result: unknown;
      try {
        result = (this.#handler as (item: T) => unknown)(item);
      } catch (error) {
        this.#onError(error, 'handler');
      }
      if (result !== undefined && isThenable(result)) {
        this.#await(result);
        return;
      }
      item = this.#take();
    }
    this.#busy = false;
  }

  /** Stays busy until the async handler settles, then goes on with the buffer. */
  #await(result: PromiseLike<unknown>): void {
    result.then(
      () => this.#resume(),
      (error: unknown) => {
        this.#onError(error, 'handler');
        this.#resume();
      },
    );
  }

  #resume(): void {
    this.#busy = false;
    if (this.#ended) return;
    this.#enter(() => {
      if (!this.#busy && !this.#ended) this.#dispatch(NOTHING);
    });
  }

  #deliver(item: T): void {
    this.#delivered++;
    if (this.#observer !== undefined) {
      try {
        this.#observer.deliver(item);
      } catch (error) {
        this.#onError(error, 'observer');
      }
    }
  }

  #drop(item: T, reason: DropReason): void {
    this.#droppedBy[reason]++;
    if (this.#observer !== undefined) {
      try {
        this.#observer.drop(item, reason);
      } catch (error) {
        this.#onError(error, 'observer');
      }
    }
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}
