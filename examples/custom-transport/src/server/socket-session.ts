import type { IncomingMessage } from 'node:http';
import { CursorVersion, isSyncError, SyncError, utf8Length, type ServerEventLog } from '@eventsync/core';
import {
  decodePullQuery,
  decodePushRequest,
  encodePullResponse,
  encodePushResponse,
  encodeVersionResponse,
  problem,
  problemFromError,
  PROTOCOL_VERSION,
  type ProblemDocument,
  type PullResponse,
  type PushResponse,
  type VersionResponse,
} from '@eventsync/http';
import { identify, pushEvents, type Authenticate, type Authorize, type Broker, type Identity } from '@eventsync/server';
import { WebSocket, type RawData } from 'ws';
import {
  CLOSE_CODES,
  isRequestId,
  SUBPROTOCOL,
  type ErrorMessage,
  type ResultMessage,
  type SocketLimits,
  type WelcomeMessage,
} from '../protocol/messages.js';
import { WebSocketSubscriber } from './websocket-subscriber.js';

/** What every session of one server shares. */
export interface SessionContext<P> {
  readonly store: ServerEventLog;
  readonly broker: Broker;
  readonly authenticate: Authenticate<P>;
  readonly authorize: Authorize<P> | undefined;
  /** The limits announced in the welcome. */
  readonly limits: SocketLimits;
  /** The page size of a pull that gives no `limit`. */
  readonly defaultPullLimit: number;
  readonly helloTimeoutMs: number;
  readonly maxQueuedRequests: number;
  /** Whether the server is shutting down: requests are then answered `unavailable`. */
  closing(): boolean;
  /** Told of failures that are the server's own (a `500`), never of a client's mistakes. */
  report(error: unknown): void;
}

/** The members each request type may have; any other member is refused, as in the HTTP protocol. */
const REQUEST_MEMBERS: Readonly<Record<string, readonly string[]>> = {
  hello: ['type', 'token'],
  push: ['type', 'id', 'body'],
  pull: ['type', 'id', 'query'],
  version: ['type', 'id'],
  subscribe: ['type', 'id', 'since'],
  unsubscribe: ['type', 'id'],
};

/**
 * One client socket on the server: the hello and its authentication, then requests handled one at a
 * time in the order they came (so one client's pushes land in the order it sent them), each answered
 * by its id, and the socket's subscriptions to the broker. A client that sends faster than its
 * requests are handled is paused (`ws` stops reading its socket) rather than buffered without bound.
 */
export class SocketSession<P> {
  readonly #socket: WebSocket;
  readonly #request: IncomingMessage;
  readonly #context: SessionContext<P>;
  /** Fires when the socket closes: store calls in flight and broker subscriptions end with it. */
  readonly #gone = new AbortController();
  readonly #subscribers = new Map<number, WebSocketSubscriber>();
  readonly #closed: Promise<void>;
  #identity: Identity<P> | undefined;
  #queue: Promise<void> = Promise.resolve();
  #queued = 0;
  #alive = true;
  #helloTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(socket: WebSocket, request: IncomingMessage, context: SessionContext<P>) {
    this.#socket = socket;
    this.#request = request;
    this.#context = context;
    this.#closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('message', this.#onMessage);
    socket.on('close', this.#onClose);
    // `ws` closes the socket after an error (a frame over maxPayload, a broken frame): nothing to add.
    socket.on('error', () => undefined);
    socket.on('pong', () => (this.#alive = true));
    if (socket.protocol !== SUBPROTOCOL) {
      this.shut(CLOSE_CODES.protocolError, `Offer the subprotocol ${SUBPROTOCOL}`);
      return;
    }
    this.#helloTimer = setTimeout(() => {
      this.#refuse(problem('unauthorized', 401, 'No hello came in time'), CLOSE_CODES.policyViolation);
    }, context.helloTimeoutMs);
  }

  /** Settles once the socket has closed. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /** Settles once the requests received so far have been answered. */
  idle(): Promise<void> {
    return this.#queue;
  }

