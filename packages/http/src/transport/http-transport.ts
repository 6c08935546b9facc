import {
  CallScope,
  CallScopes,
  CursorVersion,
  DEFAULT_RETRY_OPTIONS,
  isSyncError,
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
  decodeHealthResponse,
  decodePullResponse,
  pushChainOf,
  decodePushResponse,
  decodeVersionResponse,
} from '../protocol/decode.js';
import { encodeChainedEvents, encodeEvents } from '../protocol/encode.js';
import { encodePullQuery } from '../protocol/request.js';
import {
  MEDIA_TYPES,
  PROTOCOL_PATHS,
  PROTOCOL_VERSION,
  type HealthResponse,
  type PushChain,
} from '../protocol/wire.js';
import { requestFailure, responseError } from './http-error.js';
import { LiveStream } from './live-stream.js';
import { pushBatches, randomChainId } from './push-batches.js';

/** What a {@link TokenProvider} is asked. */
export interface TokenRequest {
  /**
   * `true` after the server answered `401` to the token last given: return a fresh one (refresh it,
   * sign in again…). The request is then retried once with it.
   */
  readonly refresh: boolean;
  /** Fires when the request is cancelled (or, for a refresh, when the transport closes). */
  readonly signal: AbortSignal;
}

/**
 * Gives the bearer token for a request (sent as `Authorization: Bearer <token>`), or `undefined` to
 * send none. Called before every request, so it can hand out a token it renewed meanwhile. A
 * `SyncError` it throws is passed on as it is (throw `SyncError('network')` to have the call retried);
 * anything else it throws becomes `SyncError('unauthorized')`.
 */
export type TokenProvider = (request: TokenRequest) => string | undefined | Promise<string | undefined>;

/** How the live stream reconnects and watches for silence. */
export interface HttpStreamOptions extends RetryOptions {
  /**
   * How long a stream may stay silent (no batch, no heartbeat) before it is taken for dead and
   * reconnected, in milliseconds. Servers send a heartbeat every 15 s by default. `Infinity` turns the
   * check off (as does anything past 2^31 − 1 ms, the longest a timer waits).
   *
   * @defaultValue 45000
   */
  readonly idleTimeoutMs?: number;
}

