import { SyncError, type AppendResult, type Event, type EventPage, type VersionedEvent } from '@eventsync/core';
import type {
  PullResponse,
  PushResponse,
  StreamBatch,
  VersionResponse,
  WireResult,
  WireVersionedEvent,
  PushRequest,
  PushChain,
} from './wire.js';
import { PUSH_CHAIN_ID_PATTERN } from './schemas.js';

/**
 * The body of `POST /v1/events` for a batch. Events are sent as they are: the server checks each one
 * and answers `rejected` (`invalid_event`) for a malformed event, so one bad event does not refuse the
 * batch.
 *
 * @throws SyncError `invalid_input` when `events` is not an array.
 */
export function encodeEvents(events: readonly Event[]): PushRequest {
  if (!Array.isArray(events)) {
    throw new SyncError('invalid_input', 'A push takes an array of events', { details: { field: 'events' } });
  }
  return { events };
}

/**
 * The body of `POST /v1/events` for a batch that is push `chain.seq` of the push chain `chain.id`
 * (see {@link PushChain}).
 *
 * @throws SyncError `invalid_input` when `events` is not an array, or for a chain id or seq out of
 *   the protocol's bounds.
 */
export function encodeChainedEvents(events: readonly Event[], chain: PushChain): PushRequest {
  const request = encodeEvents(events);
  if (typeof chain?.id !== 'string' || !PUSH_CHAIN_ID_PATTERN.test(chain.id)) {
    throw new SyncError('invalid_input', 'A chain id is 1–64 characters of A–Z a–z 0–9 _ -', {
      details: { field: 'chain.id' },
    });
  }
  if (!Number.isSafeInteger(chain.seq) || chain.seq < 0) {
    throw new SyncError('invalid_input', `A chain's seq is a non-negative integer, got ${String(chain.seq)}`, {
      details: { field: 'chain.seq' },
    });
  }
  return { events: request.events, chain: { id: chain.id, seq: chain.seq } };
}

/**
 * The `200` body of `POST /v1/events` for the log's results (server side), with the push's `chain`
 * echoed for a push decided in its chain's order.
 */
export function encodePushResponse(results: readonly AppendResult[], chain?: PushChain): PushResponse {
  const body = { results: results.map(encodeResult) };
  return chain === undefined ? body : { ...body, chain: { id: chain.id, seq: chain.seq } };
}

/** The `200` body of `GET /v1/events` for a page of the log (server side). */
export function encodePullResponse(page: EventPage): PullResponse {
  return { events: page.events.map(encodeVersionedEvent), next: page.next.toString(), hasMore: page.hasMore };
}

/** The `200` body of `GET /v1/version` (server side). */
export function encodeVersionResponse(latest: { toString(): string }): VersionResponse {
  return { latest: latest.toString() };
}

/**
 * The `data` of an `events` message of `/v1/stream` (server side). `cursor` defaults to the version of
 * the last event; pass it for a batch with no events.
 */
export function encodeStreamBatch(batch: {
  readonly events: readonly VersionedEvent[];
  readonly cursor?: { toString(): string };
}): StreamBatch {
  const cursor = batch.cursor ?? batch.events.at(-1)?.version;
  if (cursor === undefined) {
    throw new SyncError('invalid_input', 'A stream batch with no events needs a cursor', {
      details: { field: 'cursor' },
    });
  }
  return { events: batch.events.map(encodeVersionedEvent), cursor: cursor.toString() };
}

function encodeVersionedEvent(item: VersionedEvent): WireVersionedEvent {
  return { event: item.event, version: item.version.toString() };
}

function encodeResult(result: AppendResult): WireResult {
  switch (result.status) {
    case 'accepted':
    case 'duplicate':
      return { id: result.id, status: result.status, version: result.version.toString() };
    case 'conflict':
      return { id: result.id, status: 'conflict', latest: result.latest.toString(), reason: result.reason };
    case 'rejected':
      return { id: result.id, status: 'rejected', code: result.code, reason: result.reason };
  }
}
