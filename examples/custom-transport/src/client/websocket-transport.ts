import {
  CallScope,
  CallScopes,
  CursorVersion,
  DEFAULT_RETRY_OPTIONS,
  isSyncError,
  partialPushError,
  SyncError,
  utf8Length,
  type AppendResult,
  type Event,
  type EventPage,
  type LiveBatch,
  type PullOptions,
  type RetryOptions,
  type SignalOptions,
  type SubscribeOptions,
  type Transport,
  type TransportSubscription,
} from '@eventsync/core';
import {
  decodePullResponse,
  decodePushResponse,
  decodeVersionResponse,
  encodeEvents,
  encodePullQuery,
  type TokenProvider,
  type TokenRequest,
} from '@eventsync/http';
import type { PullMessage, SocketLimits, VersionMessage } from '../protocol/messages.js';
import { Connection } from './connection.js';
import { LiveSubscription } from './live-subscription.js';
import type { WebSocketConstructor } from './websocket-like.js';

/** Options of {@link WebSocketTransport}. */
export interface WebSocketTransportOptions {
  /**
   * The server's socket: `ws://` or `wss://` (an `http(s)://` URL is taken as `ws(s)://`), e.g.
   * `wss://example.com/v1/socket`. Relative URLs resolve against `location` where there is one
   * (browsers). Required.
   */
  readonly url: string | URL;
  /**
   * The WebSocket class. Node 20 has none: pass the `ws` package's (`import { WebSocket } from 'ws'`).
   *
   * @defaultValue `globalThis.WebSocket` (browsers, workers, Deno, Bun, Node 22+)
   */
  readonly WebSocket?: WebSocketConstructor;
  /**
   * The bearer token sent in the hello of each new socket, as `HttpTransport` takes it. Asked again
   * for every socket (so a renewed token is used on reconnect), and once with `refresh: true` when the
   * server refused the hello as `unauthorized`.
   *
   * @defaultValue none: the hello carries no token (the server may still accept the socket, by a cookie)
   */
  readonly token?: TokenProvider;
  /**
   * The longest one call may take (opening the socket if needed, the request, the answer), in
   * milliseconds; past it the call fails with a retryable `SyncError('timeout')` and the socket is
   * dropped, since a socket that stopped answering is most likely dead.
   *
   * @defaultValue 30000
   */
  readonly timeoutMs?: number;
  /**
   * While subscriptions ride on the socket, how long it may stay silent (the server sends a heartbeat
   * per quiet subscription every 15 s by default) before it is taken for dead and reopened, in
   * milliseconds.
   *
   * @defaultValue 45000
   */
  readonly idleTimeoutMs?: number;
  /**
   * How a subscription waits before subscribing again after its socket went: exponential backoff
   * with jitter.
   *
   * @defaultValue `{ initialDelayMs: 1000, maxDelayMs: 30000, factor: 2, jitter: 0.5 }`
   */
  readonly reconnect?: RetryOptions;
  /**
   * Random numbers in [0, 1) for the backoff's jitter.
   *
   * @defaultValue `Math.random`
   */
  readonly random?: () => number;
}

/** The defaults of {@link WebSocketTransportOptions}. */
export const DEFAULT_WEBSOCKET_TRANSPORT_OPTIONS = {
  timeoutMs: 30_000,
  idleTimeoutMs: 45_000,
  reconnect: { ...DEFAULT_RETRY_OPTIONS, maxDelayMs: 30_000 },
} as const satisfies Required<Pick<WebSocketTransportOptions, 'timeoutMs' | 'idleTimeoutMs'>> & {
  reconnect: Required<RetryOptions>;
};

