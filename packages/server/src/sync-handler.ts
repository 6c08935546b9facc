import { CursorVersion, isSyncError, SyncError, type JsonEventPage, type ServerEventLog } from '@eventsync/core';
import {
  decodePullQuery,
  decodePush,
  pushChainOf,
  encodePullResponse,
  encodeVersionResponse,
  MEDIA_TYPES,
  problem,
  PROTOCOL_PATHS,
  PROTOCOL_VERSION,
  type HealthResponse,
  type ProblemDocument,
} from '@eventsync/http';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { compress } from 'hono/compress';
import { cors } from 'hono/cors';
import {
  bearerTokens,
  hasCredentials,
  identify,
  type Authenticate,
  type Authorize,
  type Identity,
} from './authentication.js';
import { CountedEventLog } from './counted-event-log.js';
import { resolveLimits, type SyncLimits } from './limits.js';
import { METRICS_PATHS, metricsGuard, metricsResponse, type MetricsOptions } from './metrics-endpoint.js';
import { problemForError, problemResponse } from './problem-response.js';
import { PushChains } from './push-chains.js';
import { pushEvents } from './push-events.js';
import { pushResponseJson } from './push-response-json.js';
import { readJsonBody, tooLarge } from './request-body.js';
import { consoleRequestLogger, type RequestLogger } from './request-log.js';
import { SseBroker, type SseOptions } from './sse-broker.js';
import { SyncMetrics } from './sync-metrics.js';

/** The CORS options of `hono/cors`: `origin`, `allowMethods`, `allowHeaders`, `exposeHeaders`, `maxAge`, `credentials`. */
export type CorsOptions = NonNullable<Parameters<typeof cors>[0]>;

/** Options of {@link createSyncHandler}. */
export interface SyncHandlerOptions<P = unknown> {
  /** The server log every request reads and writes (scoped to the caller's tenant). Required. */
  readonly store: ServerEventLog;
  /**
   * Finds who made a request: `{ principal, tenant }`, or `null` for `401 unauthorized`.
   * Give this or `tokens`, not both.
   *
   * @defaultValue with neither, every request but `/v1/health` is refused with `401`: a server never
   *   answers without credentials unless you say so (`authenticate: () => ({ principal: 'anyone',
   *   tenant: 'default' })` serves everyone as one tenant).
   */
  readonly authenticate?: Authenticate<P>;
  /**
   * Fixed bearer tokens, each naming its principal and tenant: `{ 's3cret': { principal: 'alice',
   * tenant: 'acme' } }` (see {@link bearerTokens}).
   */
  readonly tokens?: Readonly<Record<string, Identity<P>>> | ReadonlyMap<string, Identity<P>>;
  /**
   * Decides per pushed event (well-formed by then) whether the caller may append it; a refusal makes
   * its result `rejected` with code `forbidden` and the reason given. It decides and nothing more:
   * the log stores each event as it was pushed (the JSON its check made), so a change the hook makes
   * to the object is not stored, and a retried push is still answered `duplicate`.
   *
   * @defaultValue every authenticated caller may append any event to its own tenant
   */
  readonly authorize?: Authorize<P>;
  /**
   * Bounds on requests; see {@link SyncLimits}.
   *
   * @defaultValue `DEFAULT_LIMITS` (4 MiB bodies, 1000 events per push, 64 KiB per event, pages of at most 1000)
   */
  readonly limits?: SyncLimits;
  /**
   * Cross-origin access for browsers on other origins, by `hono/cors`: `true` for its defaults (any
   * origin, no credentials), or its options. `Retry-After` and `WWW-Authenticate` are exposed unless
   * `exposeHeaders` is given.
   *
   * @defaultValue `false` (no CORS headers: same-origin only)
   */
  readonly cors?: boolean | CorsOptions;
  /**
   * A path prefix for every route, e.g. `'/sync'` for `/sync/v1/events`. Not needed when you mount
   * the handler with `app.route('/sync', handler)`.
   *
   * @defaultValue `''`
   */
  readonly basePath?: string;
  /**
   * Where the structured request logs go, one entry per request: a function, or `'console'` for a
   * JSON line per request on standard output.
   *
   * @defaultValue none
   */
  readonly logger?: RequestLogger | 'console';
  /**
   * Compresses responses with gzip (by `hono/compress`) when the client accepts it and the body is
   * at least 1 KiB. Streams are never compressed.
   *
   * @defaultValue `true`
   */
  readonly compression?: boolean;
  /** The `/v1/stream` broker's options; see {@link SseOptions}. */
  readonly sse?: SseOptions;
  /**
   * Serves the handler's counters at `GET /v1/metrics` (JSON, or the Prometheus text for `Accept:
   * text/plain`) and `GET /metrics` (the Prometheus text) to the callers it names: `{ token }` for a
   * scraper's bearer token, `{ allow: (identity) => … }` for administrators among your users, or both.
   * See {@link MetricsOptions}. The counters are kept either way (`handler.metrics`).
   *
   * @defaultValue none: no metrics endpoint (`404`), since the counters name tenants and reveal load
   */
  readonly metrics?: MetricsOptions<P> | false;
  /**
   * The `WWW-Authenticate` challenge of a `401`.
   *
   * @defaultValue `'Bearer realm="eventsync"'` (with `error="invalid_token"` when credentials were sent)
   */
  readonly challenge?: string;
}

