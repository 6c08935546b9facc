import type { Event, RejectionCode } from '@eventsync/core';

/** The version of the wire protocol this package speaks; every path starts with `/v${PROTOCOL_VERSION}`. */
export const PROTOCOL_VERSION = 1;

/** The paths of protocol version 1, relative to where the server is mounted. */
export const PROTOCOL_PATHS = {
  /** `POST`: push a batch; `GET`: pull a page. */
  events: '/v1/events',
  /** `GET`: the tenant's latest version. */
  version: '/v1/version',
  /** `GET`: liveness, without credentials. */
  health: '/v1/health',
  /** `GET`: the Server-Sent Events stream of new batches. */
  stream: '/v1/stream',
} as const;

/** The media types of the protocol. */
export const MEDIA_TYPES = {
  json: 'application/json',
  problem: 'application/problem+json',
  eventStream: 'text/event-stream',
} as const;

/** The SSE event name (`event:` field) of a batch of events on `/v1/stream`. */
export const STREAM_EVENT_NAME = 'events';

/**
 * An event as it travels: the same shape as core's `Event` (its JSON form). Versions never appear
 * inside an event, only beside it.
 */
export type WireEvent = Event;

/** An event with the version the server gave it. */
export interface WireVersionedEvent {
  readonly event: WireEvent;
  /** A version string: the decimal form of a non-negative integer, `"0"` being the start of the log. */
  readonly version: string;
}

/** The body of `POST /v1/events`. */
export interface PushRequest {
  readonly events: readonly WireEvent[];
}

/** The server's answer for one pushed event; see core's `AppendResult`. */
export type WireResult =
  | { readonly id: string; readonly status: 'accepted'; readonly version: string }
  | { readonly id: string; readonly status: 'duplicate'; readonly version: string }
  | { readonly id: string; readonly status: 'conflict'; readonly latest: string; readonly reason: string }
  | { readonly id: string; readonly status: 'rejected'; readonly code: RejectionCode; readonly reason: string };

/** The `200` body of `POST /v1/events`: one result per pushed event, in the batch's order. */
export interface PushResponse {
  readonly results: readonly WireResult[];
}

/** The `200` body of `GET /v1/events`. */
export interface PullResponse {
  readonly events: readonly WireVersionedEvent[];
  /** Where the next pull starts (`since=next`). */
  readonly next: string;
  /** Whether the log goes on after `next`. */
  readonly hasMore: boolean;
}

/** The `200` body of `GET /v1/version`. */
export interface VersionResponse {
  /** The tenant's latest version, `"0"` for an empty log. */
  readonly latest: string;
}

/** The `200` body of `GET /v1/health`. */
export interface HealthResponse {
  readonly status: 'ok';
  /** The protocol version the server speaks. */
  readonly protocol: number;
}

/**
 * The `data` of one `events` message on `/v1/stream`. The message's `id` is `cursor`. The first
 * message of a stream is a batch with no events: its `cursor` says where the stream starts.
 */
export interface StreamBatch {
  /** New events, in version order, each after the previous message's cursor. */
  readonly events: readonly WireVersionedEvent[];
  /** The version of the last event, or where the stream stands when there are none. */
  readonly cursor: string;
}
