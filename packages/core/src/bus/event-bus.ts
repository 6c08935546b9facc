import { monotonicFactory } from 'ulid';
import { SyncError } from '../errors/sync-error.js';
import { abortReason, type SignalOptions } from '../internal/abort.js';
import {
  DROP_REASONS,
  resolveBufferOptions,
  type BufferOptions,
  type DropReason,
  type SubscriptionStats,
} from './backpressure.js';
import type { Envelope } from './envelope.js';
import { Mailbox, type MailboxErrorSource, type Ticket } from './mailbox.js';
import { compilePattern, validateSubject, type CompiledPattern } from './subject.js';

/**
 * Instrumentation of an {@link EventBus}: one `onPublish` per accepted publish, then one `onDeliver`
 * or `onDrop` per matching subscription and message. Hooks run synchronously on the bus's path, so
 * keep them quick; one that throws is reported to `onError` and changes nothing for the bus.
 */
export interface BusObserver {
  /** A publish was accepted, before any delivery. */
  onPublish?(envelope: Envelope): void;
  /** A message reached a subscriber: its callback was called, or its `next()` answered. */
  onDeliver?(envelope: Envelope, subscription: Subscription): void;
  /** A message matched a subscription and will never reach it; see {@link DropReason}. */
  onDrop?(envelope: Envelope, subscription: Subscription, reason: DropReason): void;
}

/** Where a failure the bus caught came from; see {@link EventBusOptions.onError}. */
export interface BusErrorContext {
  /** `'handler'`: a subscription's callback; `'filter'`: its filter; `'observer'`: an observer hook. */
  readonly source: MailboxErrorSource;
  /** The subscription concerned, if any (`onPublish` concerns none). */
  readonly subscription?: Subscription;
}

/** Options of {@link EventBus}. */
export interface EventBusOptions {
  /**
   * How many subjects the route cache remembers (subject → matching subscriptions, so a hot subject
   * skips matching every pattern). The oldest entry leaves when it is full; any subscribe or
   * unsubscribe empties it. 0 turns it off.
   *
   * @defaultValue 1024
   */
  readonly routeCacheSize?: number;
  /** Instrumentation hooks; see {@link BusObserver}. */
  readonly observer?: BusObserver;
  /**
   * Told about every failure the bus caught: callbacks and filters of subscriptions, observer hooks.
   * None of them can break the bus or reach the publisher. A throwing `onError` is ignored.
   *
   * @defaultValue ignore them
   */
  readonly onError?: (error: unknown, context: BusErrorContext) => void;
  /**
   * The clock of envelope timestamps.
   *
   * @defaultValue `Date.now`
   */
  readonly now?: () => number;
  /**
   * Makes envelope ids.
   *
   * @defaultValue a monotonic ULID generator
   */
  readonly newId?: () => string;
}

/** The defaults of {@link EventBusOptions}. */
export const DEFAULT_EVENT_BUS_OPTIONS = {
  /** The route cache remembers 1024 subjects; see {@link EventBusOptions.routeCacheSize}. */
  routeCacheSize: 1024,
} as const;

/** Options of {@link EventBus.subscribe}. */
export interface SubscriptionOptions<T = unknown> extends BufferOptions {
  /**
   * A second test after the pattern (on headers, on the payload…): messages for which it returns
   * false are not for this subscription and are not counted. One that throws counts as false.
   */
  readonly filter?: (envelope: Envelope<T>) => boolean;
  /** Ends the subscription when it aborts, like `unsubscribe()`. */
  readonly signal?: AbortSignal;
}