/** Options of {@link SyncHandler.close}. */
export interface CloseOptions {
  /**
   * How long to wait for requests in flight before giving up on them, in milliseconds.
   *
   * @defaultValue 10000
   */
  readonly timeoutMs?: number;
}

/** What {@link createSyncHandler} adds to its Hono app. */
export interface SyncHandlerControls {
  /**
   * The `/v1/stream` broker and its counters (`broker.stats`, `broker.statsByTenant`). Other
   * transports (a WebSocket) subscribe to it with `broker.subscribe(tenant, subscriber, { since })`.
   */
  readonly broker: SseBroker;
  /** The handler's counters (broker, requests, store) as JSON or in the Prometheus text; see {@link SyncMetrics}. */
  readonly metrics: SyncMetrics;
  /** The limits in force, defaults filled in. */
  readonly limits: Required<SyncLimits>;
  /** Whether `close` was called: every request is then answered `503 unavailable`. */
  readonly closing: boolean;
  /** Requests being handled now (streams count only until their response starts). */
  readonly inFlight: number;
  /**
   * Shuts down gracefully: from now on every request is answered `503`, every stream ends (clients
   * resume from their last id elsewhere), and the promise resolves once the requests in flight are
   * done or `timeoutMs` passed. The store stays open: it is yours to close. Idempotent.
   */
  close(options?: CloseOptions): Promise<void>;
}

/** The variables a sync handler keeps on Hono's context. */
export interface SyncEnv {
  /** What the handler's middleware and routes set on the context with `c.set`, per request. */
  Variables: {
    /**
     * Who made the request, as `authenticate` (or `tokens`) found it. Absent until then, and on
     * requests that need no identity (`/v1/health`, a scrape with the metrics token).
     */
    identity: Identity;
    /** The route that answered, for the request counts: a protocol path without prefix. */
    route: string;
    /** The problem document of an error answer (for the request log's `code`); absent on a success. */
    problem: ProblemDocument;
    /** What was thrown, when the answer is a `500`: its message goes to the request log's `error`. */
    failure: unknown;
    /** Set when the route put `Vary: Accept-Encoding` on its answer itself. */
    vary: boolean;
  };
}

/**
 * The sync server: a Hono app. Call its `fetch(request)` from any runtime, serve it with `serve`
 * (node:http), or mount it in your own Hono app with `app.route('/sync', handler)`.
 */
export type SyncHandler = Hono<SyncEnv> & SyncHandlerControls;

const JSON_HEADERS = { 'Content-Type': MEDIA_TYPES.json };
const JSON_VARY_HEADERS = { ...JSON_HEADERS, Vary: 'Accept-Encoding' };