  /**
   * Pings the client; a client that did not answer the previous ping is dropped (a dead peer would
   * otherwise hold its socket until the operating system gives up on it).
   */
  ping(): void {
    if (this.#socket.readyState !== WebSocket.OPEN) return;
    if (!this.#alive) {
      this.#socket.terminate();
      return;
    }
    this.#alive = false;
    this.#socket.ping();
  }

  /** Closes the socket with `code` and `reason` (the closing handshake). */
  shut(code: number, reason: string): void {
    clearTimeout(this.#helloTimer);
    if (this.#socket.readyState === WebSocket.OPEN || this.#socket.readyState === WebSocket.CONNECTING) {
      this.#socket.close(code, reason);
    }
  }

  /** Drops the socket at once. */
  terminate(): void {
    this.#socket.terminate();
  }

  readonly #onMessage = (data: RawData, isBinary: boolean): void => {
    if (this.#socket.readyState !== WebSocket.OPEN) return;
    if (isBinary) {
      this.shut(CLOSE_CODES.unsupportedData, `${SUBPROTOCOL} takes JSON text messages`);
      return;
    }
    const text = textOf(data);
    // `ws` enforces its maxPayload already; a WebSocketServer made elsewhere may allow more.
    if (utf8Length(text) > this.#context.limits.maxBodyBytes) {
      this.shut(CLOSE_CODES.messageTooBig, `A message may take at most ${this.#context.limits.maxBodyBytes} bytes`);
      return;
    }
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      message = undefined;
    }
    if (typeof message !== 'object' || message === null || Array.isArray(message)) {
      this.shut(CLOSE_CODES.protocolError, 'A message must be a JSON object');
      return;
    }
    this.#enqueue(message as Record<string, unknown>);
  };

  readonly #onClose = (): void => {
    clearTimeout(this.#helloTimer);
    this.#gone.abort(new SyncError('closed', 'The client socket closed'));
  };

  #enqueue(message: Record<string, unknown>): void {
    const { maxQueuedRequests } = this.#context;
    if (++this.#queued >= maxQueuedRequests) this.#socket.pause();
    this.#queue = this.#queue.then(async () => {
      try {
        await this.#handle(message);
      } catch (error) {
        this.#context.report(error);
      } finally {
        if (--this.#queued < maxQueuedRequests && this.#socket.isPaused) this.#socket.resume();
      }
    });
  }

  async #handle(message: Record<string, unknown>): Promise<void> {
    if (this.#gone.signal.aborted) return;
    if (this.#identity === undefined) {
      await this.#hello(message);
      return;
    }
    const { type, id } = message;
    if (!isRequestId(id)) {
      this.shut(CLOSE_CODES.protocolError, 'Every request needs an id: an integer of at least 1');
      return;
    }
    try {
      if (this.#context.closing()) throw new SyncError('unavailable', 'The server is shutting down');
      checkMembers(message);
      switch (type) {
        case 'push':
          this.#answer(id, await this.#push(message.body));
          return;
        case 'pull':
          this.#answer(id, await this.#pull(message.query));
          return;
        case 'version':
          this.#answer(id, await this.#version());
          return;
        case 'subscribe':
          await this.#subscribe(id, message.since);
          return;
        case 'unsubscribe':
          // An id that is not open (any more) is no error: the subscription may have just ended.
          this.#subscribers.get(id)?.cancel();
          return;
        default:
          throw invalidRequest('type', 'The hello was sent already');
      }
    } catch (error) {
      const document = problemFromError(error);
      if (document.status === 500) this.#context.report(error);
      this.#send({ type: 'error', id, problem: document } satisfies ErrorMessage);
    }
  }

  async #hello(message: Record<string, unknown>): Promise<void> {
    clearTimeout(this.#helloTimer);
    const { token } = message;
    if (message.type !== 'hello') {
      this.#refuse(problem('unauthorized', 401, 'The first message must be a hello'), CLOSE_CODES.policyViolation);
      return;
    }
    if (this.#context.closing()) {
      this.#refuse(problem('unavailable', 503, 'The server is shutting down'), CLOSE_CODES.goingAway);
      return;
    }
    let identity: Identity<P> | null;
    try {
      checkMembers(message);
      if (token !== undefined && typeof token !== 'string') throw invalidRequest('token', 'token must be a string');
      identity = await this.#authenticate(token);
    } catch (error) {
      const document = problemFromError(error);
      if (document.status === 500) this.#context.report(error);
      this.#refuse(document, document.status >= 500 ? CLOSE_CODES.internalError : CLOSE_CODES.policyViolation);
      return;
    }
    if (identity === null) {
      const detail = token === undefined ? 'This socket needs credentials' : 'The credentials are not valid';
      this.#refuse(problem('unauthorized', 401, detail), CLOSE_CODES.policyViolation);
      return;
    }
    this.#identity = identity;
    this.#send({ type: 'welcome', protocol: PROTOCOL_VERSION, limits: this.#context.limits } satisfies WelcomeMessage);
  }

  /**
   * Runs `authenticate` on a web `Request` made of the upgrade request (its URL and headers, so a
   * cookie or a header of a non-browser client works as with HTTP), with the hello's token as its
   * `Authorization: Bearer` header: the same `authenticate` serves `createSyncHandler` and this.
   * `identify` checks its answer as the HTTP server does (an invalid tenant is the server's bug: `internal`).
   */
  async #authenticate(token: string | undefined): Promise<Identity<P> | null> {
    const request = webRequest(this.#request, token);
    if (request === undefined) return null;
    return identify(this.#context.authenticate, request);
  }

  async #push(body: unknown): Promise<PushResponse> {
    const identity = this.#identity as Identity<P>;
    const { limits, authorize, store } = this.#context;
    const events = decodePushRequest(body, limits.maxEventsPerPush);
    // The push step the HTTP handler takes too: each event checked once, authorize, one append.
    const results = await pushEvents(events, {
      store,
      identity,
      ...(authorize ? { authorize } : {}),
      maxEventBytes: limits.maxEventBytes,
      signal: this.#gone.signal,
    });
    return encodePushResponse(results);
  }

  async #pull(text: unknown): Promise<PullResponse> {
    if (typeof text !== 'string') throw invalidRequest('query', 'A pull needs a query string');
    const { tenant } = this.#identity as Identity<P>;
    const { limits, defaultPullLimit, store } = this.#context;
    const query = decodePullQuery(new URLSearchParams(text), { maxPullLimit: limits.maxPullLimit });
    await this.#checkCursor(query.since);
    const page = await store
      .read(tenant, {
        since: query.since,
        limit: query.limit ?? defaultPullLimit,
        ...(query.filter ? { filter: query.filter } : {}),
        signal: this.#gone.signal,
      })
      .catch((error: unknown) => {
        throw isSyncError(error, 'invalid_input') ? invalidCursor(error) : error;
      });
    return encodePullResponse(page);
  }

