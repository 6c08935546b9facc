// The WebSocket transport example: a Transport over one WebSocket (the client half imports nothing
// from Node, so it runs in browsers too), and the server half that serves it with `ws`.

export { WebSocketTransport, DEFAULT_WEBSOCKET_TRANSPORT_OPTIONS } from './client/websocket-transport.js';
export type { WebSocketTransportOptions } from './client/websocket-transport.js';
export type { WebSocketConstructor, WebSocketLike } from './client/websocket-like.js';

export { attachWebSocketSync, DEFAULT_WEBSOCKET_SYNC_OPTIONS } from './server/attach-websocket-sync.js';
export type { WebSocketSync, WebSocketSyncCloseOptions, WebSocketSyncOptions } from './server/attach-websocket-sync.js';

export { CLOSE_CODES, DEFAULT_SOCKET_PATH, SUBPROTOCOL } from './protocol/messages.js';
export type {
  ClientMessage,
  EndMessage,
  ErrorMessage,
  EventsMessage,
  HeartbeatMessage,
  HelloMessage,
  PullMessage,
  PushMessage,
  ResultMessage,
  ServerMessage,
  SocketLimits,
  SubscribeMessage,
  UnsubscribeMessage,
  VersionMessage,
  WelcomeMessage,
} from './protocol/messages.js';