/** Whether `Accept-Encoding` takes no compression at all (none, or only `identity`): the usual case on a LAN or loopback. */
function takesNoEncoding(header: string | undefined): boolean {
  return header === undefined || /^\s*identity\s*$/i.test(header);
}

/**
 * Makes the server side of the v1 wire protocol (docs/protocol.md): push, pull, latest version,
 * health, and the Server-Sent Events stream, every read and write scoped to the tenant that
 * `authenticate` names, every error an `application/problem+json` document with a stable code.
 * With `metrics`, it also serves its counters at `/v1/metrics` and `/metrics` (outside the protocol).
 *
 * Routing, CORS, the wire body limit and response compression come from Hono; request envelopes are
 * checked with valibot (through `@eventsync/http`'s codec) and events with core's `validateEvent`.
 *
 * @throws SyncError `invalid_input` for options that cannot work together or out-of-range limits.
 *
 * @example
 * ```ts
 * const handler = createSyncHandler({
 *   store: await SqliteEventStore.open({ path: './data/eventsync.db' }),
 *   tokens: { [process.env.TOKEN!]: { principal: 'app', tenant: 'default' } },
 * });
 * const response = await handler.fetch(new Request('http://localhost/v1/health'));
 * ```
 */
export function createSyncHandler<P = unknown>(options: SyncHandlerOptions<P>): SyncHandler {
  if (!options.store || typeof options.store.append !== 'function' || typeof options.store.subscribe !== 'function') {
    throw new SyncError('invalid_input', 'createSyncHandler needs a store (a ServerEventLog)', {
      details: { field: 'store' },
    });
  }
  if (options.authenticate !== undefined && options.tokens !== undefined) {
    throw new SyncError('invalid_input', 'Give createSyncHandler authenticate or tokens, not both', {
      details: { field: 'authenticate' },
    });
  }
  const limits = resolveLimits(options.limits);
  const chains = new PushChains({
    waitMs: limits.pushChainWaitMs,
    maxChains: limits.maxPushChains,
    maxChainsPerTenant: limits.maxPushChainsPerTenant,
  });
  const authenticate: Authenticate<P> =
    options.authenticate ?? (options.tokens ? bearerTokens(options.tokens) : () => null);
  const authorize = options.authorize;
  const logger = options.logger === 'console' ? consoleRequestLogger : options.logger;
  const challenge = options.challenge ?? 'Bearer realm="eventsync"';
  const store = new CountedEventLog(options.store);
  const broker = new SseBroker(store, options.sse);
  const metricsOptions = options.metrics === false ? undefined : options.metrics;
  const metrics = new SyncMetrics({ broker, store }, metricsOptions);
  const guardMetrics = metricsOptions ? metricsGuard(metricsOptions, authenticate) : undefined;
  const basePath = options.basePath ?? '';
  if (basePath !== '' && !/^\/[^?#]*[^/?#]$/.test(basePath)) {
    throw new SyncError('invalid_input', `basePath must start with / and not end with one, got ${basePath}`, {
      details: { field: 'basePath' },
    });
  }

  let closing: Promise<void> | undefined;
  let inFlight = 0;
  let drained: (() => void) | undefined;

  const root = new Hono<SyncEnv>();
  const app = (basePath === '' ? root : root.basePath(basePath)) as Hono<SyncEnv>;

  app.onError((error, c) => {
    const document = problemForError(error);
    c.set('problem', document);
    if (document.status === 500) c.set('failure', error);
    return problemResponse(document, unauthorizedHeaders(document, c));
  });
  app.notFound((c) => {
    const document = problem('not_found', 404, `No route for ${c.req.method} ${c.req.path}`);
    c.set('problem', document);
    return problemResponse(document);
  });

  // Tracks requests in flight, refuses them once closing, and writes the request log.
  app.use(async (c, next) => {
    const started = performance.now();
    const time = new Date().toISOString();
    if (closing) {
      const document = problem('unavailable', 503, 'The server is shutting down');
      c.set('problem', document);
      c.res = problemResponse(document, { 'Retry-After': '1' });
    } else {
      inFlight++;
      try {
        await next();
      } finally {
        inFlight--;
        if (inFlight === 0) drained?.();
      }
    }
    const routeName: string | undefined = c.get('route');
    metrics.countRequest(c.req.method, routeName ?? 'other', c.res.status);
    if (logger) {
      const identity: Identity | undefined = c.get('identity');
      const problemDocument: ProblemDocument | undefined = c.get('problem');
      const failure: unknown = c.get('failure');
      try {
        logger({
          time,
          method: c.req.method,
          path: c.req.path,
          status: c.res.status,
          ms: Math.round((performance.now() - started) * 100) / 100,
          ...(identity ? { tenant: identity.tenant } : {}),
          ...(problemDocument ? { code: problemDocument.code } : {}),
          ...(failure === undefined ? {} : { error: messageOf(failure) }),
        });
      } catch {
        // A failing log sink must not fail the request.
      }
    }
  });
  // Hono routes only `Error` throws to its error handler (and so to the log and the counts); a store
  // or hook may throw anything, e.g. an abort reason that is a string.
  app.use(async (_c, next) => {
    try {
      await next();
    } catch (error) {
      throw error instanceof Error ? error : new SyncError('aborted', 'The request ended early', { cause: error });
    }
  });
  if (options.cors) {
    const corsOptions = options.cors === true ? {} : options.cors;
    app.use(cors({ exposeHeaders: ['Retry-After', 'WWW-Authenticate'], ...corsOptions }));
  }
  const compression = options.compression ?? true;
  if (compression) {
    const gzip = compress({ encoding: 'gzip' });
    app.use(async (c, next) => {
      if (!takesNoEncoding(c.req.header('Accept-Encoding'))) return gzip(c, next);
      await next();
      // Nothing is compressed for this client. A route that set Vary itself (pull, push, version) needs
      // nothing more; other answers get compress's headers from compress (reading a response's headers
      // makes @hono/node-server build the whole Response, about half a millisecond for a page).
      if (c.get('vary') !== true) await gzip(c, async () => {});
    });
  }

  /**
   * The headers of a JSON answer, with the `Vary: Accept-Encoding` compress would add (it adds none to
   * a HEAD answer), so that it need not look at the response.
   */
  const jsonHeaders = (c: Context<SyncEnv>): Record<string, string> => {
    if (!compression || c.req.method === 'HEAD') return JSON_HEADERS;
    c.set('vary', true);
    return JSON_VARY_HEADERS;
  };

  const requireIdentity: MiddlewareHandler<SyncEnv> = async (c, next) => {
    const identity = await identify(authenticate, c.req.raw);
    if (!identity) {
      throw new SyncError(
        'unauthorized',
        hasCredentials(c.req.raw) ? 'The credentials are not valid' : 'This request needs credentials',
      );
    }
    c.set('identity', identity);
    await next();
  };

  /** Names the route for the request counts. */
  const route =
    (path: string): MiddlewareHandler<SyncEnv> =>
    async (c, next) => {
      c.set('route', path);
      await next();
    };

  app.get(PROTOCOL_PATHS.health, route(PROTOCOL_PATHS.health), (c) => {
    const body: HealthResponse = { status: 'ok', protocol: PROTOCOL_VERSION };
    return c.json(body);
  });

  app.post(
    PROTOCOL_PATHS.events,
    route(PROTOCOL_PATHS.events),
    requireIdentity,
    bodyLimit({
      maxSize: limits.maxBodyBytes,
      onError: (c) => {
        const declared = Number(c.req.header('Content-Length'));
        throw tooLarge(limits.maxBodyBytes, Number.isFinite(declared) ? declared : undefined);
      },
    }),
    async (c) => {
      const identity = c.get('identity') as Identity<P>;
      const json = await readJsonBody(c.req.raw, limits);
      let decoded: ReturnType<typeof decodePush>;
      try {
        decoded = decodePush(json, limits.maxEventsPerPush);
      } catch (error) {
        // A chained push refused for its envelope (too many events): its chain's later pushes are
        // refused at once rather than left waiting for it.
        const named = pushChainOf(json);
        if (named) chains.fail(identity.tenant, named);
        throw error;
      }
      const { events, chain } = decoded;
      const results = await pushEvents(events, {
        store,
        identity,
        ...(authorize ? { authorize } : {}),
        ...(chain ? { chain: { chains, chain } } : {}),
        maxEventBytes: limits.maxEventBytes,
        signal: c.req.raw.signal,
      });
      // A chained push echoes its chain: the client's proof that this server keeps chains in order.
      return c.body(pushResponseJson(results, chain), 200, jsonHeaders(c));
    },
  );

  app.get(PROTOCOL_PATHS.events, route(PROTOCOL_PATHS.events), requireIdentity, async (c) => {
    const { tenant } = c.get('identity');
    const query = decodePullQuery(new URL(c.req.url).searchParams, { maxPullLimit: limits.maxPullLimit });
    await checkCursor(tenant, query.since, 'since', c.req.raw.signal);
    const readOptions = {
      since: query.since,
      limit: query.limit ?? limits.defaultPullLimit,
      ...(query.filter ? { filter: query.filter } : {}),
      signal: c.req.raw.signal,
    };
    // The query is checked already: what the log can still refuse is a cursor past its head.
    const refuse = (error: unknown): never => {
      throw isSyncError(error, 'invalid_input') ? invalidCursor('since', error) : error;
    };
    if (store.readsJson) {
      // The stored JSON goes into the page as it is: the same bytes as encodePullResponse, no parse.
      const page = await store.readJson(tenant, readOptions).catch(refuse);
      return c.body(pullResponseJson(page), 200, jsonHeaders(c));
    }
    const page = await store.read(tenant, readOptions).catch(refuse);
    return c.body(JSON.stringify(encodePullResponse(page)), 200, jsonHeaders(c));
  });

  app.get(PROTOCOL_PATHS.version, route(PROTOCOL_PATHS.version), requireIdentity, async (c) => {
    const { tenant } = c.get('identity');
    const latest = await store.latestVersion(tenant, { signal: c.req.raw.signal });
    return c.body(JSON.stringify(encodeVersionResponse(latest)), 200, jsonHeaders(c));
  });

  app.get(PROTOCOL_PATHS.stream, route(PROTOCOL_PATHS.stream), requireIdentity, async (c) => {
    const { tenant } = c.get('identity');
    const since = streamStart(c);
    if (since !== undefined) {
      const field = c.req.header('Last-Event-ID') === undefined ? 'since' : 'Last-Event-ID';
      await checkCursor(tenant, since, field, c.req.raw.signal);
    }
    const headers = {
      'Content-Type': `${MEDIA_TYPES.eventStream}; charset=utf-8`,
      'Cache-Control': 'no-cache, no-transform',
      'X-Accel-Buffering': 'no',
    };
    // Hono answers HEAD with the GET route and drops the body: open no subscriber for it.
    if (c.req.method === 'HEAD') return c.body(null, 200, headers);
    const body = await broker.open(tenant, since, { signal: c.req.raw.signal });
    return c.body(body, 200, headers);
  });

  // Server-specific, outside the sync protocol; absent unless options.metrics names who may read it.
  if (guardMetrics) {
    app.get(METRICS_PATHS.json, route(METRICS_PATHS.json), guardMetrics, (c) => metricsResponse(c, metrics, false));
    app.get(METRICS_PATHS.prometheus, route(METRICS_PATHS.prometheus), guardMetrics, (c) =>
      metricsResponse(c, metrics, true),
    );
  }

  // Known paths with a method they do not take: 405 with Allow.
  const allowed: Record<string, string> = {
    [PROTOCOL_PATHS.events]: 'GET, HEAD, POST',
    [PROTOCOL_PATHS.version]: 'GET, HEAD',
    [PROTOCOL_PATHS.health]: 'GET, HEAD',
    [PROTOCOL_PATHS.stream]: 'GET, HEAD',
    ...(guardMetrics ? { [METRICS_PATHS.json]: 'GET, HEAD', [METRICS_PATHS.prometheus]: 'GET, HEAD' } : {}),
  };
  for (const [path, allow] of Object.entries(allowed)) {
    app.all(path, route(path), (c) => {
      const document = problem('method_not_allowed', 405, `${path} does not take ${c.req.method}; it takes ${allow}`);
      c.set('problem', document);
      return problemResponse(document, { Allow: allow });
    });
  }

  /**
   * A cursor past the tenant's latest version means the log is behind the client (restored from a
   * backup, or another server): `400 invalid_cursor`, never an empty page that would skip events.
   */
  async function checkCursor(tenant: string, since: CursorVersion, field: string, signal: AbortSignal): Promise<void> {
    if (since.isZero()) return;
    const latest = await store.latestVersion(tenant, { signal });
    if (since.value > latest.value) {
      throw invalidCursor(
        field,
        new Error(`cursor ${since.toString()} is past the log's latest version ${latest.toString()}`),
      );
    }
  }

  function unauthorizedHeaders(document: ProblemDocument, c: Context<SyncEnv>): Record<string, string> {
    if (document.status !== 401) return {};
    const invalid = challenge.startsWith('Bearer') && hasCredentials(c.req.raw);
    return { 'WWW-Authenticate': invalid ? `${challenge}, error="invalid_token"` : challenge };
  }

  const controls: SyncHandlerControls = {
    broker,
    metrics,
    limits,
    get closing() {
      return closing !== undefined;
    },
    get inFlight() {
      return inFlight;
    },
    close(closeOptions: CloseOptions = {}) {
      closing ??= (async () => {
        await broker.close();
        if (inFlight === 0) return;
        const timeoutMs = closeOptions.timeoutMs ?? 10_000;
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          new Promise<void>((resolve) => (drained = resolve)),
          new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
        ]);
        clearTimeout(timer);
      })();
      return closing;
    },
  };
  return Object.defineProperties(app, Object.getOwnPropertyDescriptors(controls)) as SyncHandler;
}

