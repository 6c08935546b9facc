import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { SyncError, type ServerEventLog } from '@eventsync/core';
import {
  bearerTokens,
  Broker,
  resolveLimits,
  type Authenticate,
  type Authorize,
  type Identity,
  type SyncLimits,
} from '@eventsync/server';
import { WebSocketServer, type WebSocket } from 'ws';
import { CLOSE_CODES, DEFAULT_SOCKET_PATH, type SocketLimits } from '../protocol/messages.js';
import { SocketSession } from './socket-session.js';

/** Options of {@link attachWebSocketSync}. */
export interface WebSocketSyncOptions<P = unknown> {
  /** The server log every socket reads and writes (scoped to the socket's tenant). Required. */
  readonly store: ServerEventLog;
  /**
   * Finds who opened a socket, from a web `Request` made of the upgrade request (URL, headers,
   * cookies) with the hello's token as `Authorization: Bearer <token>`: `{ principal, tenant }`, or
   * `null` to refuse. The same function `createSyncHandler` takes. Give this or `tokens`, not both.
   *
   * @defaultValue with neither, every socket is refused: a server never serves without credentials
   *   unless you say so
   */
  readonly authenticate?: Authenticate<P>;
  /** Fixed bearer tokens, each naming its principal and tenant, as `createSyncHandler` takes them. */
  readonly tokens?: Readonly<Record<string, Identity<P>>> | ReadonlyMap<string, Identity<P>>;
  /**
   * Decides per pushed event (well-formed by then) whether the caller may append it; a refusal makes
   * its result `rejected` with code `forbidden` and the reason given.
   *
   * @defaultValue every authenticated caller may append any event to its own tenant
   */
  readonly authorize?: Authorize<P>;
  /**
   * Bounds on requests, as the HTTP server's: `maxBodyBytes` bounds one message (a longer one closes
   * the socket with `1009`), the others as over HTTP.
   *
   * @defaultValue `DEFAULT_LIMITS` of `@eventsync/server`
   */
  readonly limits?: SyncLimits;
  /**
   * The path that upgrades to a sync socket, when attaching to an `http.Server`. Upgrades to other
   * paths are left to the server's other `upgrade` listeners (answered `404` when there is none).
   *
   * @defaultValue `'/v1/socket'`
   */
  readonly path?: string;
  /**
   * The broker that fans appends out to subscriptions. Pass `createSyncHandler(…).broker` to share
   * one with an HTTP handler on the same log; it is then yours to close.
   *
   * @defaultValue a `Broker` of its own over `store` (with `heartbeatMs`), closed by `close()`
   */
  readonly broker?: Broker;
  /**
   * How often each socket is pinged (one that missed the last ping is dropped) and, with the broker
   * of its own, how often a quiet subscription gets a heartbeat, in milliseconds.
   *
   * @defaultValue 15000
   */
  readonly heartbeatMs?: number;
  /**
   * How long a new socket may take to send its hello before it is closed, in milliseconds.
   *
   * @defaultValue 10000
   */
  readonly helloTimeoutMs?: number;
  /**
   * How many requests of one socket may wait to be handled before the server stops reading from it
   * (backpressure down to TCP) until it has caught up.
   *
   * @defaultValue 16
   */
  readonly maxQueuedRequests?: number;
  /**
   * Told of the server's own failures: a store that throws something other than a `SyncError`, a
   * broker that cannot read the log. Clients' mistakes are answered, not reported.
   *
   * @defaultValue writes them to `console.error`
   */
  readonly onError?: (error: unknown) => void;
}

/** The defaults of {@link WebSocketSyncOptions}. */
export const DEFAULT_WEBSOCKET_SYNC_OPTIONS = {
  path: DEFAULT_SOCKET_PATH,
  heartbeatMs: 15_000,
  helloTimeoutMs: 10_000,
  maxQueuedRequests: 16,
} as const;

/** Options of {@link WebSocketSync.close}. */
export interface WebSocketSyncCloseOptions {
  /**
   * How long to wait for requests in flight, and then for each socket's closing handshake, before
   * dropping the sockets, in milliseconds.
   *
   * @defaultValue 5000
   */
  readonly timeoutMs?: number;
}