/**
 * A {@link Transport} over one WebSocket (subprotocol `eventsync.v1`), served by `attachWebSocketSync`.
 * The messages carry the bodies of the HTTP protocol (docs/protocol.md), encoded and checked by
 * `@eventsync/http`'s codec; docs/custom-transport.md walks through it.
 *
 * - One socket per transport, opened on the first call and again on the first call after it went.
 *   Requests carry an id and are answered by id, so any number may be in flight; subscriptions share
 *   the socket.
 * - Errors: a socket that cannot open or goes away is `network`, no answer in `timeoutMs` is
 *   `timeout`, a server that cannot serve now is `unavailable` (all three retryable); a refused hello
 *   is `unauthorized` or `forbidden`, a bad request `invalid_input`, a limit passed `limit_exceeded`
 *   with the limit named, a broken answer `protocol`. After {@link close}, everything is `closed`.
 * - A request whose socket goes before the answer fails with `network`: the server may have handled
 *   it. Pushing the same events again is safe (pushes are idempotent by event id: they come back
 *   `duplicate` at the versions they got), and `SyncManager` does exactly that on its next sync.
 * - Subscriptions resubscribe from the cursor of the last batch they delivered: none lost, none twice.
 *
 * @example
 * ```ts
 * import { WebSocket } from 'ws'; // Node 20; browsers have their own
 *
 * const transport = new WebSocketTransport({
 *   url: 'wss://example.com/v1/socket',
 *   token: ({ refresh }) => (refresh ? auth.refresh() : auth.token()),
 *   WebSocket,
 * });
 * const manager = new SyncManager({ store, transport, clientId: 'phone-1' });
 * ```
 */
export class WebSocketTransport implements Transport {
  readonly #url: string;
  readonly #WebSocket: WebSocketConstructor;
  readonly #token: TokenProvider | undefined;
  readonly #timeoutMs: number;
  readonly #idleTimeoutMs: number;
  readonly #reconnect: Required<RetryOptions>;
  readonly #random: () => number;
  readonly #closing = new AbortController();
  /**
   * Calls in flight, aborted on close (and any asked after): linking each to `#closing` would put one
   * listener per concurrent call on that signal (Node warns past ten).
   */
  readonly #calls = new CallScopes();
  readonly #subscriptions = new Set<LiveSubscription>();
  #connection: Connection | undefined;
  #connecting: Promise<Connection> | undefined;

