import type {
  LimitName,
  ProblemDocument,
  PullResponse,
  PushRequest,
  PushResponse,
  StreamBatch,
  VersionResponse,
} from '@eventsync/http';

/**
 * The WebSocket subprotocol (`Sec-WebSocket-Protocol`) of eventsync's sync protocol version 1 over a
 * socket. A client offers it; a server that selects anything else (or nothing) does not speak it.
 */
export const SUBPROTOCOL = 'eventsync.v1';

/** Where `attachWebSocketSync` answers upgrades on an `http.Server` by default. */
export const DEFAULT_SOCKET_PATH = '/v1/socket';

/**
 * The close codes the server uses (RFC 6455, section 7.4.1). A browser may close only with `1000` or
 * `3000`–`4999`, so the client always closes with `1000` and says why in the reason.
 */
export const CLOSE_CODES = {
  /** The client or the server is done. */
  normal: 1000,
  /** The server is shutting down; reconnect elsewhere or later. */
  goingAway: 1001,
  /** A message that breaks this protocol (not JSON, no usable id, the wrong subprotocol). */
  protocolError: 1002,
  /** A binary message: the protocol is JSON text. */
  unsupportedData: 1003,
  /** The hello was refused (`unauthorized`, `forbidden`) or did not come in time. */
  policyViolation: 1008,
  /** A message over the server's `maxBodyBytes`. */
  messageTooBig: 1009,
  /** The server failed while checking the hello (its identity provider is down…). */
  internalError: 1011,
} as const;

/** The bounds a server announces in its {@link WelcomeMessage}, with the HTTP server's limit names. */
export interface SocketLimits {
  /** The most bytes (UTF-8) of one message from the client; a longer one closes the socket with `1009`. */
  readonly maxBodyBytes: number;
  /** The most events one push may hold. */
  readonly maxEventsPerPush: number;
  /** The most bytes one event may take as JSON; a push with a larger one is refused whole. */
  readonly maxEventBytes: number;
  /** The largest `limit` a pull may ask for. */
  readonly maxPullLimit: number;
}

/** The first message of a client: its credentials. Nothing else is answered before it. */
export interface HelloMessage {
  readonly type: 'hello';
  /** A bearer token; the server hands it to `authenticate` as `Authorization: Bearer <token>`. */
  readonly token?: string;
}

/** Push a batch: `body` is the body of `POST /v1/events`. Answered by a `result` with a `PushResponse`. */
export interface PushMessage {
  readonly type: 'push';
  readonly id: number;
  readonly body: PushRequest;
}

/** Pull a page: `query` is the query string of `GET /v1/events`. Answered by a `result` with a `PullResponse`. */
export interface PullMessage {
  readonly type: 'pull';
  readonly id: number;
  readonly query: string;
}

/** Ask the latest version. Answered by a `result` with a `VersionResponse`. */
export interface VersionMessage {
  readonly type: 'version';
  readonly id: number;
}

/**
 * Follow the tenant's log after `since` (after its latest version when absent). Answered by `events`
 * messages with this `id`: the first names where the stream starts and holds no events.
 */
export interface SubscribeMessage {
  readonly type: 'subscribe';
  readonly id: number;
  readonly since?: string;
}

/** Stop the subscription opened with `id`. Not answered. */
export interface UnsubscribeMessage {
  readonly type: 'unsubscribe';
  readonly id: number;
}

/** Every message a client sends. */
export type ClientMessage =
  HelloMessage | PushMessage | PullMessage | VersionMessage | SubscribeMessage | UnsubscribeMessage;

/** The server's answer to a valid hello. */
export interface WelcomeMessage {
  readonly type: 'welcome';
  /** The protocol version the server speaks: 1. */
  readonly protocol: number;
  readonly limits: SocketLimits;
}

/** The answer to the request `id`: the body the HTTP protocol answers with `200`. */
export interface ResultMessage {
  readonly type: 'result';
  readonly id: number;
  readonly body: PushResponse | PullResponse | VersionResponse;
}

/** A batch of the subscription `id`: the `data` of an `events` message of `/v1/stream`. */
export interface EventsMessage {
  readonly type: 'events';
  readonly id: number;
  readonly body: StreamBatch;
}

/** Sent on a quiet subscription, so a client can tell a quiet socket from a dead one. */
export interface HeartbeatMessage {
  readonly type: 'heartbeat';
  readonly id: number;
}

/**
 * The server ended the subscription `id`: `slow` (it fell too far behind), `closed` (the server is
 * shutting down) or `error`. The client subscribes again from its cursor and misses nothing.
 */
export interface EndMessage {
  readonly type: 'end';
  readonly id: number;
  readonly reason: string;
}

/**
 * A request (or subscription) `id` failed, with the problem document the HTTP server would answer.
 * Without `id`, the connection failed (a refused hello) and the server closes it.
 */
export interface ErrorMessage {
  readonly type: 'error';
  readonly id?: number;
  readonly problem: ProblemDocument;
}

/** Every message a server sends. */
export type ServerMessage =
  WelcomeMessage | ResultMessage | EventsMessage | HeartbeatMessage | EndMessage | ErrorMessage;

/** Whether `value` can be a request id: a safe integer of at least 1. */
export function isRequestId(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
}

/** The limit names of {@link SocketLimits}, as they appear in a `limit_exceeded` problem. */
export const SOCKET_LIMIT_NAMES: readonly (keyof SocketLimits & LimitName)[] = [
  'maxBodyBytes',
  'maxEventsPerPush',
  'maxEventBytes',
  'maxPullLimit',
];