/** The running WebSocket sync endpoint that {@link attachWebSocketSync} returns. */
export interface WebSocketSync {
  /** The `ws` server underneath. */
  readonly wss: WebSocketServer;
  /** The broker of the subscriptions, with its counters (`broker.stats`). */
  readonly broker: Broker;
  /** The limits announced to clients, defaults filled in. */
  readonly limits: SocketLimits;
  /** Sockets open now. */
  readonly connections: number;
  /**
   * Shuts down: no new sockets; requests received so far are answered (new ones are answered
   * `unavailable`); then every socket is closed with `1001` (clients reconnect elsewhere or later) and
   * dropped if it does not close in time. The store stays open: it is yours. Idempotent.
   */
  close(options?: WebSocketSyncCloseOptions): Promise<void>;
}

/**
 * Serves eventsync's sync operations over WebSocket (subprotocol `eventsync.v1`) against any
 * `ServerEventLog`: push, pull, latest version and live subscriptions, each message carrying the body
 * of the HTTP protocol (docs/protocol.md) and checked by the same codec, every read and write scoped
 * to the tenant `authenticate` names. `WebSocketTransport` is its client.
 *
 * - **Auth**: the client's first message is a hello with its bearer token (a browser cannot set
 *   headers on a WebSocket, and a token in the URL ends up in logs); nothing else is answered before
 *   it. A refused hello is answered with an `error` and the socket closed with `1008`.
 * - **Live**: subscriptions go through the server package's `Broker`, so they are driven by the
 *   log's append notices, and a slow socket is cut off (`end`, reason `slow`) rather than skipped.
 * - **Limits**: a message over `maxBodyBytes` closes the socket with `1009`; the other limits are
 *   answered per request with the HTTP server's problem documents.
 *
 * @param target - an `http.Server` (or `https.Server`) to take upgrades on `path` from, or a
 *   `WebSocketServer` of your own (give it `maxPayload: limits.maxBodyBytes`).
 * @throws SyncError `invalid_input` for a missing store, both `authenticate` and `tokens`, or a bad
 *   limit or option.
 *
 * @example
 * ```ts
 * const server = createServer();
 * const sync = attachWebSocketSync(server, {
 *   store: new SqliteEventStore({ path: './data/eventsync.db' }),
 *   tokens: { [process.env.TOKEN!]: { principal: 'app', tenant: 'default' } },
 * });
 * server.listen(8787, '127.0.0.1'); // clients connect to ws://127.0.0.1:8787/v1/socket
 * ```
 */