/** Options of {@link EventBus.publish}. */
export interface PublishOptions extends SignalOptions {
  /** String metadata for the envelope. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** The counters of an {@link EventBus}, since it was made. */
export interface EventBusStats {
  /** Publishes accepted. */
  readonly published: number;
  /** Messages handed to subscribers (one message to three subscribers counts three). */
  readonly delivered: number;
  /** Messages that matched a subscription and never reached it, in all. */
  readonly dropped: number;
  /** The same messages by {@link DropReason}; the counts add up to `dropped`. */
  readonly droppedBy: Readonly<Record<DropReason, number>>;
  /** Messages buffered in subscriptions now, not yet read. */
  readonly queueDepth: number;
  /** Messages of blocked publishers waiting for room now. */
  readonly waiting: number;
  /** Subscriptions open now. */
  readonly subscribers: number;
}

/**
 * A subscription: read it as an async iterable (`for await`, where `break` unsubscribes), or give
 * {@link EventBus.subscribe} a callback. Messages come in publish order.
 */
export interface Subscription<T = unknown> extends AsyncIterable<Envelope<T>> {
  /** Unique within its bus. */
  readonly id: string;
  /** The pattern it matches. */
  readonly pattern: string;
  /** Whether it has ended (unsubscribed, aborted, or the bus closed). */
  readonly closed: boolean;
  /** Its counts: delivered, dropped (by reason), queued, waiting. */
  readonly stats: SubscriptionStats;
  /**
   * The next message; `{ done: true }` once the subscription has ended. Rejects with
   * `SyncError('invalid_input')` for a subscription with a callback.
   */
  next(): Promise<IteratorResult<Envelope<T>, undefined>>;
  /**
   * Ends the subscription: buffered messages are dropped (`unsubscribed`), a pending `next()` ends,
   * the callback is not called again, and blocked publishers waiting on it go on. Idempotent.
   */
  unsubscribe(): void;
}

interface Route {
  readonly subject: string;
  readonly mailboxes: readonly Mailbox<Envelope>[];
}

interface Deferred {
  readonly envelope: Envelope;
  readonly route: Route;
  readonly signal: AbortSignal | undefined;
  resolve(value: Promise<Envelope>): void;
  reject(error: unknown): void;
}

const EMPTY_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/**
 * An in-process publish/subscribe bus. Messages go out under dot-separated subjects (`orders.eu.created`);
 * subscriptions take NATS-style patterns (`orders.*.created`, `orders.>`), an optional filter, and a
 * bounded buffer with a backpressure policy.
 *
 * Guarantees: each subscription sees messages in publish order (a publish made from inside a callback
 * is delivered after the one being delivered, to everyone); `publish` settles once the message is
 * handed over, buffered or dropped for every matching subscription (under `block`, once there was room
 * for it everywhere); nothing is delivered to a subscription after it ended; callbacks, filters and
 * observers cannot break the bus by throwing. After `close()`, `publish` rejects and `subscribe` throws
 * `SyncError('closed')`.
 *
 * @example
 * ```ts
 * const bus = new EventBus();
 * const audit = bus.subscribe('orders.>', (envelope) => log(envelope.subject, envelope.payload));
 * const slow = bus.subscribe('orders.*.created', { bufferSize: 1000, backpressure: 'block' });
 * await bus.publish('orders.eu.created', { orderId: 'o-1' });
 * for await (const envelope of slow) await handle(envelope);
 * ```
 */
export class EventBus {
  readonly #entries = new Set<SubscriptionHandle<unknown>>();
  readonly #routes = new Map<string, Route>();
  readonly #routeCacheSize: number;
  readonly #observer: BusObserver | undefined;
  readonly #onError: (error: unknown, context: BusErrorContext) => void;
  readonly #now: () => number;
  readonly #newId: () => string;
  readonly #deferred: Deferred[] = [];
  #dispatching = false;
  #flushing = false;
  #closed = false;
  #nextSubscription = 0;
  #published = 0;
  /** Counts of ended subscriptions, kept so the totals never go down. */
  #retiredDelivered = 0;
  readonly #retiredDroppedBy: Record<DropReason, number> = { buffer_full: 0, aborted: 0, unsubscribed: 0, closed: 0 };

  /** @throws SyncError `invalid_input` for a bad `routeCacheSize`. */
  constructor(options: EventBusOptions = {}) {
    const routeCacheSize = options.routeCacheSize ?? DEFAULT_EVENT_BUS_OPTIONS.routeCacheSize;
    if (!Number.isSafeInteger(routeCacheSize) || routeCacheSize < 0) {
      throw new SyncError(
        'invalid_input',
        `routeCacheSize must be a non-negative integer, got ${String(routeCacheSize)}`,
        {
          details: { field: 'routeCacheSize' },
        },
      );
    }
    this.#routeCacheSize = routeCacheSize;
    this.#observer = options.observer;
    const onError = options.onError;
    this.#onError = (error, context) => {
      try {
        onError?.(error, context);
      } catch {
        // Reporting must not fail the bus either.
      }
    };
    this.#now = options.now ?? Date.now;
    this.#newId = options.newId ?? monotonicFactory();
  }