  async #version(): Promise<VersionResponse> {
    const { tenant } = this.#identity as Identity<P>;
    return encodeVersionResponse(await this.#context.store.latestVersion(tenant, { signal: this.#gone.signal }));
  }

  /** Subscribes the socket to the broker; the opening `events` message is the answer. */
  async #subscribe(id: number, since: unknown): Promise<void> {
    if (this.#subscribers.has(id)) throw invalidRequest('id', `Subscription ${id} is open already`);
    let start: CursorVersion | undefined;
    if (since !== undefined) {
      try {
        start = CursorVersion.parse(since as string);
      } catch (error) {
        throw invalidCursor(error);
      }
      await this.#checkCursor(start);
    }
    const subscriber = new WebSocketSubscriber(id, this.#socket, () => {
      if (this.#subscribers.get(id) === subscriber) this.#subscribers.delete(id);
    });
    this.#subscribers.set(id, subscriber);
    const { tenant } = this.#identity as Identity<P>;
    await this.#context.broker.subscribe(tenant, subscriber, {
      ...(start === undefined ? {} : { since: start }),
      signal: this.#gone.signal,
    });
  }

  /**
   * A cursor past the tenant's latest version means the log is behind the client (restored from a
   * backup, or another server): refused as `invalid_cursor`, never answered with an empty page.
   */
  async #checkCursor(since: CursorVersion): Promise<void> {
    if (since.isZero()) return;
    const { tenant } = this.#identity as Identity<P>;
    const latest = await this.#context.store.latestVersion(tenant, { signal: this.#gone.signal });
    if (since.value > latest.value) {
      throw invalidCursor(
        new Error(`cursor ${since.toString()} is past the log's latest version ${latest.toString()}`),
      );
    }
  }

  #answer(id: number, body: ResultMessage['body']): void {
    this.#send({ type: 'result', id, body } satisfies ResultMessage);
  }

  #send(message: ResultMessage | ErrorMessage | WelcomeMessage): void {
    if (this.#socket.readyState === WebSocket.OPEN) this.#socket.send(JSON.stringify(message));
  }

  /** Answers a hello (or its absence) with `document` and closes the socket. */
  #refuse(document: ProblemDocument, code: number): void {
    this.#send({ type: 'error', problem: document });
    this.shut(code, document.code);
  }
}

/** Refuses members a request type does not have. @throws SyncError `invalid_request`. */
function checkMembers(message: Record<string, unknown>): void {
  const allowed = REQUEST_MEMBERS[message.type as string];
  if (allowed === undefined) throw invalidRequest('type', `Unknown message type ${JSON.stringify(message.type)}`);
  for (const key of Object.keys(message)) {
    if (!allowed.includes(key)) throw invalidRequest(key, `A ${String(message.type)} message has no member ${key}`);
  }
}

/**
 * The web `Request` `authenticate` sees: the upgrade request's URL and headers, with `Authorization:
 * Bearer <token>` when the hello had a token. `undefined` when they cannot make a request (a token
 * that cannot be a header value): the credentials are not valid.
 */
function webRequest(request: IncomingMessage, token: string | undefined): Request | undefined {
  try {
    const headers = new Headers();
    for (const [name, value] of Object.entries(request.headers)) {
      if (value === undefined || (token !== undefined && name === 'authorization')) continue;
      for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
    }
    if (token !== undefined) headers.set('Authorization', `Bearer ${token}`);
    const url = new URL(request.url ?? '/', 'http://localhost');
    return new Request(url, { headers });
  } catch {
    return undefined;
  }
}

function textOf(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return (Buffer.isBuffer(data) ? data : Buffer.from(data)).toString('utf8');
}

function invalidRequest(field: string, message: string): SyncError {
  return new SyncError('invalid_input', message, { details: { field, problem: 'invalid_request', status: 400 } });
}

function invalidCursor(cause: unknown): SyncError {
  const message = cause instanceof Error ? cause.message : 'not a version';
  return new SyncError('invalid_input', `since: ${message}`, {
    cause,
    details: { field: 'since', problem: 'invalid_cursor', status: 400 },
  });
}