/** Options of {@link HttpTransport}. */
export interface HttpTransportOptions {
  /**
   * Where the server is mounted: `https://example.com/sync` makes `https://example.com/sync/v1/events`.
   * Relative URLs resolve against `location` where there is one (browsers). Required.
   */
  readonly baseUrl: string | URL;
  /**
   * The `fetch` to use.
   *
   * @defaultValue `globalThis.fetch`, looked up at each request
   */
  readonly fetch?: typeof globalThis.fetch;
  /**
   * The bearer token per request; see {@link TokenProvider}.
   *
   * @defaultValue none: no `Authorization` header, and a `401` fails at once
   */
  readonly token?: TokenProvider;
  /**
   * Headers sent with every request (a client version, a fixed `Authorization` when there is no
   * `token` provider…). `Content-Type`, `Content-Encoding`, `Accept` and `Last-Event-ID` are the
   * transport's own; a token from `token` replaces `Authorization`.
   *
   * @defaultValue `{}`
   */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * The longest one call may take (token, request, a refresh and its retry, the whole answer), in
   * milliseconds; past it the call fails with a retryable `SyncError('timeout')`. For the live
   * stream, the longest wait for its response headers.
   *
   * @defaultValue 30000
   */
  readonly timeoutMs?: number;
  /**
   * The most events one push request carries; `push` splits larger batches into several requests
   * (see {@link HttpTransport.push}).
   *
   * @defaultValue 1000 (the server's default `maxEventsPerPush`)
   */
  readonly maxBatchSize?: number;
  /**
   * How many requests of one `push` may be in flight at once. A push of more than one batch (see
   * `maxBatchSize`) sends its batches as a push chain: the next ones go out before the earlier ones
   * are answered, and the server still decides them one after the other, in order (see
   * {@link HttpTransport.push}). `1` sends one request after the other, without a chain.
   *
   * Chains need the requests of one push to reach the same server node. Behind a load balancer that
   * spreads one client's requests over several nodes, a chained push is answered `409
   * chain_unknown` (after the server's wait: 1 s on a node that never saw the chain, 10 s by default
   * on one that did) and the transport stops chaining for good: set `1` there. The same happens when
   * the server takes longer than that wait to decide the pushes ahead of one in the chain. A server that does not take chains refuses the first one
   * (`400`), and the transport stops chaining too. The first push of a chain goes alone: only once
   * its answer echoes the chain (the server's word that it keeps chains in order) do the others
   * follow without waiting, so a server or proxy that drops the `chain` member never sees two
   * pushes of one client at once (and chaining stops there as well).
   *
   * @defaultValue 4
   */
  readonly pushWindow?: number;
  /**
   * Push bodies of at least this many bytes are sent gzip-compressed (`Content-Encoding: gzip`), where
   * the platform has `CompressionStream` (browsers, Node 18+). Off by default: some proxies and
   * servers refuse compressed requests; eventsync's server takes them.
   *
   * @defaultValue `Infinity` (never)
   */
  readonly gzipMinBytes?: number;
  /**
   * How the live stream reconnects: exponential backoff with jitter (the server's `retry:` replaces
   * `initialDelayMs`; a `Retry-After` is waited at least), and its silence timeout.
   *
   * @defaultValue `{ initialDelayMs: 1000, maxDelayMs: 30000, factor: 2, jitter: 0.5, idleTimeoutMs: 45000 }`
   */
  readonly stream?: HttpStreamOptions;
  /**
   * Random numbers in [0, 1) for the backoff's jitter.
   *
   * @defaultValue `Math.random`
   */
  readonly random?: () => number;
}

/** The defaults of {@link HttpTransportOptions}. */
export const DEFAULT_HTTP_TRANSPORT_OPTIONS = {
  /** No headers of one's own; see {@link HttpTransportOptions.headers}. */
  headers: {},
  /** A call may take 30 s; see {@link HttpTransportOptions.timeoutMs}. */
  timeoutMs: 30_000,
  /** 1000 events per push request; see {@link HttpTransportOptions.maxBatchSize}. */
  maxBatchSize: 1000,
  /** Up to 4 push requests of one push in flight, as a push chain; see {@link HttpTransportOptions.pushWindow}. */
  pushWindow: 4,
  /** `Infinity`: pushes are never compressed; see {@link HttpTransportOptions.gzipMinBytes}. */
  gzipMinBytes: Number.POSITIVE_INFINITY,
  /** The live stream's reconnect backoff and silence timeout; see {@link HttpTransportOptions.stream}. */
  stream: {
    ...DEFAULT_RETRY_OPTIONS,
    /** Reconnects wait 30 s at most (`DEFAULT_RETRY_OPTIONS` waits up to 60 s); see {@link RetryOptions.maxDelayMs}. */
    maxDelayMs: 30_000,
    /** A stream silent for 45 s is reconnected; see {@link HttpStreamOptions.idleTimeoutMs}. */
    idleTimeoutMs: 45_000,
  },
} as const satisfies Omit<Required<HttpTransportOptions>, 'baseUrl' | 'fetch' | 'token' | 'random'> & {
  stream: Required<HttpStreamOptions>;
};

interface RequestSpec {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly query?: URLSearchParams;
  readonly accept: string;
  readonly body?: { readonly data: string | Uint8Array<ArrayBuffer>; readonly gzip: boolean };
  readonly headers?: Readonly<Record<string, string>>;
  /** Send no credentials (health). */
  readonly anonymous?: boolean;
}

