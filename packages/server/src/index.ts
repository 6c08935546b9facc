// @eventsync/server: the sync server. createSyncHandler (a Hono app: web-standard Request to Response),
// the node:http server and listener, the stream broker with its Server-Sent Events subscribers, and the metrics.

export { createSyncHandler } from './sync-handler.js';
export { pushEvents } from './push-events.js';
export type { PushEventsOptions } from './push-events.js';
export { PushChains, PUSH_CHAIN_TTL_MS, PUSH_CHAIN_UNSEEN_WAIT_MS } from './push-chains.js';
export type { ChainTurn, PushChainsOptions } from './push-chains.js';
export type {
  CloseOptions,
  CorsOptions,
  SyncEnv,
  SyncHandler,
  SyncHandlerControls,
  SyncHandlerOptions,
} from './sync-handler.js';
export { DEFAULT_LIMITS, resolveLimits } from './limits.js';
export type { SyncLimits } from './limits.js';
export { bearerToken, bearerTokens, identify } from './authentication.js';
export type { Authenticate, Authorize, Identity } from './authentication.js';
export { consoleRequestLogger } from './request-log.js';
export type { RequestLogEntry, RequestLogger } from './request-log.js';
export { Broker, DEFAULT_BROKER_OPTIONS } from './broker.js';
export type { BrokerOptions, BrokerStats, SubscribeOptions } from './broker.js';
export { DISCONNECT_REASONS } from './subscriber.js';
export type { DisconnectReason, EventBatch, Subscriber, SubscriberLink } from './subscriber.js';
export { SseBroker, DEFAULT_SSE_OPTIONS } from './sse-broker.js';
export type { SseOptions } from './sse-broker.js';
export { SseSubscriber } from './sse-subscriber.js';
export { SyncMetrics } from './sync-metrics.js';
export type { MetricsSources, StreamMetrics, SyncMetricsOptions, SyncMetricsSnapshot } from './sync-metrics.js';
export { METRICS_PATHS } from './metrics-endpoint.js';
export type { MetricsOptions } from './metrics-endpoint.js';
export type { StoreCallStats, StoreStats } from './counted-event-log.js';
export { closeGracefully, serve, DEFAULT_SERVE_OPTIONS } from './node-server.js';
export type { CloseGracefullyOptions, RunningServer, Servable, ServeOptions } from './node-server.js';
export { nodeListener } from './node-listener.js';
export type { FetchHandler, NodeBindings, NodeListener, NodeListenerOptions } from './node-listener.js';
