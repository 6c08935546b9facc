import { checkedEventJson, type Event, type EventLimits } from '@eventsync/core';

/**
 * An event as the store keeps it: its JSON, with the fields its indexes need beside it. Events are
 * stored as JSON strings, not as objects: an event is JSON by definition, `JSON.stringify` is several
 * times faster than IndexedDB's structured clone of the same objects, and a string clones as a copy of
 * its characters. Only the events a read returns are parsed.
 */
export interface Row {
  readonly id: string;
  readonly aggregateId: string;
  readonly type: string;
  readonly tenant: string | undefined;
  readonly json: string;
}

/**
 * Checks an event (as `validateEvent` does) and makes its row, with the JSON the check measured.
 *
 * @throws SyncError `invalid_input` or `limit_exceeded` for a malformed event.
 */
export function checkedRow(event: unknown, limits: EventLimits): Row {
  const json = checkedEventJson(event, limits);
  const { id, aggregateId, type, metadata } = event as Event;
  return { id, aggregateId, type, tenant: metadata.tenant, json };
}

/** The row of stored JSON. */
export function rowOfJson(json: string): Row {
  const event = parseEvent(json);
  return { id: event.id, aggregateId: event.aggregateId, type: event.type, tenant: event.metadata.tenant, json };
}

/** The event of stored JSON: a fresh object, the caller's to keep. */
export function parseEvent(json: string): Event {
  return JSON.parse(json) as Event;
}