/**
 * A {@link Transport} over HTTP and Server-Sent Events: eventsync's v1 wire protocol
 * (docs/protocol.md) with `fetch`, in browsers, workers and Node 20+.
 *
 * - Every answer is checked before use; a malformed one fails with `SyncError('protocol')`.
 * - Errors: a network failure is `network`, no answer in `timeoutMs` is `timeout`, 429 and 5xx are
 *   `unavailable` (all three retryable, with `details.retryAfterMs` from `Retry-After`); 401 is
 *   `unauthorized` (after one token refresh), 403 `forbidden`, 404 `not_found`, 400 and 415
 *   `invalid_input`, 413 (and a 400 over `maxPullLimit`) `limit_exceeded` with the limit named.
 *   `details.status` is the HTTP status, `details.problem` the problem code.
 * - The live stream is read from a fetch body (so the `Authorization` header works, unlike with
 *   `EventSource`), resumed with `Last-Event-ID` after the last batch delivered.
 *
 * @example
 * ```ts
 * const transport = new HttpTransport({
 *   baseUrl: 'https://example.com/sync',
 *   token: ({ refresh }) => (refresh ? auth.refresh() : auth.token()),
 * });
 * const manager = new SyncManager({ store, transport, clientId: 'phone-1' });
 * ```
 */
export class HttpTransport implements Transport {
  readonly #base: URL;
  readonly #fetch: typeof globalThis.fetch | undefined;
  readonly #token: TokenProvider | undefined;
  readonly #headers: Readonly<Record<string, string>>;
  readonly #timeoutMs: number;
  readonly #maxBatchSize: number;
  readonly #pushWindow: number;
  readonly #gzipMinBytes: number;
  readonly #stream: Required<HttpStreamOptions>;
  readonly #random: () => number;
  readonly #closing = new AbortController();
  /**
   * Requests in flight, aborted on close (and any asked after): linking each to `#closing` would put
   * one listener per concurrent request on that signal (Node warns past ten).
   */
  readonly #calls = new CallScopes();
  readonly #streams = new Set<LiveStream>();
  #refreshing: Promise<string | undefined> | undefined;
  /** Whether pushes may be chained: not once the server showed it cannot keep a chain in order. */
  #chaining = true;