/** Where a stream starts: `Last-Event-ID`, else `?since=`, else the tenant's latest version. */
function streamStart(c: Context<SyncEnv>): CursorVersion | undefined {
  const params = new URL(c.req.url).searchParams;
  for (const key of params.keys()) {
    if (key !== 'since') {
      throw new SyncError('invalid_input', `Unknown query parameter ${JSON.stringify(key)} (the stream takes since)`, {
        details: { field: key, problem: 'invalid_request', status: 400 },
      });
    }
  }
  const sinces = params.getAll('since');
  if (sinces.length > 1) {
    throw new SyncError('invalid_input', 'since is given more than once', {
      details: { field: 'since', problem: 'invalid_cursor', status: 400 },
    });
  }
  const lastEventId = c.req.header('Last-Event-ID');
  const [field, text] = lastEventId !== undefined ? ['Last-Event-ID', lastEventId.trim()] : ['since', sinces[0]];
  if (text === undefined) return undefined;
  try {
    return CursorVersion.parse(text);
  } catch (error) {
    throw invalidCursor(field, error);
  }
}

/** The `400 invalid_cursor` for a cursor the log cannot start from. */
function invalidCursor(field: string, cause: unknown): SyncError {
  const message = cause instanceof Error ? cause.message : 'not a version';
  return new SyncError('invalid_input', `${field}: ${message}`, {
    cause,
    details: { field, problem: 'invalid_cursor', status: 400 },
  });
}

/**
 * The body `JSON.stringify(encodePullResponse(page))` makes, from events kept as JSON text: each row's
 * `json` is `JSON.stringify` of its event, and versions and `next` are decimal digits (no escaping).
 */
function pullResponseJson(page: JsonEventPage): string {
  let body = '{"events":[';
  const { rows } = page;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as JsonEventPage['rows'][number];
    body += `${i === 0 ? '' : ','}{"event":${row.json},"version":"${row.version.toString()}"}`;
  }
  return `${body}],"next":"${page.next.toString()}","hasMore":${page.hasMore ? 'true' : 'false'}}`;
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return typeof error === 'string' ? error : 'A value that is not an Error was thrown';
}