export function attachWebSocketSync<P = unknown>(
  target: HttpServer | HttpsServer | WebSocketServer,
  options: WebSocketSyncOptions<P>,
): WebSocketSync {
  const { store } = options;
  if (!store || typeof store.append !== 'function' || typeof store.subscribe !== 'function') {
    throw invalid('store', 'attachWebSocketSync needs a store (a ServerEventLog)');
  }
  if (options.authenticate !== undefined && options.tokens !== undefined) {
    throw invalid('authenticate', 'Give attachWebSocketSync authenticate or tokens, not both');
  }
  const defaults = DEFAULT_WEBSOCKET_SYNC_OPTIONS;
  const settings = {
    path: options.path ?? defaults.path,
    heartbeatMs: options.heartbeatMs ?? defaults.heartbeatMs,
    helloTimeoutMs: options.helloTimeoutMs ?? defaults.helloTimeoutMs,
    maxQueuedRequests: options.maxQueuedRequests ?? defaults.maxQueuedRequests,
  };
  for (const key of ['heartbeatMs', 'helloTimeoutMs', 'maxQueuedRequests'] as const) {
    if (!Number.isSafeInteger(settings[key]) || settings[key] < 1) {
      throw invalid(key, `${key} must be a positive integer, got ${String(settings[key])}`);
    }
  }
  if (typeof settings.path !== 'string' || !settings.path.startsWith('/'))
    throw invalid('path', `path must start with /, got ${settings.path}`);
  const syncLimits = resolveLimits(options.limits);
  const httpServer = target instanceof WebSocketServer ? undefined : target;
  const wss =
    target instanceof WebSocketServer
      ? target
      : new WebSocketServer({ noServer: true, maxPayload: syncLimits.maxBodyBytes });
  const limits: SocketLimits = {
    maxBodyBytes: Math.min(syncLimits.maxBodyBytes, wss.options.maxPayload ?? Number.POSITIVE_INFINITY),
    maxEventsPerPush: syncLimits.maxEventsPerPush,
    maxEventBytes: syncLimits.maxEventBytes,
    maxPullLimit: syncLimits.maxPullLimit,
  };
  const report =
    options.onError ??
    ((error: unknown) => {
      console.error('eventsync WebSocket server:', error);
    });
  const ownsBroker = options.broker === undefined;
  const broker = options.broker ?? new Broker(store, { heartbeatMs: settings.heartbeatMs }, report);
  const authenticate: Authenticate<P> =
    options.authenticate ?? (options.tokens ? bearerTokens(options.tokens) : () => null);

  const sessions = new Set<SocketSession<P>>();
  let closing: Promise<void> | undefined;
  const context = {
    store,
    broker,
    authenticate,
    authorize: options.authorize,
    limits,
    defaultPullLimit: syncLimits.defaultPullLimit,
    helloTimeoutMs: settings.helloTimeoutMs,
    maxQueuedRequests: settings.maxQueuedRequests,
    closing: () => closing !== undefined,
    report,
  };

  const onConnection = (socket: WebSocket, request: IncomingMessage): void => {
    const session = new SocketSession(socket, request, context);
    sessions.add(session);
    void session.closed.then(() => sessions.delete(session));
    if (closing) session.shut(CLOSE_CODES.goingAway, 'The server is shutting down');
  };
  wss.on('connection', onConnection);

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (pathOf(request) !== settings.path) {
      // Another listener may serve this path; with none, nobody would ever answer.
      if (httpServer?.listenerCount('upgrade') === 1) refuseUpgrade(socket, 404, 'Not Found');
      return;
    }
    if (closing) {
      refuseUpgrade(socket, 503, 'Service Unavailable');
      return;
    }
    wss.handleUpgrade(request, socket, head, (upgraded) => wss.emit('connection', upgraded, request));
  };
  httpServer?.on('upgrade', onUpgrade);

  const pinger = setInterval(() => {
    for (const session of sessions) session.ping();
  }, settings.heartbeatMs);
  // The pings must not keep a Node process alive on their own.
  pinger.unref();

  return {
    wss,
    broker,
    limits,
    get connections() {
      return sessions.size;
    },
    close(closeOptions: WebSocketSyncCloseOptions = {}) {
      closing ??= (async () => {
        const timeoutMs = closeOptions.timeoutMs ?? 5000;
        httpServer?.off('upgrade', onUpgrade);
        clearInterval(pinger);
        if (ownsBroker) await broker.close();
        const open = [...sessions];
        await within(Promise.all(open.map((session) => session.idle())), timeoutMs);
        for (const session of open) session.shut(CLOSE_CODES.goingAway, 'The server is shutting down');
        await within(Promise.all(open.map((session) => session.closed)), timeoutMs);
        for (const session of open) session.terminate();
        wss.off('connection', onConnection);
        if (httpServer) await new Promise<void>((resolve) => wss.close(() => resolve()));
      })();
      return closing;
    },
  };
}

/** Answers an upgrade that will not be served, and ends its connection. */
function refuseUpgrade(socket: Duplex, status: number, text: string): void {
  socket.on('error', () => undefined);
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

function pathOf(request: IncomingMessage): string | undefined {
  try {
    return new URL(request.url ?? '/', 'http://localhost').pathname;
  } catch {
    return undefined;
  }
}

/** Waits for `promise`, but no longer than `ms`. */
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

function invalid(field: string, message: string): SyncError {
  return new SyncError('invalid_input', message, { details: { field } });
}
