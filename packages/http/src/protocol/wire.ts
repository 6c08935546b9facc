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
  /** The bodies of push, pull, version and health, requests and answers alike (UTF-8). */
  json: 'application/json',
  /** Every error answer: a {@link ProblemDocument} (RFC 9457). */
  problem: 'application/problem+json',
  /** The answer of `GET /v1/stream`: Server-Sent Events, one `events` message per {@link StreamBatch}. */
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
  /** The event, as the server stored it. */
  readonly event: WireEvent;
  /** A version string: the decimal form of a non-negative integer, `"0"` being the start of the log. */
  readonly version: string;
}

/** The body of `POST /v1/events`. */
export interface PushRequest {
  /**
   * The batch, in the order the events are to be stored; at most the server's `maxEventsPerPush`
   * (1000 by default), else the whole request is refused with `413 limit_exceeded`.
   */
  readonly events: readonly WireEvent[];
  /**
   * Optional: this push's place in a push chain, so that a client may send the next batches of one
   * push before this one is answered and the server still decides them one after the other, in
   * `seq` order (see "Push chains" in docs/protocol.md).
   */
  readonly chain?: PushChain;
}

/**
 * A push's place in a push chain: the batches of one client push, sent without waiting for each
 * answer. The server decides the chain's pushes in `seq` order, each after the one before has been
 * decided, and an aggregate that met a `conflict` in an earlier push of the chain is a `conflict` in
 * the later ones too, exactly as if the chain's events had been sent one request after the other.
 */
export interface PushChain {
  /** The chain's id, chosen by the client, new for every chain: 1–64 characters of `A–Z a–z 0–9 _ -`. */
  readonly id: string;
  /** The push's place in the chain: `0` for the first, then `1, 2, 3, …` without gaps. */
  readonly seq: number;
}

/** The server's answer for one pushed event; see core's `AppendResult`. */
export type WireResult =
  /** Stored at `version`. */
  | {
      /** The pushed event's id. */
      readonly id: string;
      /** The event is stored now, for good. */
      readonly status: 'accepted';
      /** The version it is stored at (a version string): mark the event confirmed there. */
      readonly version: string;
    }
  /** Already stored, with the same content, at `version`: retrying a push whose answer was lost is safe. */
  | {
      /** The pushed event's id. */
      readonly id: string;
      /** The same event (same id and content) was stored before; nothing new is stored. Handle it as `accepted`. */
      readonly status: 'duplicate';
      /** The version the earlier copy is stored at (a version string), not a new one. */
      readonly version: string;
    }
  /** Not stored: another client's event landed on the aggregate after the event's `baseVersion`. */
  | {
      /** The pushed event's id. */
      readonly id: string;
      /**
       * Not stored: another client's event landed on the aggregate after the event's `baseVersion`,
       * or an earlier event of the batch on the same aggregate is a `conflict`.
       */
      readonly status: 'conflict';
      /**
       * The aggregate's latest version (a version string): pull up to it, resolve, and push the
       * resolution with a later `baseVersion`.
       */
      readonly latest: string;
      /** What conflicted, for people; not a code to branch on. */
      readonly reason: string;
    }
  /** Not stored, and never will be as it is. */
  | {
      /** The pushed event's id; `""` for a pushed item without a string `id` (which is always rejected). */
      readonly id: string;
      /** Not stored, and never will be as it is: drop it from the outbox and tell the user. */
      readonly status: 'rejected';
      /** Why, for programs: `invalid_event`, `id_reused`, `forbidden`, or a server's own code. */
      readonly code: RejectionCode;
      /** What is wrong, for people; possibly empty. */
      readonly reason: string;
    };

/** The `200` body of `POST /v1/events`: one result per pushed event, in the batch's order. */
export interface PushResponse {
  /** One result per pushed event, in the batch's order, with the same ids. */
  readonly results: readonly WireResult[];
  /**
   * For a push of a push chain: the request's `chain`, echoed to say that the server decided the push
   * in its chain's order. A client pipelines a chain only once an answer has echoed it.
   */
  readonly chain?: PushChain;
}

/** The `200` body of `GET /v1/events`. */
export interface PullResponse {
  /**
   * Events after `since`, in version order, at most `limit` of them (the server's default page when
   * the pull gives none); with `type` or `aggregateId` filters, only the matching ones. Possibly empty.
   */
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
  /** Always `'ok'`: a server that cannot serve (shutting down) answers `503` with a problem instead. */
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