  /** Whether {@link EventBus.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The counters; see {@link EventBusStats}. */
  get stats(): EventBusStats {
    let delivered = this.#retiredDelivered;
    const droppedBy = { ...this.#retiredDroppedBy };
    let queueDepth = 0;
    let waiting = 0;
    for (const entry of this.#entries) {
      const counts = entry.mailbox.counts;
      delivered += counts.delivered;
      for (const reason of DROP_REASONS) droppedBy[reason] += counts.droppedBy[reason];
      queueDepth += counts.queued;
      waiting += counts.waiting;
    }
    return {
      published: this.#published,
      delivered,
      dropped: DROP_REASONS.reduce((sum, reason) => sum + droppedBy[reason], 0),
      droppedBy,
      queueDepth,
      waiting,
      subscribers: this.#entries.size,
    };
  }

  /**
   * Sends `payload` to every subscription whose pattern matches `subject` (and whose filter agrees).
   *
   * @returns the envelope, once it was handed over, buffered or dropped for every matching
   *   subscription. Under `block`, that waits for room, until `signal` aborts (the waiting copies are
   *   dropped as `aborted`, and it rejects with the signal's reason) or the bus closes.
   * @throws (rejects) SyncError `invalid_input` for a malformed subject or headers, `closed` once the
   *   bus is closed.
   */
  publish<T>(subject: string, payload: T, options: PublishOptions = {}): Promise<Envelope<T>> {
    if (this.#closed) return Promise.reject(closedError());
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    let route = this.#routes.get(subject);
    let headers = EMPTY_HEADERS;
    try {
      route ??= this.#route(subject);
      if (options.headers !== undefined) headers = copyHeaders(options.headers);
    } catch (error) {
      return Promise.reject(error);
    }
    const envelope: Envelope<T> = Object.freeze({
      id: this.#newId(),
      subject,
      payload,
      headers,
      timestamp: this.#now(),
    });
    this.#published++;
    if (this.#observer?.onPublish !== undefined) {
      try {
        this.#observer.onPublish(envelope);
      } catch (error) {
        this.#onError(error, { source: 'observer' });
      }
    }
    if (this.#dispatching) {
      return new Promise<Envelope>((resolve, reject) => {
        this.#deferred.push({ envelope, route, signal, resolve, reject });
      }) as Promise<Envelope<T>>;
    }
    return this.#dispatch(envelope, route, signal) as Promise<Envelope<T>>;
  }

  /**
   * Subscribes to the subjects `pattern` matches: `*` is any one segment, a final `>` any one or more.
   * Without a callback, read the subscription with `for await` or `next()`. With one, it is called
   * with each message in order, one at a time: an async callback holds the next message back (in the
   * buffer) until its promise settles. A callback that throws or rejects is reported to `onError`.
   *
   * @throws SyncError `invalid_input` for a malformed pattern or options, `closed` once the bus is
   *   closed; the signal's reason if it has aborted.
   */
  subscribe<T = unknown>(pattern: string, options?: SubscriptionOptions<T>): Subscription<T>;
  subscribe<T = unknown>(
    pattern: string,
    handler: (envelope: Envelope<T>) => unknown,
    options?: SubscriptionOptions<T>,
  ): Subscription<T>;
  subscribe<T = unknown>(
    pattern: string,
    handlerOrOptions?: ((envelope: Envelope<T>) => unknown) | SubscriptionOptions<T>,
    maybeOptions?: SubscriptionOptions<T>,
  ): Subscription<T> {
    if (this.#closed) throw closedError();
    const handler = typeof handlerOrOptions === 'function' ? handlerOrOptions : undefined;
    const options = (typeof handlerOrOptions === 'function' ? maybeOptions : handlerOrOptions) ?? {};
    if (
      handlerOrOptions !== undefined &&
      typeof handlerOrOptions !== 'function' &&
      typeof handlerOrOptions !== 'object'
    ) {
      throw new SyncError('invalid_input', 'The second argument of subscribe is a callback or options', {
        details: { field: 'handler' },
      });
    }
    const compiled = compilePattern(pattern);
    const buffer = resolveBufferOptions(options);
    const { filter, signal } = options;
    if (filter !== undefined && typeof filter !== 'function') {
      throw new SyncError('invalid_input', 'filter must be a function', { details: { field: 'filter' } });
    }
    if (signal?.aborted) throw abortReason(signal);
    const handle = new SubscriptionHandle<T>(`sub-${++this.#nextSubscription}`, compiled, (entry) =>
      this.#remove(entry),
    );
    const observer = this.#observer;
    const subscription = handle as Subscription<T>;
    const mailbox = new Mailbox<Envelope<T>>({
      ...buffer,
      handler,
      filter,
      onError: (error, source) => this.#onError(error, { source, subscription }),
      enter: (run) => this.#enter(run),
      observer:
        observer?.onDeliver || observer?.onDrop
          ? {
              deliver: (envelope) => observer.onDeliver?.(envelope, subscription),
              drop: (envelope, reason) => observer.onDrop?.(envelope, subscription, reason),
            }
          : undefined,
    });
    handle.attach(mailbox, signal);
    this.#entries.add(handle as SubscriptionHandle<unknown>);
    this.#routes.clear();
    return subscription;
  }

  /**
   * Closes the bus: every subscription ends (buffered and waiting messages are dropped as `closed`),
   * blocked publishers reject with `SyncError('closed')`, and later calls fail with it. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const entry of [...this.#entries]) entry.end('closed');
    this.#routes.clear();
  }

  #route(subject: string): Route {
    const segments = validateSubject(subject);
    const mailboxes: Mailbox<Envelope>[] = [];
    for (const entry of this.#entries) {
      if (entry.compiledPattern.matches(segments)) mailboxes.push(entry.mailbox);
    }
    const route: Route = { subject, mailboxes };
    if (this.#routeCacheSize > 0) {
      if (this.#routes.size >= this.#routeCacheSize) {
        this.#routes.delete(this.#routes.keys().next().value as string);
      }
      this.#routes.set(subject, route);
    }
    return route;
  }

  #dispatch(envelope: Envelope, route: Route, signal: AbortSignal | undefined): Promise<Envelope> {
    let wait: PublishWait | undefined;
    this.#dispatching = true;
    try {
      const { mailboxes } = route;
      for (let i = 0; i < mailboxes.length; i++) {
        const mailbox = mailboxes[i] as Mailbox<Envelope>;
        if (mailbox.offer(envelope) === 'full') {
          wait ??= new PublishWait(envelope, signal);
          wait.add(mailbox);
        }
      }
    } finally {
      this.#dispatching = false;
      if (this.#deferred.length > 0) this.#flush();
    }
    return wait === undefined ? Promise.resolve(envelope) : wait.arm();
  }

  /** Runs `run` as a dispatch: publishes it makes are delivered after it, in order. */
  #enter(run: () => void): void {
    if (this.#dispatching) {
      run();
      return;
    }
    this.#dispatching = true;
    try {
      run();
    } finally {
      this.#dispatching = false;
      if (this.#deferred.length > 0) this.#flush();
    }
  }

  #flush(): void {
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      let job: Deferred | undefined;
      while ((job = this.#deferred.shift()) !== undefined) {
        if (this.#closed) job.reject(closedError());
        else job.resolve(this.#dispatch(job.envelope, job.route, job.signal));
      }
    } finally {
      this.#flushing = false;
    }
  }

  #remove(entry: SubscriptionHandle<unknown>): void {
    if (!this.#entries.delete(entry)) return;
    this.#routes.clear();
    const counts = entry.mailbox.counts;
    this.#retiredDelivered += counts.delivered;
    for (const reason of DROP_REASONS) this.#retiredDroppedBy[reason] += counts.droppedBy[reason];
  }
}

class SubscriptionHandle<T> implements Subscription<T> {
  readonly id: string;
  readonly pattern: string;
  readonly #compiled: CompiledPattern;
  readonly #onEnd: (entry: SubscriptionHandle<unknown>) => void;
  #mailbox: Mailbox<Envelope<T>> | undefined;
  #stopSignal: (() => void) | undefined;

  constructor(id: string, pattern: CompiledPattern, onEnd: (entry: SubscriptionHandle<unknown>) => void) {
    this.id = id;
    this.pattern = pattern.source;
    this.#compiled = pattern;
    this.#onEnd = onEnd;
  }

  get compiledPattern(): CompiledPattern {
    return this.#compiled;
  }

  get mailbox(): Mailbox<Envelope<T>> {
    return this.#mailbox as Mailbox<Envelope<T>>;
  }

  get closed(): boolean {
    return this.mailbox.ended;
  }

  get stats(): SubscriptionStats {
    return this.mailbox.counts;
  }

  attach(mailbox: Mailbox<Envelope<T>>, signal: AbortSignal | undefined): void {
    this.#mailbox = mailbox;
    if (signal) {
      const onAbort = (): void => this.unsubscribe();
      signal.addEventListener('abort', onAbort, { once: true });
      this.#stopSignal = () => signal.removeEventListener('abort', onAbort);
    }
  }

  next(): Promise<IteratorResult<Envelope<T>, undefined>> {
    return this.mailbox.next();
  }

  unsubscribe(): void {
    this.end('unsubscribed');
  }

  end(reason: DropReason): void {
    if (this.mailbox.ended) return;
    this.mailbox.end(reason);
    this.#stopSignal?.();
    this.#onEnd(this as SubscriptionHandle<unknown>);
  }

  [Symbol.asyncIterator](): AsyncIterator<Envelope<T>, undefined> {
    return {
      next: () => this.next(),
      return: () => {
        this.unsubscribe();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

/** A publish waiting for room in `block` subscriptions. */
class PublishWait implements Ticket {
  readonly #envelope: Envelope;
  readonly #signal: AbortSignal | undefined;
  readonly #mailboxes: Mailbox<Envelope>[] = [];
  readonly #promise: Promise<Envelope>;
  #resolve!: (envelope: Envelope) => void;
  #reject!: (error: unknown) => void;
  #outstanding = 0;
  #armed = false;
  #settled = false;

  constructor(envelope: Envelope, signal: AbortSignal | undefined) {
    this.#envelope = envelope;
    this.#signal = signal;
    this.#promise = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  add(mailbox: Mailbox<Envelope>): void {
    this.#outstanding++;
    this.#mailboxes.push(mailbox);
    mailbox.wait(this.#envelope, this);
  }

  /** The publish's promise, once every waiting copy was placed; settles when they are all admitted. */
  arm(): Promise<Envelope> {
    this.#armed = true;
    if (this.#settled) return this.#promise;
    if (this.#outstanding === 0) this.#succeed();
    else if (this.#signal?.aborted) this.#abort();
    else this.#signal?.addEventListener('abort', this.#abort, { once: true });
    return this.#promise;
  }

  admitted(): void {
    this.#outstanding--;
    if (this.#armed && this.#outstanding === 0) this.#succeed();
  }

  released(reason: DropReason): void {
    this.#outstanding--;
    if (reason === 'closed') this.#fail(closedError());
    else if (this.#armed && this.#outstanding === 0) this.#succeed();
  }

  readonly #abort = (): void => {
    if (this.#settled) return;
    for (const mailbox of this.#mailboxes) mailbox.withdraw(this, 'aborted');
    this.#fail(abortReason(this.#signal as AbortSignal));
  };

  #succeed(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#signal?.removeEventListener('abort', this.#abort);
    this.#resolve(this.#envelope);
  }

  #fail(error: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#signal?.removeEventListener('abort', this.#abort);
    this.#reject(error);
  }
}

function closedError(): SyncError {
  return new SyncError('closed', 'The event bus is closed');
}

function copyHeaders(headers: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) {
    throw new SyncError('invalid_input', 'headers must be an object of strings', { details: { field: 'headers' } });
  }
  const entries = Object.entries(headers);
  for (const [name, value] of entries) {
    if (typeof value !== 'string') {
      throw new SyncError('invalid_input', `Header ${JSON.stringify(name)} must be a string, got ${typeof value}`, {
        details: { field: `headers.${name}` },
      });
    }
  }
  // `fromEntries` keeps a `__proto__` header as plain data.
  return Object.freeze(Object.fromEntries(entries));
}
