// @eventsync/http: the v1 wire protocol's types and codec (shared by client and server), and HttpTransport.

export { PROTOCOL_VERSION, PROTOCOL_PATHS, MEDIA_TYPES, STREAM_EVENT_NAME } from './protocol/wire.js';
export type {
  HealthResponse,
  PullResponse,
  PushChain,
  PushRequest,
  PushResponse,
  StreamBatch,
  VersionResponse,
  WireEvent,
  WireResult,
  WireVersionedEvent,
} from './protocol/wire.js';
export { problem, problemFromError, PROBLEM_CODES, PROBLEM_TYPE_PREFIX, LIMIT_NAMES } from './protocol/problem.js';
export type { LimitName, ProblemCode, ProblemDocument } from './protocol/problem.js';
export {
  decodeHealthResponse,
  decodeProblem,
  decodePullResponse,
  decodePushResponse,
  decodeStreamBatch,
  decodeVersionResponse,
} from './protocol/decode.js';
export type { DecodeOptions } from './protocol/decode.js';
export {
  encodeChainedEvents,
  encodeEvents,
  encodePullResponse,
  encodePushResponse,
  encodeStreamBatch,
  encodeVersionResponse,
} from './protocol/encode.js';
export { decodePullQuery, decodePush, decodePushRequest, encodePullQuery } from './protocol/request.js';
export { pushChainOf } from './protocol/decode.js';
export type { DecodedPush, PullQuery, PullQueryLimits } from './protocol/request.js';
export { formatStreamMessage, formatStreamOpening, STREAM_HEARTBEAT } from './protocol/sse.js';

export { HttpTransport, DEFAULT_HTTP_TRANSPORT_OPTIONS } from './transport/http-transport.js';
export type {
  HttpStreamOptions,
  HttpTransportOptions,
  TokenProvider,
  TokenRequest,
} from './transport/http-transport.js';
export { errorFromProblem, parseRetryAfter } from './transport/http-error.js';
