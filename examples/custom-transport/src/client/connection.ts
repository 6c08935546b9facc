import { CallScope, isSyncError, SyncError } from '@eventsync/core';
import { decodeProblem, errorFromProblem, PROTOCOL_VERSION } from '@eventsync/http';
import {
  isRequestId,
  SOCKET_LIMIT_NAMES,
  SUBPROTOCOL,
  type EndMessage,
  type ErrorMessage,
  type EventsMessage,
  type HeartbeatMessage,
  type HelloMessage,
  type SocketLimits,
} from '../protocol/messages.js';
import type { WebSocketConstructor, WebSocketLike } from './websocket-like.js';

/** How a {@link Connection} opens and watches its socket. */
export interface ConnectionSettings {
  readonly url: string;
  readonly WebSocket: WebSocketConstructor;
  /** The longest the opening (socket, hello, welcome) may take, in milliseconds. */
  readonly timeoutMs: number;
  /** How long a socket that carries subscriptions may stay silent before it is taken for dead. */
  readonly idleTimeoutMs: number;
}

/** The messages of one subscription. */
export type StreamMessage = EventsMessage | HeartbeatMessage | EndMessage | ErrorMessage;

/** Where a {@link Connection} sends the messages of one subscription. */
export interface StreamSink {
  /** An `events`, `heartbeat`, `end` or `error` message carrying the subscription's id. */
  message(message: StreamMessage): void;
  /** The connection is gone: no message of this subscription will come any more. */
  dropped(error: SyncError): void;
}

interface PendingRequest {
  readonly what: string;
  resolve(body: unknown): void;
  reject(error: unknown): void;
}

type State = 'opening' | 'open' | 'closed';

/**
 * One socket, after its hello was welcomed: requests correlated with their answers by id, and the
 * messages of subscriptions routed to their sinks. When the socket goes, every request in flight
 * fails with the reason and every sink is told; a connection is never reopened (the transport opens
 * a new one).
 */