  /** @throws SyncError `invalid_input` for a missing or malformed `url`, no WebSocket class, or an impossible option. */
  constructor(options: WebSocketTransportOptions) {
    const defaults = DEFAULT_WEBSOCKET_TRANSPORT_OPTIONS;
    this.#url = socketUrl(options?.url);
    const WebSocketClass =
      options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket ?? undefined;
    if (typeof WebSocketClass !== 'function') {
      throw invalid(
        'WebSocket',
        "There is no global WebSocket here: pass one (in Node 20, the ws package's WebSocket)",
      );
    }
    this.#WebSocket = WebSocketClass;
    if (options.token !== undefined && typeof options.token !== 'function') {
      throw invalid('token', 'token must be a function');
    }
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? defaults.timeoutMs;
    if (!(this.#timeoutMs > 0)) throw invalid('timeoutMs', `timeoutMs must be positive, got ${options.timeoutMs}`);
    this.#idleTimeoutMs = options.idleTimeoutMs ?? defaults.idleTimeoutMs;
    if (!(this.#idleTimeoutMs > 0)) {
      throw invalid('idleTimeoutMs', `idleTimeoutMs must be positive, got ${options.idleTimeoutMs}`);
    }
    this.#reconnect = { ...defaults.reconnect, ...options.reconnect };
    const { initialDelayMs, maxDelayMs, factor, jitter } = this.#reconnect;
    if (!(initialDelayMs > 0) || !(maxDelayMs >= initialDelayMs) || !(factor >= 1) || !(jitter >= 0 && jitter <= 1)) {
      throw invalid('reconnect', 'reconnect needs 0 < initialDelayMs <= maxDelayMs, factor >= 1 and 0 <= jitter <= 1');
    }
    this.#random = options.random ?? Math.random;
  }

  /**
   * Pushes `events` and answers per event, in order. A batch larger than the server's
   * `maxEventsPerPush`, or than its `maxBodyBytes` as one message, goes in several messages, one
   * after the other (the limits come with the server's welcome). Once an event meets a `conflict`,
   * the later events of its aggregate are answered `conflict` without being sent, as the server does
   * within one message, so a client's events never land out of order.
   *
   * If a message fails after earlier ones were answered, the call fails with that error, and
   * `error.details.results` holds the results of the events answered so far. Pushing again is safe.
   *
   * @throws SyncError `invalid_input` for events that are not an array or not JSON; `limit_exceeded`
   *   naming `maxBodyBytes` (with `eventId`) for an event that cannot fit in one message, or the
   *   server's `limit_exceeded` naming `maxEventBytes`.
   */
  async push(events: readonly Event[], options: SignalOptions = {}): Promise<AppendResult[]> {
    this.#enter(options.signal);
    const texts = encodeEvents(events).events.map((event, index) => eventJson(event, index));
    const results: AppendResult[] = [];
    const conflicted = new Map<string, AppendResult & { status: 'conflict' }>();
    const blocked = (index: number): boolean => conflicted.has((events[index] as Event).aggregateId);
    let index = 0;
    while (index < events.length) {
      const first = events[index] as Event;
      const blocking = conflicted.get(first.aggregateId);
      if (blocking) {
        results.push(conflictAfter(first, blocking));
        index++;
        continue;
      }
      let end = index;
      let answered: AppendResult[];
      try {
        answered = await this.#call('Push', options.signal, async (connection, signal) => {
          const id = connection.nextId();
          const chunk = nextChunk(texts, index, blocked, connection.limits, id, events);
          end = chunk.end;
          const text = `{"type":"push","id":${id},"body":{"events":[${chunk.sending.map((i) => texts[i]).join(',')}]}}`;
          const body = await connection.request(id, text, 'Push', signal);
          return decodePushResponse(
            body,
            chunk.sending.map((i) => (events[i] as Event).id),
          );
        });
      } catch (error) {
        throw partialPushError(error, results, events.length);
      }
      let next = 0;
      for (let i = index; i < end; i++) {
        const event = events[i] as Event;
        const earlier = conflicted.get(event.aggregateId);
        const result = earlier ? conflictAfter(event, earlier) : (answered[next++] as AppendResult);
        if (result.status === 'conflict' && !earlier) conflicted.set(event.aggregateId, result);
        results.push(result);
      }
      index = end;
    }
    return results;
  }

  /**
   * Pulls a page of events strictly after `since`.
   *
   * @throws SyncError `invalid_input` for a bad `since` or `limit`, or a `since` past the server's
   *   log; `limit_exceeded` naming `maxPullLimit`.
   */
  async pull(since: CursorVersion, options: PullOptions = {}): Promise<EventPage> {
    this.#enter(options.signal);
    if (!(since instanceof CursorVersion)) throw invalid('since', 'since must be a CursorVersion');
    const query = encodePullQuery({
      since,
      ...(options.limit === undefined ? {} : { limit: options.limit }),
      ...(options.filter === undefined ? {} : { filter: options.filter }),
    }).toString();
    return this.#call('Pull', options.signal, async (connection, signal) => {
      const id = connection.nextId();
      const message: PullMessage = { type: 'pull', id, query };
      return decodePullResponse(await connection.request(id, JSON.stringify(message), 'Pull', signal), since);
    });
  }

  /** The server's latest cursor for this client's tenant. */
  async latestVersion(options: SignalOptions = {}): Promise<CursorVersion> {
    this.#enter(options.signal);
    return this.#call('Reading the latest version', options.signal, async (connection, signal) => {
      const id = connection.nextId();
      const message: VersionMessage = { type: 'version', id };
      return decodeVersionResponse(
        await connection.request(id, JSON.stringify(message), 'Reading the latest version', signal),
      );
    });
  }

  /**
   * Delivers batches after `since` (by default, after the server's latest version when the
   * subscription opens), in order, none twice, one handler call at a time. The state is `'live'` once
   * the server confirmed where the subscription starts; when the socket goes (or the server ends the
   * subscription) it turns `'connecting'` and subscribes again with backoff from the last batch
   * delivered; when the server refuses it for good (`unauthorized`, `forbidden`, a cursor past its
   * log) or the handler throws, it turns `'closed'` with the error.
   *
   * @throws SyncError `closed` after {@link close}; `invalid_input` for a handler that is not a
   *   function or a `since` that is not a `CursorVersion`.
   */
  subscribe(
    handler: (batch: LiveBatch) => void | Promise<void>,
    options: SubscribeOptions = {},
  ): TransportSubscription {
    this.#enter(options.signal);
    if (typeof handler !== 'function') throw invalid('handler', 'subscribe takes a handler function');
    if (options.since !== undefined && !(options.since instanceof CursorVersion)) {
      throw invalid('since', 'since must be a CursorVersion');
    }
    const subscription = new LiveSubscription(
      { connect: (signal) => CallScope.race(this.#connect(), signal) },
      handler,
      options,
      { retry: this.#reconnect, random: this.#random },
      () => this.#subscriptions.delete(subscription),
    );
    this.#subscriptions.add(subscription);
    subscription.start();
    return subscription;
  }

  /**
   * Closes every subscription (they say `'closed'`), fails the calls in flight with
   * `SyncError('closed')` and closes the socket. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    const closed = new SyncError('closed', 'The WebSocket transport was closed');
    for (const subscription of [...this.#subscriptions]) subscription.close();
    this.#closing.abort(closed);
    this.#calls.close(closed);
    this.#connection?.close(closed);
    this.#connection = undefined;
  }

  #enter(signal: AbortSignal | undefined): void {
    if (this.#closing.signal.aborted) throw new SyncError('closed', 'The WebSocket transport is closed');
    if (signal?.aborted) throw signal.reason ?? new SyncError('aborted', 'The operation was aborted');
  }

  /** One call: the connection (opened if needed), then `run`, all within `timeoutMs` and the caller's signal. */
  async #call<T>(
    what: string,
    signal: AbortSignal | undefined,
    run: (connection: Connection, signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const scope = this.#calls.open({ signals: [signal], timeoutMs: this.#timeoutMs, what });
    let connection: Connection | undefined;
    try {
      connection = await scope.race(this.#connect());
      return await run(connection, scope.signal);
    } catch (error) {
      // A socket that stopped answering is most likely half-open: the next call opens a new one.
      if (scope.timedOut) {
        connection?.close(new SyncError('network', `The WebSocket was dropped after ${what} timed out`), true);
      }
      throw error;
    } finally {
      this.#calls.release(scope);
    }
  }

  /** The open connection, or the one being opened, or a new one. Shared by every call and subscription. */
  #connect(): Promise<Connection> {
    if (this.#closing.signal.aborted) {
      return Promise.reject(new SyncError('closed', 'The WebSocket transport is closed'));
    }
    if (this.#connection?.open) return Promise.resolve(this.#connection);
    this.#connecting ??= this.#open().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #open(): Promise<Connection> {
    const settings = {
      url: this.#url,
      WebSocket: this.#WebSocket,
      timeoutMs: this.#timeoutMs,
      idleTimeoutMs: this.#idleTimeoutMs,
    };
    const signal = this.#closing.signal;
    let connection: Connection;
    try {
      connection = await Connection.open(settings, await this.#tokenFor({ refresh: false, signal }), signal);
    } catch (error) {
      if (!isSyncError(error, 'unauthorized') || this.#token === undefined || signal.aborted) throw error;
      connection = await Connection.open(settings, await this.#tokenFor({ refresh: true, signal }), signal);
    }
    if (signal.aborted) {
      connection.close(signal.reason as SyncError);
      throw signal.reason;
    }
    connection.onClosed = (gone) => {
      if (this.#connection === gone) this.#connection = undefined;
    };
    this.#connection = connection;
    return connection;
  }

  async #tokenFor(request: TokenRequest): Promise<string | undefined> {
    const provider = this.#token;
    if (provider === undefined) return undefined;
    let token: unknown;
    try {
      token = await CallScope.race(Promise.resolve(provider(request)), request.signal);
    } catch (error) {
      if (request.signal.aborted || isSyncError(error)) throw error;
      throw new SyncError('unauthorized', `The token provider failed: ${messageOf(error)}`, { cause: error });
    }
    if (token !== undefined && typeof token !== 'string') {
      throw invalid('token', 'The token provider must return a string or undefined');
    }
    return token === '' ? undefined : token;
  }
}

/**
 * The events from `start` on that fit in one push message: at most `maxEventsPerPush` sent, and the
 * message at most `maxBodyBytes`. Events of `blocked` aggregates are passed over (they are not sent).
 *
 * @throws SyncError `limit_exceeded` naming `maxBodyBytes` for an event that fits in no message.
 */
function nextChunk(
  texts: readonly string[],
  start: number,
  blocked: (index: number) => boolean,
  limits: SocketLimits,
  id: number,
  events: readonly Event[],
): { end: number; sending: number[] } {
  const envelope = `{"type":"push","id":${id},"body":{"events":[]}}`.length;
  const sending: number[] = [];
  let bytes = envelope;
  let end = start;
  for (; end < texts.length; end++) {
    if (blocked(end)) continue;
    const size = utf8Length(texts[end] as string) + (sending.length === 0 ? 0 : 1);
    if (sending.length > 0 && (sending.length >= limits.maxEventsPerPush || bytes + size > limits.maxBodyBytes)) break;
    if (bytes + size > limits.maxBodyBytes) {
      const eventId = (events[end] as Event).id;
      throw new SyncError(
        'limit_exceeded',
        `Event ${eventId} takes ${bytes + size} bytes as a push message, more than the server's maxBodyBytes (${limits.maxBodyBytes})`,
        { details: { limit: 'maxBodyBytes', max: limits.maxBodyBytes, actual: bytes + size, eventId } },
      );
    }
    sending.push(end);
    bytes += size;
  }
  return { end, sending };
}

/** The result of an event held back because an earlier event of its aggregate met a conflict. */
function conflictAfter(event: Event, earlier: AppendResult & { status: 'conflict' }): AppendResult {
  return {
    id: event.id,
    status: 'conflict',
    latest: earlier.latest,
    reason: `An earlier event of aggregate ${event.aggregateId} in this push met a conflict`,
  };
}

/** One event's JSON, as it goes into a push message. @throws SyncError `invalid_input`. */
function eventJson(event: Event, index: number): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(event);
  } catch (error) {
    throw new SyncError('invalid_input', `Event ${index} cannot be sent: it is not JSON`, {
      details: { field: `events.${index}` },
      cause: error,
    });
  }
  if (text === undefined) {
    throw new SyncError('invalid_input', `Event ${index} cannot be sent: it is not JSON`, {
      details: { field: `events.${index}` },
    });
  }
  return text;
}

function socketUrl(value: unknown): string {
  if (!(value instanceof URL) && (typeof value !== 'string' || value.length === 0)) {
    throw invalid('url', 'url is required (the server socket, ws:// or wss://)');
  }
  const location = (globalThis as { location?: { href?: string } }).location?.href;
  let url: URL;
  try {
    url = new URL(value, location);
  } catch {
    throw invalid('url', `url is not a URL: ${JSON.stringify(String(value))}`);
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw invalid('url', `url must be a ws:// or wss:// URL, got ${url.protocol}`);
  }
  url.hash = '';
  return url.href;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function invalid(field: string, message: string): SyncError {
  return new SyncError('invalid_input', message, { details: { field } });
}