  /** @throws SyncError `invalid_input` for a missing or malformed `baseUrl` or an impossible option. */
  constructor(options: HttpTransportOptions) {
    const defaults = DEFAULT_HTTP_TRANSPORT_OPTIONS;
    this.#base = baseUrlOf(options?.baseUrl);
    if (options.fetch !== undefined && typeof options.fetch !== 'function')
      throw invalid('fetch', 'fetch must be a function');
    if (options.token !== undefined && typeof options.token !== 'function')
      throw invalid('token', 'token must be a function');
    this.#fetch = options.fetch;
    this.#token = options.token;
    this.#headers = { ...(options.headers ?? defaults.headers) };
    this.#timeoutMs = options.timeoutMs ?? defaults.timeoutMs;
    if (!(this.#timeoutMs > 0))
      throw invalid('timeoutMs', `timeoutMs must be positive, got ${String(options.timeoutMs)}`);
    this.#maxBatchSize = options.maxBatchSize ?? defaults.maxBatchSize;
    if (!Number.isSafeInteger(this.#maxBatchSize) || this.#maxBatchSize < 1) {
      throw invalid('maxBatchSize', `maxBatchSize must be a positive integer, got ${String(options.maxBatchSize)}`);
    }
    this.#pushWindow = options.pushWindow ?? defaults.pushWindow;
    if (!Number.isSafeInteger(this.#pushWindow) || this.#pushWindow < 1) {
      throw invalid('pushWindow', `pushWindow must be a positive integer, got ${String(options.pushWindow)}`);
    }
    this.#gzipMinBytes = options.gzipMinBytes ?? defaults.gzipMinBytes;
    if (!(this.#gzipMinBytes >= 0)) throw invalid('gzipMinBytes', 'gzipMinBytes must be 0 or more');
    this.#stream = { ...defaults.stream, ...options.stream };
    const { initialDelayMs, maxDelayMs, factor, jitter, idleTimeoutMs } = this.#stream;
    if (!(initialDelayMs > 0) || !(maxDelayMs >= initialDelayMs) || !(factor >= 1) || !(jitter >= 0 && jitter <= 1)) {
      throw invalid('stream', 'stream needs 0 < initialDelayMs <= maxDelayMs, factor >= 1 and 0 <= jitter <= 1');
    }
    if (!(idleTimeoutMs > 0)) throw invalid('stream.idleTimeoutMs', 'stream.idleTimeoutMs must be positive');
    this.#random = options.random ?? Math.random;
  }

  /**
   * How many events a `SyncManager` given no `pushBatchSize` hands this transport per push:
   * `maxBatchSize` × `pushWindow` × 2 (8,000 by default), sent as one push chain. Its first request
   * goes alone (until the server shows it keeps chains), so two windows' worth keeps the window full
   * most of the way. `maxBatchSize` (one request per push) with `pushWindow: 1`, and once this
   * transport stopped chaining (the server cannot keep chains).
   */
  get preferredPushSize(): number {
    return this.#pushWindow === 1 || !this.#chaining ? this.#maxBatchSize : this.#maxBatchSize * this.#pushWindow * 2;
  }

  /**
   * Pushes `events` and answers per event, in order, with the same ids.
   *
   * A push of at most `maxBatchSize` events is one request. A larger one is split into batches of
   * `maxBatchSize`, sent as one push chain (a fresh random id per push): the first batch alone, then,
   * once its answer echoed the chain, up to `pushWindow` requests in flight at once, which the server
   * decides one after the other, in order; the answers are used in order. The results are those of
   * sending the batches one request after the other. With `pushWindow: 1`, or once the server showed
   * it cannot keep chains (see {@link HttpTransportOptions.pushWindow}), the batches go one request
   * after the other.
   *
   * Once an event of an aggregate is a `conflict`, its later events in the push are answered
   * `conflict` without being stored (not sent at all when the conflict is known in time), as the
   * server does within one request and within one chain, so a client's events never land out of
   * order.
   *
   * When a request is answered with an error, the requests of the chain after it are aborted (the
   * server decides none of them), and:
   * - a `413` over the server's `maxEventsPerPush` or `maxBodyBytes` splits the batches further (to
   *   the size it names, or in halves) and goes on from that batch, with a new chain;
   * - `409 chain_unknown` (the server node did not decide the chain's previous push within its
   *   wait: that push went to another node, or took that long) stops chaining on this transport,
   *   and the push goes on from that batch one request after the other;
   * - `409 chain_broken` goes on from that batch with a new chain, once per batch, then unchained;
   * - `400` refusing the `chain` (a server that does not take chains) stops chaining on this
   *   transport, and the push goes on from that batch one request after the other; a `400` that
   *   names no field sends the rest of this push unchained (and fails it if that batch is refused
   *   again);
   * - anything else fails the call with that error, and `error.details.results` holds the results
   *   of the batches answered before (`details.completed` of them); nothing after it is reported
   *   done, though events already sent may have been stored. Retrying the whole push is safe:
   *   pushes are idempotent, and stored events come back as `duplicate` at the same versions.
   *
   * The caller's `signal`, and `close()`, abort every request in flight.
   *
   * @example
   * ```ts
   * const results = await transport.push(events, { signal });
   * ```
   */
  async push(events: readonly Event[], options: SignalOptions = {}): Promise<AppendResult[]> {
    this.#enter(options.signal);
    if (!isList(events)) throw invalid('events', 'push takes an array of events');
    return pushBatches(events, {
      maxBatchSize: this.#maxBatchSize,
      window: this.#pushWindow,
      signal: options.signal,
      chaining: () => this.#chaining,
      stopChaining: () => {
        this.#chaining = false;
      },
      chainId: randomChainId,
      encode: encodePushBody,
      send: (batch, body, signal) => this.#pushRequest(batch, body, signal),
    });
  }

  async pull(since: CursorVersion, options: PullOptions = {}): Promise<EventPage> {
    this.#enter(options.signal);
    if (!(since instanceof CursorVersion)) throw invalid('since', 'since must be a CursorVersion');
    const query = encodePullQuery({
      since,
      ...(options.limit === undefined ? {} : { limit: options.limit }),
      ...(options.filter === undefined ? {} : { filter: options.filter }),
    });
    return this.#json(
      'Pull',
      { method: 'GET', path: PROTOCOL_PATHS.events, query, accept: MEDIA_TYPES.json },
      options.signal,
      (json) => decodePullResponse(json, since),
    );
  }

  async latestVersion(options: SignalOptions = {}): Promise<CursorVersion> {
    this.#enter(options.signal);
    return this.#json(
      'Reading the latest version',
      { method: 'GET', path: PROTOCOL_PATHS.version, accept: MEDIA_TYPES.json },
      options.signal,
      decodeVersionResponse,
    );
  }

  /**
   * Asks `GET /v1/health` (without credentials) whether the server is up and speaks protocol
   * version 1.
   *
   * @throws SyncError `unavailable` for a server shutting down (503), `protocol` for a server that
   *   speaks another protocol version.
   */
  async health(options: SignalOptions = {}): Promise<HealthResponse> {
    this.#enter(options.signal);
    const health = await this.#json(
      'The health check',
      { method: 'GET', path: PROTOCOL_PATHS.health, accept: MEDIA_TYPES.json, anonymous: true },
      options.signal,
      decodeHealthResponse,
    );
    if (health.protocol !== PROTOCOL_VERSION) {
      throw new SyncError('protocol', `The server speaks protocol version ${health.protocol}, not ${PROTOCOL_VERSION}`);
    }
    return health;
  }

  /**
   * Follows `GET /v1/stream`: batches after `since` (by default, after the server's latest version
   * when the stream opens), in order, none twice, one handler call at a time. On a dropped or silent
   * stream the state turns `'connecting'` and the stream reconnects with backoff from the last batch
   * delivered (`Last-Event-ID`); on `401` (after a refresh), `403`, `404` or another refusal that
   * retrying cannot fix, or when the handler throws, it turns `'closed'` with the error.
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
    const stream = new LiveStream(
      { open: (cursor, signal) => this.#openStream(cursor, signal) },
      handler,
      options,
      { retry: this.#stream, idleTimeoutMs: this.#stream.idleTimeoutMs, random: this.#random },
      () => this.#streams.delete(stream),
    );
    this.#streams.add(stream);
    stream.start();
    return stream;
  }

  /** Aborts requests in flight (they reject with `SyncError('closed')`) and closes every stream. Idempotent. */
  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    const closed = new SyncError('closed', 'The HTTP transport was closed');
    for (const stream of [...this.#streams]) stream.close();
    this.#closing.abort(closed);
    this.#calls.close(closed);
  }

  #enter(signal: AbortSignal | undefined): void {
    if (this.#closing.signal.aborted) throw new SyncError('closed', 'The HTTP transport is closed');
    if (signal?.aborted) throw signal.reason ?? new SyncError('aborted', 'The operation was aborted');
  }

  async #pushRequest(
    events: readonly Event[],
    text: string,
    signal: AbortSignal,
  ): Promise<{ results: AppendResult[]; chain: PushChain | undefined }> {
    const body = await this.#encodeBody(text);
    return this.#json(
      'Push',
      { method: 'POST', path: PROTOCOL_PATHS.events, accept: MEDIA_TYPES.json, body },
      signal,
      (json) => ({ results: decodePushResponse(json, events), chain: pushChainOf(json) }),
    );
  }

  async #encodeBody(text: string): Promise<{ data: string | Uint8Array<ArrayBuffer>; gzip: boolean }> {
    if (
      !Number.isFinite(this.#gzipMinBytes) ||
      typeof CompressionStream === 'undefined' ||
      utf8Length(text) < this.#gzipMinBytes
    ) {
      return { data: text, gzip: false };
    }
    const compressed = new Blob([text]).stream().pipeThrough(new CompressionStream('gzip'));
    return { data: new Uint8Array(await new Response(compressed).arrayBuffer()), gzip: true };
  }

  /** One JSON request: sent with credentials, answered `2xx` with JSON that `decode` accepts. */
  async #json<T>(
    what: string,
    spec: RequestSpec,
    signal: AbortSignal | undefined,
    decode: (json: unknown) => T,
  ): Promise<T> {
    // Aborted at once when close() came first (a push's next request may start after it).
    const exchange = this.#calls.open({ signals: [signal], timeoutMs: this.#timeoutMs, what });
    try {
      const response = await this.#send(what, spec, exchange);
      const text = await readText(response, exchange, what);
      if (!response.ok) throw responseError(what, response, text);
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (error) {
        throw new SyncError('protocol', `${what}: the server's answer (HTTP ${response.status}) is not JSON`, {
          details: { status: response.status },
          cause: error,
        });
      }
      return decode(json);
    } finally {
      this.#calls.release(exchange);
    }
  }

  async #openStream(
    cursor: CursorVersion | undefined,
    signal: AbortSignal,
  ): Promise<{ response: Response; exchange: CallScope }> {
    const what = 'Opening the live stream';
    // The stream's own signal is enough: closing the transport closes every stream first.
    const exchange = new CallScope({ signals: [signal], timeoutMs: this.#timeoutMs, what });
    try {
      const spec: RequestSpec = {
        method: 'GET',
        path: PROTOCOL_PATHS.stream,
        accept: MEDIA_TYPES.eventStream,
        headers:
          cursor === undefined
            ? { 'Cache-Control': 'no-cache' }
            : { 'Cache-Control': 'no-cache', 'Last-Event-ID': cursor.toString() },
        ...(cursor === undefined ? {} : { query: new URLSearchParams({ since: cursor.toString() }) }),
      };
      const response = await this.#send(what, spec, exchange);
      if (!response.ok) throw responseError(what, response, await readText(response, exchange, what));
      const type = response.headers.get('Content-Type') ?? '';
      if (!type.toLowerCase().startsWith(MEDIA_TYPES.eventStream) || response.body === null) {
        response.body?.cancel().catch(() => undefined);
        throw new SyncError(
          'protocol',
          `${what}: the server answered ${type || 'no content type'}, not an event stream`,
          {
            details: { status: response.status },
          },
        );
      }
      exchange.stopTimer();
      return { response, exchange };
    } catch (error) {
      exchange.dispose();
      throw error;
    }
  }

  /** Sends with the current token; on `401`, once more with a refreshed one. */
  async #send(what: string, spec: RequestSpec, exchange: CallScope): Promise<Response> {
    const canRefresh = this.#token !== undefined && spec.anonymous !== true;
    let token = spec.anonymous
      ? undefined
      : await this.#tokenFor({ refresh: false, signal: exchange.signal }, exchange);
    for (let refreshed = false; ; refreshed = true) {
      const response = await this.#fetchOnce(what, spec, token, exchange);
      if (response.status !== 401 || !canRefresh || refreshed) return response;
      // Read the small refusal to its end, so the connection can serve the retry (keep-alive).
      await readText(response, exchange, what);
      token = await this.#refresh(exchange);
    }
  }

  /** One refresh at a time: requests that meet a `401` together share it. */
  #refresh(exchange: CallScope): Promise<string | undefined> {
    this.#refreshing ??= this.#tokenFor({ refresh: true, signal: this.#closing.signal }, undefined).finally(() => {
      this.#refreshing = undefined;
    });
    return exchange.race(this.#refreshing);
  }

  async #tokenFor(request: TokenRequest, exchange: CallScope | undefined): Promise<string | undefined> {
    const provider = this.#token;
    if (provider === undefined) return undefined;
    let token: unknown;
    try {
      const given = provider(request);
      token = exchange === undefined ? await given : await exchange.race(Promise.resolve(given));
    } catch (error) {
      if (exchange?.signal.aborted) throw exchange.signal.reason;
      if (isSyncError(error)) throw error;
      throw new SyncError(
        'unauthorized',
        `The token provider failed: ${error instanceof Error ? error.message : String(error)}`,
        {
          cause: error,
        },
      );
    }
    if (token !== undefined && typeof token !== 'string') {
      throw new SyncError('invalid_input', 'The token provider must return a string or undefined', {
        details: { field: 'token' },
      });
    }
    return token === '' ? undefined : token;
  }

  async #fetchOnce(what: string, spec: RequestSpec, token: string | undefined, exchange: CallScope): Promise<Response> {
    const url = new URL(this.#base.href);
    url.pathname = `${url.pathname.replace(/\/+$/, '')}${spec.path}`;
    if (spec.query) url.search = spec.query.toString();
    const headers = new Headers(this.#headers);
    for (const [name, value] of Object.entries(spec.headers ?? {})) headers.set(name, value);
    headers.set('Accept', spec.accept);
    if (token !== undefined) headers.set('Authorization', `Bearer ${token}`);
    if (spec.body) {
      headers.set('Content-Type', MEDIA_TYPES.json);
      if (spec.body.gzip) headers.set('Content-Encoding', 'gzip');
      else headers.delete('Content-Encoding');
    }
    const fetchFn = this.#fetch ?? globalThis.fetch;
    exchange.throwIfAborted();
    try {
      const request = fetchFn(url, {
        method: spec.method,
        headers,
        ...(spec.body ? { body: spec.body.data } : {}),
        signal: exchange.signal,
      });
      return await exchange.race(request);
    } catch (error) {
      throw requestFailure(exchange, error, what);
    }
  }
}