export class Connection {
  /**
   * Opens a socket, offers {@link SUBPROTOCOL}, sends the hello with `token`, and resolves once the
   * server welcomed it.
   *
   * @throws SyncError `network` when the socket cannot open or closes first, `timeout` after
   *   `timeoutMs`, `protocol` for a server that does not speak the protocol, and the server's refusal
   *   (`unauthorized`, `forbidden`, `unavailable`) of the hello; `signal.reason` when it fires.
   */
  static async open(settings: ConnectionSettings, token: string | undefined, signal: AbortSignal): Promise<Connection> {
    let socket: WebSocketLike;
    try {
      socket = new settings.WebSocket(settings.url, [SUBPROTOCOL]);
    } catch (error) {
      throw new SyncError('network', `Could not open a WebSocket to ${settings.url}: ${messageOf(error)}`, {
        cause: error,
      });
    }
    const connection = new Connection(socket, settings, token);
    const scope = new CallScope({
      signals: [signal],
      timeoutMs: settings.timeoutMs,
      what: `Connecting to ${settings.url}`,
    });
    try {
      await scope.race(connection.#welcomed);
      return connection;
    } catch (error) {
      connection.close(isSyncError(error) ? error : new SyncError('network', messageOf(error), { cause: error }));
      throw error;
    } finally {
      scope.dispose();
    }
  }

  /** Told once, when the connection closes for whatever reason. */
  onClosed: ((connection: Connection) => void) | undefined;

  readonly #socket: WebSocketLike;
  readonly #settings: ConnectionSettings;
  readonly #token: string | undefined;
  readonly #welcomed: Promise<void>;
  readonly #pending = new Map<number, PendingRequest>();
  readonly #sinks = new Map<number, StreamSink>();
  #state: State = 'opening';
  #limits: SocketLimits | undefined;
  #settleWelcome!: (error?: SyncError) => void;
  #lastError: unknown;
  #nextId = 1;
  #heardAt = Date.now();
  #idleTimer: ReturnType<typeof setTimeout> | undefined;

  private constructor(socket: WebSocketLike, settings: ConnectionSettings, token: string | undefined) {
    this.#socket = socket;
    this.#settings = settings;
    this.#token = token;
    this.#welcomed = new Promise<void>((resolve, reject) => {
      this.#settleWelcome = (error) => (error === undefined ? resolve() : reject(error));
    });
    this.#welcomed.catch(() => undefined);
    // Listeners stay for the socket's life: `ws` emits an error after `close()` on a connecting
    // socket, and an error without a listener would crash the process.
    socket.addEventListener('open', this.#onOpen);
    socket.addEventListener('message', this.#onMessage);
    socket.addEventListener('close', this.#onClose);
    socket.addEventListener('error', this.#onError);
  }

  /** Whether requests can be sent: welcomed and not closed. */
  get open(): boolean {
    return this.#state === 'open';
  }

  /** The server's limits, from its welcome. */
  get limits(): SocketLimits {
    if (this.#limits === undefined) throw new SyncError('internal', 'The connection was not welcomed yet');
    return this.#limits;
  }

  /** A fresh id for a request or a subscription on this connection. */
  nextId(): number {
    return this.#nextId++;
  }

  /**
   * Sends `text` (a request with this `id`) and resolves with the `body` of its `result`; rejects with
   * the server's `error` as a `SyncError`, with the connection's failure when it goes first, or with
   * `signal.reason` (the answer is then ignored when it comes).
   */
  request(id: number, text: string, what: string, signal: AbortSignal): Promise<unknown> {
    if (signal.aborted) return Promise.reject(signal.reason as unknown);
    if (this.#state !== 'open') return Promise.reject(this.#notOpen(what));
    const answer = new Promise<unknown>((resolve, reject) => {
      this.#pending.set(id, { what, resolve, reject });
    });
    try {
      this.#socket.send(text);
    } catch (error) {
      this.#pending
        .get(id)
        ?.reject(
          new SyncError('network', `${what}: the message could not be sent: ${messageOf(error)}`, { cause: error }),
        );
    }
    return CallScope.race(answer, signal).finally(() => this.#pending.delete(id));
  }

  /** Sends a message that gets no answer of its own (`subscribe`, `unsubscribe`). */
  send(text: string, what: string): void {
    if (this.#state !== 'open') throw this.#notOpen(what);
    try {
      this.#socket.send(text);
    } catch (error) {
      throw new SyncError('network', `${what}: the message could not be sent: ${messageOf(error)}`, { cause: error });
    }
  }

  /** Routes the messages of subscription `id` to `sink` until {@link unfollow}. */
  follow(id: number, sink: StreamSink): void {
    if (this.#state !== 'open') {
      sink.dropped(this.#notOpen('The live subscription'));
      return;
    }
    this.#sinks.set(id, sink);
    this.#watchIdle();
  }

  /** Stops routing the messages of subscription `id`. */
  unfollow(id: number): void {
    this.#sinks.delete(id);
  }

  /**
   * Closes the connection: requests in flight reject with `error`, sinks are told, the socket is
   * closed (dropped at once with `terminate`, where the socket has it). Idempotent.
   */
  close(error: SyncError, terminate = false): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    clearTimeout(this.#idleTimer);
    this.#settleWelcome(error);
    for (const request of [...this.#pending.values()]) request.reject(error);
    this.#pending.clear();
    const sinks = [...this.#sinks.values()];
    this.#sinks.clear();
    for (const sink of sinks) sink.dropped(error);
    try {
      if (terminate && this.#socket.terminate) this.#socket.terminate();
      // Browsers allow only 1000 and 3000–4999 here; the reason (at most 123 bytes) says why.
      else this.#socket.close(1000, error.code);
    } catch {
      // Closing a socket that is already closing: nothing left to release.
    }
    this.onClosed?.(this);
  }

  readonly #onOpen = (): void => {
    if (this.#state !== 'opening') return;
    if (this.#socket.protocol !== SUBPROTOCOL) {
      this.close(
        new SyncError(
          'protocol',
          `The server at ${this.#settings.url} does not speak ${SUBPROTOCOL} (it selected ${JSON.stringify(this.#socket.protocol)})`,
        ),
      );
      return;
    }
    const hello: HelloMessage = { type: 'hello', ...(this.#token === undefined ? {} : { token: this.#token }) };
    try {
      this.#socket.send(JSON.stringify(hello));
    } catch (error) {
      this.close(new SyncError('network', `The hello could not be sent: ${messageOf(error)}`, { cause: error }));
    }
  };

  readonly #onMessage = (event: { readonly data: unknown }): void => {
    if (this.#state === 'closed') return;
    this.#heardAt = Date.now();
    let message: Record<string, unknown>;
    try {
      message = parseMessage(event.data);
    } catch (error) {
      this.close(error as SyncError);
      return;
    }
    if (this.#state === 'opening') {
      this.#onWelcome(message);
      return;
    }
    const { type, id } = message;
    if (type === 'error' && id === undefined) {
      this.close(problemOrProtocolError('The connection', message.problem));
      return;
    }
    if (!isRequestId(id)) {
      this.close(new SyncError('protocol', `The server sent a ${String(type)} message without a valid id`));
      return;
    }
    switch (type) {
      case 'result':
      case 'error': {
        const request = this.#pending.get(id);
        if (request) {
          if (type === 'result') request.resolve(message.body);
          else request.reject(problemOrProtocolError(request.what, message.problem));
          return;
        }
        // An answer to a request that was aborted, or an error of a subscription.
        if (type === 'error') this.#sinks.get(id)?.message(message as unknown as ErrorMessage);
        return;
      }
      case 'events':
      case 'heartbeat':
      case 'end':
        this.#sinks.get(id)?.message(message as unknown as StreamMessage);
        return;
      default:
        this.close(new SyncError('protocol', `The server sent a message of unknown type ${JSON.stringify(type)}`));
    }
  };

  #onWelcome(message: Record<string, unknown>): void {
    if (message.type === 'error') {
      this.close(problemOrProtocolError('Connecting', message.problem));
      return;
    }
    const limits = message.limits as Record<string, unknown> | undefined;
    const valid =
      message.type === 'welcome' &&
      message.protocol === PROTOCOL_VERSION &&
      typeof limits === 'object' &&
      limits !== null &&
      SOCKET_LIMIT_NAMES.every((name) => Number.isSafeInteger(limits[name]) && (limits[name] as number) >= 1);
    if (!valid) {
      this.close(
        new SyncError('protocol', `The server answered the hello with something else than a welcome to protocol 1`),
      );
      return;
    }
    this.#limits = limits as unknown as SocketLimits;
    this.#state = 'open';
    this.#settleWelcome();
  }

  readonly #onClose = (event: { readonly code: number; readonly reason: string }): void => {
    const why = event.reason === '' ? '' : `: ${event.reason}`;
    this.close(
      new SyncError('network', `The WebSocket to ${this.#settings.url} closed (code ${event.code}${why})`, {
        details: { closeCode: event.code, closeReason: event.reason },
        ...(this.#lastError === undefined ? {} : { cause: this.#lastError }),
      }),
    );
  };

  readonly #onError = (event: unknown): void => {
    // The close event follows and says what happened; the error is kept as its cause.
    this.#lastError = (event as { error?: unknown } | null)?.error ?? event;
  };

  /** While subscriptions ride on the socket, a silence longer than `idleTimeoutMs` drops it. */
  #watchIdle(): void {
    if (this.#idleTimer !== undefined) return;
    const check = (): void => {
      this.#idleTimer = undefined;
      if (this.#state === 'closed' || this.#sinks.size === 0) return;
      const silentMs = Date.now() - this.#heardAt;
      const { idleTimeoutMs } = this.#settings;
      if (silentMs < idleTimeoutMs) {
        this.#idleTimer = setTimeout(check, idleTimeoutMs - silentMs);
        return;
      }
      this.close(new SyncError('timeout', `The WebSocket was silent for ${silentMs} ms; reconnecting`), true);
    };
    this.#idleTimer = setTimeout(check, this.#settings.idleTimeoutMs);
  }

  #notOpen(what: string): SyncError {
    return new SyncError('network', `${what}: the WebSocket is not open`);
  }
}

/** A server message: a JSON object in a text frame. @throws SyncError `protocol`. */
function parseMessage(data: unknown): Record<string, unknown> {
  if (typeof data !== 'string') throw new SyncError('protocol', 'The server sent a binary message');
  let message: unknown;
  try {
    message = JSON.parse(data);
  } catch (error) {
    throw new SyncError('protocol', 'The server sent a message that is not JSON', { cause: error });
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message)) {
    throw new SyncError('protocol', 'The server sent a message that is not a JSON object');
  }
  return message as Record<string, unknown>;
}

/**
 * The `SyncError` for the problem of an `error` message, mapped as `HttpTransport` maps HTTP answers;
 * a `protocol` error when it is not a problem document.
 */
function problemOrProtocolError(what: string, problem: unknown): SyncError {
  try {
    return errorFromProblem(what, decodeProblem(problem));
  } catch (error) {
    return error as SyncError;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