async function readText(response: Response, exchange: CallScope, what: string): Promise<string> {
  try {
    return await exchange.race(response.text());
  } catch (error) {
    throw requestFailure(exchange, error, `${what} (reading the answer)`);
  }
}

/** The body of one push request: `{ "events": [...] }`, and its `chain` when it has one. */
function encodePushBody(events: readonly Event[], chain: PushChain | undefined): string {
  try {
    return JSON.stringify(chain === undefined ? encodeEvents(events) : encodeChainedEvents(events, chain));
  } catch (error) {
    throw new SyncError('invalid_input', 'The events cannot be sent: they are not JSON', {
      details: { field: 'events' },
      cause: error,
    });
  }
}

function baseUrlOf(value: unknown): URL {
  if (value instanceof URL) return checkScheme(new URL(value.href));
  if (typeof value !== 'string' || value.length === 0) throw invalid('baseUrl', 'baseUrl is required (the server URL)');
  const location = (globalThis as { location?: { href?: string } }).location?.href;
  try {
    return checkScheme(new URL(value, location));
  } catch (error) {
    if (isSyncError(error)) throw error;
    throw invalid('baseUrl', `baseUrl is not a URL: ${JSON.stringify(value)}`);
  }
}

function checkScheme(url: URL): URL {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalid('baseUrl', `baseUrl must be an http or https URL, got ${url.protocol}`);
  }
  url.search = '';
  url.hash = '';
  return url;
}

/** `Array.isArray` without its narrowing to `any[]`. */
function isList(value: unknown): boolean {
  return Array.isArray(value);
}

function invalid(field: string, message: string): SyncError {
  return new SyncError('invalid_input', message, { details: { field } });
}
